package builder

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
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

// bootAndCount boots the boot disk with the data volume, checks the app's
// counter goes from want to want+1 over the app's port, and powers the VM
// off with ACPI.
func bootAndCount(t *testing.T, boot, data File, wantFirst, port int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	vm, err := qemu.Start(ctx, qemu.Config{
		Disks: []qemu.Disk{
			{Path: boot.Path, Format: boot.Format, ReadOnly: true},
			{Path: data.Path, Format: data.Format},
		},
		Forwards: []qemu.Forward{{GuestPort: port}},
	})
	if err != nil {
		t.Fatalf("start QEMU: %v", err)
	}
	defer vm.Kill()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\n--- serial console ---\n%s", append(args, vm.ConsoleTail())...)
	}
	base := "http://" + vm.Forwarded(port)
	if err := qemu.WaitHTTP(ctx, base+"/healthz", func(s int) bool { return s == 200 }); err != nil {
		fail("app never became healthy: %v", err)
	}
	t.Logf("QEMU start to first HTTP 200: %v (accel %s)", time.Since(start).Round(time.Millisecond), vm.Accel())
	for i := 0; i < 2; i++ {
		resp, err := http.Get(base + "/")
		if err != nil {
			fail("GET /: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("count: %d\n", wantFirst+i)
		if resp.StatusCode != 200 || string(body) != want {
			fail("GET / = %d %q, want 200 %q", resp.StatusCode, body, want)
		}
	}
	stopStart := time.Now()
	if err := vm.Powerdown(ctx); err != nil {
		fail("ACPI power down: %v", err)
	}
	select {
	case <-vm.Done():
	case <-time.After(60 * time.Second):
		fail("QEMU did not exit within 60s of system_powerdown")
	}
	if err := vm.Wait(); err != nil {
		fail("QEMU exit: %v", err)
	}
	t.Logf("ACPI power down to QEMU exit: %v", time.Since(stopStart).Round(time.Millisecond))
	log := vm.ConsoleTail()
	for _, want := range []string{"power", "unmount"} {
		if !strings.Contains(strings.ToLower(log), want) {
			fail("console log has no %q: the init did not shut down cleanly", want)
		}
	}
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

	bootAndCount(t, boot, data, 1, 8080)
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
	bootAndCount(t, boot2, data2, 3, 80)
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
	bootAndCount(t, fileByRole(t, res, RoleBoot, image.VMDKSparse), data, 1, 8080)
	bootAndCount(t, fileByRole(t, res, RoleBoot, image.QCOW2), data, 3, 8080)
	if b, err := exec.Command("qemu-img", "check", data.Path).CombinedOutput(); err != nil {
		t.Errorf("qemu-img check %s after two boots: %v\n%s", data.Path, err, b)
	}
}
