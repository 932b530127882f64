package deb

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"runtime"

	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Parallel xz decoding.
//
// github.com/ulikunitz/xz decodes about 15-25 MB/s on one core, which
// makes unpacking a 100 MB kernel package take seconds. dpkg-deb
// compresses with liblzma's multi-threaded encoder, which cuts the stream
// into independent blocks (24 MiB each for the kernel package) and writes
// each block's compressed and uncompressed size into its header. Such
// blocks can be decoded concurrently: this file reads the block framing
// of the xz format (https://tukaani.org/xz/xz-file-format.txt) by hand,
// hands each block's LZMA2 data to ulikunitz's LZMA2 decoder on its own
// goroutine, and returns the output in order. Streams whose first block
// header lacks the sizes (single-threaded xz) go to ulikunitz's stream
// reader unchanged.

// Limits that keep hostile input from exhausting memory.
const (
	maxXZBlock   = 256 << 20 // compressed or uncompressed bytes in one block
	xzHeaderSize = 12
)

var (
	xzMagic   = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	crc64Tab  = crc64.MakeTable(crc64.ECMA)
	errXZData = errors.New("corrupt xz data")
	// errNotParallel marks valid block headers this decoder does not take.
	errNotParallel = errors.New("xz block without sizes or with filters other than LZMA2")
)

// newXZReader returns the decompressed xz stream r, decoding blocks in
// parallel when their headers allow it. The returned closer stops the
// background decoding.
func newXZReader(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if parallelXZ(br) {
		return startXZBlocks(br), nil
	}
	z, err := xz.NewReader(br)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(z), nil
}

// parallelXZ peeks at the stream and first block headers and reports
// whether this decoder takes the stream: always, unless the first block
// header is complete and lacks the sizes or has other filters than LZMA2
// (single-threaded xz output), which the xz package decodes. A short or
// damaged stream stays here too, because this decoder reports truncation
// reliably.
func parallelXZ(br *bufio.Reader) bool {
	h, err := br.Peek(xzHeaderSize + 1)
	if err != nil || h[xzHeaderSize] == 0 {
		return true
	}
	b, err := br.Peek(xzHeaderSize + (int(h[xzHeaderSize])+1)*4)
	if err != nil {
		return true
	}
	_, err = parseBlockHeader(b[xzHeaderSize:])
	return !errors.Is(err, errNotParallel)
}

// blockHeader is what we need from an xz block header.
type blockHeader struct {
	compressed, uncompressed int64
	dictCap                  int64
	size                     int // header length in bytes
}

// parseBlockHeader parses a complete block header (b starts with the
// header-size byte and holds at least the whole header).
func parseBlockHeader(b []byte) (blockHeader, error) {
	var bh blockHeader
	if len(b) < 1 || b[0] == 0 {
		return bh, fmt.Errorf("%w: not a block header", errXZData)
	}
	bh.size = (int(b[0]) + 1) * 4
	if len(b) < bh.size {
		return bh, fmt.Errorf("%w: block header cut short", errXZData)
	}
	h := b[:bh.size]
	if crc32.ChecksumIEEE(h[:bh.size-4]) != binary.LittleEndian.Uint32(h[bh.size-4:]) {
		return bh, fmt.Errorf("%w: block header checksum mismatch", errXZData)
	}
	flags := h[1]
	if flags&0x3c != 0 {
		return bh, fmt.Errorf("%w: reserved block flags set", errXZData)
	}
	if flags&0x40 == 0 || flags&0x80 == 0 || flags&0x03 != 0 {
		return bh, errNotParallel
	}
	p := h[2 : bh.size-4]
	var ok bool
	var v uint64
	if v, p, ok = uvarint(p); !ok || v == 0 || v > maxXZBlock {
		return bh, fmt.Errorf("%w: bad compressed size", errXZData)
	}
	bh.compressed = int64(v)
	if v, p, ok = uvarint(p); !ok || v > maxXZBlock {
		return bh, fmt.Errorf("%w: bad uncompressed size", errXZData)
	}
	bh.uncompressed = int64(v)
	id, p, ok := uvarint(p)
	if !ok || id != 0x21 {
		return bh, errNotParallel
	}
	psize, p, ok := uvarint(p)
	if !ok || psize != 1 || len(p) < 1 {
		return bh, fmt.Errorf("%w: bad LZMA2 filter properties", errXZData)
	}
	dc, err := lzma.DecodeDictCap(p[0])
	if err != nil {
		return bh, fmt.Errorf("%w: %v", errXZData, err)
	}
	// A block starts with a fresh dictionary, so it never needs more
	// than the block's own size.
	bh.dictCap = max(min(dc, bh.uncompressed), lzma.MinDictCap)
	for _, c := range p[1:] {
		if c != 0 {
			return bh, fmt.Errorf("%w: non-zero block header padding", errXZData)
		}
	}
	return bh, nil
}

