package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/testutil"
)

// fakeBlock is a blockEnv with regular files as devices.
type fakeBlock struct {
	blockEnv
	t *testing.T
}

func newFakeBlock(t *testing.T) *fakeBlock {
	d := t.TempDir()
	f := &fakeBlock{blockEnv{sysDir: filepath.Join(d, "sys"), devDir: filepath.Join(d, "dev")}, t}
	for _, p := range []string{f.sysDir, f.devDir} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// add adds a zeroed device of size bytes and returns its path.
func (f *fakeBlock) add(name string, size int64, serial string) string {
	sys := filepath.Join(f.sysDir, name)
	if err := os.MkdirAll(filepath.Join(sys, "device"), 0o755); err != nil {
		f.t.Fatal(err)
	}
	os.WriteFile(filepath.Join(sys, "size"), []byte(strconv.FormatInt(size/512, 10)+"\n"), 0o644)
	if serial != "" {
		os.WriteFile(filepath.Join(sys, "device", "serial"), []byte(serial+"      \n"), 0o644)
	}
	dev := filepath.Join(f.devDir, name)
	if err := os.WriteFile(dev, nil, 0o644); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Truncate(dev, size); err != nil {
		f.t.Fatal(err)
	}
	return dev
}

// TestFindAndFormat formats a blank disk found by its NVMe serial with
// image/ext4, checks the result with e2fsck -fn and finds it again by
// label, as the next boot does.
func TestFindAndFormat(t *testing.T) {
	e2fsck := testutil.NeedCommand(t, "e2fsck", "apt-get install -y e2fsprogs (or make deps)")
	fb := newFakeBlock(t)
	fb.add("vda", 64<<20, "")
	dev := fb.add("nvme0n1", 64<<20, "vol0123456789abcdef0")
	sel := volumeSel{label: "bootapp-data", serial: normSerial("vol-0123456789abcdef0")}
	ctx := context.Background()
	d, action, err := findVolume(ctx, fb.blockEnv, sel, time.Second)
	if err != nil || action != actionFormat || d.name != "nvme0n1" {
		t.Fatalf("findVolume = %v, %v, %v; want nvme0n1 to format", d, action, err)
	}
	info, err := formatBlank(ctx, fb.blockEnv, d, sel)
	if err != nil {
		t.Fatal(err)
	}
	if d.content.kind != contentExt4 || d.content.label != "bootapp-data" || d.content.blocks != info.Blocks {
		t.Errorf("after format: %+v", d.content)
	}
	if out, err := exec.Command(e2fsck, "-fn", dev).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
	// The next boot, by label: the formatted disk, not the blank one.
	d, action, err = findVolume(ctx, fb.blockEnv, volumeSel{label: "bootapp-data"}, time.Second)
	if err != nil || action != actionMount || d.name != "nvme0n1" {
		t.Errorf("second findVolume = %v, %v, %v; want nvme0n1 to mount", d, action, err)
	}
	if _, err := formatBlank(ctx, fb.blockEnv, d, sel); !errors.Is(err, errRefused) {
		t.Errorf("formatting a formatted disk: %v, want errRefused", err)
	}
}

// TestFindBlankByLabel: without a serial, the one blank disk is formatted
// once the devices have settled, before the wait is over.
func TestFindBlankByLabel(t *testing.T) {
	fb := newFakeBlock(t)
	fb.add("vdb", 64<<20, "")
	start := time.Now()
	d, action, err := findVolume(context.Background(), fb.blockEnv, volumeSel{label: "bootapp-data"}, time.Minute)
	if err != nil || action != actionFormat || d.name != "vdb" {
		t.Fatalf("findVolume = %v, %v, %v; want vdb to format", d, action, err)
	}
	if took := time.Since(start); took < blankSettle || took > blankSettle+5*time.Second {
		t.Errorf("took %s, want about %s", took, blankSettle)
	}
}

// TestFindRefusesFAT: a disk holding a FAT file system is never chosen and
// never written.
func TestFindRefusesFAT(t *testing.T) {
	mkfs := testutil.NeedCommand(t, "mkfs.vfat", "apt-get install -y dosfstools")
	fb := newFakeBlock(t)
	dev := fb.add("vdb", 64<<20, "vol0abc")
	if out, err := exec.Command(mkfs, dev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v\n%s", err, out)
	}
	sum := func() [32]byte {
		b, err := os.ReadFile(dev)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()
	_, _, err := findVolume(context.Background(), fb.blockEnv, volumeSel{label: "bootapp-data"}, 200*time.Millisecond)
	if !errors.Is(err, errNoVolume) {
		t.Errorf("by label: %v, want errNoVolume", err)
	}
	d, _, err := findVolume(context.Background(), fb.blockEnv, volumeSel{label: "bootapp-data", serial: "vol0abc"}, 200*time.Millisecond)
	if !errors.Is(err, errRefused) {
		t.Errorf("by serial: %v, want errRefused", err)
	}
	if d != nil {
		if _, err := formatBlank(context.Background(), fb.blockEnv, d, volumeSel{label: "x"}); !errors.Is(err, errRefused) {
			t.Errorf("formatBlank of a FAT disk: %v, want errRefused", err)
		}
	}
	if sum() != before {
		t.Error("the FAT disk changed")
	}
	t.Logf("refused: %v", err)
}
