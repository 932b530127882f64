// Package deflate is a DEFLATE (RFC 1951) encoder that matches strings of
// 3 bytes and more, with zlib's lazy matching (deflate_slow) and its
// parameters per level, for the encoders of package image.
//
// Go's encoders (compress/flate and klauspost/compress/flate, every level)
// look only for matches of 4 bytes or more. On our boot disks most of the
// data is an LZ4-compressed kernel whose literal runs repeat mostly in
// 3-byte strings, so they come out about 8% larger than C zlib's output;
// this encoder finds what zlib finds and its output is within a fraction
// of a percent of zlib's. Blocks end every 16383 symbols, as zlib's do,
// each coded with whichever of a dynamic Huffman code, the fixed code or
// stored bytes is smallest.
//
// The encoder works on one buffer at a time (a 64 KiB VMDK grain, or a
// chunk of a gzip stream with the previous 32 KiB as its dictionary), so
// chunks can be compressed in parallel and their outputs concatenated:
// Encode ends a non-final chunk with an empty stored block, byte-aligned.
// The output depends only on the input and the level.
package deflate

import (
	"encoding/binary"
	"math/bits"
)

const (
	minMatch   = 3
	maxMatch   = 258
	windowSize = 1 << 15
	hashBits   = 17
	hashSize   = 1 << hashBits
	// tooFar is zlib's TOO_FAR: a 3-byte match farther than this costs
	// more than its literals.
	tooFar = 4096
	// blockTokens is zlib's block length: lit_bufsize - 1 symbols.
	blockTokens = 1<<14 - 1
)

// params are zlib's configuration_table entries for deflate_slow.
type params struct{ good, lazy, nice, chain int }

var levels = [10]params{
	1: {4, 4, 8, 4},
	2: {4, 5, 16, 8},
	3: {4, 6, 32, 32},
	4: {4, 4, 16, 16},
	5: {8, 16, 32, 32},
	6: {8, 16, 128, 128},
	7: {8, 32, 128, 256},
	8: {32, 128, 258, 1024},
	9: {32, 258, 258, 4096},
}

// token is a literal byte (below 1<<31) or a match: 1<<31 | (length-3)<<16
// | (distance-1).
type token uint32

const matchFlag = 1 << 31

// Encoder holds the state of one compression; reuse it for the next.
// An Encoder is not safe for concurrent use.
type Encoder struct {
	p          params
	head       [hashSize]int32 // base+position+1 of the newest string per hash
	prev       []int32         // base+position+1 of the previous string with the same hash
	base       int             // positions of this call are stored above base: older entries are stale
	tokens     []token
	blockStart int // input offset of the current block
	blockBytes int // input bytes the current block's tokens cover
	bw         bitWriter
	greedy     bool
}

// NewEncoder returns an Encoder for zlib level (1 to 9): levels 1 to 3
// match greedily (zlib's deflate_fast), 4 to 9 lazily (deflate_slow).
func NewEncoder(level int) *Encoder {
	level = max(1, min(level, 9))
	return &Encoder{p: levels[level], greedy: level <= 3}
}

// Encode appends the raw DEFLATE encoding of data[start:] to dst and
// returns it; data[:start] is the dictionary (only its last 32 KiB can be
// referred to). With final the last block is marked final; otherwise the
// output ends with an empty stored block, byte-aligned, and more blocks
// can follow.
func (e *Encoder) Encode(dst []byte, data []byte, start int, final bool) []byte {
	e.bw = bitWriter{out: dst}
	e.tokens = e.tokens[:0]
	e.blockStart, e.blockBytes = start, 0
	n := len(data)
	if e.base+n+1 > 1<<30 {
		clear(e.head[:])
		e.base = 0
	}
	base := e.base
	e.base += n
	if cap(e.prev) < n {
		e.prev = make([]int32, n)
	}
	prev := e.prev[:n]
	head := &e.head
	insert := func(pos int) int32 {
		h := (uint32(data[pos]) | uint32(data[pos+1])<<8 | uint32(data[pos+2])<<16) * 506832829 >> (32 - hashBits)
		old := head[h]
		prev[pos] = old
		head[h] = int32(base + pos + 1)
		return old
	}
	for p := max(0, start-windowSize); p < start && p+minMatch <= n; p++ {
		insert(p)
	}

	if e.greedy {
		e.fast(data, start, base, insert)
	} else {
		e.slow(data, start, base, insert)
	}
	if len(e.tokens) > 0 || final {
		e.flushBlock(data, final)
	}
	if !final { // sync flush: an empty stored block
		e.bw.writeBits(0, 3)
		e.bw.align()
		e.bw.out = append(e.bw.out, 0, 0, 0xff, 0xff)
	}
	e.bw.align()
	return e.bw.out
}

