package testutil

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNodeExample installs examples/node with NodeExample and runs it on
// the host with the host's node: the counter contract of examples/hello.
func TestNodeExample(t *testing.T) {
	NeedE2E(t, "runs npm ci (the npm registry or npm's cache) and the app on the host")
	node := NeedCommand(t, "node", "make deps (installs nodejs)")
	dir := NodeExample(t)
	a := counterApp{name: "node", argv: []string{node, filepath.Join(dir, "server.js")}, dataDir: t.TempDir()}
	a.check(t, func(t *testing.T, base string) {
		// /info shows the dependency (ms) at work.
		if code, body := get(t, base+"/info"); code != 200 || !strings.Contains(body, `"uptime":"`) {
			t.Errorf("GET /info = %d %q, want 200 with an uptime", code, body)
		}
	})
}

// TestJavaExample builds examples/java with JavaExample and runs the jar
// on the host with the host's java: the counter contract of examples/hello.
func TestJavaExample(t *testing.T) {
	NeedE2E(t, "compiles examples/java with javac and runs a JVM on the host")
	java := NeedCommand(t, "java", "make deps (installs default-jdk-headless)")
	jar := JavaExample(t)
	a := counterApp{name: "java", argv: []string{java, "-jar", jar}, dataDir: t.TempDir()}
	a.check(t, nil)
}

// counterApp is an example app that follows the contract of
// examples/hello, run as a host process.
type counterApp struct {
	name    string
	argv    []string
	dataDir string
}

// check runs the app twice on the same data directory: the first run
// counts 1 and 2, answers /healthz and 404 elsewhere, the second one
// continues at 3; each exits 0 on SIGTERM. extra, when not nil, checks
// more of the first run.
func (a counterApp) check(t *testing.T, extra func(t *testing.T, base string)) {
	t.Helper()
	p := a.start(t)
	for i, want := range []string{"count: 1\n", "count: 2\n"} {
		if code, body := get(t, p.base+"/"); code != 200 || body != want {
			t.Fatalf("GET / #%d = %d %q, want 200 %q\n%s", i+1, code, body, want, p.out)
		}
	}
	if code, body := get(t, p.base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 \"ok\\n\"", code, body)
	}
	if code, _ := get(t, p.base+"/no/such/page"); code != 404 {
		t.Errorf("GET /no/such/page = %d, want 404", code)
	}
	if extra != nil {
		extra(t, p.base)
	}
	p.stop(t)

	b, err := os.ReadFile(filepath.Join(a.dataDir, "count"))
	if err != nil || string(b) != "2\n" {
		t.Errorf("count file after two requests: %q, %v; want \"2\\n\"", b, err)
	}
	if ents, _ := os.ReadDir(a.dataDir); len(ents) != 1 {
		t.Errorf("data directory holds %d files, want only count (no temporary file left)", len(ents))
	}

	p = a.start(t)
	if code, body := get(t, p.base+"/"); code != 200 || body != "count: 3\n" {
		t.Errorf("GET / after a restart = %d %q, want 200 \"count: 3\\n\"\n%s", code, body, p.out)
	}
	p.stop(t)
}

// proc is a running app.
type proc struct {
	cmd  *exec.Cmd
	out  *SyncBuffer
	base string        // http://127.0.0.1:PORT
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, once done is closed
}

// start runs the app with PORT set to a free port and DATA_DIR, and waits
// until /healthz answers. A cleanup kills it if it is still running.
func (a counterApp) start(t *testing.T) *proc {
	t.Helper()
	port := FreePort(t)
	p := &proc{out: &SyncBuffer{}, base: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan struct{})}
	p.cmd = exec.Command(a.argv[0], a.argv[1:]...)
	p.cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "DATA_DIR="+a.dataDir)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it served /healthz: %v\n%s", a.name, p.err, p.out)
		default:
		}
		if resp, err := client.Get(p.base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer /healthz within 30 s\n%s", a.name, p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(p.out.String(), fmt.Sprintf("listening on :%d", port)) {
		t.Errorf("%s did not log where it listens:\n%s", a.name, p.out)
	}
	return p
}

// stop sends SIGTERM and checks that the app exits 0 within 10 s.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	start := time.Now() // with the keep-alive connections of client idle and open
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after SIGTERM\n%s", p.out)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(p.err, &exit):
		t.Errorf("exit after SIGTERM: %v, want status 0\n%s", p.err, p.out)
	case p.err != nil:
		t.Error(p.err)
	}
	t.Logf("stopped %.2f s after SIGTERM", time.Since(start).Seconds())
}

// client is the tests' HTTP client. It keeps connections alive, as a load
// balancer's health checks do: the apps must exit on SIGTERM all the same.
var client = &http.Client{Timeout: 10 * time.Second}

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}
