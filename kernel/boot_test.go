package kernel

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"

	"github.com/bootapp/bootapp/internal/testutil"
)

// TestBootQEMUPlatform boots the real Debian kernel under QEMU (TCG,
// direct kernel boot) with an initramfs holding the qemu platform's module
// closure and a small init (testdata/guestinit) that loads them in the
// computed order with finit_module(2). The init checks that the virtio
// disk, the virtio NIC, the virtio RNG and the ACPI "Power Button" input
// device all appear, and reports on the serial console.
func TestBootQEMUPlatform(t *testing.T) {
	testutil.NeedE2E(t, "boots QEMU with the real kernel (tens of seconds)")
	qemu := testutil.NeedCommand(t, "qemu-system-x86_64", "apt-get install -y qemu-system-x86 (or make deps)")
	k := realKernel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mods, err := k.PlatformClosure(PlatformQEMU)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	initBin := testutil.StaticBinary(t, "./testdata/guestinit", testutil.BuildOptions{Out: filepath.Join(dir, "init")})

	var initrd bytes.Buffer
	w := cpio.NewWriter(&initrd)
	dirs := map[string]bool{}
	addDir := func(p string) {
		for _, d := range parents(p) {
			if !dirs[d] {
				dirs[d] = true
				w.WriteHeader(&cpio.Header{Name: d, Mode: cpio.TypeDir | 0o755})
			}
		}
	}
	addFile := func(name string, body []byte, mode cpio.FileMode) {
		addDir(path.Dir(name))
		if err := w.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeReg | mode, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"proc", "sys", "dev"} {
		addDir(d)
	}
	b, err := os.ReadFile(initBin)
	if err != nil {
		t.Fatal(err)
	}
	addFile("init", b, 0o755)
	var list []string
	for _, m := range mods {
		b, err := os.ReadFile(m.File)
		if err != nil {
			t.Fatal(err)
		}
		name := path.Join("lib/modules", k.Release, m.Path)
		addFile(name, b, 0o644)
		list = append(list, "/"+name)
	}
	addFile("modules.list", []byte(strings.Join(list, "\n")+"\n"), 0o644)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	initrdPath := filepath.Join(dir, "initrd.cpio")
	disk := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(initrdPath, initrd.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 16<<20); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-m", "256", "-smp", "1",
		"-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
		"-kernel", k.ImagePath, "-initrd", initrdPath,
		"-append", "console=ttyS0 panic=-1 loglevel=4",
		"-drive", "file="+disk+",if=virtio,format=raw",
		"-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0",
		"-device", "virtio-rng-pci")
	out, err := cmd.CombinedOutput()
	console := string(out)
	if err != nil {
		t.Fatalf("qemu: %v\n%s", err, tail(console, 40))
	}
	for _, m := range mods {
		if !strings.Contains(console, "loaded /lib/modules/"+k.Release+"/"+m.Path) {
			t.Errorf("module %s was not loaded", m.Name)
		}
	}
	if !strings.Contains(console, "RESULT OK") {
		t.Fatalf("guest did not report RESULT OK:\n%s", tail(console, 40))
	}
	t.Logf("booted, loaded %d modules (%d KiB initramfs) and powered off in %v", len(mods), initrd.Len()>>10, time.Since(start).Round(time.Millisecond))
}

// parents returns p's directories from the top, p included ("a/b" gives
// "a", "a/b").
func parents(p string) []string {
	if p == "." || p == "" {
		return nil
	}
	return append(parents(path.Dir(p)), p)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
