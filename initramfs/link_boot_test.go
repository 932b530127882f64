package initramfs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
)

// TestBootHardLinks boots the Debian kernel on an initramfs holding a tree
// with hard links (AddTree) and checks, in the guest, that the kernel's
// unpacker made them names of one file with its data.
func TestBootHardLinks(t *testing.T) {
	testutil.NeedE2E(t, "boots QEMU (about 5 s)")
	qemu := testutil.NeedCommand(t, "qemu-system-x86_64", "apt-get install -y qemu-system-x86 (or make deps)")
	kernel := kerneltest.Open(t).ImagePath
	dir := t.TempDir()
	init := testutil.StaticBinary(t, "./testdata/linkinit", testutil.BuildOptions{Out: filepath.Join(dir, "linkinit"), Flags: []string{"-trimpath"}})
	initData, err := os.ReadFile(init)
	if err != nil {
		t.Fatal(err)
	}
	var img bytes.Buffer
	w := NewWriter(&img)
	if err := w.WriteFile("/init", 0o755, initData); err != nil {
		t.Fatal(err)
	}
	if err := AddTree(context.Background(), w, "/app", linkTree(t)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(dir, "initrd")
	if err := os.WriteFile(initrd, img.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	console := out.String()
	if ctx.Err() != nil {
		t.Fatalf("no power-off within 60 s; console tail:\n%s", tail(console, 2000))
	}
	if err != nil {
		t.Fatalf("qemu: %v\n%s", err, tail(console, 2000))
	}
	if !strings.Contains(console, "BOOTAPP-LINKS-OK") {
		t.Fatalf("the guest did not find the links; console tail:\n%s", tail(console, 3000))
	}
}
