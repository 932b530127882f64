package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bootapp/bootapp/internal/testutil"
)

// TestKilledBuildsLeaveNothing kills `mkbootapp build` with SIGKILL at
// several points (nothing runs cleanup code) and checks that the next build
// into the same output directory succeeds and leaves no temporary file or
// staging directory: round 1 left five .hello*.tmp-* files of 51 GB
// apparent size after four kills.
func TestKilledBuildsLeaveNothing(t *testing.T) {
	testutil.KernelDeb(t) // the builds need the cached kernel and loader
	testutil.LoaderDeb(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "mkbootapp")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build mkbootapp: %v\n%s", err, b)
	}
	app := testutil.StaticBinary(t, "../../examples/hello", testutil.BuildOptions{})
	out := filepath.Join(dir, "out")
	args := []string{"build", "--app", app, "-o", out, "--data-size", "2G", "--format", "raw,vmdk-stream,qcow2", "--data-format", "raw,qcow2"}

	// Each kill comes when the build prints a line starting with the
	// given text: inputs resolved, initramfs assembled, first output
	// staged (encoders and the data volume still running).
	for _, at := range []string{"kernel", "initramfs", "staged", "staged"} {
		cmd := exec.Command(bin, args...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killed := false
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), at) {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
				break
			}
		}
		go func() { // drain, so the child never blocks on a full pipe
			for sc.Scan() {
			}
		}()
		err = cmd.Wait()
		if !killed {
			t.Fatalf("build finished (%v) before printing a line starting with %q", err, at)
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Logf("build ended with %v before the kill at %q landed", err, at)
		}
	}
	leftovers := hidden(t, out)
	t.Logf("after four kills the output directory holds %v", leftovers)

	if b, err := exec.Command(bin, append(args, "--quiet")...).CombinedOutput(); err != nil {
		t.Fatalf("build after the kills: %v\n%s", err, b)
	}
	if h := hidden(t, out); len(h) != 0 {
		t.Errorf("the build after four kills left %v in %s", h, out)
	}
	for _, n := range []string{"hello.raw", "hello.vmdk", "hello.qcow2", "hello-data.raw", "hello-data.qcow2", "hello.manifest.json"} {
		if _, err := os.Stat(filepath.Join(out, n)); err != nil {
			t.Errorf("output missing after the build: %v", err)
		}
	}
}

// hidden lists the names starting with "." in dir (staging directories,
// temporary files).
func hidden(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var h []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			h = append(h, e.Name())
		}
	}
	return h
}
