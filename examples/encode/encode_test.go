package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/image/gce"
	"github.com/bootapp/bootapp/image/sparse"
)

// size is not a multiple of 512, 4 KiB or a grain: the encoders must pad
// the tail and keep its data.
const size = 5<<20 + 12345

// writes are the runs of random data in the test image, with holes
// between: at the start, across a 64 KiB grain boundary, at an odd offset
// over several grains, a few bytes, and the unaligned tail.
var writes = []struct {
	off int64
	n   int
}{
	{0, 512},
	{65536 - 100, 300},
	{1<<20 + 12345, 200000},
	{3<<20 - 7, 14},
	{size - 1000, 1000},
}

// makeRaw writes the sparse test image into dir and returns its path.
func makeRaw(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, w := range writes {
		b := make([]byte, w.n)
		for i := range b {
			b[i] = byte(rng.Uint32()) | 1 // never zero: every run is data
		}
		if _, err := f.WriteAt(b, w.off); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// qemuFormat is qemu-img's name of each format; GCE archives are unpacked
// and compared as raw.
var qemuFormat = map[image.Format]string{
	image.Raw: "raw", image.VMDKStream: "vmdk", image.VMDKSparse: "vmdk",
	image.QCOW2: "qcow2", image.VHD: "vpc", image.GCE: "raw", image.OVA: "vmdk",
}

// verify fails the test unless qemu-img finds out (format f) identical to
// the raw image want.
func verify(t *testing.T, f image.Format, want, out string) {
	t.Helper()
	if f == image.GCE {
		out = untar(t, out) // qemu-img compare (not -s) wants the padding zeros
	}
	if f == image.OVA {
		out = untarVMDK(t, out)
	}
	qf := qemuFormat[f]
	b, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", qf, want, out).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "identical") {
		t.Fatalf("qemu-img compare -f raw -F %s %s %s: %v\n%s", qf, want, out, err, b)
	}
	if qf == "qcow2" || qf == "vmdk" {
		if b, err := exec.Command("qemu-img", "check", "-f", qf, out).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img check %s: %v\n%s", out, err, b)
		}
	}
}

// untar unpacks disk.raw from the GCE archive at path (archive/tar
// expands GNU sparse files) and returns the path of the copy.
func untar(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "disk.raw" || h.Size != gce.PaddedSize(size) {
		t.Fatalf("archive holds %s of %d bytes, want disk.raw of %d (a whole number of GiB)", h.Name, h.Size, gce.PaddedSize(size))
	}
	p := path + ".disk.raw"
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, tr); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Fatalf("archive holds more than disk.raw: %v", err)
	}
	return p
}

// encodeWith writes src as format f to dst with its encoder, passing ext
// as the extents.
func encodeWith(t *testing.T, f image.Format, dst, src string, ext []sparse.Extent) error {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	return encoders(filepath.Base(dst))[f](context.Background(), out, in, size, ext)
}

func TestEncodeEveryFormat(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed (apt-get install qemu-utils): cannot check the images")
	}
	dir := t.TempDir()
	raw := makeRaw(t, dir)
	zeros := filepath.Join(dir, "zeros.raw")
	if err := os.WriteFile(zeros, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(zeros, size); err != nil {
		t.Fatal(err)
	}
	for _, f := range image.Formats() {
		for _, tc := range []struct {
			name   string
			want   string // raw image the output must equal
			encode func(dst string) error
		}{
			{"sparse.Extents", raw, func(dst string) error { return encodeFile(context.Background(), f, dst, raw) }},
			{"image.Encode", raw, func(dst string) error { return image.Encode(context.Background(), f, dst, raw) }},
			{"nil extents: all data", raw, func(dst string) error { return encodeWith(t, f, dst, raw, nil) }},
			{"whole-file extent", raw, func(dst string) error {
				return encodeWith(t, f, dst, raw, []sparse.Extent{{Off: 0, Len: size}})
			}},
			{"no extents: all zeros", zeros, func(dst string) error { return encodeWith(t, f, dst, raw, []sparse.Extent{}) }},
		} {
			if f == image.Raw && strings.Contains(tc.name, "extent") {
				continue // raw has no encoder package: image.Encode only
			}
			t.Run(string(f)+"/"+tc.name, func(t *testing.T) {
				dst := filepath.Join(t.TempDir(), "out"+f.Ext())
				if err := tc.encode(dst); err != nil {
					t.Fatal(err)
				}
				verify(t, f, tc.want, dst)
			})
		}
	}
}

// TestBadExtents checks that extents an encoder cannot trust are an error
// matching sparse.ErrRange, never an image with data left out.
func TestBadExtents(t *testing.T) {
	raw := makeRaw(t, t.TempDir())
	for _, tc := range []struct {
		name string
		ext  []sparse.Extent
	}{
		{"overlapping", []sparse.Extent{{Off: 0, Len: 4096}, {Off: 100, Len: 4096}}},
		{"unsorted", []sparse.Extent{{Off: 1 << 20, Len: 10}, {Off: 0, Len: 10}}},
		{"past the end", []sparse.Extent{{Off: size - 10, Len: 11}}},
		{"negative", []sparse.Extent{{Off: -1, Len: 10}}},
	} {
		for f := range encoders("disk.vmdk") {
			t.Run(tc.name+"/"+string(f), func(t *testing.T) {
				err := encodeWith(t, f, filepath.Join(t.TempDir(), "out"), raw, tc.ext)
				if !errors.Is(err, sparse.ErrRange) {
					t.Fatalf("err = %v, want sparse.ErrRange", err)
				}
			})
		}
	}
}

func TestExtentsFindTheData(t *testing.T) {
	raw := makeRaw(t, t.TempDir())
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ext, err := sparse.Extents(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := sparse.Check(ext, size); err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		covered := false
		for _, e := range ext {
			covered = covered || (e.Off <= w.off && w.off+int64(w.n) <= e.End())
		}
		if !covered {
			t.Errorf("data [%d,+%d) outside the extents %v", w.off, w.n, ext)
		}
	}
}

// untarVMDK extracts the VMDK (the second entry) of the OVA at path and
// returns the path of the copy.
func untarVMDK(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no .vmdk in %s: %v", path, err)
		}
		if strings.HasSuffix(h.Name, ".vmdk") {
			p := path + ".vmdk"
			out, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
}