// uvarint decodes an xz multibyte integer (at most 9 bytes).
func uvarint(b []byte) (uint64, []byte, bool) {
	var v uint64
	for i := 0; i < len(b) && i < 9; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if i > 0 && b[i] == 0 {
				return 0, nil, false // not minimally encoded
			}
			return v, b[i+1:], true
		}
	}
	return 0, nil, false
}

// blockResult is one decoded block, or the error that ends the stream.
type blockResult struct {
	data []byte
	err  error
}

// xzBlocks is the ordered output of the parallel decoder.
type xzBlocks struct {
	order    chan chan blockResult // one channel per block, in stream order
	done     chan struct{}         // closed by Close
	finished chan struct{}         // closed when the producer has returned
	cur      []byte
	err      error
}

func startXZBlocks(br *bufio.Reader) *xzBlocks {
	workers := max(runtime.GOMAXPROCS(0), 1)
	x := &xzBlocks{order: make(chan chan blockResult, workers), done: make(chan struct{}), finished: make(chan struct{})}
	go x.produce(br)
	return x
}

// Read returns decoded bytes in stream order.
func (x *xzBlocks) Read(p []byte) (int, error) {
	for len(x.cur) == 0 {
		if x.err != nil {
			return 0, x.err
		}
		ch, ok := <-x.order
		if !ok {
			x.err = io.EOF
			continue
		}
		res := <-ch
		if res.err != nil {
			x.err = res.err
			continue
		}
		x.cur = res.data
	}
	n := copy(p, x.cur)
	x.cur = x.cur[n:]
	return n, nil
}

// Close stops the producer and waits until it no longer reads the
// underlying stream (which the caller may go on to read); blocks being
// decoded finish in the background and are dropped.
func (x *xzBlocks) Close() error {
	select {
	case <-x.done:
	default:
		close(x.done)
	}
	<-x.finished
	return nil
}

// send queues a result channel, or reports false once Close was called.
func (x *xzBlocks) send(ch chan blockResult) bool {
	select {
	case x.order <- ch:
		return true
	case <-x.done:
		return false
	}
}

// fail queues a final error.
func (x *xzBlocks) fail(err error) {
	ch := make(chan blockResult, 1)
	ch <- blockResult{err: err}
	x.send(ch)
}

// produce reads the stream: header, blocks (each decoded on its own
// goroutine, at most GOMAXPROCS queued), index and footer.
func (x *xzBlocks) produce(br *bufio.Reader) {
	defer close(x.finished)
	defer close(x.order)
	var hdr [xzHeaderSize]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		x.fail(xzEOF(err))
		return
	}
	if !bytes.Equal(hdr[:6], xzMagic) || hdr[6] != 0 || hdr[7]&0xf0 != 0 ||
		crc32.ChecksumIEEE(hdr[6:8]) != binary.LittleEndian.Uint32(hdr[8:]) {
		x.fail(fmt.Errorf("%w: bad stream header", errXZData))
		return
	}
	check := hdr[7] & 0x0f
	checkSize := map[byte]int{0: 0, 1: 4, 4: 8, 10: 32}
	csize, known := checkSize[check]
	if !known {
		x.fail(fmt.Errorf("%w: unsupported check type %d", errXZData, check))
		return
	}
	type record struct{ unpadded, uncompressed int64 }
	var records []record
	for {
		first, err := br.Peek(1)
		if err != nil {
			x.fail(xzEOF(err))
			return
		}
		if first[0] == 0 {
			break // the index follows the last block
		}
		hb, err := br.Peek((int(first[0]) + 1) * 4)
		if err != nil {
			x.fail(xzEOF(err))
			return
		}
		bh, err := parseBlockHeader(hb)
		if err != nil {
			x.fail(err)
			return
		}
		br.Discard(bh.size)
		var comp bytes.Buffer
		comp.Grow(int(min(bh.compressed, 1<<20)))
		if _, err := io.CopyN(&comp, br, bh.compressed); err != nil {
			x.fail(xzEOF(err))
			return
		}
		unpadded := int64(bh.size) + bh.compressed
		tail := make([]byte, (4-unpadded%4)%4+int64(csize))
		if _, err := io.ReadFull(br, tail); err != nil {
			x.fail(xzEOF(err))
			return
		}
		records = append(records, record{unpadded + int64(csize), bh.uncompressed})
		ch := make(chan blockResult, 1)
		if !x.send(ch) {
			return
		}
		go func() { ch <- decodeBlock(bh, comp.Bytes(), check, tail[len(tail)-csize:]) }()
	}
	if err := readIndexAndFooter(br, hdr[6:8], func(i int, unpadded, uncompressed int64) bool {
		return i < len(records) && records[i] == record{unpadded, uncompressed}
	}, len(records)); err != nil {
		x.fail(err)
	}
}

