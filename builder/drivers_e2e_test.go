package builder

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/qemu"
	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/bootapp/bootapp/kernel"
)

// hardware is one virtual machine shape of the driver matrix: the buses of
// the boot disk and the data volume, the NIC, and the drivers the guest
// init must say it loaded for them ("-> name" lines of the console).
type hardware struct {
	name      string
	boot      string // qemu.Disk.Bus of the boot disk
	data      string // qemu.Disk.Bus of the data volume
	nic       string // qemu.Config.NIC
	want      []string
	forbidden []string // drivers that must not be loaded (no such device)
}

// TestEndToEndHardware is issue 11's proof that one image, built once with
// the default platform ("all"), boots and serves on each disk controller
// and NIC a cloud offers and QEMU emulates, and that the init loads only
// the drivers of the devices present, saying which device brought each
// one in. Debian's OVMF cannot boot from PVSCSI, so that boot disk stays on
// virtio; every controller carries the data volume once.
func TestEndToEndHardware(t *testing.T) {
	e2e(t)
	cache, kdeb, ldeb := testInputs(t)
	res := buildForHardware(t, cache, kdeb, ldeb)
	for _, hw := range []hardware{
		{name: "virtio-blk+virtio-net", boot: qemu.BusVirtio, data: qemu.BusVirtio, nic: qemu.NICVirtio,
			want: []string{"virtio_pci", "virtio_blk", "virtio_net"}, forbidden: []string{"virtio_scsi", "vmw_pvscsi", "vmxnet3", "ena", "hv_vmbus"}},
		{name: "virtio-scsi+virtio-net", boot: qemu.BusSCSI, data: qemu.BusSCSI, nic: qemu.NICVirtio,
			want: []string{"virtio_pci", "virtio_scsi", "sd_mod", "virtio_net"}, forbidden: []string{"virtio_blk", "vmw_pvscsi"}},
		{name: "nvme+virtio-net", boot: qemu.BusNVMe, data: qemu.BusNVMe, nic: qemu.NICVirtio,
			want: []string{"virtio_pci", "virtio_net"}, forbidden: []string{"virtio_blk", "virtio_scsi", "sd_mod"}},
		{name: "virtio-blk+pvscsi+vmxnet3", boot: qemu.BusVirtio, data: qemu.BusPVSCSI, nic: qemu.NICVMXNET3,
			want: []string{"virtio_pci", "virtio_blk", "vmw_pvscsi", "sd_mod", "vmxnet3"}, forbidden: []string{"virtio_net", "virtio_scsi"}},
	} {
		t.Run(hw.name, func(t *testing.T) { bootHardware(t, res, hw) })
	}
}

// TestEndToEndHardwareGeneric boots an image built with Debian's generic
// kernel (linux-image-amd64, which has the emulated-PC drivers the cloud
// kernel lacks) on an e1000 NIC with the data volume on AHCI (SATA), and on
// an e1000e NIC with NVMe disks (nvme is a module there).
func TestEndToEndHardwareGeneric(t *testing.T) {
	e2e(t)
	cache, _, ldeb := testInputs(t)
	kdeb := genericKernelDeb(t)
	res := buildForHardware(t, cache, kdeb, ldeb)
	for _, hw := range []hardware{
		{name: "virtio-blk+ahci+e1000", boot: qemu.BusVirtio, data: qemu.BusSATA, nic: qemu.NICE1000,
			want: []string{"virtio_pci", "virtio_blk", "ahci", "sd_mod", "e1000"}, forbidden: []string{"virtio_net", "e1000e"}},
		// q35's own AHCI controller (00:1f.2) is always there, so ahci
		// loads even without a SATA disk.
		{name: "nvme+e1000e", boot: qemu.BusNVMe, data: qemu.BusNVMe, nic: qemu.NICE1000E,
			want: []string{"nvme", "e1000e", "ahci"}, forbidden: []string{"virtio_blk", "e1000", "virtio_net"}},
	} {
		t.Run(hw.name, func(t *testing.T) { bootHardware(t, res, hw) })
	}
}

// TestBuildPlatformMissingDriver checks that a platform whose drivers the
// kernel lacks is refused before anything is written, as a FieldError of
// the platform field that names the driver and the kernel that has it.
func TestBuildPlatformMissingDriver(t *testing.T) {
	cache, kdeb, ldeb := testInputs(t)
	out := filepath.Join(t.TempDir(), "out")
	_, err := Build(context.Background(), Spec{
		App:        App{Path: testutil.StaticBinary(t, "../examples/hello", testutil.BuildOptions{})},
		Kernel:     KernelSource{Deb: kdeb},
		Bootloader: ldeb,
		CacheDir:   cache,
		OutputDir:  out,
		Platform:   "pc",
	})
	var fe *FieldError
	var missing *kernel.MissingDriverError
	if !errors.As(err, &fe) || fe.Field != "platform" || !errors.As(err, &missing) || !errors.Is(err, kernel.ErrUnknownModule) {
		t.Fatalf("Build(platform pc) = %v, want a platform FieldError wrapping a kernel.MissingDriverError", err)
	}
	if !strings.Contains(fe.Msg, "e1000") || !strings.Contains(fe.Msg, "linux-image-amd64") {
		t.Errorf("message %q does not name the driver and the generic kernel", fe.Msg)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused build created %s: %v", out, err)
	}
}

