package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
)

// realisticBootFiles returns boot files of production size: the Debian
// cloud kernel (14 MB, unpacked from the newest cached kernel package; a
// benchmark fails without it), a 6 MB initramfs and a 140 KB loader.
func realisticBootFiles(tb testing.TB) *BootFiles {
	tb.Helper()
	kernel, err := os.ReadFile(kerneltest.Open(tb).ImagePath)
	if err != nil {
		tb.Fatal(err)
	}
	return &BootFiles{
		Loader:  randBytes(5, 140_891, "MZ"),
		Kernel:  kernel,
		Initrd:  randBytes(6, 6<<20, ""),
		Cmdline: "console=ttyS0 panic=-1",
		Title:   "bootapp: bench",
	}
}

func BenchmarkWriteBootDisk(b *testing.B) {
	f := realisticBootFiles(b)
	p := filepath.Join(b.TempDir(), "boot.raw")
	contents := int64(len(f.Loader) + len(f.Kernel) + len(f.Initrd))
	b.SetBytes(contents)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteBootDisk(context.Background(), p, f, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(allocated(b, p)), "alloc-bytes")
	b.ReportMetric(float64(MinBootDiskSize(f)), "disk-bytes")
}

func BenchmarkWriteDataVolume(b *testing.B) {
	// Only metadata is written, so time and allocated bytes follow the
	// metadata: about 600 KB at 1 GiB, 5 MB at 100 GiB, 16 MB at 1 TiB
	// (the sizes of the data volume curve in docs/benchmarks.md).
	for _, size := range []int64{1 << 30, 10 << 30, 100 << 30, 1 << 40} {
		b.Run(fmt.Sprintf("%dGiB", size>>30), func(b *testing.B) {
			// Each iteration writes a new file, as a build does into
			// its staging directory: rewriting one path would time the
			// host freeing the previous file's blocks.
			dir := b.TempDir()
			var alloc int64
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p := filepath.Join(dir, fmt.Sprintf("data%d.raw", i))
				if err := WriteDataVolume(context.Background(), p, size, "bootapp-data"); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				alloc = allocated(b, p)
				if err := os.Remove(p); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(alloc), "alloc-bytes")
			b.ReportMetric(float64(size), "volume-bytes")
		})
	}
}

// TestResourceUse writes a production-sized boot disk and a 1 GiB data
// volume in a fresh process and checks its peak RSS against the 150 MB
// budget; it logs the times.
func TestResourceUse(t *testing.T) {
	if os.Getenv("BOOTAPP_IMAGE_HELPER") == "1" {
		resourceHelper(t)
		return
	}
	kerneltest.Open(t) // the child needs the cached kernel: report its absence here
	cmd := exec.Command(os.Args[0], "-test.run=^TestResourceUse$", "-test.v")
	cmd.Env = append(os.Environ(), "BOOTAPP_IMAGE_HELPER=1", "BOOTAPP_IMAGE_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	rss, user, sys, ok := childUsage(cmd.ProcessState)
	if !ok {
		t.Skip("SKIP: no rusage on this platform")
	}
	t.Logf("peak RSS %.1f MB, CPU user %v sys %v", float64(rss)/1e6, user, sys)
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "took") {
			t.Log(strings.TrimSpace(line))
		}
	}
	if rss > 150e6 {
		t.Errorf("peak RSS %d bytes, budget 150 MB", rss)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if _, d, ok := strings.Cut(line, "took "); ok {
			ms, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(d), "ms"), 64)
			// The budget is 0.5 s each on an idle machine; 4x leaves room
			// for a loaded CI host while still catching a zero-filling
			// regression (seconds).
			if ms > 2000 {
				t.Errorf("%s: over 2 s", strings.TrimSpace(line))
			}
		}
	}
}

// resourceHelper is the body of TestResourceUse's child process.
func resourceHelper(t *testing.T) {
	dir := os.Getenv("BOOTAPP_IMAGE_DIR")
	f := realisticBootFiles(t)
	cpu := selfCPU
	// Lines end in "took <wall>ms": the parent checks the wall time.
	report := func(what string, start time.Time, cpu0 time.Duration) {
		fmt.Printf("%s: CPU %.1fms, took %.1fms\n", what,
			float64((cpu()-cpu0).Microseconds())/1000, float64(time.Since(start).Microseconds())/1000)
	}
	start, cpu0 := time.Now(), cpu()
	if err := WriteBootDisk(context.Background(), filepath.Join(dir, "boot.raw"), f, 0); err != nil {
		t.Fatal(err)
	}
	report(fmt.Sprintf("WriteBootDisk (%s of contents)", fmtSize(int64(len(f.Loader)+len(f.Kernel)+len(f.Initrd)))), start, cpu0)
	start, cpu0 = time.Now(), cpu()
	if err := WriteDataVolume(context.Background(), filepath.Join(dir, "data.raw"), 1<<30, "bootapp-data"); err != nil {
		t.Fatal(err)
	}
	report("WriteDataVolume (1 GiB)", start, cpu0)
}
