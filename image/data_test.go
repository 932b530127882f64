package image

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestWriteDataVolumeErrors(t *testing.T) {
	tests := []struct {
		name    string
		size    int64
		label   string
		wantErr error
		wantMsg string
	}{
		{"empty label", 1 << 30, "", ErrBadLabel, "empty"},
		{"17-byte label", 1 << 30, "abcdefghijklmnopq", ErrBadLabel, "17 bytes, ext4 allows at most 16"},
		{"control char", 1 << 30, "data\n", ErrBadLabel, "contains"},
		{"slash", 1 << 30, "a/b", ErrBadLabel, "contains '/'"},
		{"not utf-8", 1 << 30, "\xff\xfe", ErrBadLabel, "not UTF-8"},
		{"too small", 8 << 20, "data", ErrTooSmall, "use at least 16 MiB"},
		{"zero", 0, "data", ErrTooSmall, "use at least 16 MiB"},
		{"unaligned", 16<<20 + 1, "data", ErrBadSize, "not a multiple of 512"},
		{"too large", MaxDataVolumeSize + 4096, "data", ErrBadSize, "at most 17592186040320 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "data.raw")
			err := WriteDataVolume(context.Background(), p, tt.size, tt.label)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
			if _, serr := os.Stat(p); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("%s left behind after error", p)
			}
		})
	}
}

func TestWriteDataVolumeCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := filepath.Join(t.TempDir(), "data.raw")
	if err := WriteDataVolume(ctx, p, 1<<30, "data"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind after cancellation", p)
	}
}

// TestWriteDataVolume checks data volumes of several sizes with e2fsck,
// dumpe2fs and debugfs.
func TestWriteDataVolume(t *testing.T) {
	e2fsck := needTool(t, "e2fsck", "e2fsprogs")
	dumpe2fs := needTool(t, "dumpe2fs", "e2fsprogs")
	debugfs := needTool(t, "debugfs", "e2fsprogs")
	tests := []struct {
		name      string
		size      int64
		label     string
		blockSize int64
		maxAlloc  int64
	}{
		{"minimum", MinDataVolumeSize, "d", 4096, 256 << 10},
		{"100 MiB", 100 * mib, "bootapp-data", 4096, 256 << 10},
		{"1 GiB", 1 << 30, "bootapp-data", 4096, 1 * mib},
		{"16-byte label", 600 * mib, "0123456789abcdef", 4096, 1 * mib},
		{"odd size", 700*mib + 512, "x", 4096, 1 * mib},
		// Only metadata is written: 16 MiB for 1 TiB, as mke2fs.
		{"1 TiB", 1 << 40, "bootapp-data", 4096, 20 * mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "data.raw")
			if err := WriteDataVolume(context.Background(), p, tt.size, tt.label); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != tt.size {
				t.Errorf("size = %d, want %d", fi.Size(), tt.size)
			}
			if a := allocated(t, p); holePunching && a > tt.maxAlloc {
				t.Errorf("allocated %s of %s: not sparse", fmtSize(a), fmtSize(tt.size))
			}
			if out, code := run(t, e2fsck, "-fn", p); code != 0 {
				t.Errorf("e2fsck -fn: exit %d:\n%s", code, out)
			}
			out, code := run(t, dumpe2fs, "-h", p)
			if code != 0 {
				t.Fatalf("dumpe2fs -h: exit %d:\n%s", code, out)
			}
			if got := field(out, "Filesystem volume name"); got != tt.label {
				t.Errorf("label %q, want %q", got, tt.label)
			}
			if got := field(out, "Filesystem state"); got != "clean" {
				t.Errorf("state %q, want clean", got)
			}
			if !strings.Contains(field(out, "Filesystem features"), "has_journal") {
				t.Errorf("no journal: %s", field(out, "Filesystem features"))
			}
			bs, _ := strconv.ParseInt(field(out, "Block size"), 10, 64)
			blocks, _ := strconv.ParseInt(field(out, "Block count"), 10, 64)
			if bs != tt.blockSize || blocks != tt.size/bs {
				t.Errorf("%d blocks of %d bytes, want %d of %d", blocks, bs, tt.size/tt.blockSize, tt.blockSize)
			}
			out, code = run(t, debugfs, "-R", "ls -l /", p)
			if code != 0 || !regexp.MustCompile(`40700 .* lost\+found`).MatchString(out) {
				t.Errorf("debugfs ls: exit %d, want lost+found with mode 0700:\n%s", code, out)
			}
		})
	}
}

// TestDataVolumeMount mounts a data volume read-write through the loop
// driver of the running kernel, writes to it and checks it again.
func TestDataVolumeMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting a loop device needs root; e2fsck checks cover the format")
	}
	e2fsck := needTool(t, "e2fsck", "e2fsprogs")
	dir := t.TempDir()
	p := filepath.Join(dir, "data.raw")
	if err := WriteDataVolume(context.Background(), p, 256*mib, "bootapp-data"); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop,rw", p, mnt).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot loop-mount here (%v: %s); e2fsck checks cover the format", err, out)
	}
	mounted := true
	defer func() {
		if mounted {
			exec.Command("umount", mnt).Run()
		}
	}()
	want := []byte("persistent state\n")
	if err := os.MkdirAll(filepath.Join(mnt, "app", "db"), 0o755); err != nil {
		t.Fatalf("mkdir on the mounted volume: %v", err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "app", "db", "state"), want, 0o644); err != nil {
		t.Fatalf("write on the mounted volume: %v", err)
	}
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	mounted = false
	if out, code := run(t, e2fsck, "-fn", p); code != 0 {
		t.Errorf("e2fsck -fn after mount and write: exit %d:\n%s", code, out)
	}
	out, code := run(t, "debugfs", "-R", "cat /app/db/state", p)
	if code != 0 || !strings.Contains(out, string(want)) {
		t.Errorf("debugfs cat: exit %d: %q", code, out)
	}
}

// field returns the value of a "Name:   value" line of dumpe2fs -h.
func field(out, name string) string {
	for line := range strings.SplitSeq(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
