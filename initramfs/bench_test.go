//go:build unix

package initramfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/bootapp/bootapp/internal/testutil"
)

// appBinary builds testdata/httpapp, a 9 MB static Go web server, and
// returns its bytes: the typical app the builder packs.
func appBinary(b *testing.B) []byte {
	b.Helper()
	data, err := os.ReadFile(testutil.StaticBinary(b, "./testdata/httpapp", testutil.BuildOptions{Flags: []string{"-trimpath"}}))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkWriteCompress measures a whole app segment: the cpio Writer
// streaming the app binary (CopyFile) through each compressor. MB/s is of
// the input; "bytes" is the segment size.
func BenchmarkWriteCompress(b *testing.B) {
	app := appBinary(b)
	for _, c := range []Compression{Zstd, Gzip, XZ, None} {
		b.Run(string(c), func(b *testing.B) {
			b.SetBytes(int64(len(app)))
			var size int64
			cpu := cpuTime(b)
			for b.Loop() {
				w, err := NewWriterOptions(io.Discard, Options{Compression: c})
				if err != nil {
					b.Fatal(err)
				}
				if err := w.CopyFile("/app/server", 0o755, int64(len(app)), bytes.NewReader(app)); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				size = w.Written()
			}
			cpu.report(b)
			b.ReportMetric(float64(size), "bytes")
			b.ReportMetric(float64(size)/float64(len(app)), "ratio")
		})
	}
}

// BenchmarkZstdLevels compares the klauspost zstd levels on the app binary;
// it is how zstdLevel was chosen.
func BenchmarkZstdLevels(b *testing.B) {
	app := appBinary(b)
	for _, l := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression} {
		b.Run(l.String(), func(b *testing.B) {
			b.SetBytes(int64(len(app)))
			var out bytes.Buffer
			cpu := cpuTime(b)
			for b.Loop() {
				out.Reset()
				zw, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(l), zstd.WithWindowSize(zstdWindow))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := zw.Write(app); err != nil {
					b.Fatal(err)
				}
				if err := zw.Close(); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
			b.ReportMetric(float64(out.Len()), "bytes")
		})
	}
}

// BenchmarkManySmallFiles measures the per-entry cost: 1000 files of 1 KiB
// in 50 directories, uncompressed.
func BenchmarkManySmallFiles(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("/usr/lib/modules/6.1.0/kernel/d%02d/m%04d.ko", i%50, i)
	}
	b.SetBytes(int64(len(names) * len(body)))
	var size int64
	for b.Loop() {
		w := NewWriter(io.Discard)
		for _, n := range names {
			if err := w.WriteFile(n, 0o644, body); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		size = w.Written()
	}
	b.ReportMetric(float64(size), "bytes")
}

// cpuClock measures the CPU time (user + system, all threads) the process
// spends, which unlike ns/op does not grow when other processes load the
// machine.
type cpuClock struct{ start time.Duration }

func cpuTime(b *testing.B) cpuClock { return cpuClock{rusage(b)} }

// report adds the CPU time per operation as "cpu-ms/op".
func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(rusage(b)-c.start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func rusage(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
