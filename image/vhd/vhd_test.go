package vhd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image/internal/sparsetest"
	"github.com/bootapp/bootapp/image/sparse"
)

func encode(t *testing.T, img sparsetest.Image, w io.Writer, opts Options) {
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
	if err := WriteFixed(context.Background(), w, src, img.Size, ext, opts); err != nil {
		t.Fatalf("encode %s: %v", img.Name, err)
	}
}

// onlyWriter hides the Seek method of a file.
type onlyWriter struct{ io.Writer }

func TestEncodeQemu(t *testing.T) {
	sparsetest.NeedQemuImg(t)
	dir := t.TempDir()
	for _, img := range []sparsetest.Image{
		sparsetest.Small(t, dir),
		sparsetest.Large(t, dir),
		sparsetest.Make(t, dir, "odd", 3*sparsetest.MiB+512, []sparsetest.Write{{Off: 3 * sparsetest.MiB, Len: 512}}),
	} {
		t.Run(img.Name, func(t *testing.T) {
			out := filepath.Join(dir, img.Name+".vhd")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			encode(t, img, f, Options{})
			f.Close()
			want := PaddedSize(img.Size)
			info := sparsetest.QemuInfo(t, out, "-f", "vpc") // qemu only probes dynamic VHDs
			if info.Format != "vpc" || info.VirtualSize != want || want%MiB != 0 {
				t.Fatalf("qemu-img info: %+v, want vpc of %d bytes (a MiB multiple)", info, want)
			}
			if img.Name == "large" {
				// QEMU's vpc driver reports no holes for fixed disks, so a
				// compare reads all 5 GiB (a minute); the data part of a
				// fixed VHD is raw, so compare it as raw instead.
				sparsetest.QemuCompareOpts(t, img.Path, "driver=raw,size="+strconv.FormatInt(want, 10)+",file.filename="+out)
			} else {
				sparsetest.QemuCompare(t, img.Path, out, "vpc")
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != want+512 {
				t.Fatalf("file is %d bytes, want %d", fi.Size(), want+512)
			}
			tail := make([]byte, 512)
			f, err = os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.ReadAt(tail, want); err != nil {
				t.Fatal(err)
			}
			ft, err := ParseFooter(tail)
			if err != nil {
				t.Fatal(err)
			}
			if ft.DiskType != 2 || ft.CurrentSize != want || ft.CreatorApp != DefaultCreatorApp || !ft.Time.Equal(vhdEpoch) {
				t.Fatalf("footer %+v", ft)
			}
			if img.Name == "large" {
				if a := sparsetest.Allocated(t, out); a > 4<<20 {
					t.Errorf("output occupies %d bytes: not sparse", a)
				}
			}
			// Without a seeker the bytes are the same.
			var buf bytes.Buffer
			if img.Name != "large" {
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				encode(t, img, onlyWriter{&buf}, Options{})
				if !bytes.Equal(buf.Bytes(), b) {
					t.Fatal("streamed and seeked outputs differ")
				}
			}
		})
	}
}

func TestGeometry(t *testing.T) {
	for _, tc := range []struct {
		size        int64
		cyl         uint16
		heads, secs uint8
	}{
		{6 << 20, 180, 4, 17},       // small: 17 sectors, 4 heads
		{1 << 30, 2080, 16, 63},     // 1 GiB
		{127 << 30, 65278, 16, 255}, // above 65535*16*63 sectors
		{4 << 40, 65535, 16, 255},   // capped
	} {
		c, h, s := Geometry(tc.size)
		if c != tc.cyl || h != tc.heads || s != tc.secs {
			t.Errorf("Geometry(%d) = %d/%d/%d, want %d/%d/%d", tc.size, c, h, s, tc.cyl, tc.heads, tc.secs)
		}
		if int64(c)*int64(h)*int64(s)*512 > max(tc.size, 65535*16*255*512) {
			t.Errorf("Geometry(%d) exceeds the disk", tc.size)
		}
	}
}

func TestFooterRoundTrip(t *testing.T) {
	f := Footer{Time: vhdEpoch.Add(1234 * time.Second), CreatorApp: "bapp", OriginalSize: 1 << 20, CurrentSize: 1 << 20, Cylinders: 30, Heads: 4, SectorsPT: 17, DiskType: 2}
	f.UniqueID[3] = 9
	b := f.Marshal()
	g, err := ParseFooter(b)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Time.Equal(f.Time) || g.CreatorApp != f.CreatorApp || g.CurrentSize != f.CurrentSize || g.UniqueID != f.UniqueID || g.Heads != 4 {
		t.Fatalf("round trip: %+v != %+v", g, f)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short", b[:100]},
		{"cookie", append([]byte("konectix"), b[8:]...)},
		{"checksum", append(append([]byte{}, b[:100]...), append([]byte{b[100] ^ 1}, b[101:]...)...)},
	} {
		if _, err := ParseFooter(tc.b); !errors.Is(err, ErrFooter) {
			t.Errorf("%s: err %v, want ErrFooter", tc.name, err)
		}
	}
}

func TestErrors(t *testing.T) {
	src := bytes.NewReader(make([]byte, 4096))
	for _, tc := range []struct {
		name string
		size int64
		ext  []sparse.Extent
		opts Options
	}{
		{"creator", 4096, nil, Options{CreatorApp: "bootapp"}},
		{"size", 0, nil, Options{}},
		{"extent", 4096, []sparse.Extent{{Off: 0, Len: 8192}}, Options{}},
		{"short source", 1 << 20, []sparse.Extent{{Off: 0, Len: 1 << 20}}, Options{}},
	} {
		if err := WriteFixed(context.Background(), io.Discard, src, tc.size, tc.ext, tc.opts); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func FuzzParseFooter(f *testing.F) {
	ft := Footer{CreatorApp: "win ", CurrentSize: 1 << 20, OriginalSize: 1 << 20, DiskType: 2}
	f.Add(ft.Marshal())
	f.Add([]byte("conectix"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseFooter(b)
		if err != nil {
			return
		}
		// What ParseFooter reads survives Marshal and a second parse.
		// (Marshal writes the fields it does not read, such as the
		// features and the format version, with their fixed values, so
		// the bytes themselves need not round-trip.)
		again, err := ParseFooter(got.Marshal())
		if err != nil {
			t.Fatalf("the footer of an accepted one is refused: %v", err)
		}
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("accepted footer does not round-trip: %+v, then %+v", got, again)
		}
	})
}

// TestMaxSize writes a sparse VHD of exactly MaxSize, which qemu-img
// reads back at that size, and refuses one byte more with ErrTooLarge.
func TestMaxSize(t *testing.T) {
	sparsetest.NeedQemuImg(t)
	out := filepath.Join(t.TempDir(), "max.vhd")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := bytes.NewReader(nil)
	if err := WriteFixed(context.Background(), f, src, MaxSize, []sparse.Extent{}, Options{}); err != nil {
		t.Fatalf("%d bytes: %v", int64(MaxSize), err)
	}
	if info := sparsetest.QemuInfo(t, out, "-f", "vpc"); info.VirtualSize != MaxSize {
		t.Errorf("qemu-img info: virtual size %d, want %d", info.VirtualSize, int64(MaxSize))
	}
	err = WriteFixed(context.Background(), io.Discard, src, MaxSize+1, []sparse.Extent{}, Options{})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "2040 GiB") {
		t.Errorf("MaxSize+1: %v, want ErrTooLarge naming the limit", err)
	}
}
