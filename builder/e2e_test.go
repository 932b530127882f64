package builder

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/qemu"
	"github.com/bootapp/bootapp/internal/testutil"
)

// e2e skips the test unless BOOTAPP_E2E=1 (the README's `make test` sets it).
func e2e(t *testing.T) {
	t.Helper()
	testutil.NeedE2E(t, "end-to-end test: builds an image and boots it in QEMU")
}

// testInputs returns the cache and its newest kernel and boot loader
// packages, as a build without --kernel finds them; when they are missing
// the test fails under BOOTAPP_E2E=1 (skips otherwise) saying to run
// `mkbootapp fetch`.
func testInputs(t testing.TB) (cache, kernelDeb, loaderDeb string) {
	t.Helper()
	return testutil.CacheDir(), testutil.KernelDeb(t), testutil.LoaderDeb(t)
}

// buildGoApp compiles a Go main package (a directory or file below the
// module root, or an absolute path) as a static linux/amd64 binary; env
// may override the target (e.g. "GOARCH=arm64").
func buildGoApp(t testing.TB, pkg string, env ...string) string {
	t.Helper()
	return testutil.StaticBinary(t, pkg, testutil.BuildOptions{Env: env})
}

func fileByRole(t *testing.T, r *Result, role Role, f image.Format) File {
	t.Helper()
	for _, x := range r.Files {
		if x.Role == role && x.Format == f {
			return x
		}
	}
	t.Fatalf("no %s %s file in result %+v", role, f, r.Files)
	return File{}
}

// bootOpts describes one boot of bootApp.
type bootOpts struct {
	// Boot and Data are the boot disk (attached read-only) and the data
	// volume.
	Boot, Data File
	// Port is the app's port in the guest, forwarded to a free host port.
	Port int
	// MemoryMiB is the guest memory: the build's Result.GuestMemory(0)
	// (see guestMemory). Zero gives internal/qemu's default.
	MemoryMiB int
	// First is the count the first GET / must answer ("count: First"; the
	// second must answer First+1). Zero skips the counting, for an app
	// without a counter.
	First int
	// Stopped is a line the app writes to the console when SIGTERM stops
	// it; empty checks only the init's account of the app's stop.
	Stopped string
	// Check, when set, runs after the counting and before the power-off.
	Check func(a *bootedApp)
}

// bootedApp is the app of a VM that bootApp booted, for bootOpts.Check.
type bootedApp struct {
	t    *testing.T
	ctx  context.Context
	vm   *qemu.VM
	data File   // the data volume
	base string // http://127.0.0.1:PORT
}

// Fatalf fails the test with the serial console's tail appended, and the
// error report of a JVM that crashed, read from the data volume.
func (a *bootedApp) Fatalf(format string, args ...any) {
	a.t.Helper()
	console := a.vm.ConsoleTail()
	a.t.Fatalf(format+"\n--- serial console ---\n%s%s", append(args, console, a.crashReport(console))...)
}

// hsErrFile matches the line in which a crashing JVM names its error
// report ("# /data/hs_err_pid101.log"), which it writes to its working
// directory, the data volume.
var hsErrFile = regexp.MustCompile(`# /data/(hs_err_pid[0-9]+\.log)`)

// crashReport returns the JVM error report console names, read with
// debugfs from the data volume after QEMU is stopped, or "" when there is
// none. The report holds the registers, the stack and the instructions
// around the faulting pc that the console's summary lacks.
func (a *bootedApp) crashReport(console string) string {
	m := hsErrFile.FindStringSubmatch(console)
	if m == nil || a.data.Format != image.Raw {
		return ""
	}
	a.vm.Kill() // the guest's writes are on the volume once QEMU is gone
	out, err := exec.Command("debugfs", "-R", "cat /"+m[1], a.data.Path).Output()
	if err != nil {
		return fmt.Sprintf("\n--- /data/%s: debugfs: %v ---\n", m[1], err)
	}
	return fmt.Sprintf("\n--- /data/%s (from the data volume) ---\n%s", m[1], out)
}

// Do GETs path from the app and returns the status and body.
func (a *bootedApp) Do(path string) (int, []byte) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(a.ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.Fatalf("GET %s: read the body: %v", path, err)
	}
	return resp.StatusCode, b
}

