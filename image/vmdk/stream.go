package vmdk

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"io"
	"runtime"
	"sync"

	"github.com/bootapp/bootapp/image/internal/deflate"
	"github.com/bootapp/bootapp/image/memo"
	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/internal/blocks"
	"github.com/klauspost/compress/zlib"
)

// streamOverhead is where the first grain starts (in sectors), as VMware's
// own stream writer lays it out: header, descriptor, then grain-aligned data.
const streamOverhead = grainSectors

// grainJob is one grain travelling through the compression pool.
type grainJob struct {
	idx  int64
	in   []byte
	out  bytes.Buffer
	err  error
	done chan struct{}
}

// WriteStreamOptimized writes the raw image src of size bytes as a
// streamOptimized VMDK to w, in one forward pass. extents lists where src
// may hold data, nil meaning all of it; bytes outside them are taken as
// zeros and not read (the rules are in package image/sparse). All-zero
// grains are skipped either way. The CID is derived from the content unless opts.CID is set,
// so this reads the data extents twice (the second time from the page
// cache). A size that is not a multiple of 512 is padded with zeros.
func WriteStreamOptimized(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, extents []sparse.Extent, opts Options) error {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return err
	}
	if err := checkSize(size); err != nil {
		return err
	}
	extents, err := blocks.Data(extents, size)
	if err != nil {
		return fmt.Errorf("vmdk: %w", err)
	}
	cid := opts.CID
	if cid == 0 {
		m, err := blocks.Scan(ctx, src, size, extents, grainSize)
		if err != nil {
			return fmt.Errorf("vmdk: scan image: %w", err)
		}
		cid = cidFrom(m.Sum)
	}
	sectors := uint64(sectorsFor(size))
	numGTs := (sectors + grainSectors*gtEntries - 1) / (grainSectors * gtEntries)
	desc := descriptor(opts, "streamOptimized", cid, sectors)
	descSectors := uint64(sectorsFor(int64(len(desc))))
	if 1+descSectors > streamOverhead {
		return fmt.Errorf("vmdk: descriptor of %d bytes does not fit", len(desc))
	}
	hdr := header{
		Version: 3, Flags: flagNewlineTest | flagCompressed | flagMarkers,
		Capacity: sectors, GrainSize: grainSectors,
		DescriptorOffset: 1, DescriptorSize: descSectors,
		NumGTEsPerGT: gtEntries, GDOffset: gdAtEnd,
		Overhead: streamOverhead, CompressAlg: 1,
	}
	cw := newCountingWriter(w)
	cw.Write(hdr.marshal())
	cw.Write([]byte(desc))
	if err := cw.zeros(streamOverhead*sector - cw.off); err != nil {
		return fmt.Errorf("vmdk: write header: %w", err)
	}

	gd := make([]uint32, numGTs)
	gt := make([]uint32, gtEntries)
	curGT := int64(-1)
	flushGT := func() error {
		if curGT < 0 {
			return nil
		}
		if err := writeMarker(cw, gtSectors, markerGT); err != nil {
			return err
		}
		gd[curGT] = uint32(cw.off / sector)
		if err := binary.Write(cw, binary.LittleEndian, gt); err != nil {
			return err
		}
		clear(gt)
		curGT = -1
		return nil
	}
	emit := func(j *grainJob) error {
		if g := j.idx / gtEntries; g != curGT {
			if err := flushGT(); err != nil {
				return err
			}
			curGT = g
		}
		lba := uint64(j.idx) * grainSectors
		if cw.off/sector > int64(^uint32(0)) {
			return fmt.Errorf("vmdk: stream output passes 2 TiB, the limit of 32-bit grain table entries")
		}
		gt[j.idx%gtEntries] = uint32(cw.off / sector)
		var m [12]byte
		binary.LittleEndian.PutUint64(m[0:], lba)
		binary.LittleEndian.PutUint32(m[8:], uint32(j.out.Len()))
		cw.Write(m[:])
		if _, err := cw.Write(j.out.Bytes()); err != nil {
			return err
		}
		return cw.padSector()
	}
	if err := compressGrains(ctx, src, size, extents, opts, emit); err != nil {
		return err
	}
	if err := flushGT(); err != nil {
		return fmt.Errorf("vmdk: write grain table: %w", err)
	}

	gdSectors := uint64(sectorsFor(int64(numGTs) * 4))
	if err := writeMarker(cw, gdSectors, markerGD); err != nil {
		return fmt.Errorf("vmdk: write grain directory: %w", err)
	}
	hdr.GDOffset = uint64(cw.off / sector)
	binary.Write(cw, binary.LittleEndian, gd)
	cw.padSector()
	writeMarker(cw, 1, markerFooter)
	cw.Write(hdr.marshal())
	writeMarker(cw, 0, markerEOS)
	if err := cw.w.Flush(); err != nil {
		return fmt.Errorf("vmdk: write footer: %w", err)
	}
	return nil
}

