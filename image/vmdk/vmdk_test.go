package vmdk

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/image/internal/sparsetest"
	"github.com/bootapp/bootapp/image/sparse"
)

type writeFunc func(context.Context, io.Writer, io.ReaderAt, int64, []sparse.Extent, Options) error

func encodeFile(t *testing.T, fn writeFunc, img sparsetest.Image, dst string, opts Options) {
	t.Helper()
	src, err := os.Open(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ext, err := sparse.Extents(src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := fn(context.Background(), out, src, img.Size, ext, opts); err != nil {
		t.Fatalf("encode %s: %v", img.Name, err)
	}
}

func TestEncodeQemu(t *testing.T) {
	sparsetest.NeedQemuImg(t)
	dir := t.TempDir()
	imgs := []sparsetest.Image{
		sparsetest.Small(t, dir),
		sparsetest.Large(t, dir),
		// Not a whole number of grains: the last grain is partial.
		sparsetest.Make(t, dir, "odd", 3*sparsetest.MiB+512, []sparsetest.Write{{Off: 3*sparsetest.MiB - 10, Len: 522}}),
		sparsetest.Make(t, dir, "empty", 40*sparsetest.MiB, nil),
	}
	for _, tc := range []struct {
		name       string
		fn         writeFunc
		createType string
		maxAlloc   int64 // bytes the output may occupy for the large image
	}{
		{"stream", WriteStreamOptimized, "streamOptimized", 2 << 20},
		{"monolithic", WriteMonolithicSparse, "monolithicSparse", 4 << 20},
	} {
		for _, img := range imgs {
			t.Run(tc.name+"/"+img.Name, func(t *testing.T) {
				out := filepath.Join(dir, tc.name+"-"+img.Name+".vmdk")
				encodeFile(t, tc.fn, img, out, Options{})
				info := sparsetest.QemuInfo(t, out)
				if info.Format != "vmdk" || info.VirtualSize != img.Size {
					t.Fatalf("qemu-img info: %+v, want vmdk of %d bytes", info, img.Size)
				}
				sparsetest.QemuCompare(t, img.Path, out, "vmdk")
				sparsetest.QemuCheck(t, out, "vmdk")
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(b[:4096], []byte(`createType="`+tc.createType+`"`)) ||
					!bytes.Contains(b[:4096], []byte(`ddb.adapterType = "lsilogic"`)) {
					t.Fatalf("descriptor lacks createType or adapter:\n%s", b[512:1024])
				}
				if img.Name == "large" {
					if a := sparsetest.Allocated(t, out); a > tc.maxAlloc {
						t.Errorf("output occupies %d bytes, want <= %d", a, tc.maxAlloc)
					}
				}
				// Reproducible: a second encoding gives the same bytes.
				out2 := out + ".2"
				encodeFile(t, tc.fn, img, out2, Options{Workers: 1})
				b2, err := os.ReadFile(out2)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b, b2) {
					t.Fatalf("two encodings differ")
				}
				os.Remove(out2)
				if tc.name == "stream" {
					// Round trip through qemu-img convert, as importers do.
					back := filepath.Join(dir, "back.raw")
					if o, err := exec.Command("qemu-img", "convert", "-O", "raw", out, back).CombinedOutput(); err != nil {
						t.Fatalf("qemu-img convert: %v\n%s", err, o)
					}
					sparsetest.QemuCompare(t, img.Path, back, "raw")
					os.Remove(back)
				}
			})
		}
	}
}

// TestMonolithicWritable checks that QEMU can write into a monolithicSparse
// image and that the result stays consistent.
func TestMonolithicWritable(t *testing.T) {
	sparsetest.NeedQemuImg(t)
	dir := t.TempDir()
	img := sparsetest.Small(t, dir)
	out := filepath.Join(dir, "w.vmdk")
	encodeFile(t, WriteMonolithicSparse, img, out, Options{})
	patch := filepath.Join(dir, "patch")
	if err := os.WriteFile(patch, bytes.Repeat([]byte{0xab}, 70000), 0o644); err != nil {
		t.Fatal(err)
	}
	// qemu-io is not always installed; qemu-img dd cannot write in place,
	// so write through a raw copy with qemu-img convert -n (in-place).
	rawCopy := filepath.Join(dir, "copy.raw")
	if o, err := exec.Command("cp", "--sparse=always", img.Path, rawCopy).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, o)
	}
	f, err := os.OpenFile(rawCopy, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0xab}, 70000), 4<<20+3)
	f.Close()
	if o, err := exec.Command("qemu-img", "convert", "-n", "-f", "raw", "-O", "vmdk", rawCopy, out).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert -n into our vmdk: %v\n%s", err, o)
	}
	sparsetest.QemuCheck(t, out, "vmdk")
	sparsetest.QemuCompare(t, rawCopy, out, "vmdk")
}

func TestDescriptorGeometry(t *testing.T) {
	for _, tc := range []struct {
		adapter AdapterType
		sectors uint64
		want    string
	}{
		{LSILogic, 2 * 1024 * 1024 * 2, "cylinders = \"261\"\nddb.geometry.heads = \"255\"\nddb.geometry.sectors = \"63\""},
		{IDE, 2 * 1024 * 1024 * 2, "cylinders = \"4161\"\nddb.geometry.heads = \"16\"\nddb.geometry.sectors = \"63\""},
		{IDE, 1 << 40, "cylinders = \"16383\""},
		{LSILogic, 100, "cylinders = \"1\""},
	} {
		d := descriptor(Options{AdapterType: tc.adapter, ExtentName: "x.vmdk"}, "monolithicSparse", 0x1234abcd, tc.sectors)
		if !strings.Contains(d, tc.want) || !strings.Contains(d, "CID=1234abcd") || !strings.Contains(d, `ddb.adapterType = "`+string(tc.adapter)+`"`) {
			t.Errorf("%s %d: descriptor\n%s\nlacks %q", tc.adapter, tc.sectors, d, tc.want)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	src := bytes.NewReader(make([]byte, 4096))
	for _, tc := range []struct {
		name string
		size int64
		ext  []sparse.Extent
		opts Options
	}{
		{"adapter", 4096, nil, Options{AdapterType: "scsi2000"}},
		{"level", 4096, nil, Options{Level: 12}},
		{"name", 4096, nil, Options{ExtentName: "a\"b"}},
		{"size", 0, nil, Options{}},
		{"extent past end", 4096, []sparse.Extent{{Off: 0, Len: 8192}}, Options{}},
		{"short source", 1 << 20, []sparse.Extent{{Off: 0, Len: 1 << 20}}, Options{}},
	} {
		for _, fn := range []writeFunc{WriteStreamOptimized, WriteMonolithicSparse} {
			if err := fn(context.Background(), io.Discard, src, tc.size, tc.ext, tc.opts); err == nil {
				t.Errorf("%s: no error", tc.name)
			}
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := bytes.NewReader(bytes.Repeat([]byte{1}, 1<<20))
	for _, fn := range []writeFunc{WriteStreamOptimized, WriteMonolithicSparse} {
		if err := fn(ctx, io.Discard, src, 1<<20, []sparse.Extent{{Off: 0, Len: 1 << 20}}, Options{}); err == nil {
			t.Error("cancelled context: no error")
		}
	}
}
