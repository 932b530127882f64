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
	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
)

// The UEFI firmware of the end-to-end boot tests (Debian package ovmf),
// and the line their guest prints.
const (
	ovmfCode   = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars   = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	bootMarker = "BOOTAPP-IMAGE-E2E-OK"
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
	testutil.NeedE2E(t, "boots a disk in QEMU (about 10-60 s)")
	qemu := needTool(t, "qemu-system-x86_64", "qemu-system-x86")
	dir := t.TempDir()
	loader, kernel, initrd := e2eBootFiles(t, dir)

	disk := filepath.Join(dir, "boot.raw")
	start := time.Now()
	err := WriteBootDisk(context.Background(), disk, &BootFiles{
		Loader:  loader,
		Kernel:  kernel,
		Initrd:  initrd,
		Cmdline: "console=ttyS0 panic=-1",
		Title:   "bootapp: e2e",
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("boot disk written in %v (kernel %s, initramfs %s)", time.Since(start), fmtSize(int64(len(kernel))), fmtSize(int64(len(initrd))))
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

// e2eBootFiles returns the inputs of the end-to-end boot disks, the way a
// build gets them: systemd-boot from the newest cached systemd-boot-efi
// package, the kernel unpacked from the newest cached kernel package, and
// a gzip'd newc initramfs whose static /init (e2eInit) prints bootMarker
// and powers off. It checks the OVMF firmware too; dir is scratch space.
func e2eBootFiles(t *testing.T, dir string) (loader, kernel, initrd []byte) {
	t.Helper()
	for _, p := range []string{ovmfCode, ovmfVars} {
		testutil.NeedFile(t, p, "apt-get install -y ovmf (or make deps)")
	}
	dpkgDeb := needTool(t, "dpkg-deb", "dpkg")
	deb := testutil.LoaderDeb(t)
	if out, err := exec.Command(dpkgDeb, "-x", deb, filepath.Join(dir, "sdboot")).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x %s: %v: %s", deb, err, out)
	}
	loader, err := os.ReadFile(filepath.Join(dir, "sdboot/usr/lib/systemd/boot/efi/systemd-bootx64.efi"))
	if err != nil {
		t.Fatal(err)
	}
	if kernel, err = os.ReadFile(kerneltest.Open(t).ImagePath); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(dir, "init.go"), []byte(e2eInit), 0o644); err != nil {
		t.Fatal(err)
	}
	initPath := testutil.StaticBinary(t, "init.go", testutil.BuildOptions{
		Out: filepath.Join(dir, "init"), Dir: dir,
		Flags: []string{"-trimpath", "-ldflags=-s -w"}, Env: []string{"GO111MODULE=off"},
	})
	initBin, err := os.ReadFile(initPath)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
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
	return loader, kernel, buf.Bytes()
}
