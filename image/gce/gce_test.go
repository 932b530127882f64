package gce

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/image/internal/sparsetest"
	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
	"github.com/klauspost/compress/gzip"
)

func encode(t *testing.T, img sparsetest.Image, opts Options) []byte {
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
	var buf bytes.Buffer
	if err := Write(context.Background(), &buf, src, img.Size, ext, opts); err != nil {
		t.Fatalf("encode %s: %v", img.Name, err)
	}
	return buf.Bytes()
}

func TestGNUTarExtract(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("GNU tar not installed: cannot check the archive the way GCE reads it")
	}
	sparsetest.NeedQemuImg(t)
	dir := t.TempDir()
	many := make([]sparsetest.Write, 60) // sparse map with extension headers
	for i := range many {
		many[i] = sparsetest.Write{Off: int64(i) * 100003, Len: 700}
	}
	for _, tc := range []struct {
		img     sparsetest.Image
		opts    Options
		maxSize int
	}{
		{sparsetest.Small(t, dir), Options{}, 300 << 10},
		{sparsetest.Small(t, dir), Options{Plain: true}, 1500 << 10}, // 1 GiB of zeros deflate to 1 MiB
		{sparsetest.Large(t, dir), Options{}, 200 << 10},
		{sparsetest.Make(t, dir, "many", 7*sparsetest.MiB, many), Options{}, 100 << 10},
		{sparsetest.Make(t, dir, "odd", 3*sparsetest.MiB+1000, []sparsetest.Write{{Off: 3*sparsetest.MiB + 900, Len: 100}}), Options{}, 10 << 10},
		{sparsetest.Make(t, dir, "empty", 9*sparsetest.MiB, nil), Options{}, 10 << 10},
		{sparsetest.Make(t, dir, "full", 1*sparsetest.MiB, []sparsetest.Write{{Off: 0, Len: sparsetest.MiB}}), Options{}, 2 << 20},
	} {
		name := tc.img.Name
		if tc.opts.Plain {
			name += "-plain"
		}
		t.Run(name, func(t *testing.T) {
			b := encode(t, tc.img, tc.opts)
			if len(b) > tc.maxSize {
				t.Errorf("archive is %d bytes, want <= %d", len(b), tc.maxSize)
			}
			if b2 := encode(t, tc.img, tc.opts); !bytes.Equal(b, b2) {
				t.Fatal("two encodings differ")
			}
			arc := filepath.Join(dir, name+".tar.gz")
			if err := os.WriteFile(arc, b, 0o644); err != nil {
				t.Fatal(err)
			}
			want := PaddedSize(tc.img.Size)
			if want%GiB != 0 {
				t.Fatalf("PaddedSize(%d) = %d, not a whole number of GiB", tc.img.Size, want)
			}
			list, err := exec.Command("tar", "-tvzf", arc).CombinedOutput()
			if err != nil {
				t.Fatalf("tar -tvzf: %v\n%s", err, list)
			}
			// One entry, disk.raw, of the padded size: "-rw-r--r-- root/root SIZE 2000-01-01 00:00 disk.raw".
			lines := strings.Split(strings.TrimSpace(string(list)), "\n")
			if f := strings.Fields(lines[0]); len(lines) != 1 || len(f) != 6 || f[5] != "disk.raw" || f[2] != strconv.FormatInt(want, 10) {
				t.Fatalf("tar -tvzf: want one disk.raw of %d bytes, got:\n%s", want, list)
			}
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			h := make([]byte, 512)
			if _, err := io.ReadFull(zr, h); err != nil {
				t.Fatal(err)
			}
			if string(h[257:265]) != "ustar  \x00" {
				t.Errorf("header magic %q, want old GNU \"ustar  \\0\"", h[257:265])
			}
			x := filepath.Join(dir, "x-"+name)
			os.Mkdir(x, 0o755)
			if o, err := exec.Command("tar", "-xzSf", arc, "-C", x).CombinedOutput(); err != nil {
				t.Fatalf("tar -xzSf: %v\n%s", err, o)
			}
			got := filepath.Join(x, "disk.raw")
			fi, err := os.Stat(got)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != want {
				t.Fatalf("disk.raw is %d bytes, want %d", fi.Size(), want)
			}
			// qemu-img compare (not -s) requires the larger image's bytes
			// past the smaller one's end to be zeros: the raw image then
			// zeros. cmp double-checks the image's own bytes.
			sparsetest.QemuCompare(t, tc.img.Path, got, "raw")
			if o, err := exec.Command("cmp", "-n", strconv.FormatInt(tc.img.Size, 10), tc.img.Path, got).CombinedOutput(); err != nil {
				t.Fatalf("cmp: %v\n%s", err, o)
			}
			if !tc.opts.Plain && sparsetest.Allocated(t, got) > sparsetest.Allocated(t, tc.img.Path)+1<<20 {
				t.Errorf("extracted disk.raw is not sparse")
			}
			os.RemoveAll(x)
		})
	}
}

