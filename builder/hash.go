package builder

import (
	"context"
	"crypto/sha256"
	"io"
	"os"

	"github.com/bootapp/bootapp/image/sparse"
)

// zeroChunk is fed to the hash for holes of sparse files: reading a hole
// makes the kernel zero pages, which costs more than hashing them.
var zeroChunk = make([]byte, 1<<20)

// sparseSHA256 hashes the first size bytes of f, reading only its data
// extents (all of f where the platform cannot find holes).
func sparseSHA256(ctx context.Context, f *os.File, size int64) ([]byte, error) {
	ext, err := sparse.Extents(f)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var pos int64
	zeros := func(n int64) error {
		for n > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			c := min(n, int64(len(zeroChunk)))
			h.Write(zeroChunk[:c])
			n -= c
		}
		return nil
	}
	for _, e := range ext {
		if e.Off > pos {
			if err := zeros(e.Off - pos); err != nil {
				return nil, err
			}
		}
		r := io.NewSectionReader(f, e.Off, e.Len)
		if _, err := io.CopyBuffer(h, r, buf); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pos = e.Off + e.Len
	}
	if size > pos {
		if err := zeros(size - pos); err != nil {
			return nil, err
		}
	}
	return h.Sum(nil), nil
}