// Get GETs path from the app, which must answer 200, and returns the body.
func (a *bootedApp) Get(path string) []byte {
	a.t.Helper()
	status, b := a.Do(path)
	if status != http.StatusOK {
		a.Fatalf("GET %s = %d %q, want 200", path, status, b)
	}
	return b
}

// guestMemory returns the guest memory the build of r chose
// (Result.GuestMemory), failing the test when the build itself warns that
// its root file system does not fit.
func guestMemory(t *testing.T, r *Result) int {
	t.Helper()
	mib, warning := r.GuestMemory(0)
	if warning != "" {
		t.Fatalf("guest memory: %s", warning)
	}
	return mib
}

// bootApp boots o.Boot (read-only) with the data volume o.Data in QEMU,
// waits for the app's /healthz to answer 200, checks that GET / counts
// from o.First to o.First+1, runs o.Check, powers the VM off through ACPI
// and checks that QEMU exits within 60 s, that the init stopped the app
// with SIGTERM (and the app exited in time, logging o.Stopped) and that it
// unmounted the data volume before powering off.
func bootApp(t *testing.T, o bootOpts) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	vm, err := qemu.Start(ctx, qemu.Config{
		Disks: []qemu.Disk{
			{Path: o.Boot.Path, Format: o.Boot.Format, ReadOnly: true},
			{Path: o.Data.Path, Format: o.Data.Format},
		},
		Forwards: []qemu.Forward{{GuestPort: o.Port}},
		MemoryMB: o.MemoryMiB,
	})
	if err != nil {
		t.Fatalf("start QEMU: %v", err)
	}
	defer vm.Kill()
	a := &bootedApp{t: t, ctx: ctx, vm: vm, data: o.Data, base: "http://" + vm.Forwarded(o.Port)}
	// A guest that powers off before the app is healthy (the app
	// crashed at start) fails at once, not at the deadline.
	waitCtx, stopWait := context.WithCancel(ctx)
	go func() {
		select {
		case <-vm.Done():
			stopWait()
		case <-waitCtx.Done():
		}
	}()
	err = qemu.WaitHTTP(waitCtx, a.base+"/healthz", func(s int) bool { return s == 200 })
	stopWait()
	if err != nil {
		select {
		case <-vm.Done():
			a.Fatalf("the guest powered off before the app was healthy (did the app exit at start?): %v", err)
		default:
		}
		a.Fatalf("app never became healthy: %v", err)
	}
	mem := "default"
	if o.MemoryMiB > 0 {
		mem = fmt.Sprintf("%d MiB", o.MemoryMiB)
	}
	t.Logf("QEMU start to first HTTP 200: %v (accel %s, memory %s)", time.Since(start).Round(time.Millisecond), vm.Accel(), mem)
	if o.First > 0 {
		for i := 0; i < 2; i++ {
			want := fmt.Sprintf("count: %d\n", o.First+i)
			if status, body := a.Do("/"); status != 200 || string(body) != want {
				a.Fatalf("GET / = %d %q, want 200 %q", status, body, want)
			}
		}
	}
	if o.Check != nil {
		o.Check(a)
	}
	stopStart := time.Now()
	if err := vm.Powerdown(ctx); err != nil {
		a.Fatalf("ACPI power down: %v", err)
	}
	select {
	case <-vm.Done():
	case <-time.After(60 * time.Second):
		a.Fatalf("QEMU did not exit within 60s of system_powerdown")
	}
	if err := vm.Wait(); err != nil {
		a.Fatalf("QEMU exit: %v", err)
	}
	t.Logf("ACPI power down to QEMU exit: %v", time.Since(stopStart).Round(time.Millisecond))
	log := vm.ConsoleTail()
	for _, want := range []string{"stop: SIGTERM to the app", "stop: app exited after", o.Stopped, "stop: unmounted ", "power off"} {
		if !strings.Contains(log, want) {
			a.Fatalf("console log has no %q: the app or the init did not shut down cleanly", want)
		}
	}
}

// bootAndCount boots the boot disk with the data volume in the default
// guest memory, checks the app's counter goes from want to want+1 over
// the app's port, and powers the VM off with ACPI (bootApp), for apps
// like examples/hello that log "shutting down" on SIGTERM.
func bootAndCount(t *testing.T, boot, data File, wantFirst, port int) {
	t.Helper()
	bootApp(t, bootOpts{Boot: boot, Data: data, Port: port, First: wantFirst, Stopped: "shutting down"})
}

