package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/guestconfig"
	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
)

// e2eModuleNames are the modules QEMU's virtio disk, virtio NIC and ACPI
// power button need; the kernel's dependency graph adds what they need,
// loaded first.
var e2eModuleNames = []string{"virtio_pci", "virtio_blk", "virtio_net", "button", "evdev"}

// e2eEnv is what every boot test needs: the kernel and its modules, the
// built init and app, and a scratch directory.
type e2eEnv struct {
	ctx    context.Context
	dir    string
	kernel string
	mods   []kerneltest.Module
	init   string
	app    string
}

// newE2E skips unless BOOTAPP_E2E=1, checks the tools, opens the newest
// cached kernel and builds the init and the test app.
func newE2E(t *testing.T) *e2eEnv {
	t.Helper()
	testutil.NeedE2E(t, "boots QEMU (tens of seconds under TCG)")
	testutil.NeedCommand(t, "qemu-system-x86_64", "apt-get install -y qemu-system-x86 (or make deps)")
	testutil.NeedCommand(t, "mkfs.ext4", "apt-get install -y e2fsprogs (or make deps)")
	testutil.NeedCommand(t, "e2fsck", "apt-get install -y e2fsprogs (or make deps)")
	k := kerneltest.Open(t)
	e := &e2eEnv{dir: t.TempDir(), kernel: k.ImagePath, mods: kerneltest.Modules(t, k, e2eModuleNames...)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	e.ctx = ctx
	e.init = testutil.StaticBinary(t, ".", testutil.BuildOptions{Out: filepath.Join(e.dir, "init"), Flags: []string{"-trimpath", "-ldflags=-s -w -buildid="}})
	e.app = testutil.StaticBinary(t, "./testdata/countapp", testutil.BuildOptions{Out: filepath.Join(e.dir, "countapp")})
	return e
}

// config is the guest configuration of the tests, with the given restart
// policy.
func (e *e2eEnv) config(restart string) *guestconfig.Config {
	mods := make([]string, len(e.mods))
	for i, m := range e.mods {
		mods[i] = m.Guest
	}
	return &guestconfig.Config{
		Version:            guestconfig.Version,
		Hostname:           "e2e",
		Modules:            mods,
		App:                guestconfig.App{Path: "/app/countapp", Env: []string{"DATA_DIR=/data"}, UID: 1000, GID: 1000},
		Data:               guestconfig.Data{Label: "bootapp-data", MountPoint: "/data", Required: true, WaitSeconds: 10},
		Network:            guestconfig.Network{DHCP: true, DHCPTimeoutSeconds: 10},
		StopTimeoutSeconds: 10,
		Restart:            restart,
	}
}

// TestBootQEMU boots the init in QEMU with a real Debian kernel and an HTTP
// app that counts hits on the data volume, stops it with the ACPI power
// button, checks the volume, and boots again to see the count persist.
func TestBootQEMU(t *testing.T) {
	e := newE2E(t)
	initrd := filepath.Join(e.dir, "initrd.zst")
	e.writeInitrd(t, initrd, e.config("no"))
	data := filepath.Join(e.dir, "data.raw")
	run(e.ctx, t, "mkfs.ext4", "-q", "-L", "bootapp-data", data, "64M")

	for boot, want := range [][]string{{"1", "2"}, {"3"}} {
		t.Logf("boot %d", boot+1)
		vm := startVM(e.ctx, t, e.dir, e.kernel, initrd, data)
		vm.waitHealthy(t, 60*time.Second)
		for _, w := range want {
			if got := vm.get(t, "/"); got != w {
				vm.fail(t, "GET / = %q, want %q", got, w)
			}
		}
		vm.powerdown(t, 30*time.Second)
		vm.expectLog(t, "bootapp-init: ", "app: listening on :8080 as uid 1000", "shutdown: power button pressed",
			"stop: app exited", "stop: unmounted /data", "power off")
		if t.Failed() {
			return
		}
		reportTimings(t, vm.serial.String())
		run(e.ctx, t, "e2fsck", "-fn", data)
	}
}

// TestBootQEMURestart checks the on-failure restart policy, the reaping of
// orphans, and the power-off when the app exits successfully.
func TestBootQEMURestart(t *testing.T) {
	e := newE2E(t)
	initrd := filepath.Join(e.dir, "initrd.zst")
	e.writeInitrd(t, initrd, e.config("on-failure"))
	data := filepath.Join(e.dir, "data.raw")
	run(e.ctx, t, "mkfs.ext4", "-q", "-L", "bootapp-data", data, "64M")

	vm := startVM(e.ctx, t, e.dir, e.kernel, initrd, data)
	vm.waitHealthy(t, 60*time.Second)
	if got := vm.get(t, "/"); got != "1" {
		vm.fail(t, "GET / = %q, want 1", got)
	}
	vm.get(t, "/orphan")
	time.Sleep(time.Second) // the orphan sleeps 300 ms, then PID 1 must reap it
	if got := vm.get(t, "/zombies"); got != "0" {
		vm.fail(t, "%s zombies after an orphan exited, want 0", got)
	}
	vm.get(t, "/exit?code=3")
	time.Sleep(300 * time.Millisecond)
	vm.waitHealthy(t, 30*time.Second)
	if got := vm.get(t, "/"); got != "2" {
		vm.fail(t, "GET / after restart = %q, want 2", got)
	}
	vm.get(t, "/exit?code=0")
	vm.waitExit(t, 30*time.Second)
	vm.expectLog(t, "app: exited with status 3", "app: restarting in 100ms", "app: exited with status 0",
		`shutdown: app ended and restart policy is "on-failure"`, "stop: unmounted /data", "power off")
	if !t.Failed() {
		run(e.ctx, t, "e2fsck", "-fn", data)
	}
}

// TestBootQEMUFatal boots without the required data volume: the init must
// log a fatal error and power off rather than exit (which panics the
// kernel) or hang.
func TestBootQEMUFatal(t *testing.T) {
	e := newE2E(t)
	cfg := e.config("no")
	cfg.Data.WaitSeconds = 1
	initrd := filepath.Join(e.dir, "initrd.zst")
	e.writeInitrd(t, initrd, cfg)
	vm := startVM(e.ctx, t, e.dir, e.kernel, initrd, "")
	vm.waitExit(t, 60*time.Second)
	vm.expectLog(t, `fatal: data volume: data volume not found: no ext4 file system with label "bootapp-data" and no blank disk; block devices: none`, "power off")
	if strings.Contains(vm.serial.String(), "Kernel panic") {
		vm.fail(t, "the kernel panicked")
	}
}

func run(ctx context.Context, t *testing.T, name string, args ...string) {
	t.Helper()
	if b, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
}

// writeInitrd writes a zstd initramfs with the init, its config c, the
// modules (at c.Modules, which config took from e.mods) and the app.
func (e *e2eEnv) writeInitrd(t *testing.T, path string, c *guestconfig.Config) {
	t.Helper()
	cfg, err := guestconfig.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := initramfs.NewWriterOptions(f, initramfs.Options{Compression: initramfs.Zstd})
	if err != nil {
		t.Fatal(err)
	}
	add := func(name, src string, mode os.FileMode) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFile(name, mode, b); err != nil {
			t.Fatal(err)
		}
	}
	add("/init", e.init, 0o755)
	add("/app/countapp", e.app, 0o755)
	for _, m := range e.mods {
		add(m.Guest, m.File, 0o644)
	}
	if err := w.WriteFile(guestconfig.Path, 0o644, cfg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// vm is a running QEMU.
type vm struct {
	cmd     *exec.Cmd
	serial  *testutil.SyncBuffer
	port    int
	qmp     string
	started time.Time
	done    chan struct{} // closed when QEMU has exited
	err     error         // QEMU's exit error, set before done is closed
}

func startVM(ctx context.Context, t *testing.T, dir, kernel, initrd, data string) *vm {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	qmp := filepath.Join(dir, "qmp.sock")
	os.Remove(qmp)
	v := &vm{serial: &testutil.SyncBuffer{}, port: port, qmp: qmp, done: make(chan struct{})}
	args := []string{"-accel", "tcg", "-m", "512", "-smp", "2",
		"-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:8080", port), "-device", "virtio-net-pci,netdev=n0",
		"-qmp", "unix:" + qmp + ",server=on,wait=off"}
	if data != "" {
		args = append(args, "-drive", "if=none,id=data,file="+data+",format=raw", "-device", "virtio-blk-pci,drive=data")
	}
	v.cmd = exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	v.cmd.Stdout = v.serial
	v.cmd.Stderr = v.serial
	v.started = time.Now()
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { v.err = v.cmd.Wait(); close(v.done) }()
	t.Cleanup(func() {
		v.cmd.Process.Kill() // fails harmlessly when QEMU is gone
		<-v.done
	})
	return v
}

func (v *vm) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Errorf(format, args...)
	t.Logf("serial log:\n%s", v.serial.String())
}