// fast is zlib's deflate_fast: take the longest match at each position,
// inserting the strings inside it only when it is short.
func (e *Encoder) fast(data []byte, start, base int, insert func(int) int32) {
	n := len(data)
	for s := start; s < n; {
		cand := -1
		if s+minMatch <= n {
			cand = int(insert(s)) - base - 1
		}
		l, m := 0, 0
		if cand >= 0 && s-cand <= windowSize {
			l, m = e.longest(data, s, cand, minMatch-1, base)
			if l == minMatch && s-m > tooFar {
				l = 0
			}
		}
		if l >= minMatch {
			e.add(matchFlag|token(l-minMatch)<<16|token(s-m-1), l)
			if l <= e.p.lazy {
				for q := s + 1; q < s+l; q++ {
					if q+minMatch <= n {
						insert(q)
					}
				}
			}
			s += l
		} else {
			e.add(token(data[s]), 1)
			s++
		}
		if len(e.tokens) >= blockTokens {
			e.flushBlock(data, false)
		}
	}
}

// slow is zlib's deflate_slow: lazy matching, a match is taken only when
// the next position has no longer one.
func (e *Encoder) slow(data []byte, start, base int, insert func(int) int32) {
	n := len(data)
	s := start
	matchLen, matchStart := minMatch-1, 0
	matchAvail := false
	for s < n {
		cand := -1
		if s+minMatch <= n {
			cand = int(insert(s)) - base - 1
		}
		prevLen, prevMatch := matchLen, matchStart
		matchLen = minMatch - 1
		if cand >= 0 && prevLen < e.p.lazy && s-cand <= windowSize {
			matchLen, matchStart = e.longest(data, s, cand, prevLen, base)
			if matchLen == minMatch && s-matchStart > tooFar {
				matchLen = minMatch - 1
			}
		}
		switch {
		case prevLen >= minMatch && matchLen <= prevLen:
			e.add(matchFlag|token(prevLen-minMatch)<<16|token(s-1-prevMatch-1), prevLen)
			end := s - 1 + prevLen
			for q := s + 1; q < end; q++ {
				if q+minMatch <= n {
					insert(q)
				}
			}
			s = end
			matchAvail = false
			matchLen = minMatch - 1
		case matchAvail:
			e.add(token(data[s-1]), 1)
			s++
		default:
			matchAvail = true
			s++
		}
		if len(e.tokens) >= blockTokens {
			e.flushBlock(data, false)
		}
	}
	if matchAvail {
		e.add(token(data[s-1]), 1)
	}
}

func (e *Encoder) add(t token, n int) {
	e.tokens = append(e.tokens, t)
	e.blockBytes += n
}

// longest is zlib's longest_match: the longest match for the string at s
// along the hash chain from cur, better than prevLen.
func (e *Encoder) longest(data []byte, s, cur, prevLen, base int) (int, int) {
	chain := e.p.chain
	if prevLen >= e.p.good {
		chain >>= 2
	}
	maxLen := min(maxMatch, len(data)-s)
	nice := min(e.p.nice, maxLen)
	bestLen, bestStart := prevLen, 0
	limit := s - windowSize
	for {
		if bestLen < maxLen && data[cur+bestLen] == data[s+bestLen] && data[cur] == data[s] && data[cur+1] == data[s+1] {
			if l := matchLen(data[cur:cur+maxLen], data[s:s+maxLen]); l > bestLen {
				bestLen, bestStart = l, cur
				if l >= nice {
					break
				}
			}
		}
		next := int(e.prev[cur]) - base - 1
		chain--
		if next < 0 || next < limit || chain == 0 {
			break
		}
		cur = next
	}
	return bestLen, bestStart
}

// matchLen returns the length of the common prefix of a and b (len(a) <=
// len(b)).
func matchLen(a, b []byte) int {
	n := 0
	for len(a)-n >= 8 {
		if x := binary.LittleEndian.Uint64(a[n:]) ^ binary.LittleEndian.Uint64(b[n:]); x != 0 {
			return n + bits.TrailingZeros64(x)/8
		}
		n += 8
	}
	for n < len(a) && a[n] == b[n] {
		n++
	}
	return n
}

// lengthCode returns the length symbol (257..285), its extra bits and
// their value for a match of length l (3..258).
func lengthCode(l int) (code, nExtra, extra int) {
	v := l - minMatch
	switch {
	case l == maxMatch:
		return 285, 0, 0
	case v < 8:
		return 257 + v, 0, 0
	}
	k := bits.Len(uint(v)) - 1
	return 257 + 4*(k-1) + (v>>(k-2))&3, k - 2, v & (1<<(k-2) - 1)
}

// distCode returns the distance symbol (0..29), its extra bits and their
// value for a distance d (1..32768).
func distCode(d int) (code, nExtra, extra int) {
	v := d - 1
	if v < 4 {
		return v, 0, 0
	}
	k := bits.Len(uint(v)) - 1
	return 2*k + (v>>(k-1))&1, k - 1, v & (1<<(k-1) - 1)
}

// bitWriter writes bits LSB first, as DEFLATE packs them.
type bitWriter struct {
	out   []byte
	acc   uint64
	nbits uint
}

// writeBits writes the n (at most 32) low bits of v.
func (w *bitWriter) writeBits(v uint64, n uint) {
	w.acc |= v << w.nbits
	w.nbits += n
	if w.nbits >= 32 {
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(w.acc))
		w.acc >>= 32
		w.nbits -= 32
	}
}

// align pads with zero bits to the next byte and writes out every bit.
func (w *bitWriter) align() {
	for w.nbits > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nbits -= min(w.nbits, 8)
	}
	w.acc = 0
}