// qemuFormat is QEMU's driver for f (internal/qemu holds the mapping).
func qemuFormat(f image.Format) string {
	d, _ := qemu.DriveFormatOf(f)
	return d.Driver
}

// espOffset returns the byte offset and size of partition 1 via sfdisk.
func espOffset(t *testing.T, disk string) (int64, int64) {
	t.Helper()
	out, err := exec.Command("sfdisk", "--json", disk).Output()
	if err != nil {
		t.Fatalf("sfdisk --json %s: %v", disk, err)
	}
	var pt struct {
		PartitionTable struct {
			Label      string `json:"label"`
			SectorSize int64  `json:"sectorsize"`
			Partitions []struct {
				Start int64  `json:"start"`
				Size  int64  `json:"size"`
				Type  string `json:"type"`
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &pt); err != nil {
		t.Fatalf("sfdisk output: %v\n%s", err, out)
	}
	p := pt.PartitionTable
	if p.Label != "gpt" || len(p.Partitions) != 1 {
		t.Fatalf("boot disk: want one GPT partition, got %s", out)
	}
	if !strings.EqualFold(p.Partitions[0].Type, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B") {
		t.Fatalf("partition type %s is not an EFI system partition", p.Partitions[0].Type)
	}
	ss := p.SectorSize
	if ss == 0 {
		ss = 512
	}
	return p.Partitions[0].Start * ss, p.Partitions[0].Size * ss
}

// checkFilesystems runs fsck.fat on the ESP and e2fsck on the data volume.
func checkFilesystems(t *testing.T, boot, data string) {
	t.Helper()
	off, size := espOffset(t, boot)
	esp := filepath.Join(t.TempDir(), "esp.img")
	cmd := exec.Command("dd", "if="+boot, "of="+esp, "bs=1M", fmt.Sprintf("skip=%d", off>>20), fmt.Sprintf("count=%d", size>>20), "status=none")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dd: %v\n%s", err, b)
	}
	if b, err := exec.Command("fsck.fat", "-n", esp).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n on the ESP: %v\n%s", err, b)
	}
	if b, err := exec.Command("e2fsck", "-fn", data).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn %s: %v\n%s", data, err, b)
	}
}

// TestEndToEnd is issue 2's proof: build examples/hello, boot it with OVMF,
// count, power off via ACPI, rebuild the boot disk, boot again with the same
// data volume and see the count continue.
func TestEndToEnd(t *testing.T) {
	e2e(t)
	cache, kdeb, ldeb := testInputs(t)
	app := buildGoApp(t, "../examples/hello")
	out := filepath.Join(t.TempDir(), "out")
	spec := Spec{
		App:        App{Path: app, Ports: []int{8080}},
		Kernel:     KernelSource{Deb: kdeb},
		Bootloader: ldeb,
		CacheDir:   cache,
		OutputDir:  out,
		DataVolume: DataVolume{Size: 256 << 20},
		Health:     &HealthCheck{Path: "/healthz"},
	}
	res, err := Build(context.Background(), spec)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	boot := fileByRole(t, res, RoleBoot, image.Raw)
	data := fileByRole(t, res, RoleData, image.Raw)
	if got := testutil.FileSHA256(t, boot.Path); got != boot.SHA256 {
		t.Fatalf("boot disk sha256 %s, result says %s", got, boot.SHA256)
	}
	if data.SHA256 != "" || data.BlockSHA256 == "" {
		t.Fatalf("data volume %+v: want a block digest, not a whole-file sha256", data)
	}
	if err := res.Check(context.Background()); err != nil {
		t.Fatalf("the outputs do not match the result: %v", err)
	}
	if filepath.Base(boot.Path) != "hello.raw" || filepath.Base(data.Path) != "hello-data.raw" {
		t.Fatalf("output names %s, %s; want hello.raw, hello-data.raw", boot.Path, data.Path)
	}
	m, err := ReadManifest(out)
	if err != nil {
		t.Fatalf("ReadManifest: %v", err)
	}
	if len(m.Files) != 2 || m.Files[0].Path != boot.Path || m.Files[1].BlockSHA256 != data.BlockSHA256 {
		t.Fatalf("manifest files %+v do not match the result %+v", m.Files, res.Files)
	}

	bootApp(t, bootOpts{Boot: boot, Data: data, Port: 8080, MemoryMiB: guestMemory(t, res), First: 1, Stopped: "shutting down"})
	if got := testutil.FileSHA256(t, boot.Path); got != boot.SHA256 {
		t.Errorf("boot disk changed while booted: the boot disk must stay immutable")
	}
	checkFilesystems(t, boot.Path, data.Path)

	// Deploy: a new boot disk (different app arguments, so it really is a
	// new build), the same data volume. The new release listens on port
	// 80, which the unprivileged app may bind because it declares it.
	spec.App.Env = []string{"DEPLOY=2", "LISTEN_ADDR=:80"}
	spec.App.Ports = []int{80}
	res2, err := Build(context.Background(), spec)
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	boot2 := fileByRole(t, res2, RoleBoot, image.Raw)
	data2 := fileByRole(t, res2, RoleData, image.Raw)
	if boot2.SHA256 == boot.SHA256 {
		t.Fatalf("second build produced the same boot disk")
	}
	if !data2.Reused || data2.SHA256 != "" || data2.BlockSHA256 != "" || data2.Path != data.Path {
		t.Fatalf("second build did not keep the data volume (unhashed): %+v", data2)
	}
	bootApp(t, bootOpts{Boot: boot2, Data: data2, Port: 80, MemoryMiB: guestMemory(t, res2), First: 3, Stopped: "shutting down"})
	checkFilesystems(t, boot2.Path, data2.Path)
}

