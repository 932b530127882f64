package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"

	"github.com/bootapp/bootapp/internal/testutil"
)

// Inputs of the end-to-end boot test, as installed on the build machine.
const (
	e2eKernel     = "/tmp/kc/x/boot/vmlinuz-6.1.0-56-cloud-amd64"
	e2eLoaderDebs = "/tmp/kc/systemd-boot-efi_*.deb"
	ovmfCode      = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars      = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	bootMarker    = "BOOTAPP-IMAGE-E2E-OK"
)

// e2eInit is the guest's /init: it prints the marker on the console and
// powers the VM off.
const e2eInit = `package main

import (
	"os"
	"syscall"
)

func main() {
	os.Mkdir("/dev", 0o755)
	syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	msg := []byte("\n` + bootMarker + `\n")
	os.Stdout.Write(msg)
	if c, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		c.Write(msg)
		c.Close()
	}
	syscall.Sync()
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
}
`

// TestBootE2E boots a boot disk made of the real systemd-boot and Debian
// kernel with OVMF under QEMU (TCG), and checks that the disk is unchanged
// afterwards.
func TestBootE2E(t *testing.T) {
	if os.Getenv("BOOTAPP_E2E") != "1" {
		t.Skip("SKIP: set BOOTAPP_E2E=1 to boot a disk in QEMU (takes ~10-60 s)")
	}
	qemu := needTool(t, "qemu-system-x86_64", "qemu-system-x86")
	dpkgDeb := needTool(t, "dpkg-deb", "dpkg")
	goTool := needTool(t, "go", "golang")
	for _, p := range []string{e2eKernel, ovmfCode, ovmfVars} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("BOOTAPP_E2E=1 but %s is missing: %v", p, err)
		}
	}
	debs, _ := filepath.Glob(e2eLoaderDebs)
	if len(debs) == 0 {
		t.Fatalf("BOOTAPP_E2E=1 but no %s", e2eLoaderDebs)
	}
	dir := t.TempDir()

	// systemd-boot, from its package.
	if out, err := exec.Command(dpkgDeb, "-x", debs[len(debs)-1], filepath.Join(dir, "sdboot")).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x %s: %v: %s", debs[len(debs)-1], err, out)
	}
	loader, err := os.ReadFile(filepath.Join(dir, "sdboot/usr/lib/systemd/boot/efi/systemd-bootx64.efi"))
	if err != nil {
		t.Fatal(err)
	}
	kernel, err := os.ReadFile(e2eKernel)
	if err != nil {
		t.Fatal(err)
	}

	// A static Go /init in a gzip'd newc cpio.
	if err := os.WriteFile(filepath.Join(dir, "init.go"), []byte(e2eInit), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", "init", "init.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build /init: %v: %s", err, out)
	}
	initBin, err := os.ReadFile(filepath.Join(dir, "init"))
	if err != nil {
		t.Fatal(err)
	}
	var initrd bytes.Buffer
	zw := gzip.NewWriter(&initrd)
	cw := cpio.NewWriter(zw)
	for _, e := range []struct {
		name string
		mode cpio.FileMode
		data []byte
	}{
		{"dev", cpio.TypeDir | 0o755, nil},
		{"init", cpio.TypeReg | 0o755, initBin},
	} {
		if err := cw.WriteHeader(&cpio.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.data)), Links: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := cw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}

	disk := filepath.Join(dir, "boot.raw")
	start := time.Now()
	err = WriteBootDisk(context.Background(), disk, &BootFiles{
		Loader:  loader,
		Kernel:  kernel,
		Initrd:  initrd.Bytes(),
		Cmdline: "console=ttyS0 panic=-1",
		Title:   "bootapp: e2e",
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("boot disk written in %v (kernel %s, initramfs %s)", time.Since(start), fmtSize(int64(len(kernel))), fmtSize(int64(initrd.Len())))
	before := testutil.FileSHA256(t, disk)

	vars := filepath.Join(dir, "OVMF_VARS.fd")
	varsData, err := os.ReadFile(ovmfVars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, varsData, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu,
		"-accel", "tcg", "-m", "512", "-machine", "q35", "-nographic", "-no-reboot",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-drive", "if=virtio,format=raw,file="+disk,
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	// console is written by the scanning goroutine and read only after it
	// has closed found.
	var console strings.Builder
	qemuStart := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan time.Duration, 1)
	go func() {
		sc := bufio.NewScanner(io.TeeReader(stdout, &console))
		for sc.Scan() {
			if strings.Contains(sc.Text(), bootMarker) {
				found <- time.Since(qemuStart)
			}
		}
		close(found)
	}()
	d, ok := <-found
	if !ok {
		cmd.Wait()
		t.Fatalf("marker %q not seen on the serial console within 90 s (ctx: %v); console:\n%s", bootMarker, ctx.Err(), tail(console.String(), 4000))
	}
	t.Logf("QEMU start to marker: %v", d)
	// The guest powers off; wait for QEMU to exit before checking the disk.
	waitErr := cmd.Wait()
	for range found {
	}
	if ctx.Err() != nil {
		t.Fatalf("QEMU did not exit after the guest powered off: %v", waitErr)
	}
	if testing.Verbose() {
		t.Logf("serial console (tail):\n%s", tail(console.String(), 3000))
	}
	if after := testutil.FileSHA256(t, disk); after != before {
		t.Errorf("boot disk changed during boot: sha256 %s before, %s after", before, after)
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
