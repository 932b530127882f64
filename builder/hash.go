package builder

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/internal/blocks"
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

// blockDigestVersion starts what blockDigest hashes, naming the scheme.
const blockDigestVersion = "bootapp block digest v1\n"

// digestBlockSize is the block size of blockDigest.
const digestBlockSize = 4096

// blockDigest returns the SHA-256 of the canonical sparse form of the first
// size bytes of f: the line "bootapp block digest v1", the size in decimal
// and a newline, then for every 4 KiB block that holds a non-zero byte its
// index (8 bytes, little-endian) and its 4096 bytes (the last block padded
// with zeros). All-zero blocks, allocated or holes, add nothing, so the
// digest depends on the content alone and costs time in proportion to the
// data the file holds, not to its size: it is what the manifest records of
// a data volume, whose virtual size may be a TiB (see Result.Check).
func blockDigest(ctx context.Context, f *os.File, size int64) ([]byte, error) {
	ext, err := sparse.Extents(f)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s%d\n", blockDigestVersion, size)
	var idx [8]byte
	err = blocks.Walk(ctx, f, size, ext, digestBlockSize, func(i int64, data []byte) error {
		binary.LittleEndian.PutUint64(idx[:], uint64(i))
		h.Write(idx[:])
		h.Write(data)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