// TestEndToEndFormats is issue 4's boot proof: the boot disk as
// monolithicSparse VMDK and as qcow2 both boot, and a qcow2 data volume keeps
// its data across boots.
func TestEndToEndFormats(t *testing.T) {
	e2e(t)
	testutil.NeedCommand(t, "qemu-img", "apt-get install -y qemu-utils (or make deps)")
	cache, kdeb, ldeb := testInputs(t)
	app := buildGoApp(t, "../examples/hello")
	res, err := Build(context.Background(), Spec{
		App:        App{Path: app, Ports: []int{8080}},
		Kernel:     KernelSource{Deb: kdeb},
		Bootloader: ldeb,
		CacheDir:   cache,
		OutputDir:  filepath.Join(t.TempDir(), "out"),
		BootDisk:   Disk{Formats: []image.Format{image.VMDKSparse, image.QCOW2, image.VMDKStream}},
		DataVolume: DataVolume{Size: 256 << 20, Formats: []image.Format{image.QCOW2}},
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if len(res.Files) != 4 {
		t.Fatalf("want 3 boot files and 1 data file, got %+v", res.Files)
	}
	for _, f := range res.Files {
		if got := testutil.FileSHA256(t, f.Path); got != f.SHA256 {
			t.Errorf("%s: sha256 %s, result says %s", f.Path, got, f.SHA256)
		}
		out, err := exec.Command("qemu-img", "info", "--output=json", f.Path).Output()
		if err != nil {
			t.Fatalf("qemu-img info %s: %v", f.Path, err)
		}
		var info struct {
			Format string `json:"format"`
		}
		json.Unmarshal(out, &info)
		if info.Format != qemuFormat(f.Format) {
			t.Errorf("%s: qemu-img says format %q, want %q", f.Path, info.Format, qemuFormat(f.Format))
		}
	}
	if filepath.Base(res.Files[2].Path) != "hello-stream.vmdk" {
		t.Errorf("stream-optimised VMDK beside a sparse one is named %s, want hello-stream.vmdk", res.Files[2].Path)
	}
	data := fileByRole(t, res, RoleData, image.QCOW2)
	mem := guestMemory(t, res)
	bootApp(t, bootOpts{Boot: fileByRole(t, res, RoleBoot, image.VMDKSparse), Data: data, Port: 8080, MemoryMiB: mem, First: 1, Stopped: "shutting down"})
	bootApp(t, bootOpts{Boot: fileByRole(t, res, RoleBoot, image.QCOW2), Data: data, Port: 8080, MemoryMiB: mem, First: 3, Stopped: "shutting down"})
	if b, err := exec.Command("qemu-img", "check", data.Path).CombinedOutput(); err != nil {
		t.Errorf("qemu-img check %s after two boots: %v\n%s", data.Path, err, b)
	}
}
