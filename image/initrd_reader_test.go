package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/testutil"
)

// readerFiles returns f with its initramfs moved into a file, given as
// InitrdReader.
func readerFiles(t *testing.T, f *BootFiles) *BootFiles {
	t.Helper()
	p := filepath.Join(t.TempDir(), "initrd")
	if err := os.WriteFile(p, f.Initrd, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	g := *f
	g.Initrd, g.InitrdReader, g.InitrdSize = nil, r, int64(len(f.Initrd))
	return &g
}

// TestWriteBootDiskInitrdReader checks that an initramfs given as a reader
// gives the disk an in-memory one gives, byte for byte, for 512-byte and
// 4 KiB clusters and a size that is no multiple of the chunk, and that the
// ESP passes fsck.fat and reads back.
func TestWriteBootDiskInitrdReader(t *testing.T) {
	fsck := needTool(t, "fsck.fat", "dosfstools")
	mcopy := needTool(t, "mcopy", "mtools")
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		size int
	}{
		{"small", 1<<20 + 7},
		{"several chunks, 512-byte clusters", 3*espChunk + 4097},
		{"4 KiB clusters", 270 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := fakeBootFiles()
			mem.Initrd = randBytes(4, tc.size, "")
			rd := readerFiles(t, mem)
			a, b := filepath.Join(dir, "mem.raw"), filepath.Join(dir, "reader.raw")
			if err := WriteBootDisk(context.Background(), a, mem, 0); err != nil {
				t.Fatal(err)
			}
			if err := WriteBootDisk(context.Background(), b, rd, 0); err != nil {
				t.Fatal(err)
			}
			if MinBootDiskSize(mem) != MinBootDiskSize(rd) {
				t.Errorf("MinBootDiskSize: %d in memory, %d from a reader", MinBootDiskSize(mem), MinBootDiskSize(rd))
			}
			if testutil.FileSHA256(t, a) != testutil.FileSHA256(t, b) {
				t.Fatal("the disk written from a reader differs from the one written from memory")
			}
			esp := filepath.Join(dir, "esp.img")
			extractESP(t, b, esp)
			if out, code := run(t, fsck, "-n", esp); code != 0 || strings.Contains(out, "Fixing") {
				t.Errorf("fsck.fat -n: exit %d: %s", code, out)
			}
			got, err := exec.Command(mcopy, "-n", "-i", esp, "::/bootapp/initrd", "-").Output()
			if err != nil || !bytes.Equal(got, mem.Initrd) {
				t.Errorf("initramfs read back: %d bytes, %v; want the %d written", len(got), err, len(mem.Initrd))
			}
		})
	}
}

// extractESP copies the ESP of the boot disk at disk (from 1 MiB to 1 MiB
// before the end) to esp, for the FAT tools.
func extractESP(t *testing.T, disk, esp string) {
	t.Helper()
	in, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(esp)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, io.NewSectionReader(in, espStart, st.Size()-espStart-diskTail)); err != nil {
		t.Fatal(err)
	}
}

// TestWriteBootDiskInitrdReaderErrors checks the reader form's misuses and
// a reader shorter than announced.
func TestWriteBootDiskInitrdReaderErrors(t *testing.T) {
	good := readerFiles(t, fakeBootFiles())
	with := func(mod func(f *BootFiles)) *BootFiles {
		f := *good
		mod(&f)
		return &f
	}
	tests := []struct {
		name    string
		f       *BootFiles
		wantErr error
		wantMsg string
	}{
		{"both forms", with(func(f *BootFiles) { f.Initrd = []byte("x") }), ErrBadBootFiles, "given twice"},
		{"size without reader", with(func(f *BootFiles) { f.InitrdReader = nil }), ErrBadBootFiles, "without an InitrdReader"},
		{"negative size", with(func(f *BootFiles) { f.InitrdSize = -1 }), ErrBadBootFiles, "negative"},
		{"short reader", with(func(f *BootFiles) { f.InitrdSize += 100 }), io.ErrUnexpectedEOF, "/bootapp/initrd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "boot.raw")
			err := WriteBootDisk(context.Background(), p, tt.f, 0)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.wantErr, tt.wantMsg)
			}
			if _, serr := os.Stat(p); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("%s left behind after error", p)
			}
		})
	}
}
