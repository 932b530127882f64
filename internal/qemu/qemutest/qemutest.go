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

	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
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

// moduleNames are the modules the guest needs (network and ACPI power
// button); the kernel's dependency graph adds what they depend on, and
// the guest loads them in that order.
var moduleNames = []string{"virtio_pci", "virtio_net", "button", "evdev"}

// BuildDisk writes a bootable raw disk into dir and returns its path. The
// kernel and systemd-boot come from the newest packages in the bootapp
// cache (`mkbootapp fetch`, see internal/testutil); when they or dpkg-deb
// are missing the test fails with BOOTAPP_E2E=1 and skips otherwise,
// naming the fix. It fails the test on any other error.
func BuildDisk(t testing.TB, dir string, o Options) string {
	t.Helper()
	dpkgDeb := testutil.NeedCommand(t, "dpkg-deb", "apt-get install -y dpkg (or make deps)")
	loaderDeb := testutil.LoaderDeb(t)
	k := kerneltest.Open(t)
	mods := kerneltest.Modules(t, k, moduleNames...)
	if o.Port == 0 {
		o.Port = 8080
	}
	if o.Mode == "" {
		o.Mode = PowerOff
	}
	work := t.TempDir()

	// The guest init, static.
	_, self, _, _ := runtime.Caller(0)
	initPath := testutil.StaticBinary(t, ".", testutil.BuildOptions{
		Out: filepath.Join(work, "init"), Dir: filepath.Join(filepath.Dir(self), "guest"), Flags: []string{"-trimpath"},
	})

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
	for _, m := range mods {
		b, err := os.ReadFile(m.File)
		if err != nil {
			t.Fatal(err)
		}
		name := "lib/modules/" + filepath.Base(m.File)
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
	if out, err := exec.Command(dpkgDeb, "-x", loaderDeb, deb).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", loaderDeb, err, out)
	}
	sdboot, err := os.ReadFile(filepath.Join(deb, "usr/lib/systemd/boot/efi/systemd-bootx64.efi"))
	if err != nil {
		t.Fatal(err)
	}
	kernel, err := os.ReadFile(k.ImagePath)
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
