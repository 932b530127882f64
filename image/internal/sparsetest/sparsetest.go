package sparsetest

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Image is a raw test image on disk.
type Image struct {
	// Name describes the image in test names.
	Name string
	// Path is the raw file.
	Path string
	// Size is its virtual size.
	Size int64
}

// Write is one run of random data to put into an image.
type Write struct {
	Off int64
	Len int
}

// Make creates a sparse raw file of size bytes in dir holding deterministic
// random data at the given runs, and returns it.
func Make(t testing.TB, dir, name string, size int64, writes []Write) Image {
	t.Helper()
	p := filepath.Join(dir, name+".raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(size), 42))
	for _, w := range writes {
		b := make([]byte, w.Len)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(b, w.Off); err != nil {
			t.Fatal(err)
		}
	}
	return Image{Name: name, Path: p, Size: size}
}

const (
	// MiB is a mebibyte.
	MiB = 1 << 20
	// GiB is a gibibyte.
	GiB = 1 << 30
)

// Small makes a few-MiB image with random data at scattered offsets, some
// crossing 64 KiB and 512 KiB boundaries, plus an explicit zero block.
func Small(t testing.TB, dir string) Image {
	return Make(t, dir, "small", 6*MiB, []Write{
		{0, 4096},
		{65536 - 100, 300},
		{MiB + 12345, 200000},
		{3*MiB - 7, 14},
		{6*MiB - 1000, 1000},
	})
}

// Large makes a 5 GiB image with data at its start, at odd offsets crossing
// grain, cluster and table boundaries beyond 4 GiB, and near its end.
func Large(t testing.TB, dir string) Image {
	return Make(t, dir, "large", 5*GiB, []Write{
		{0, 512},
		{32*MiB - 3, 6},              // VMDK grain table boundary
		{512*MiB - 100, 200},         // qcow2 L2 boundary
		{2*GiB - 5000, 10000},        // qcow2 refcount block boundary (2 GiB of clusters)
		{4*GiB - 1000, 3000},         // crosses 4 GiB
		{4*GiB + 65536*3 + 1, 70000}, // odd offset, spans two grains
		{5*GiB - 4096, 4096},         // last block
	})
}

// Info is the part of `qemu-img info --output=json` the tests check.
type Info struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
	ActualSize  int64  `json:"actual-size"`
}

// NeedQemuImg skips the test when qemu-img is missing, saying so.
func NeedQemuImg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed: cannot verify encoded images (apt-get install qemu-utils)")
	}
}

// QemuInfo runs qemu-img info on path (args may add e.g. "-f", "vmdk").
func QemuInfo(t testing.TB, path string, args ...string) Info {
	t.Helper()
	a := append([]string{"info", "--output=json"}, args...)
	out, err := exec.Command("qemu-img", append(a, path)...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v\n%s", path, err, out)
	}
	var i Info
	if err := json.Unmarshal(out, &i); err != nil {
		t.Fatalf("qemu-img info %s: %v\n%s", path, err, out)
	}
	return i
}

// QemuCompare fails the test unless qemu-img compare finds raw and out
// (format fmt) identical.
func QemuCompare(t testing.TB, raw, out, fmt string) {
	t.Helper()
	b, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", fmt, raw, out).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img compare %s %s: %v\n%s", raw, out, err, b)
	}
	if !strings.Contains(string(b), "identical") {
		t.Fatalf("qemu-img compare %s %s: %s", raw, out, b)
	}
}

// QemuCheck fails the test unless qemu-img check reports no errors.
func QemuCheck(t testing.TB, path, fmt string) {
	t.Helper()
	b, err := exec.Command("qemu-img", "check", "-f", fmt, path).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img check %s: %v\n%s", path, err, b)
	}
}

// Allocated returns the bytes a file occupies on disk.
func Allocated(t testing.TB, path string) int64 {
	t.Helper()
	return allocated(t, path)
}

// QemuCompareOpts is QemuCompare with the second image given as
// --image-opts (e.g. "driver=raw,size=N,file.filename=PATH").
func QemuCompareOpts(t testing.TB, raw, opts string) {
	t.Helper()
	b, err := exec.Command("qemu-img", "compare", "--image-opts", "driver=raw,file.filename="+raw, opts).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "identical") {
		t.Fatalf("qemu-img compare %s %s: %v\n%s", raw, opts, err, b)
	}
}
