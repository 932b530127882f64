package gce

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/bootapp/bootapp/image/memo"
	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/internal/blocks"
)

// Options tunes Write. The zero value gives the defaults.
type Options struct {
	// Name is the file name inside the archive. Default: "disk.raw", the
	// only name GCE's image import accepts.
	Name string
	// ModTime is the file's modification time in the archive. Zero gives
	// 2000-01-01 UTC, which keeps the output reproducible.
	ModTime time.Time
	// Level is the gzip level (1 fastest .. 9 smallest). Zero selects
	// DefaultLevel.
	Level int
	// Plain stores disk.raw as a regular (non-sparse) file, zeros and all,
	// for consumers that do not understand GNU sparse entries. It is much
	// larger and slower for sparse images.
	Plain bool
	// NoPad keeps disk.raw at the image's own size. By default its size is
	// rounded up to a whole number of GiB (PaddedSize), which GCE's image
	// import requires; the padding is zeros, a hole in the sparse map.
	NoPad bool
	// Memo, if not nil, keeps compressed chunks of the gzip stream across
	// writes: a chunk (with its 32 KiB dictionary) compressed before is
	// copied from it. The output is the same with or without it.
	Memo *memo.Store
}

// GiB is the unit GCE's image import requires disk.raw's size to be a
// multiple of.
const GiB = 1 << 30

// PaddedSize returns the size Write gives disk.raw for an image of size
// bytes: size rounded up to a whole number of GiB (0 stays 0).
func PaddedSize(size int64) int64 {
	if size <= 0 {
		return size
	}
	return (size + GiB - 1) / GiB * GiB
}

// DefaultLevel is the gzip level used when Options.Level is zero: 6,
// gzip's default. The stream is compressed by package
// image/internal/deflate, which matches 3-byte strings as zlib does (Go's
// encoders do not, which costs about 8% on our LZ4 kernels) and ends
// Huffman blocks where the statistics change, in 1 MiB chunks on every
// CPU, storing random-looking data (a compressed initramfs) instead of
// searching it: the archive is a little smaller than GNU tar + gzip -6
// makes. Levels 1 to 3 match greedily, as zlib's do.
const DefaultLevel = 6

// mapBlock is the granularity of the sparse map: the file system block
// size, as GNU tar finds holes with SEEK_HOLE.
const mapBlock = 4096

// defaultTime is the modification time used when none is given.
var defaultTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Write writes the raw image src of size bytes to w as a gzip-compressed
// GNU tar holding one sparse file, disk.raw. extents lists where src may
// hold data, nil meaning all of it; bytes outside them are taken as zeros
// and not read (the rules are in package image/sparse). The sparse map
// lists only the non-zero 4 KiB blocks, whatever the extents. disk.raw
// is PaddedSize(size) bytes, the image followed by zeros, unless
// opts.NoPad.
func Write(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, extents []sparse.Extent, opts Options) error {
	if size < 0 {
		return fmt.Errorf("gce: image size %d is negative", size)
	}
	name := opts.Name
	if name == "" {
		name = "disk.raw"
	}
	if len(name) > 99 {
		return fmt.Errorf("gce: file name %q longer than 99 bytes", name)
	}
	level := opts.Level
	if level == 0 {
		level = DefaultLevel
	}
	mtime := opts.ModTime
	if mtime.IsZero() {
		mtime = defaultTime
	}
	extents, err := blocks.Data(extents, size)
	if err != nil {
		return fmt.Errorf("gce: %w", err)
	}
	fileSize := size
	if !opts.NoPad {
		if size > 1<<62 {
			return fmt.Errorf("gce: image size %d too large", size)
		}
		fileSize = PaddedSize(size)
	}
	var runs []sparse.Extent
	if opts.Plain {
		runs = []sparse.Extent{{Off: 0, Len: fileSize}}
	} else {
		if runs, err = dataRuns(ctx, src, size, extents); err != nil {
			return fmt.Errorf("gce: scan image: %w", err)
		}
	}

	if level < 1 || level > 9 {
		return fmt.Errorf("gce: gzip level %d out of range 1..9", level)
	}
	zw := newGzipWriter(w, level, opts.Memo)
	defer func() {
		if zw.pending != nil { // an early return: let the workers finish
			for _, c := range zw.pending {
				<-c.done
			}
		}
	}()
	bw := bufio.NewWriterSize(zw, 1<<20)
	hdr, stored := header(name, fileSize, runs, mtime.Unix(), !opts.Plain)
	bw.Write(hdr)
	buf := make([]byte, 1<<20)
	for _, r := range runs {
		for off := r.Off; off < r.End(); {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(int64(len(buf)), r.End()-off)
			if opts.Plain && !overlaps(extents, off, n) {
				clear(buf[:n]) // a hole or the padding: no need to read it
			} else {
				k := min(n, size-off) // the padding past size is zeros
				if _, err := src.ReadAt(buf[:k], off); err != nil {
					return fmt.Errorf("gce: read image at offset %d: %w", off, err)
				}
				clear(buf[k:n])
			}
			if _, err := bw.Write(buf[:n]); err != nil {
				return fmt.Errorf("gce: write: %w", err)
			}
			off += n
		}
	}
	// Pad the data to a block, then two zero blocks end the archive.
	pad := (blockSize - stored%blockSize) % blockSize
	bw.Write(make([]byte, pad+2*blockSize))
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gce: write: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("gce: write: %w", err)
	}
	return nil
}