// buildForHardware builds examples/hello with the default platform and
// returns the result.
func buildForHardware(t *testing.T, cache, kdeb, ldeb string) *Result {
	t.Helper()
	var progress strings.Builder
	res, err := Build(context.Background(), Spec{
		App:        App{Path: buildGoApp(t, "../examples/hello"), Ports: []int{8080}},
		Kernel:     KernelSource{Deb: kdeb},
		Bootloader: ldeb,
		CacheDir:   cache,
		OutputDir:  filepath.Join(t.TempDir(), "out"),
		DataVolume: DataVolume{Size: 64 << 20},
		Progress:   &progress,
	})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, progress.String())
	}
	line := regexp.MustCompile(`(?m)^.*drivers: platform all, .*$`).FindString(progress.String())
	if line == "" {
		t.Fatalf("build output has no drivers line:\n%s", progress.String())
	}
	t.Logf("kernel %s: %s", res.KernelRelease, strings.TrimSpace(line))
	return res
}

// bootHardware boots res on hw, waits for the app's answer over HTTP on a
// copy of the data volume, and checks the drivers the console names.
func bootHardware(t *testing.T, res *Result, hw hardware) {
	boot := fileByRole(t, res, RoleBoot, image.Raw)
	data := fileByRole(t, res, RoleData, image.Raw)
	dataCopy := filepath.Join(t.TempDir(), "data.raw")
	if out, err := exec.Command("cp", "--sparse=always", data.Path, dataCopy).CombinedOutput(); err != nil {
		t.Fatalf("copy data volume: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	vm, err := qemu.Start(ctx, qemu.Config{
		Disks: []qemu.Disk{
			{Path: boot.Path, Format: boot.Format, ReadOnly: true, Bus: hw.boot, Serial: "boot"},
			{Path: dataCopy, Format: image.Raw, Bus: hw.data, Serial: "data"},
		},
		NIC:      hw.nic,
		Forwards: []qemu.Forward{{GuestPort: 8080}},
	})
	if err != nil {
		t.Fatalf("start QEMU: %v", err)
	}
	defer vm.Kill()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\n--- serial console ---\n%s", append(args, vm.ConsoleTail())...)
	}
	base := "http://" + vm.Forwarded(8080)
	if err := qemu.WaitHTTP(ctx, base+"/healthz", func(s int) bool { return s == 200 }); err != nil {
		fail("app never became healthy: %v", err)
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		fail("GET /: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "count: 1\n" {
		fail("GET / = %d %q, want 200 \"count: 1\\n\" (the data volume mounted)", resp.StatusCode, body)
	}
	t.Logf("QEMU start to the app's answer: %v", time.Since(start).Round(time.Millisecond))
	console := vm.ConsoleTail()
	loaded := map[string]bool{}
	var lines []string
	for _, l := range strings.Split(console, "\n") {
		if _, rest, ok := strings.Cut(l, "modules: "); ok {
			lines = append(lines, "modules: "+strings.TrimSpace(rest))
		}
		if _, rest, ok := strings.Cut(l, "drivers: "); ok {
			lines = append(lines, strings.TrimSpace(rest))
			if _, after, ok := strings.Cut(rest, " -> "); ok {
				name, extra, _ := strings.Cut(strings.TrimSpace(after), " ")
				loaded[name] = true
				for _, n := range strings.Fields(strings.Trim(extra, "(+)")) {
					loaded[n] = true
				}
			}
		}
	}
	t.Logf("console:\n  %s", strings.Join(lines, "\n  "))
	for _, n := range hw.want {
		if !loaded[n] && !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "-> "+n) }) {
			fail("console names no device that brought in %s", n)
		}
	}
	for _, n := range hw.forbidden {
		if loaded[n] {
			fail("%s was loaded, but the machine has no device for it", n)
		}
	}
	if err := vm.Powerdown(ctx); err != nil {
		fail("ACPI power down: %v", err)
	}
	select {
	case <-vm.Done():
	case <-time.After(60 * time.Second):
		fail("QEMU did not exit within 60s of system_powerdown")
	}
}

// genericKernelDeb returns the newest cached Debian generic kernel package
// (linux-image-<release>-amd64, not -cloud-amd64), or reports it Missing.
func genericKernelDeb(t *testing.T) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(testutil.DebsDir(), "linux-image-*-amd64_*.deb"))
	matches = slices.DeleteFunc(matches, func(p string) bool { return strings.Contains(filepath.Base(p), "-cloud-") })
	if len(matches) == 0 {
		testutil.Missing(t, "Debian's generic kernel package linux-image-*-amd64 in "+testutil.DebsDir(),
			"make deps (or go run ./cmd/mkbootapp fetch --kernel-package linux-image-amd64)")
	}
	slices.SortFunc(matches, func(a, b string) int {
		if cache.VersionLess(a, b) {
			return -1
		}
		return 1
	})
	return matches[len(matches)-1]
}
