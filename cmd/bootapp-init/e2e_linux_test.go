package main

import (
	"bufio"
	"bytes"
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
	"sync"
	"testing"
	"time"

	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/guestconfig"
)

// The Debian cloud kernel unpacked from its .deb, as described in the
// project's machine facts.
const (
	e2eKernelRoot = "/tmp/kc/x"
	e2eRelease    = "6.1.0-56-cloud-amd64"
)

// e2eModules are the modules QEMU's virtio disk, virtio NIC and ACPI power
// button need, dependencies first (from each .ko's depends= field).
var e2eModules = []string{
	"kernel/drivers/virtio/virtio_ring.ko",
	"kernel/drivers/virtio/virtio.ko",
	"kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
	"kernel/drivers/virtio/virtio_pci_modern_dev.ko",
	"kernel/drivers/virtio/virtio_pci.ko",
	"kernel/drivers/block/virtio_blk.ko",
	"kernel/net/core/failover.ko",
	"kernel/drivers/net/net_failover.ko",
	"kernel/drivers/net/virtio_net.ko",
	"kernel/drivers/acpi/button.ko",
	"kernel/drivers/input/evdev.ko",
}

// TestBootQEMU boots the init in QEMU with a real Debian kernel and an HTTP
// app that counts hits on the data volume, stops it with the ACPI power
// button, checks the volume, and boots again to see the count persist.
func TestBootQEMU(t *testing.T) {
	if os.Getenv("BOOTAPP_E2E") != "1" {
		t.Skip("boots QEMU (about 30 s under TCG): set BOOTAPP_E2E=1 to run")
	}
	for _, tool := range []string{"go", "qemu-system-x86_64", "mkfs.ext4", "e2fsck"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("BOOTAPP_E2E=1 needs %s: %v", tool, err)
		}
	}
	kernel := filepath.Join(e2eKernelRoot, "boot", "vmlinuz-"+e2eRelease)
	if _, err := os.Stat(kernel); err != nil {
		t.Fatalf("BOOTAPP_E2E=1 needs the unpacked Debian kernel: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()

	initBin := filepath.Join(dir, "init")
	goBuild(ctx, t, initBin, ".", "-trimpath", "-ldflags=-s -w -buildid=")
	appBin := filepath.Join(dir, "countapp")
	goBuild(ctx, t, appBin, "./testdata/countapp")

	initrd := filepath.Join(dir, "initrd.zst")
	writeInitrd(t, initrd, initBin, appBin)
	data := filepath.Join(dir, "data.raw")
	run(ctx, t, "mkfs.ext4", "-q", "-L", "bootapp-data", data, "64M")

	for boot, want := range [][]string{{"1", "2"}, {"3"}} {
		t.Logf("boot %d", boot+1)
		vm := startVM(ctx, t, dir, kernel, initrd, data)
		vm.waitHealthy(t, 60*time.Second)
		for _, w := range want {
			if got := vm.get(t, "/"); got != w {
				vm.fail(t, "GET / = %q, want %q", got, w)
			}
		}
		vm.powerdown(t, 30*time.Second)
		log := vm.serial.String()
		for _, want := range []string{"bootapp-init: ", "app: listening on :8080 as uid 1000", "stop: app exited", "stop: unmounted /data", "power off"} {
			if !strings.Contains(log, want) {
				vm.fail(t, "serial log lacks %q", want)
			}
		}
		if t.Failed() {
			return
		}
		reportTimings(t, log)
		run(ctx, t, "e2fsck", "-fn", data)
	}
}

// goBuild builds the package pkg (relative to this directory) for
// linux/amd64 as a static binary at out.
func goBuild(ctx context.Context, t *testing.T, out, pkg string, flags ...string) {
	t.Helper()
	args := append([]string{"build", "-o", out}, flags...)
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

func run(ctx context.Context, t *testing.T, name string, args ...string) {
	t.Helper()
	if b, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
}

// writeInitrd writes a zstd initramfs with the init, its config, the
// modules and the app.
func writeInitrd(t *testing.T, path, initBin, appBin string) {
	t.Helper()
	mods := make([]string, len(e2eModules))
	for i, m := range e2eModules {
		mods[i] = "/lib/modules/" + e2eRelease + "/" + m
	}
	cfg, err := guestconfig.Marshal(&guestconfig.Config{
		Version:            guestconfig.Version,
		Hostname:           "e2e",
		Modules:            mods,
		App:                guestconfig.App{Path: "/app/countapp", Env: []string{"DATA_DIR=/data"}, UID: 1000, GID: 1000},
		Data:               guestconfig.Data{Label: "bootapp-data", MountPoint: "/data", Required: true, WaitSeconds: 10},
		Network:            guestconfig.Network{DHCP: true, DHCPTimeoutSeconds: 10},
		StopTimeoutSeconds: 10,
		Restart:            "no",
	})
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
	add("/init", initBin, 0o755)
	add("/app/countapp", appBin, 0o755)
	for i, m := range e2eModules {
		add(mods[i], filepath.Join(e2eKernelRoot, "lib/modules", e2eRelease, m), 0o644)
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
	serial  *syncBuffer
	port    int
	qmp     string
	started time.Time
	exited  chan error
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
	v := &vm{serial: &syncBuffer{}, port: port, qmp: qmp, exited: make(chan error, 1)}
	v.cmd = exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "2",
		"-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet",
		"-drive", "if=none,id=data,file="+data+",format=raw", "-device", "virtio-blk-pci,drive=data",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:8080", port), "-device", "virtio-net-pci,netdev=n0",
		"-qmp", "unix:"+qmp+",server=on,wait=off")
	v.cmd.Stdout = v.serial
	v.cmd.Stderr = v.serial
	v.started = time.Now()
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { v.exited <- v.cmd.Wait() }()
	t.Cleanup(func() {
		if v.cmd.ProcessState == nil {
			v.cmd.Process.Kill()
			<-v.exited
		}
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
		case err := <-v.exited:
			v.fail(t, "QEMU exited before the app answered: %v", err)
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
	select {
	case err := <-v.exited:
		if err != nil {
			v.fail(t, "QEMU exit: %v", err)
		}
		t.Logf("QEMU exited %.2f s after system_powerdown", time.Since(pressed).Seconds())
	case <-time.After(limit):
		v.fail(t, "QEMU still running %s after system_powerdown", limit)
		t.FailNow()
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

// syncBuffer is a bytes.Buffer safe for QEMU's output goroutine and the
// test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
