package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestFATReadMtools reads a FAT32 file system made by mkfs.vfat and
// mtools (an independent writer): long and short names, any case, a
// fragmented file, an empty file.
func TestFATReadMtools(t *testing.T) {
	mkfs := needTool(t, "mkfs.vfat", "dosfstools")
	mmd, mcopy, mdel := needTool(t, "mmd", "mtools"), needTool(t, "mcopy", "mtools"), needTool(t, "mdel", "mtools")
	dir := t.TempDir()
	img := filepath.Join(dir, "fat.img")
	if out, code := run(t, mkfs, "-F", "32", "-C", img, "70000"); code != 0 {
		t.Fatalf("mkfs.vfat: %s", out)
	}
	files := map[string][]byte{
		"/EFI/BOOT/BOOTX64.EFI":                  randBytes(4, 70<<10, "MZ"),
		"/loader/entries/A Long Entry Name.conf": []byte("linux /k\n"),
		"/UPPER.TXT":                             []byte("upper"),
		"/bootapp/linux":                         randBytes(5, 200<<10+1, "MZ"),
		"/empty":                                 nil,
	}
	for _, d := range []string{"/EFI", "/EFI/BOOT", "/loader", "/loader/entries", "/bootapp"} {
		if out, code := run(t, mmd, "-i", img, "::"+d); code != 0 {
			t.Fatalf("mmd %s: %s", d, out)
		}
	}
	put := func(p string, b []byte) {
		src := filepath.Join(dir, "src")
		if err := os.WriteFile(src, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, code := run(t, mcopy, "-o", "-i", img, src, "::"+p); code != 0 {
			t.Fatalf("mcopy %s: %s", p, out)
		}
	}
	// A file written around a hole left by a deleted one is fragmented.
	put("/bootapp/gap1", make([]byte, 40<<10))
	put("/bootapp/initrd", randBytes(6, 100<<10, ""))
	if out, code := run(t, mdel, "-i", img, "::/bootapp/gap1"); code != 0 {
		t.Fatalf("mdel: %s", out)
	}
	files["/bootapp/initrd"] = randBytes(6, 100<<10, "")
	for p, b := range files {
		put(p, b)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fsys, err := openFAT32(f)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range files {
		for _, name := range []string{p, strings.ToUpper(p), strings.ToLower(p)} {
			got, err := fsys.ReadFile(name)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("ReadFile(%s) = %d bytes, %v; want %d bytes", name, len(got), err, len(want))
			}
		}
	}
	if e, err := fsys.lookup("/loader/entries/A Long Entry Name.conf"); err != nil || e.short == e.name {
		t.Errorf("long name not decoded: %+v, %v", e, err)
	}
	ents, err := fsys.ReadDir("/bootapp")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "initrd,linux" {
		t.Errorf("ReadDir(/bootapp) = %v, want initrd, linux (the deleted file skipped)", names)
	}
	if _, err := fsys.ReadFile("/bootapp/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := fsys.ReadFile("/UPPER.TXT/x"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as directory: %v", err)
	}
}

// TestFATReadCorrupt checks that a looping or broken cluster chain and a
// file longer than its chain are errors, not hangs or short reads.
func TestFATReadCorrupt(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "boot.raw")
	bf := fakeBootFiles()
	if err := WriteBootDisk(t.Context(), disk, bf, 0); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	esp := orig[espStart:]
	fsys, err := openFAT32(bytes.NewReader(esp))
	if err != nil {
		t.Fatal(err)
	}
	k, err := fsys.lookup("/bootapp/linux")
	if err != nil {
		t.Fatal(err)
	}
	reserved := int64(binary.LittleEndian.Uint16(esp[14:16])) * 512
	tests := map[string]struct {
		next    uint32
		wantErr string
	}{
		"loop":        {k.cluster, "loops"},
		"free":        {0, "invalid cluster 0"},
		"early end":   {0x0fffffff, "less than the file's"},
		"out of disk": {0x0ffffff0, "invalid cluster"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			b := bytes.Clone(esp)
			binary.LittleEndian.PutUint32(b[reserved+4*int64(k.cluster):], tt.next)
			fsys, err := openFAT32(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.ReadFile("/bootapp/linux"); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ReadFile = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