// TestGoTarReader reads the archive back with archive/tar, which
// understands old-GNU sparse entries.
func TestGoTarReader(t *testing.T) {
	dir := t.TempDir()
	img := sparsetest.Small(t, dir)
	zr, err := gzip.NewReader(bytes.NewReader(encode(t, img, Options{})))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "disk.raw" || h.Size != PaddedSize(img.Size) || h.Typeflag != tar.TypeGNUSparse || h.Format != tar.FormatGNU {
		t.Fatalf("header %+v", h)
	}
	got, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, make([]byte, PaddedSize(img.Size)-img.Size)...)
	if !bytes.Equal(got, want) {
		t.Fatal("content differs")
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Fatalf("second entry: %v, want EOF", err)
	}
}

func TestPutNumeric(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		n    int
		want string
	}{
		{0o644, 8, "0000644\x00"},
		{8<<30 - 1, 12, "77777777777\x00"},
		{8 << 30, 12, "\x80\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00"},
	} {
		b := make([]byte, tc.n)
		putNumeric(b, tc.v)
		if string(b) != tc.want {
			t.Errorf("putNumeric(%d) = %q, want %q", tc.v, b, tc.want)
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
		{"name", 4096, nil, Options{Name: strings.Repeat("x", 100)}},
		{"level", 4096, nil, Options{Level: 42}},
		{"size", -1, nil, Options{}},
		{"extent", 4096, []sparse.Extent{{Off: 0, Len: 8192}}, Options{}},
		{"short source", 1 << 20, []sparse.Extent{{Off: 0, Len: 1 << 20}}, Options{}},
		{"short source plain", 1 << 20, []sparse.Extent{{Off: 0, Len: 1 << 20}}, Options{Plain: true}},
	} {
		if err := Write(context.Background(), io.Discard, src, tc.size, tc.ext, tc.opts); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// TestReproducibleAcrossCPUs checks that parallel compression gives the
// same bytes whatever the number of CPUs.
func TestReproducibleAcrossCPUs(t *testing.T) {
	dir := t.TempDir()
	img := sparsetest.Make(t, dir, "multi", 8*sparsetest.MiB, []sparsetest.Write{{Off: 0, Len: 5 * sparsetest.MiB}, {Off: 6*sparsetest.MiB + 3, Len: 1000}})
	a := encode(t, img, Options{})
	old := runtime.GOMAXPROCS(1)
	b := encode(t, img, Options{})
	runtime.GOMAXPROCS(old)
	if !bytes.Equal(a, b) {
		t.Fatal("output depends on GOMAXPROCS")
	}
}

// TestNoPad keeps disk.raw at the image's size.
func TestNoPad(t *testing.T) {
	dir := t.TempDir()
	img := sparsetest.Small(t, dir)
	zr, err := gzip.NewReader(bytes.NewReader(encode(t, img, Options{NoPad: true})))
	if err != nil {
		t.Fatal(err)
	}
	h, err := tar.NewReader(zr).Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Size != img.Size {
		t.Fatalf("disk.raw is %d bytes, want %d", h.Size, img.Size)
	}
}

func TestPaddedSize(t *testing.T) {
	for _, tc := range [][2]int64{{0, 0}, {1, GiB}, {GiB, GiB}, {GiB + 1, 2 * GiB}, {69206016, GiB}} {
		if got := PaddedSize(tc[0]); got != tc[1] {
			t.Errorf("PaddedSize(%d) = %d, want %d", tc[0], got, tc[1])
		}
	}
}

// BenchmarkWrite reports the speed and output size of Write on a 64 MiB
// image shaped like our boot disk: the Debian kernel (LZ4 bzImage, from
// the newest cached kernel package; the benchmark fails without it, since
// random bytes compress differently) at 2 MiB and 6 MiB of random bytes
// standing for the zstd initramfs at 20 MiB, zeros elsewhere.
func BenchmarkWrite(b *testing.B) {
	img := make([]byte, 64<<20)
	k, err := os.ReadFile(kerneltest.Open(b).ImagePath)
	if err != nil {
		b.Fatal(err)
	}
	copy(img[2<<20:], k)
	rng := rand.New(rand.NewPCG(1, 2))
	rd := img[20<<20 : 26<<20]
	for i := range rd {
		rd[i] = byte(rng.Uint32())
	}
	ext := []sparse.Extent{{Off: 0, Len: int64(len(img))}}
	for _, lvl := range []int{1, 3, 6} {
		b.Run("level"+strconv.Itoa(lvl), func(b *testing.B) {
			b.SetBytes(int64(len(k) + len(rd)))
			var n int
			for b.Loop() {
				var buf bytes.Buffer
				if err := Write(context.Background(), &buf, bytes.NewReader(img), int64(len(img)), ext, Options{Level: lvl}); err != nil {
					b.Fatal(err)
				}
				n = buf.Len()
			}
			b.ReportMetric(float64(n), "out-bytes")
		})
	}
}
