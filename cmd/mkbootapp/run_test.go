//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/qemu"
	"github.com/bootapp/bootapp/internal/qemu/qemutest"
	"github.com/bootapp/bootapp/internal/testutil"
)

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in      []string
		want    []qemu.Forward
		wantErr bool
	}{
		{in: []string{"18080:8080", "22"}, want: []qemu.Forward{
			{HostAddr: "127.0.0.1", HostPort: 18080, GuestPort: 8080},
			{HostAddr: "127.0.0.1", HostPort: 22, GuestPort: 22}}},
		{in: []string{"0:80"}, want: []qemu.Forward{{HostAddr: "127.0.0.1", HostPort: 0, GuestPort: 80}}},
		{in: []string{"x:80"}, wantErr: true},
		{in: []string{"80:0"}, wantErr: true},
		{in: []string{"70000"}, wantErr: true},
		{in: nil},
	}
	for _, tt := range tests {
		got, err := parsePorts(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parsePorts(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestForwardsFor(t *testing.T) {
	busy := map[int]bool{9090: true}
	free := func(p int) bool { return !busy[p] }
	got := forwardsFor([]int{9090, 8080, 8080, 22}, []qemu.Forward{{HostAddr: "127.0.0.1", HostPort: 2222, GuestPort: 22}}, free)
	want := []qemu.Forward{
		{HostAddr: "127.0.0.1", HostPort: 2222, GuestPort: 22}, // explicit wins
		{HostAddr: "127.0.0.1", HostPort: 8080, GuestPort: 8080},
		{HostAddr: "127.0.0.1", HostPort: 0, GuestPort: 9090}, // busy: a free port
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("forwardsFor:\n got %v\nwant %v", got, want)
	}
}

func TestFormatOf(t *testing.T) {
	for in, want := range map[string]image.Format{"a.raw": image.Raw, "b.IMG": image.Raw, "c.qcow2": image.QCOW2,
		"d.vmdk": image.VMDKSparse, "e.vhd": image.VHD, "f.tar.gz": "", "g.iso": ""} {
		got, err := formatOf(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("formatOf(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// writeManifest writes a manifest and empty image files as Build would.
func writeManifest(t *testing.T, dir string, res builder.Result) {
	t.Helper()
	for _, f := range res.Files {
		if err := os.WriteFile(filepath.Join(dir, f.Path), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPlanRun(t *testing.T) {
	dir := t.TempDir()
	writeManifest(t, dir, builder.Result{
		Files: []builder.File{
			{Path: "app.vmdk", Role: builder.RoleBoot, Format: image.VMDKStream},
			{Path: "app.qcow2", Role: builder.RoleBoot, Format: image.QCOW2},
			{Path: "app.raw", Role: builder.RoleBoot, Format: image.Raw},
			{Path: "app-data.raw", Role: builder.RoleData, Format: image.Raw},
		},
		Spec: builder.Spec{App: builder.App{Ports: []int{8080}, StopTimeout: 5 * time.Second}, Health: &builder.HealthCheck{Port: 9091}},
	})
	other := filepath.Join(t.TempDir(), "lone.qcow2")
	os.WriteFile(other, nil, 0o644)
	tests := []struct {
		name      string
		target    string
		flags     runFlags
		wantBoot  qemu.Disk
		wantData  string
		wantGuest []int
		wantGrace time.Duration
		wantErr   string
	}{
		{name: "dir", target: dir, wantBoot: qemu.Disk{Path: filepath.Join(dir, "app.raw"), Format: "raw", ReadOnly: true},
			wantData: filepath.Join(dir, "app-data.raw"), wantGuest: []int{8080, 9091}, wantGrace: 25 * time.Second},
		{name: "manifest", target: filepath.Join(dir, "app.manifest.json"), flags: runFlags{noData: true, grace: time.Second},
			wantBoot: qemu.Disk{Path: filepath.Join(dir, "app.raw"), Format: "raw", ReadOnly: true}, wantGuest: []int{8080, 9091}, wantGrace: time.Second},
		{name: "image beside its manifest", target: filepath.Join(dir, "app.qcow2"),
			wantBoot: qemu.Disk{Path: filepath.Join(dir, "app.qcow2"), Format: "qcow2", ReadOnly: true},
			wantData: filepath.Join(dir, "app-data.raw"), wantGuest: []int{8080, 9091}, wantGrace: 25 * time.Second},
		{name: "lone image with flags", target: other, flags: runFlags{data: "/x/d.raw", ports: []string{"18080:80"}},
			wantBoot: qemu.Disk{Path: other, Format: "qcow2", ReadOnly: true}, wantData: "/x/d.raw", wantGuest: []int{80}, wantGrace: 30 * time.Second},
		{name: "direct from dir picks raw", target: dir, flags: runFlags{direct: true},
			wantBoot: qemu.Disk{Path: filepath.Join(dir, "app.raw"), Format: "raw", ReadOnly: true},
			wantData: filepath.Join(dir, "app-data.raw"), wantGuest: []int{8080, 9091}, wantGrace: 25 * time.Second},
		{name: "direct needs a raw boot disk", target: filepath.Join(dir, "app.qcow2"), flags: runFlags{direct: true},
			wantErr: "is a qcow2 image: --direct reads the kernel from a raw boot disk; build with --format raw"},
		{name: "missing", target: filepath.Join(dir, "nope"), wantErr: "no such file"},
		{name: "bad data name", target: other, flags: runFlags{data: "/x/d.tar.gz"}, wantErr: "cannot tell the format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planRun(tt.target, tt.flags)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.boot != tt.wantBoot {
				t.Errorf("boot = %+v, want %+v", p.boot, tt.wantBoot)
			}
			data := ""
			if p.data != nil {
				data = p.data.Path
			}
			if data != tt.wantData {
				t.Errorf("data = %q, want %q", data, tt.wantData)
			}
			var guest []int
			for _, f := range p.forwards {
				guest = append(guest, f.GuestPort)
			}
			if !reflect.DeepEqual(guest, tt.wantGuest) {
				t.Errorf("guest ports = %v, want %v", guest, tt.wantGuest)
			}
			if p.grace != tt.wantGrace {
				t.Errorf("grace = %s, want %s", p.grace, tt.wantGrace)
			}
		})
	}
}

// fakeQEMUOnPath puts internal/qemu's fake QEMU (testdata/fakeqemu.py) on
// PATH as qemu-system-x86_64 and returns a disk for it; suffixes switch
// its behaviours on (see the script).
func fakeQEMUOnPath(t *testing.T, suffixes ...string) string {
	t.Helper()
	testutil.NeedCommand(t, "python3", "apt-get install -y python3")
	if _, _, err := qemu.FindOVMF(); err != nil {
		testutil.Missing(t, err.Error(), "apt-get install -y ovmf")
	}
	script, err := filepath.Abs("../../internal/qemu/testdata/fakeqemu.py")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(script, filepath.Join(bin, qemu.DefaultBinary)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	disk := filepath.Join(t.TempDir(), "boot.raw")
	if err := os.WriteFile(disk, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range suffixes {
		if err := os.WriteFile(disk+s, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return disk
}

// TestRunGuestFatal runs a fake QEMU whose guest init reports a fatal
// error and powers off (QEMU exits 0): run must fail with the init's
// message. A guest stopped by Ctrl-C without one exits cleanly.
func TestRunGuestFatal(t *testing.T) {
	tests := []struct {
		name      string
		suffixes  []string
		interrupt bool // Ctrl-C once the VM is up
		wantErr   string
	}{
		{name: "init fatal error", suffixes: []string{".guest-fatal"},
			wantErr: "the guest stopped with a fatal error: data volume: e2fsck /dev/vdb: exit status 4 (errors left uncorrected)"},
		{name: "clean power-off", interrupt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk := fakeQEMUOnPath(t, tt.suffixes...)
			var out, errOut testutil.SyncBuffer
			cmd := newRunCmd()
			cmd.SetArgs([]string{disk, "--accel", "tcg", "--grace", "10s"})
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			cmd.SilenceUsage = true
			ctx, interrupt := context.WithTimeout(context.Background(), 30*time.Second)
			defer interrupt()
			done := make(chan error, 1)
			go func() { done <- cmd.ExecuteContext(ctx) }()
			var err error
			if tt.interrupt {
				for err == nil && !strings.Contains(errOut.String(), "press Ctrl-C") {
					select {
					case err = <-done:
						t.Fatalf("run returned before Ctrl-C: %v\nstderr:\n%s", err, errOut.String())
					case <-time.After(20 * time.Millisecond):
					}
				}
				interrupt()
			}
			err = <-done
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("run: %v\nstderr:\n%s", err, errOut.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run err = %v, want %q\nstderr:\n%s", err, tt.wantErr, errOut.String())
			}
			if strings.Contains(errOut.String(), "the guest powered off") {
				t.Errorf("a fatal stop was reported as a power-off:\n%s", errOut.String())
			}
		})
	}
}

// TestRunDirectFake runs `run --direct` on a boot disk written by
// image.WriteBootDisk with a fake QEMU: QEMU gets the disk's kernel,
// initramfs and command line as -kernel, -initrd and -append, no
// firmware, and the boot disk is left as it was.
func TestRunDirectFake(t *testing.T) {
	fakeQEMUOnPath(t)
	disk := filepath.Join(t.TempDir(), "app.raw")
	bf := &image.BootFiles{Loader: []byte("MZloader"), Kernel: append([]byte("MZ"), make([]byte, 3000)...),
		Initrd: make([]byte, 2000), Cmdline: "console=ttyS0,115200 quiet panic=-1"}
	if err := image.WriteBootDisk(context.Background(), disk, bf, 0); err != nil {
		t.Fatal(err)
	}
	before := testutil.FileSHA256(t, disk)
	var out, errOut testutil.SyncBuffer
	cmd := newRunCmd()
	cmd.SetArgs([]string{"--direct", disk, "--accel", "tcg", "--grace", "10s"})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage = true
	ctx, interrupt := context.WithTimeout(context.Background(), 30*time.Second)
	defer interrupt()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	for !strings.Contains(errOut.String(), "press Ctrl-C") {
		select {
		case err := <-done:
			t.Fatalf("run returned before Ctrl-C: %v\nstderr:\n%s", err, errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	interrupt()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, errOut.String())
	}
	want := `fake console: direct boot: kernel 3002 bytes, initrd 2000 bytes, append 'console=ttyS0,115200 quiet panic=-1', pflash False`
	if !strings.Contains(out.String(), want) {
		t.Errorf("console:\n%s\nwant the line %s", out.String(), want)
	}
	if !strings.Contains(errOut.String(), "direct kernel boot: no UEFI firmware or boot loader") {
		t.Errorf("stderr does not say the boot is direct:\n%s", errOut.String())
	}
	if testutil.FileSHA256(t, disk) != before {
		t.Error("run --direct changed the boot disk")
	}
}

// runUntilHealthy runs `mkbootapp run args...` in-process, waits for url to
// answer 2xx, then cancels the command's context as Ctrl-C does and checks
// that the command returns nil (a clean ACPI power-off).
func runUntilHealthy(t *testing.T, url string, args ...string) (stdout, stderr string) {
	t.Helper()
	return runWhileHealthy(t, url, nil, args...)
}

// runWhileHealthy is runUntilHealthy calling during, when not nil, once
// the app answers and before the Ctrl-C.
func runWhileHealthy(t *testing.T, url string, during func(), args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut testutil.SyncBuffer
	cmd := newRunCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage = true
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- cmd.ExecuteContext(ctx) }()

	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer wcancel()
	if err := qemu.WaitHTTP(wctx, url, nil); err != nil {
		interrupt()
		<-done
		t.Fatalf("app not reached at %s: %v\nstderr:\n%s\nconsole:\n%s", url, err, errOut.String(), out.String())
	}
	t.Logf("reached %s after %s", url, time.Since(start).Round(time.Millisecond))
	if during != nil {
		during()
	}
	interrupt() // Ctrl-C
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after Ctrl-C: %v\nstderr:\n%s\nconsole:\n%s", err, errOut.String(), out.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("run did not return 90 s after Ctrl-C\nstderr:\n%s", errOut.String())
	}
	if !strings.Contains(errOut.String(), "the guest powered off in") {
		t.Errorf("no clean power-off reported:\n%s", errOut.String())
	}
	return out.String(), errOut.String()
}

// TestE2ERunImage runs a hand-made test disk (internal/qemu/qemutest):
// start, reach the forwarded port, Ctrl-C, clean exit.
func TestE2ERunImage(t *testing.T) {
	testutil.NeedE2E(t, "boots QEMU (about 15 s under TCG)")
	disk := qemutest.BuildDisk(t, t.TempDir(), qemutest.Options{Mode: qemutest.Serve, Port: 8080})
	host := testutil.FreePort(t)
	stdout, stderr := runUntilHealthy(t, fmt.Sprintf("http://127.0.0.1:%d/", host),
		disk, "--port", fmt.Sprintf("%d:8080", host), "--memory", "256", "--cpus", "1", "--grace", "30s")
	if !strings.Contains(stdout, "qemutest: power button pressed") {
		t.Errorf("console on stdout lacks the power button:\n%s", stdout)
	}
	if !strings.Contains(stderr, fmt.Sprintf("port 8080 -> 127.0.0.1:%d", host)) {
		t.Errorf("port mapping not printed:\n%s", stderr)
	}
}

// TestE2ERunBuilt builds examples/hello with builder.Build and runs the
// output directory: the manifest's port 8080 is forwarded (to 8080 when
// free), the counter on the data volume answers, and Ctrl-C powers off.
func TestE2ERunBuilt(t *testing.T) {
	testutil.NeedE2E(t, "builds an image and boots QEMU")
	ctx := context.Background()
	cache, kdeb, ldeb := testutil.CacheDir(), testutil.KernelDeb(t), testutil.LoaderDeb(t)
	app := testutil.StaticBinary(t, "../../examples/hello", testutil.BuildOptions{})
	out := filepath.Join(t.TempDir(), "out")
	if _, err := builder.Build(ctx, builder.Spec{
		App: builder.App{Path: app, Ports: []int{8080}}, Kernel: builder.KernelSource{Deb: kdeb}, Bootloader: ldeb,
		CacheDir: cache, OutputDir: out, DataVolume: builder.DataVolume{Size: 64 << 20},
		Health: &builder.HealthCheck{Port: 8080, Path: "/healthz"},
	}); err != nil {
		t.Fatalf("build: %v", err)
	}
	// The manifest's port 8080 goes to 8080 on the host when it is free.
	args, host := []string{out}, 8080
	if !qemu.PortFree("127.0.0.1", 8080) {
		host = testutil.FreePort(t)
		args = append(args, "--port", fmt.Sprintf("%d:8080", host))
	}
	_, stderr := runUntilHealthy(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", host), args...)
	if !strings.Contains(stderr, fmt.Sprintf("port 8080 -> 127.0.0.1:%d", host)) {
		t.Errorf("port mapping not printed:\n%s", stderr)
	}
	if !strings.Contains(stderr, "with data volume") {
		t.Errorf("data volume not attached:\n%s", stderr)
	}
}

// TestE2ERunBinarySIGINT runs the mkbootapp binary in its own process group
// and sends SIGINT to the whole group, as a terminal's Ctrl-C does: QEMU,
// in a group of its own, must not die of it; the guest must power off
// through ACPI and mkbootapp must exit 0.
func TestE2ERunBinarySIGINT(t *testing.T) {
	testutil.NeedE2E(t, "boots QEMU (about 15 s under TCG)")
	bin := filepath.Join(t.TempDir(), "mkbootapp")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build mkbootapp: %v\n%s", err, b)
	}
	disk := qemutest.BuildDisk(t, t.TempDir(), qemutest.Options{Mode: qemutest.Serve, Port: 8080})
	host := testutil.FreePort(t)
	var out, errOut testutil.SyncBuffer
	cmd := exec.Command(bin, "run", disk, "--port", fmt.Sprintf("%d:8080", host), "--grace", "30s")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := qemu.WaitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/", host), nil); err != nil {
		t.Fatalf("app not reached: %v\nstderr:\n%s\nconsole:\n%s", err, errOut.String(), out.String())
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil { // the terminal's Ctrl-C
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mkbootapp run exited with %v after SIGINT\nstderr:\n%s\nconsole:\n%s", err, errOut.String(), out.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("mkbootapp run still running 90 s after SIGINT\nstderr:\n%s", errOut.String())
	}
	if !strings.Contains(out.String(), "qemutest: power button pressed") || !strings.Contains(errOut.String(), "the guest powered off in") {
		t.Errorf("no ACPI power-off\nstderr:\n%s\nconsole:\n%s", errOut.String(), out.String())
	}
}

// httpGet returns the body of a GET of url, failing the test unless the
// status is 200.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v: %s", url, resp.StatusCode, err, b)
	}
	return string(b)
}

// TestE2ERunDirect builds examples/hello and runs the mkbootapp binary
// with --direct in its own process group: the app answers on the
// forwarded port with the first count, SIGINT to the group (a terminal's
// Ctrl-C) powers the guest off through ACPI, the kernel and initramfs
// copies are gone and the boot disk is unchanged. A normal (UEFI) run of
// the same output then counts on from the data volume.
func TestE2ERunDirect(t *testing.T) {
	testutil.NeedE2E(t, "builds an image and boots QEMU twice")
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "mkbootapp")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build mkbootapp: %v\n%s", err, b)
	}
	cache, kdeb, ldeb := testutil.CacheDir(), testutil.KernelDeb(t), testutil.LoaderDeb(t)
	app := testutil.StaticBinary(t, "../../examples/hello", testutil.BuildOptions{})
	out := filepath.Join(t.TempDir(), "out")
	res, err := builder.Build(ctx, builder.Spec{
		App: builder.App{Path: app, Ports: []int{8080}}, Kernel: builder.KernelSource{Deb: kdeb}, Bootloader: ldeb,
		CacheDir: cache, OutputDir: out, DataVolume: builder.DataVolume{Size: 64 << 20},
		Health: &builder.HealthCheck{Port: 8080, Path: "/healthz"},
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	boot, ok := pickFile(res.Files, builder.RoleBoot)
	if !ok {
		t.Fatal("no boot disk built")
	}
	bootSum := testutil.FileSHA256(t, boot.Path)

	host := testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", host)
	tmp := t.TempDir() // QEMU's work directory goes here: it must end empty
	var stdout, stderr testutil.SyncBuffer
	cmd := exec.Command(bin, "run", "--direct", out, "--port", fmt.Sprintf("%d:8080", host), "--grace", "30s")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := qemu.WaitHTTP(wctx, base+"/healthz", nil); err != nil {
		t.Fatalf("app not reached: %v\nstderr:\n%s\nconsole:\n%s", err, stderr.String(), stdout.String())
	}
	t.Logf("--direct: first 200 after %s", time.Since(start).Round(time.Millisecond))
	if got := httpGet(t, base+"/"); got != "count: 1\n" {
		t.Errorf("--direct run: GET / = %q, want count: 1", got)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mkbootapp run --direct exited with %v after SIGINT\nstderr:\n%s\nconsole:\n%s", err, stderr.String(), stdout.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("mkbootapp run --direct still running 90 s after SIGINT\nstderr:\n%s", stderr.String())
	}
	for _, want := range []string{"direct kernel boot: no UEFI firmware or boot loader", "with data volume", "the guest powered off in"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if !strings.Contains(stdout.String(), "data: mounted /dev/vdb") {
		t.Errorf("the data volume is not the second disk, as in a UEFI run:\n%s", stdout.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temporary files left in %s: %v", tmp, left)
	}
	if testutil.FileSHA256(t, boot.Path) != bootSum {
		t.Error("run --direct changed the boot disk")
	}

	// The same output booted through UEFI and systemd-boot counts on.
	runWhileHealthy(t, base+"/healthz", func() {
		if got := httpGet(t, base+"/"); got != "count: 2\n" {
			t.Errorf("UEFI run after --direct: GET / = %q, want count: 2", got)
		}
	}, out, "--port", fmt.Sprintf("%d:8080", host), "--grace", "30s")
}

// TestPlanRunNoData: --data for an image built with --no-data is refused
// (its guest would put the volume's place on a tmpfs), unless the image
// selects a volume by serial or UUID.
func TestPlanRunNoData(t *testing.T) {
	for _, tt := range []struct {
		name    string
		dv      builder.DataVolume
		wantErr string
	}{
		{"no-data", builder.DataVolume{Disabled: true, MountPoint: "/data"}, "was built with --no-data, so its guest mounts no data volume and /data would be a tmpfs"},
		{"no-data with a serial", builder.DataVolume{Disabled: true, Serial: "vol0abc"}, ""},
		{"with a data volume", builder.DataVolume{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeManifest(t, dir, builder.Result{
				Files: []builder.File{{Path: "app.raw", Role: builder.RoleBoot, Format: image.Raw}},
				Spec:  builder.Spec{DataVolume: tt.dv},
			})
			_, err := planRun(dir, runFlags{data: "/x/d.raw"})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("planRun = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