// waitHealthy polls GET /healthz until it answers 200.
func (v *vm) waitHealthy(t *testing.T, limit time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-v.done:
			v.fail(t, "QEMU exited before the app answered: %v", v.err)
			t.FailNow()
		default:
		}
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", v.port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("first HTTP 200 %.2f s after QEMU start", time.Since(v.started).Seconds())
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	v.fail(t, "app did not answer within %s", limit)
	t.FailNow()
}

func (v *vm) get(t *testing.T, path string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", v.port, path))
	if err != nil {
		v.fail(t, "GET %s: %v", path, err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		v.fail(t, "GET %s: %s: %s", path, resp.Status, b)
	}
	return strings.TrimSpace(string(b))
}

// powerdown presses the ACPI power button through QMP and waits for QEMU to
// exit by itself.
func (v *vm) powerdown(t *testing.T, limit time.Duration) {
	t.Helper()
	conn, err := net.Dial("unix", v.qmp)
	if err != nil {
		v.fail(t, "connect QMP: %v", err)
		t.FailNow()
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	readMsg := func() map[string]any {
		line, err := r.ReadBytes('\n')
		if err != nil {
			v.fail(t, "read QMP: %v", err)
			t.FailNow()
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			v.fail(t, "QMP sent %q: %v", line, err)
			t.FailNow()
		}
		return m
	}
	if m := readMsg(); m["QMP"] == nil {
		v.fail(t, "QMP greeting = %v", m)
	}
	for _, cmd := range []string{"qmp_capabilities", "system_powerdown"} {
		fmt.Fprintf(conn, "{\"execute\":%q}\n", cmd)
		for { // skip asynchronous events until the command's answer
			m := readMsg()
			if _, ok := m["return"]; ok {
				break
			}
			if e, ok := m["error"]; ok {
				v.fail(t, "QMP %s: %v", cmd, e)
				t.FailNow()
			}
		}
	}
	pressed := time.Now()
	time.Sleep(time.Second) // QEMU drops a command whose client leaves at once
	v.waitExit(t, limit-time.Second)
	t.Logf("QEMU exited %.2f s after system_powerdown", time.Since(pressed).Seconds())
}

// waitExit waits for QEMU to exit by itself (the guest powered off).
func (v *vm) waitExit(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-v.done:
		if v.err != nil {
			v.fail(t, "QEMU exit: %v", v.err)
		}
	case <-time.After(limit):
		v.fail(t, "QEMU still running after %s", limit)
		t.FailNow()
	}
}

// expectLog checks that the serial log holds every string in want.
func (v *vm) expectLog(t *testing.T, want ...string) {
	t.Helper()
	log := v.serial.String()
	for _, w := range want {
		if !strings.Contains(log, w) {
			v.fail(t, "serial log lacks %q", w)
		}
	}
}

var logTime = regexp.MustCompile(`bootapp-init: \[\s*(\d+)\.(\d+)\] (.*)`)

// reportTimings logs when the init started and started the app, in
// seconds since the kernel started.
func reportTimings(t *testing.T, serial string) {
	var first, app float64 = -1, -1
	var lines []string
	for _, line := range strings.Split(serial, "\n") {
		m := logTime.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		lines = append(lines, m[0])
		sec, _ := strconv.ParseFloat(m[1]+"."+m[2], 64)
		if first < 0 {
			first = sec
		}
		if strings.HasPrefix(m[3], "app: started") {
			app = sec
		}
	}
	if first < 0 || app < 0 {
		t.Errorf("no init timestamps in the serial log")
		return
	}
	t.Logf("init log:\n%s", strings.Join(lines, "\n"))
	t.Logf("kernel start -> init: %.3f s; init -> app started: %.3f s; kernel start -> app: %.3f s", first, app-first, app)
}
