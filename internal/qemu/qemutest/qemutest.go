package qemutest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// Kernel and boot loader packages present on the development machines (see
// /work/shared/design.md); tests that need them skip with a message when
// they are missing.
const (
	KernelDir     = "/tmp/kc/x"
	KernelVersion = "6.1.0-56-cloud-amd64"
	BootloaderDeb = "/tmp/kc/systemd-boot-efi_252.39-1~deb12u2_amd64.deb"
)

// Marker is the console line the guest prints once its init runs.
const Marker = "qemutest: guest init running"

// ListeningMarker prefixes the console line printed when the guest serves
// HTTP (followed by the port number).
const ListeningMarker = "qemutest: listening on port"

// Mode selects what the guest does after printing Marker.
type Mode string

// The guest modes.
const (
	// PowerOff powers the guest off at once.
	PowerOff Mode = "poweroff"
	// Serve serves HTTP on Options.Port until the ACPI power button is
	// pressed, then powers off.
	Serve Mode = "serve"
)

// Options configure BuildDisk.
type Options struct {
	Mode Mode
	Port int // HTTP port for Serve; default 8080
}

// modules are loaded in this order by the guest (dependencies first; checked
// against each .ko's depends= in the 6.1 cloud kernel).
var modules = []string{
	"kernel/drivers/virtio/virtio_ring.ko",
	"kernel/drivers/virtio/virtio.ko",
	"kernel/drivers/virtio/virtio_pci_modern_dev.ko",
	"kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
	"kernel/drivers/virtio/virtio_pci.ko",
	"kernel/net/core/failover.ko",
	"kernel/drivers/net/net_failover.ko",
	"kernel/drivers/net/virtio_net.ko",
	"kernel/drivers/acpi/button.ko",
	"kernel/drivers/input/evdev.ko",
}

// Available reports why BuildDisk cannot work here, or "" when it can.
func Available() string {
	for _, p := range []string{filepath.Join(KernelDir, "boot", "vmlinuz-"+KernelVersion), BootloaderDeb} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Sprintf("test kernel or boot loader missing (%v)", err)
		}
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		return "dpkg-deb not found"
	}
	return ""
}

// BuildDisk writes a bootable raw disk into dir and returns its path. It
// fails the test on any error.
func BuildDisk(t testing.TB, dir string, o Options) string {
	t.Helper()
	if why := Available(); why != "" {
		t.Skipf("cannot build a test disk: %s", why)
	}
	if o.Port == 0 {
		o.Port = 8080
	}
	if o.Mode == "" {
		o.Mode = PowerOff
	}
	work := t.TempDir()

	// The guest init, static.
	initPath := filepath.Join(work, "init")
	_, self, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-trimpath", "-o", initPath, ".")
	build.Dir = filepath.Join(filepath.Dir(self), "guest")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build test guest: %v\n%s", err, out)
	}

	// The initramfs.
	var initrd bytes.Buffer
	zw := gzip.NewWriter(&initrd)
	cw := cpio.NewWriter(zw)
	addFile := func(name string, mode cpio.FileMode, data []byte) {
		if err := cw.WriteHeader(&cpio.Header{Name: name, Mode: mode | cpio.TypeReg, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := cw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	addDir := func(name string) {
		if err := cw.WriteHeader(&cpio.Header{Name: name, Mode: 0o755 | cpio.TypeDir}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"dev", "proc", "sys", "etc", "lib", "lib/modules"} {
		addDir(d)
	}
	initBin, err := os.ReadFile(initPath)
	if err != nil {
		t.Fatal(err)
	}
	addFile("init", 0o755, initBin)
	var order strings.Builder
	for _, m := range modules {
		b, err := os.ReadFile(filepath.Join(KernelDir, "lib/modules", KernelVersion, m))
		if err != nil {
			t.Fatal(err)
		}
		name := "lib/modules/" + filepath.Base(m)
		addFile(name, 0o644, b)
		fmt.Fprintf(&order, "/%s\n", name)
	}
	addFile("etc/modules.order", 0o644, []byte(order.String()))
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}

	// systemd-boot.
	deb := filepath.Join(work, "sdboot")
	if out, err := exec.Command("dpkg-deb", "-x", BootloaderDeb, deb).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", BootloaderDeb, err, out)
	}
	sdboot, err := os.ReadFile(filepath.Join(deb, "usr/lib/systemd/boot/efi/systemd-bootx64.efi"))
	if err != nil {
		t.Fatal(err)
	}
	kernel, err := os.ReadFile(filepath.Join(KernelDir, "boot", "vmlinuz-"+KernelVersion))
	if err != nil {
		t.Fatal(err)
	}

	// The disk: GPT with one 80 MiB ESP (FAT32 needs >= 65525 clusters).
	path := filepath.Join(dir, "qemutest.raw")
	const mib = 1 << 20
	const espStart, espSize = mib, 80 * mib
	d, err := diskfs.Create(path, espStart+espSize+mib, diskfs.SectorSizeDefault)
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	defer d.Close()
	table := &gpt.Table{
		LogicalSectorSize:  512,
		PhysicalSectorSize: 512,
		ProtectiveMBR:      true,
		Partitions: []*gpt.Partition{{
			Index: 1, Start: espStart / 512, Size: espSize,
			Type: gpt.EFISystemPartition, Name: "ESP",
		}},
	}
	if err := d.Partition(table); err != nil {
		t.Fatalf("partition %s: %v", path, err)
	}
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 1, FSType: filesystem.TypeFat32, VolumeLabel: "ESP"})
	if err != nil {
		t.Fatalf("format ESP: %v", err)
	}
	cmdline := fmt.Sprintf("console=ttyS0 panic=-1 quiet qemutest.mode=%s qemutest.port=%d", o.Mode, o.Port)
	files := map[string][]byte{
		"/EFI/BOOT/BOOTX64.EFI":         sdboot,
		"/vmlinuz":                      kernel,
		"/initrd.img":                   initrd.Bytes(),
		"/loader/loader.conf":           []byte("timeout 0\ndefault qemutest.conf\n"),
		"/loader/entries/qemutest.conf": []byte("title qemutest\nlinux /vmlinuz\ninitrd /initrd.img\noptions " + cmdline + "\n"),
	}
	for _, dir := range []string{"/EFI/BOOT", "/loader/entries"} {
		if err := fs.Mkdir(dir); err != nil {
			t.Fatalf("mkdir %s: %v", dir, err)
		}
	}
	for name, data := range files {
		f, err := fs.OpenFile(name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if _, err := f.Write(data); err != nil { // one Write per file (go-diskfs rewrites the FAT per call)
			t.Fatalf("write %s: %v", name, err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("close %s: %v", name, err)
		}
	}
	return path
}