// writeMarker writes a metadata marker sector announcing n sectors of
// metadata of type typ.
func writeMarker(cw *countingWriter, n uint64, typ uint32) error {
	var b [sector]byte
	binary.LittleEndian.PutUint64(b[0:], n)
	binary.LittleEndian.PutUint32(b[12:], typ)
	_, err := cw.Write(b[:])
	return err
}

// grainStep names zlibGrain's output in a memo.Store.
const grainStep = "vmdk-zlib-grain/" + deflate.Version

// zlibGrain appends grain as a zlib stream (RFC 1950, default-level
// header) to dst: deflate with 3-byte matches, as zlib compresses, which
// Go's encoders cannot (see package image/internal/deflate).
func zlibGrain(enc *deflate.Encoder, dst, grain []byte) []byte {
	dst = append(dst, 0x78, 0x9c)
	dst = enc.Encode(dst, grain, 0, true)
	return binary.BigEndian.AppendUint32(dst, adler32.Checksum(grain))
}

// memoGrain is zlibGrain through opts.Memo: a grain whose compressed
// form the Memo holds is copied from it.
func memoGrain(opts Options, enc *deflate.Encoder, dst, grain []byte) []byte {
	if opts.Memo == nil {
		return zlibGrain(enc, dst, grain)
	}
	key := memo.NewKey(grainStep, uint64(opts.Level), grain)
	out, hit := opts.Memo.Get(key, dst)
	if !hit {
		out = zlibGrain(enc, dst, grain)
		opts.Memo.Put(key, out[len(dst):])
	}
	return out
}

// compressGrains reads the non-zero grains of src, compresses them with a
// pool of workers and calls emit for each, in grain order.
func compressGrains(ctx context.Context, src io.ReaderAt, size int64, extents []sparse.Extent, opts Options, emit func(*grainJob) error) error {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *grainJob, workers)
	order := make(chan *grainJob, 4*workers)
	bufs := sync.Pool{New: func() any { return make([]byte, grainSize) }}

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stored *zlib.Writer
			enc := deflate.NewEncoder(opts.Level)
			var out []byte
			for j := range work {
				// A grain of random-looking bytes (an already compressed
				// initramfs) cannot shrink: store it (still valid zlib)
				// instead of spending the compressor's time on it.
				if deflate.Incompressible(j.in) {
					if stored == nil {
						stored, j.err = zlib.NewWriterLevel(&j.out, zlib.NoCompression)
					} else {
						stored.Reset(&j.out)
					}
					if j.err == nil {
						if _, j.err = stored.Write(j.in); j.err == nil {
							j.err = stored.Close()
						}
					}
				} else {
					out = memoGrain(opts, enc, out[:0], j.in)
					j.out.Write(out)
				}
				bufs.Put(j.in)
				j.in = nil
				close(j.done)
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(work)
		readErr <- blocks.Walk(ctx, src, size, extents, grainSize, func(idx int64, data []byte) error {
			in := bufs.Get().([]byte)
			copy(in, data)
			j := &grainJob{idx: idx, in: in, done: make(chan struct{})}
			select {
			case order <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case work <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
	}()
	var err error
	for j := range order {
		if err != nil {
			continue // drain
		}
		select {
		case <-j.done:
		case <-ctx.Done():
			err = ctx.Err()
			cancel()
			continue
		}
		if j.err != nil {
			err = fmt.Errorf("vmdk: compress grain %d: %w", j.idx, j.err)
		} else if e := emit(j); e != nil {
			err = fmt.Errorf("vmdk: write grain %d: %w", j.idx, e)
		}
		if err != nil {
			cancel()
		}
	}
	wg.Wait()
	if rerr := <-readErr; err == nil && rerr != nil {
		err = fmt.Errorf("vmdk: read image: %w", rerr)
	}
	return err
}