// decodeBlock decompresses one block and verifies its check.
func decodeBlock(bh blockHeader, comp []byte, check byte, sum []byte) blockResult {
	r, err := lzma.Reader2Config{DictCap: int(bh.dictCap)}.NewReader2(bytes.NewReader(comp))
	if err != nil {
		return blockResult{err: fmt.Errorf("%w: %v", errXZData, err)}
	}
	var out bytes.Buffer
	out.Grow(int(min(bh.uncompressed, 1<<20)))
	n, err := io.Copy(&out, io.LimitReader(r, bh.uncompressed+1))
	if err != nil {
		return blockResult{err: fmt.Errorf("%w: %v", errXZData, err)}
	}
	if n != bh.uncompressed {
		return blockResult{err: fmt.Errorf("%w: block holds %d bytes, header says %d", errXZData, n, bh.uncompressed)}
	}
	var h hash.Hash
	switch check {
	case 1:
		h = crc32.NewIEEE()
	case 4:
		h = crc64.New(crc64Tab)
	case 10:
		h = sha256.New()
	}
	if h != nil {
		h.Write(out.Bytes())
		got := h.Sum(nil)
		if check != 10 {
			// CRC32 and CRC64 are stored little-endian.
			for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
				got[i], got[j] = got[j], got[i]
			}
		}
		if !bytes.Equal(got, sum) {
			return blockResult{err: fmt.Errorf("%w: block check mismatch", errXZData)}
		}
	}
	return blockResult{data: out.Bytes()}
}

// readIndexAndFooter reads the index, checking each record with match,
// and the stream footer, whose flags must equal the header's.
func readIndexAndFooter(br *bufio.Reader, flags []byte, match func(i int, unpadded, uncompressed int64) bool, blocks int) error {
	crc := crc32.NewIEEE()
	r := io.TeeReader(br, crc)
	readVarint := func() (int64, error) {
		var b [9]byte
		for i := range b {
			if _, err := io.ReadFull(r, b[i:i+1]); err != nil {
				return 0, xzEOF(err)
			}
			if b[i]&0x80 == 0 {
				v, _, ok := uvarint(b[:i+1])
				if !ok || v > 1<<62 {
					return 0, fmt.Errorf("%w: bad index integer", errXZData)
				}
				return int64(v), nil
			}
		}
		return 0, fmt.Errorf("%w: bad index integer", errXZData)
	}
	var ind [1]byte
	if _, err := io.ReadFull(r, ind[:]); err != nil {
		return xzEOF(err)
	}
	n, err := readVarint()
	if err != nil {
		return err
	}
	if n != int64(blocks) {
		return fmt.Errorf("%w: index lists %d blocks, stream has %d", errXZData, n, blocks)
	}
	size := int64(1) + varintLen(n)
	for i := 0; i < blocks; i++ {
		u, err := readVarint()
		if err != nil {
			return err
		}
		c, err := readVarint()
		if err != nil {
			return err
		}
		if !match(i, u, c) {
			return fmt.Errorf("%w: index record %d does not match its block", errXZData, i)
		}
		size += varintLen(u) + varintLen(c)
	}
	pad := make([]byte, (4-size%4)%4)
	if _, err := io.ReadFull(r, pad); err != nil {
		return xzEOF(err)
	}
	if !bytes.Equal(pad, make([]byte, len(pad))) {
		return fmt.Errorf("%w: non-zero index padding", errXZData)
	}
	size += int64(len(pad))
	want := crc.Sum32()
	var tail [4 + 12]byte
	if _, err := io.ReadFull(br, tail[:]); err != nil {
		return xzEOF(err)
	}
	le := binary.LittleEndian
	foot := tail[4:]
	if le.Uint32(tail[:4]) != want {
		return fmt.Errorf("%w: index checksum mismatch", errXZData)
	}
	if string(foot[10:12]) != "YZ" || !bytes.Equal(foot[8:10], flags) ||
		crc32.ChecksumIEEE(foot[4:10]) != le.Uint32(foot[:4]) ||
		(int64(le.Uint32(foot[4:8]))+1)*4 != size+4 {
		return fmt.Errorf("%w: bad stream footer", errXZData)
	}
	// Only stream padding (zero bytes) may follow; a second stream is
	// not expected in a .deb.
	rest, err := io.ReadAll(io.LimitReader(br, 1<<16))
	if err != nil {
		return xzEOF(err)
	}
	if len(rest)%4 != 0 || !bytes.Equal(rest, make([]byte, len(rest))) {
		return fmt.Errorf("%w: data after the xz stream", errXZData)
	}
	return nil
}

func varintLen(v int64) int64 {
	n := int64(1)
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// xzEOF turns an early end of the compressed stream into a truncation.
func xzEOF(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		if errors.Is(err, ErrTruncated) {
			return err
		}
		return truncErr{io.ErrUnexpectedEOF}
	}
	return err
}
