package blocks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sort"

	"github.com/bootapp/bootapp/image/sparse"
)

// Data returns the extents a reader of the image must visit: extents
// itself when sparse.Check accepts it, one extent covering [0, size) when
// it is nil. Every encoder resolves its extents argument through Data.
func Data(extents []sparse.Extent, size int64) ([]sparse.Extent, error) {
	if err := sparse.Check(extents, size); err != nil {
		return nil, err
	}
	if extents == nil && size > 0 {
		return []sparse.Extent{{Off: 0, Len: size}}, nil
	}
	return extents, nil
}

// readChunk is how much Walk reads at once: large enough for sequential
// throughput, small enough to stay in cache.
const readChunk = 1 << 20

// MaxBlock is the largest block size Walk accepts.
const MaxBlock = 64 << 20

// Walk reads the blocks of src that intersect extents (nil: the whole
// image; see Data) and calls fn, in
// increasing order, for every blockSize-aligned block that holds a non-zero
// byte. idx is the block index (offset/blockSize); data is the block, always
// blockSize long: bytes past size read as zeros. data is only valid during the
// call. blockSize must be a positive power of two no larger than MaxBlock.
// Walk stops at the first error from fn or src, or when ctx is done.
func Walk(ctx context.Context, src io.ReaderAt, size int64, extents []sparse.Extent, blockSize int64, fn func(idx int64, data []byte) error) error {
	if blockSize <= 0 || blockSize&(blockSize-1) != 0 || blockSize > MaxBlock {
		return fmt.Errorf("blocks: block size %d is not a power of two up to %d", blockSize, MaxBlock)
	}
	extents, err := Data(extents, size)
	if err != nil {
		return err
	}
	chunkSize := max(readChunk, blockSize)
	buf := make([]byte, chunkSize)
	next := int64(0) // first block not yet visited
	for _, e := range extents {
		if e.Len == 0 {
			continue
		}
		first := e.Off / blockSize
		last := (e.End() - 1) / blockSize
		if first < next {
			first = next
		}
		for b := first; b <= last; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(last-b+1, chunkSize/blockSize)
			off := b * blockSize
			want := n * blockSize
			chunk := buf[:want]
			got, err := src.ReadAt(chunk[:min(want, size-off)], off)
			if err != nil && !(errors.Is(err, io.EOF) && int64(got) == min(want, size-off)) {
				return fmt.Errorf("read image at offset %d: %w", off, err)
			}
			clear(chunk[got:])
			for i := int64(0); i < n; i++ {
				blk := chunk[i*blockSize : (i+1)*blockSize]
				if IsZero(blk) {
					continue
				}
				if err := fn(b+i, blk); err != nil {
					return err
				}
			}
			b += n
		}
		next = last + 1
	}
	return nil
}

var zeroPage [4096]byte

// IsZero reports whether b holds only zero bytes.
func IsZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// Map is the result of Scan: which blocks of an image hold data, and a
// checksum of their content for deriving reproducible identifiers.
type Map struct {
	// BlockSize is the block size the map was made with.
	BlockSize int64
	// Blocks holds the indices of the non-zero blocks, sorted.
	Blocks []int64
	// Sum is a CRC-32C over the image size and every non-zero block with
	// its index: equal content gives an equal Sum, whatever the extents.
	Sum uint32
}

// Scan walks src like Walk and returns the map of its non-zero blocks.
func Scan(ctx context.Context, src io.ReaderAt, size int64, extents []sparse.Extent, blockSize int64) (*Map, error) {
	m := &Map{BlockSize: blockSize}
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	writeInt(h, size)
	err := Walk(ctx, src, size, extents, blockSize, func(idx int64, data []byte) error {
		m.Blocks = append(m.Blocks, idx)
		writeInt(h, idx)
		h.Write(data)
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.Sum = h.Sum32()
	return m, nil
}

// Has reports whether block idx holds data.
func (m *Map) Has(idx int64) bool {
	i := sort.Search(len(m.Blocks), func(i int) bool { return m.Blocks[i] >= idx })
	return i < len(m.Blocks) && m.Blocks[i] == idx
}

func writeInt(h hash.Hash, v int64) {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	h.Write(b[:])
}
