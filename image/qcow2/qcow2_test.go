package qcow2

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bootapp/bootapp/image/internal/sparsetest"
	"github.com/bootapp/bootapp/image/sparse"
)

func encodeFile(t *testing.T, img sparsetest.Image, dst string, opts Options) {
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
	if err := Write(context.Background(), out, src, img.Size, ext, opts); err != nil {
		t.Fatalf("encode %s: %v", img.Name, err)
	}
}

func TestEncodeQemu(t *testing.T) {
	sparsetest.NeedQemuImg(t)
	dir := t.TempDir()
	for _, img := range []sparsetest.Image{
		sparsetest.Small(t, dir),
		sparsetest.Large(t, dir),
		sparsetest.Make(t, dir, "odd", 3*sparsetest.MiB+512, []sparsetest.Write{{Off: 3 * sparsetest.MiB, Len: 512}}),
		sparsetest.Make(t, dir, "empty", 10*sparsetest.MiB, nil),
	} {
		for _, bits := range []uint32{0, 9, 21} {
			if img.Name == "large" && bits == 9 {
				continue // 80 MiB of L2 tables; the small images cover 512-byte clusters
			}
			t.Run(fmt.Sprintf("%s/bits%d", img.Name, bits), func(t *testing.T) {
				out := filepath.Join(dir, img.Name+".qcow2")
				encodeFile(t, img, out, Options{ClusterBits: bits})
				info := sparsetest.QemuInfo(t, out)
				if info.Format != "qcow2" || info.VirtualSize != img.Size {
					t.Fatalf("qemu-img info: %+v, want qcow2 of %d bytes", info, img.Size)
				}
				sparsetest.QemuCheck(t, out, "qcow2")
				sparsetest.QemuCompare(t, img.Path, out, "qcow2")
				b, _ := os.ReadFile(out)
				out2 := out + ".2"
				encodeFile(t, img, out2, Options{ClusterBits: bits})
				b2, _ := os.ReadFile(out2)
				if !bytes.Equal(b, b2) {
					t.Fatal("two encodings differ")
				}
				if img.Name == "large" && bits == 0 && len(b) > 2<<20 {
					t.Errorf("output is %d bytes, want <= 2 MiB", len(b))
				}
			})
		}
	}
}

// TestWritable writes into the image with QEMU and checks the result.
func TestWritable(t *testing.T) {
	sparsetest.NeedQemuImg(t)
	dir := t.TempDir()
	img := sparsetest.Small(t, dir)
	out := filepath.Join(dir, "w.qcow2")
	encodeFile(t, img, out, Options{})
	f, err := os.OpenFile(img.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0xcd}, 300000), 2<<20+11)
	f.Close()
	if o, err := exec.Command("qemu-img", "convert", "-n", "-f", "raw", "-O", "qcow2", img.Path, out).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert -n into our qcow2: %v\n%s", err, o)
	}
	sparsetest.QemuCheck(t, out, "qcow2")
	sparsetest.QemuCompare(t, img.Path, out, "qcow2")
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int64
		blocks []int64
		want   layout
	}{
		{"empty 1 MiB", 1 << 20, nil, layout{l1Entries: 1, total: 4, dataOff: 4}},
		{"two tables", 1 << 30, []int64{0, 1, 8192}, layout{l1Entries: 2, total: 9, dataOff: 6}},
	} {
		l := plan(tc.size, 16, tc.blocks)
		if l.l1Entries != tc.want.l1Entries || l.total != tc.want.total || l.dataOff != tc.want.dataOff {
			t.Errorf("%s: got %+v", tc.name, l)
		}
		if l.total != l.dataOff+int64(len(tc.blocks)) {
			t.Errorf("%s: total %d != data end %d", tc.name, l.total, l.dataOff+int64(len(tc.blocks)))
		}
	}
	// Many clusters need several refcount blocks.
	blocks := make([]int64, 100000)
	for i := range blocks {
		blocks[i] = int64(i)
	}
	l := plan(int64(len(blocks))<<16, 16, blocks)
	if l.rbClusters*32768 < l.total || (l.rbClusters-1)*32768 >= l.total {
		t.Errorf("refcount blocks %d for %d clusters", l.rbClusters, l.total)
	}
}

func TestErrors(t *testing.T) {
	src := bytes.NewReader(make([]byte, 4096))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		size int64
		ext  []sparse.Extent
		opts Options
	}{
		{"bits", context.Background(), 4096, nil, Options{ClusterBits: 30}},
		{"size", context.Background(), -1, nil, Options{}},
		{"extent past end", context.Background(), 4096, []sparse.Extent{{Off: 0, Len: 8192}}, Options{}},
		{"short source", context.Background(), 1 << 20, []sparse.Extent{{Off: 0, Len: 1 << 20}}, Options{}},
		{"cancelled", ctx, 4096, []sparse.Extent{{Off: 0, Len: 4096}}, Options{}},
	} {
		if err := Write(tc.ctx, io.Discard, src, tc.size, tc.ext, tc.opts); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
