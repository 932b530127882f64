// Package deflate is a DEFLATE (RFC 1951) encoder that matches strings of
// 3 bytes and more, with zlib's lazy matching (deflate_slow) and about its
// parameters per level over libdeflate's kind of match finder (see
// Encoder), for the encoders of package image.
//
// Go's encoders (compress/flate and klauspost/compress/flate, every level)
// look only for matches of 4 bytes or more. On our boot disks most of the
// data is an LZ4-compressed kernel whose literal runs repeat mostly in
// 3-byte strings, so they come out about 8% larger than C zlib's output;
// this encoder finds 3-byte matches too. Blocks hold up to 32767 symbols (as
// gzip's do) and end earlier where the statistics change (see flush), each
// coded with whichever of a dynamic Huffman code, the fixed code or stored
// bytes is smallest: the output is a little smaller than zlib's.
//
// The encoder works on one buffer at a time (a 64 KiB VMDK grain, or a
// chunk of a gzip stream with the previous 32 KiB as its dictionary), so
// chunks can be compressed in parallel and their outputs concatenated:
// Encode ends a non-final chunk with an empty stored block, byte-aligned.
// The output depends only on the input, the level and StoreIncompressible.
package deflate

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// Version names the bytes Encode produces. Change it with every change
// that changes them (TestGolden fails then): package image/memo keeps
// encoded grains and chunks under keys that include it, so that outputs
// of an older encoder are not taken for this one's.
const Version = "deflate-1"

const (
	minMatch   = 3
	maxMatch   = 258
	windowSize = 1 << 15
	// hash3Bits and hash4Bits size the two tables of the match finder.
	hash3Bits = 15
	hash4Bits = 16
	// tooFar is zlib's TOO_FAR: a 3-byte match farther than this costs
	// more than its literals.
	tooFar = 4096
	// blockTokens is the most symbols a block holds: gzip's LIT_BUFSIZE - 1.
	blockTokens = 1<<15 - 1
	// segment is the unit StoreIncompressible looks at.
	segment = 64 << 10
)

// params are the entries of zlib's configuration_table for deflate_slow
// (good, lazy and nice lengths, and how many candidates a search tries),
// except that chain counts 4-byte strings (see Encoder). Level 6, the
// default, tries fewer of them than zlib's 128 and stops at 64 bytes
// instead of 128: measured on our boot disks (the hello, Node.js disks),
// that is a quarter fewer instructions than zlib's values for 0.3% more
// output, still 0.4-0.5% smaller than zlib -6's.
type params struct{ good, lazy, nice, chain int }

