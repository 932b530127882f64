package vmdk

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
)

// bootLike returns a 64 MiB image shaped like our boot disk: the Debian
// kernel (LZ4 bzImage, unpacked from the newest cached kernel package; the
// benchmark fails without it, since random bytes compress differently)
// and 6 MiB of random bytes standing for the zstd initramfs, with holes
// around them.
func bootLike(b *testing.B) ([]byte, []sparse.Extent, int64) {
	img := make([]byte, 64<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	k, err := os.ReadFile(kerneltest.Open(b).ImagePath)
	if err != nil {
		b.Fatal(err)
	}
	copy(img[2<<20:], k)
	rd := img[20<<20 : 26<<20]
	for i := range rd {
		rd[i] = byte(rng.Uint32())
	}
	return img, []sparse.Extent{{Off: 0, Len: int64(len(img))}}, int64(len(k) + len(rd))
}

// BenchmarkStreamLevels reports speed and output size of streamOptimized
// output per zlib level, on boot-disk-like data.
func BenchmarkStreamLevels(b *testing.B) {
	img, ext, data := bootLike(b)
	for _, lvl := range []int{1, 3, 5, 6, 7, 9} {
		b.Run(fmt.Sprintf("level%d", lvl), func(b *testing.B) {
			b.SetBytes(data)
			var n int64
			for b.Loop() {
				cw := &counter{}
				if err := WriteStreamOptimized(context.Background(), cw, bytes.NewReader(img), int64(len(img)), ext, Options{Level: lvl, CID: 1}); err != nil {
					b.Fatal(err)
				}
				n = cw.n
			}
			b.ReportMetric(float64(n), "out-bytes")
		})
	}
}

// BenchmarkMonolithic reports the speed of monolithicSparse output.
func BenchmarkMonolithic(b *testing.B) {
	img, ext, data := bootLike(b)
	b.SetBytes(data)
	for b.Loop() {
		if err := WriteMonolithicSparse(context.Background(), io.Discard, bytes.NewReader(img), int64(len(img)), ext, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