func overlaps(extents []sparse.Extent, off, n int64) bool {
	for _, e := range extents {
		if e.Off < off+n && off < e.End() {
			return true
		}
	}
	return false
}

// dataRuns returns the merged runs of non-zero 4 KiB blocks, clipped to
// size.
func dataRuns(ctx context.Context, src io.ReaderAt, size int64, extents []sparse.Extent) ([]sparse.Extent, error) {
	var runs []sparse.Extent
	err := blocks.Walk(ctx, src, size, extents, mapBlock, func(idx int64, _ []byte) error {
		off := idx * mapBlock
		n := min(int64(mapBlock), size-off)
		if k := len(runs) - 1; k >= 0 && runs[k].End() == off {
			runs[k].Len += n
		} else {
			runs = append(runs, sparse.Extent{Off: off, Len: n})
		}
		return nil
	})
	return runs, err
}

const (
	blockSize    = 512
	inHeader     = 4  // sparse entries in the main header
	perExtension = 21 // sparse entries per extension block
)

// header encodes the old-GNU tar header(s) for a file of size bytes whose
// data is runs, and returns them with the number of data bytes that follow.
func header(name string, size int64, runs []sparse.Extent, mtime int64, sparseEntry bool) ([]byte, int64) {
	var stored int64
	for _, r := range runs {
		stored += r.Len
	}
	h := make([]byte, blockSize)
	copy(h[0:100], name)
	putNumeric(h[100:108], 0o644)
	putNumeric(h[108:116], 0)
	putNumeric(h[116:124], 0)
	putNumeric(h[124:136], stored)
	putNumeric(h[136:148], mtime)
	h[156] = '0'
	copy(h[257:265], "ustar  \x00") // old GNU magic and version
	copy(h[265:297], "root")
	copy(h[297:329], "root")
	if !sparseEntry {
		putChecksum(h)
		return h, stored
	}
	h[156] = 'S'
	// A map must end at the real size: GNU tar adds an empty final run
	// when the file ends in a hole.
	if len(runs) == 0 || runs[len(runs)-1].End() < size {
		runs = append(runs[:len(runs):len(runs)], sparse.Extent{Off: size, Len: 0})
	}
	putNumeric(h[483:495], size)
	putEntries := func(b []byte, rs []sparse.Extent) {
		for i, r := range rs {
			putNumeric(b[i*24:i*24+12], r.Off)
			putNumeric(b[i*24+12:i*24+24], r.Len)
		}
	}
	first := runs[:min(len(runs), inHeader)]
	putEntries(h[386:482], first)
	rest := runs[len(first):]
	if len(rest) > 0 {
		h[482] = 1
	}
	putChecksum(h)
	out := h
	for len(rest) > 0 {
		ext := make([]byte, blockSize)
		n := min(len(rest), perExtension)
		putEntries(ext[:504], rest[:n])
		rest = rest[n:]
		if len(rest) > 0 {
			ext[504] = 1
		}
		out = append(out, ext...)
	}
	return out, stored
}

// putNumeric writes v as a NUL-terminated octal number, or in GNU base-256
// form when it does not fit.
func putNumeric(b []byte, v int64) {
	s := strconv.FormatInt(v, 8)
	if v >= 0 && len(s) < len(b) {
		for i := range b[:len(b)-1] {
			b[i] = '0'
		}
		copy(b[len(b)-1-len(s):], s)
		b[len(b)-1] = 0
		return
	}
	for i := len(b) - 1; i > 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	b[0] = 0x80
}

// putChecksum fills the header checksum: the byte sum with the checksum
// field read as spaces, as six octal digits, NUL, space.
func putChecksum(h []byte) {
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	s := strconv.FormatInt(sum, 8)
	copy(h[148:154], "000000"[:6-len(s)]+s)
	h[154], h[155] = 0, ' '
}