var levels = [10]params{
	1: {4, 4, 8, 4},
	2: {4, 5, 16, 8},
	3: {4, 6, 32, 32},
	4: {4, 4, 16, 16},
	5: {8, 16, 32, 32},
	6: {4, 16, 64, 24},
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
//
// The match finder is libdeflate's design rather than zlib's: hash chains
// link strings of 4 bytes, and a table without chains holds the newest
// string of each 3 bytes. zlib chains 3-byte strings, and on data with
// few long repeats (an LZ4-compressed kernel, machine code) it walks long
// chains of 3-byte candidates that end in a 3-byte match anyway; here the
// chain holds only candidates for 4 bytes and more, and the nearest
// 3-byte match (the cheapest to code) comes from one lookup.
type Encoder struct {
	// StoreIncompressible makes Encode store each 64 KiB of the input whose
	// byte entropy is within 0.5% of 8 bits per byte (random or already
	// compressed data, which deflate cannot shrink) instead of searching it
	// for matches.
	StoreIncompressible bool

	p          params
	greedy     bool
	head3      [1 << hash3Bits]int32 // base+position+1 of the newest 3-byte string per hash
	head4      [1 << hash4Bits]int32 // the same for 4-byte strings
	prev       []int32               // base+position+1 of the previous 4-byte string with the same hash
	base       int                   // positions of this call are stored above base: older entries are stale
	tokens     [blockTokens + 1]token
	nt         int // tokens pending
	blockStart int // input offset of the current block
	bw         bitWriter
	h          huff
}

// NewEncoder returns an Encoder for zlib level (1 to 9): levels 1 to 3
// match greedily (zlib's deflate_fast), 4 to 9 lazily (deflate_slow).
func NewEncoder(level int) *Encoder {
	level = max(1, min(level, 9))
	return &Encoder{p: levels[level], greedy: level <= 3}
}

// hash3 and hash4 hash the 3 and 4 low bytes of x (the bytes at a
// position, little-endian).
func hash3(x uint32) uint32 { return (x & 0xffffff) * 506832829 >> (32 - hash3Bits) }
func hash4(x uint32) uint32 { return x * 2654435761 >> (32 - hash4Bits) }

// insert enters the string at p (p+3 <= len(data)) in both tables and
// returns the previous newest of its 3 and 4 bytes (0 for none).
func (e *Encoder) insert(data []byte, p, base int) (c3, c4 int32) {
	pos := int32(base + p + 1)
	if p+4 <= len(data) {
		x := binary.LittleEndian.Uint32(data[p:])
		h3, h4 := hash3(x), hash4(x)
		c3, e.head3[h3] = e.head3[h3], pos
		c4, e.head4[h4] = e.head4[h4], pos
		e.prev[p] = c4
		return c3, c4
	}
	h3 := hash3(uint32(data[p]) | uint32(data[p+1])<<8 | uint32(data[p+2])<<16)
	c3, e.head3[h3] = e.head3[h3], pos
	return c3, 0
}

// Encode appends the raw DEFLATE encoding of data[start:] to dst and
// returns it; data[:start] is the dictionary (only its last 32 KiB can be
// referred to). With final the last block is marked final; otherwise the
// output ends with an empty stored block, byte-aligned, and more blocks
// can follow.
func (e *Encoder) Encode(dst []byte, data []byte, start int, final bool) []byte {
	e.bw = bitWriter{out: dst}
	e.nt = 0
	e.blockStart = start
	n := len(data)
	if e.base+n+1 > 1<<30 {
		clear(e.head3[:])
		clear(e.head4[:])
		e.base = 0
	}
	base := e.base
	e.base += n
	if cap(e.prev) < n {
		e.prev = make([]int32, n)
	}
	e.prev = e.prev[:n]
	for p := max(0, start-windowSize); p < start && p+minMatch <= n; p++ {
		e.insert(data, p, base)
	}

	for s := start; s < n; {
		end := n
		if e.StoreIncompressible {
			end = min(n, s+segment)
			if incompressible(data[s:end]) {
				e.flush(data, false)
				e.storeRaw(data[s:end], false)
				e.blockStart = end
				s = end
				continue
			}
		}
		if e.greedy {
			s = e.fast(data, s, end, base)
		} else {
			s = e.slow(data, s, end, base)
		}
	}
	if e.nt > 0 || final {
		e.flush(data, final)
	}
	if !final { // sync flush: an empty stored block
		e.bw.writeBits(0, 3)
		e.bw.align()
		e.bw.out = append(e.bw.out, 0, 0, 0xff, 0xff)
	}
	e.bw.align()
	return e.bw.out
}

// fast is zlib's deflate_fast from s to end: take the longest match at
// each position, inserting the strings inside it only when it is short
// (and the last one always).
// It returns where it stopped (a match may reach past end).
func (e *Encoder) fast(data []byte, s, end, base int) int {
	n := len(data)
	toks, nt := &e.tokens, e.nt
	maxInsert := e.p.lazy
	for s < end {
		l, m := 0, 0
		if s+minMatch <= n {
			c3, c4 := e.insert(data, s, base)
			if lo := int32(base + max(0, s-windowSize) + 1); c3 >= lo || c4 >= lo {
				l, m = e.longest(data, s, int(c3)-base-1, int(c4)-base-1, minMatch-1, base)
				if l == minMatch && s-m > tooFar {
					l = 0
				}
			}
		}
		if l >= minMatch {
			toks[nt] = matchFlag | token(l-minMatch)<<16 | token(s-m-1)
			q := s + 1
			if l > maxInsert {
				// Only the last string: a run (of zeros, say) then goes
				// on at distance 1, not at the match's length.
				q = s + l - 1
			}
			for ; q < s+l && q+minMatch <= n; q++ {
				e.insert(data, q, base)
			}
			s += l
		} else {
			toks[nt] = token(data[s])
			s++
		}
		if nt++; nt >= blockTokens {
			e.nt = nt
			e.flush(data, false)
			nt = 0
		}
	}
	e.nt = nt
	return s
}

// slow is zlib's deflate_slow from s to end: lazy matching, a match is
// taken only when the next position has no longer one. It returns where
// it stopped (a match may reach past end).
func (e *Encoder) slow(data []byte, s, end, base int) int {
	n := len(data)
	toks, nt := &e.tokens, e.nt
	head3, head4, prev := &e.head3, &e.head4, e.prev[:n]
	lazy := e.p.lazy
	matchLen, matchStart := minMatch-1, 0
	matchAvail := false
	for s < end {
		prevLen, prevMatch := matchLen, matchStart
		matchLen = minMatch - 1
		var c3, c4 int32
		lo := int32(base + max(0, s-windowSize) + 1)
		search := false
		switch {
		case s+4 <= n: // insert, inline
			pos := int32(base + s + 1)
			x := binary.LittleEndian.Uint32(data[s:])
			h3, h4 := hash3(x), hash4(x)
			c3, head3[h3] = head3[h3], pos
			c4, head4[h4] = head4[h4], pos
			prev[s] = c4
			// Most 3-byte candidates are other strings with the same
			// hash: look at their bytes here rather than call longest,
			// which takes the 3-byte candidate only below minMatch.
			search = c4 >= lo || c3 >= lo && prevLen < minMatch &&
				(binary.LittleEndian.Uint32(data[int(c3)-base-1:])^x)&0xffffff == 0
		case s+minMatch <= n:
			c3, c4 = e.insert(data, s, base)
			search = c3 >= lo || c4 >= lo
		}
		if search && prevLen < lazy {
			matchLen, matchStart = e.longest(data, s, int(c3)-base-1, int(c4)-base-1, prevLen, base)
			if matchLen == minMatch && s-matchStart > tooFar {
				matchLen = minMatch - 1
			}
		}
		switch {
		case prevLen >= minMatch && matchLen <= prevLen:
			mend := s - 1 + prevLen
			toks[nt] = matchFlag | token(prevLen-minMatch)<<16 | token(s-1-prevMatch-1)
			for q := s + 1; q < mend && q+minMatch <= n; q++ {
				e.insert(data, q, base)
			}
			s = mend
			matchAvail = false
			matchLen = minMatch - 1
		case matchAvail:
			toks[nt] = token(data[s-1])
			s++
		default:
			matchAvail = true
			s++
			continue
		}
		if nt++; nt >= blockTokens {
			e.nt = nt
			e.flush(data, false)
			nt = 0
		}
	}
	if matchAvail {
		toks[nt] = token(data[s-1])
		nt++
	}
	e.nt = nt
	return s
}

// longest is zlib's longest_match over two candidates lists: the longest
// match for the string at s better than prevLen, from the newest string
// with its 3 bytes (c3) and the chain of strings with its 4 bytes from c4
// (negative: none). It returns prevLen when there is none better.
func (e *Encoder) longest(data []byte, s, c3, c4, prevLen, base int) (int, int) {
	maxLen := min(maxMatch, len(data)-s)
	if prevLen >= maxLen {
		return prevLen, 0
	}
	bestLen, bestStart := prevLen, 0
	lo := max(0, s-windowSize)
	win := data[s : s+maxLen]
	if bestLen < minMatch && c3 >= lo && data[c3] == win[0] && data[c3+1] == win[1] && data[c3+2] == win[2] {
		bestLen, bestStart = minMatch+matchLen(data[c3+minMatch:c3+maxLen], win[minMatch:]), c3
	}
	nice := min(e.p.nice, maxLen)
	if c4 < lo || maxLen < 4 || bestLen >= nice {
		return bestLen, bestStart
	}
	chain := e.p.chain
	if prevLen >= e.p.good {
		chain >>= 2
	}
	limit := lo + base + 1 // as stored in prev
	prev := e.prev[:s]
	first := binary.LittleEndian.Uint32(win)
	end := win[bestLen]
	cur := c4
	for {
		if data[cur+bestLen] == end && binary.LittleEndian.Uint32(data[cur:]) == first {
			if l := 4 + matchLen(data[cur+4:cur+maxLen], win[4:]); l > bestLen {
				bestLen, bestStart = l, cur
				if l >= nice {
					break
				}
				end = win[bestLen]
			}
		}
		next := int(prev[cur])
		if chain--; next < limit || chain == 0 {
			break
		}
		cur = next - base - 1
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

// incompressible reports whether b's byte entropy is so close to 8 bits per
// byte that deflate cannot shrink it by even 0.5%.
func incompressible(b []byte) bool {
	if len(b) < 4096 {
		return false
	}
	var h [4][256]uint32
	i := 0
	for ; i+4 <= len(b); i += 4 {
		h[0][b[i]]++
		h[1][b[i+1]]++
		h[2][b[i+2]]++
		h[3][b[i+3]]++
	}
	for ; i < len(b); i++ {
		h[0][b[i]]++
	}
	// Entropy in bits: n*log2(n) - sum f*log2(f).
	n := float64(len(b))
	sum := 0.0
	for c := range 256 {
		if f := h[0][c] + h[1][c] + h[2][c] + h[3][c]; f > 0 {
			sum += float64(f) * math.Log2(float64(f))
		}
	}
	return n*math.Log2(n)-sum > n*8*199/200
}

// Length and distance symbols (RFC 1951, 3.2.5), by table.
var (
	lenSym    [256]uint8 // length-3 -> symbol-257
	lenBase   [29]uint16 // symbol-257 -> length-3 of its first length
	lenExtra  = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distSym   [512]uint8 // zlib's _dist_code: distance-1 below 256, else 256+(distance-1)>>7
	distBase  [30]uint16 // symbol -> distance-1 of its first distance
	distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

func init() {
	v := 0
	for s := range 28 {
		lenBase[s] = uint16(v)
		for range 1 << lenExtra[s] {
			lenSym[v] = uint8(s)
			v++
		}
	}
	lenSym[255], lenBase[28] = 28, 255 // length 258 has its own symbol
	d := 0
	for s := range 30 {
		distBase[s] = uint16(d)
		for range 1 << distExtra[s] {
			if d < 256 {
				distSym[d] = uint8(s)
			} else {
				distSym[256+d>>7] = uint8(s)
			}
			d++
		}
	}
}

func distCode(d1 uint32) uint32 {
	if d1 < 256 {
		return uint32(distSym[d1])
	}
	return uint32(distSym[256+d1>>7&0xff])
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

// flushBytes writes out the whole bytes of the bits pending.
func (w *bitWriter) flushBytes() {
	for w.nbits >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nbits -= 8
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
