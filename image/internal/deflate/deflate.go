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
// that changes them (TestGolden fails then) and with every fix of a wrong
// output, which TestGolden's inputs may not show: package image/memo keeps
// encoded grains and chunks under keys that include it, so that outputs
// of an older encoder are not taken for this one's. (deflate-3: a fresh
// Encoder took an empty table entry for a 3-byte match before the input.)
const Version = "deflate-3"

const (
	minMatch   = 3
	maxMatch   = 258
	windowSize = 1 << 15
	// hash3Bits and hash4Bits size the two tables of the match finder:
	// 3-byte matches are taken within tooFar bytes only, so 4096 entries
	// hold most of those, in 16 KiB that stay in the L1 cache (32768
	// entries gave 0.1% less output for 5% more time on the kernel);
	// 4-byte strings go back a whole window.
	hash3Bits = 12
	hash4Bits = 17
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
// except that chain counts 4-byte strings (see Encoder). zlib's level 6
// tries 128 candidates and stops at 128 bytes. Level 6 here (gzip's and
// the GCE archive's) tries 32 and stops at 64; level 5 (the
// streamOptimized VMDK's) tries 20, stops at 32 and takes a match of 12
// bytes without looking for a longer one at the next position. On the
// grains of the hello boot disk they give 18.02 and 18.05 MB, where
// klauspost/compress level 7 (the encoder before this one) gives 19.26 MB,
// in about 1.02 and 0.95 times its time on one core (BenchmarkPrevious;
// docs/benchmarks.md has make bench's figures).
type params struct{ good, lazy, nice, chain int }

var levels = [10]params{
	1: {4, 4, 8, 4},
	2: {4, 5, 16, 8},
	3: {4, 6, 32, 32},
	4: {4, 4, 16, 16},
	5: {4, 12, 32, 20},
	6: {4, 16, 64, 32},
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
// 3-byte match (the cheapest to code) comes from one lookup. The chains
// are a ring of one window's positions (a candidate further back cannot
// be used), and an Encode call stores its positions more than a window
// above the previous call's (and the first above windowSize), so that
// older and empty entries are out of reach without clearing the tables.
//
// Where no match is pending, which is most positions of the LZ4 kernel,
// the loop is literals: both candidates are checked without a branch
// each, and a lone 3-byte match is coded there too.
type Encoder struct {
	// StoreIncompressible makes Encode store each 64 KiB of the input whose
	// byte entropy is within 0.5% of 8 bits per byte (random or already
	// compressed data, which deflate cannot shrink) instead of searching it
	// for matches.
	StoreIncompressible bool

	p      params
	greedy bool
	head3  [1 << hash3Bits]int32 // base+position+1 of the newest 3-byte string per hash
	head4  [1 << hash4Bits]int32 // the same for 4-byte strings
	prev   [windowSize]int32     // base+position+1 of the previous 4-byte string with the same hash, by position mod windowSize
	base   int                   // positions of this call are stored above base: older entries are stale
	pad    []byte                // a copy of the input for literals (see Encode)
	tokens [blockTokens + 1]token
	nt     int // tokens pending
	// segs are the histograms of the pending tokens, splitTokens
	// each, counted as they are chosen (raw without one byte per
	// token: flush adds those).
	segs       [(blockTokens + splitTokens) / splitTokens]hist
	blockStart int // input offset of the current block
	bw         bitWriter
	h          huff
}

// NewEncoder returns an Encoder for zlib level (1 to 9): levels 1 to 3
// match greedily (zlib's deflate_fast), 4 to 9 lazily (deflate_slow).
func NewEncoder(level int) *Encoder {
	level = max(1, min(level, 9))
	// Positions start a window above 0, where an empty entry (0) is out
	// of reach as an older one is (see Encode).
	return &Encoder{p: levels[level], greedy: level <= 3, base: windowSize + 1}
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
		e.prev[p&(windowSize-1)] = c4
		return c3, c4
	}
	h3 := hash3(uint32(data[p]) | uint32(data[p+1])<<8 | uint32(data[p+2])<<16)
	c3, e.head3[h3] = e.head3[h3], pos
	return c3, 0
}

// literal makes b token nt, and counts it.
func (e *Encoder) literal(nt int, b byte) {
	e.tokens[nt&blockTokens] = token(b)
	e.segs[uint(nt)/splitTokens%uint(len(e.segs))].lit[b]++
}

// match makes a match of length bytes at distance dist token nt, and
// counts it.
func (e *Encoder) match(nt, length, dist int) {
	l, d := uint8(length-minMatch), uint32(dist-1)
	e.tokens[nt&blockTokens] = matchFlag | token(l)<<16 | token(d)
	h := &e.segs[uint(nt)/splitTokens%uint(len(e.segs))]
	h.lit[257+int(lenSym[l])]++
	h.dist[distCode(d)]++
	h.raw += length - 1
}

// insertRange enters the strings at from to to-1 in both tables, as
// insert does (those that have 3 bytes).
func (e *Encoder) insertRange(data []byte, from, to, base int) {
	n := len(data)
	q := from
	for end4 := min(to, n-3); q < end4; q++ {
		x := load32(data, q)
		pos := int32(base + q + 1)
		h3, h4 := hash3(x), hash4(x)
		e.head3[h3] = pos
		e.prev[q&(windowSize-1)] = e.head4[h4]
		e.head4[h4] = pos
	}
	for ; q < to && q+minMatch <= n; q++ {
		e.insert(data, q, base)
	}
}

// Encode appends the raw DEFLATE encoding of data[start:] to dst and
// returns it; data[:start] is the dictionary (only its last 32 KiB can be
// referred to). With final the last block is marked final; otherwise the
// output ends with an empty stored block, byte-aligned, and more blocks
// can follow. data must be shorter than 1 GiB (positions are int32: the
// callers give 64 KiB grains and 1 MiB chunks).
func (e *Encoder) Encode(dst []byte, data []byte, start int, final bool) []byte {
	e.bw = bitWriter{out: dst}
	e.nt = 0
	e.blockStart = start
	n := len(data)
	if n >= 1<<30 {
		panic("deflate: Encode of 1 GiB or more") // a caller's bug: see above
	}
	if e.base+n+windowSize+1 > 1<<30 {
		clear(e.head3[:])
		clear(e.head4[:])
		e.base = windowSize + 1 // as NewEncoder starts
	}
	// The next call's positions start more than a window above this
	// one's: to it, every entry of this call is out of reach (literals
	// relies on that, see Encoder).
	base := e.base
	e.base += n + windowSize + 1
	// literals reads its candidates' bytes from a copy whose size is a
	// power of two, at their position masked: stale entries read
	// something, without a branch.
	size := 1 << bits.Len(uint(max(n, 4)-1))
	if cap(e.pad) < size+8 {
		e.pad = make([]byte, size+8)
	}
	e.pad = e.pad[:size+8]
	copy(e.pad, data)
	e.insertRange(data, max(0, start-windowSize), start, base)

	for s := start; s < n; {
		end := n
		if e.StoreIncompressible {
			end = min(n, s+segment)
			if Incompressible(data[s:end]) {
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
	nt := e.nt
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
			e.match(nt, l, s-m)
			q := s + 1
			if l > maxInsert {
				// Only the last string: a run (of zeros, say) then goes
				// on at distance 1, not at the match's length.
				q = s + l - 1
			}
			e.insertRange(data, q, s+l, base)
			s += l
		} else {
			e.literal(nt, data[s])
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
	nt := e.nt
	head3, head4, prev := &e.head3, &e.head4, &e.prev
	lazy := e.p.lazy
	matchLen, matchStart := minMatch-1, 0
	matchAvail := false
	for s < end {
		prevLen, prevMatch := matchLen, matchStart
		matchLen = minMatch - 1
		var c3, c4 int32
		search := false
		if prevLen < minMatch && s+4 <= n {
			// No match pending: the common case, a literal, in a loop
			// of its own.
			var got int
			var i3, i4 int
			s, nt, i3, i4, got = e.literals(data, s, min(end, n-3), base, nt, matchAvail)
			matchAvail = false
			switch got {
			case none:
				if nt >= blockTokens {
					e.nt = nt
					e.flush(data, false)
					nt = 0
				}
				continue
			case candidates:
				c3, c4 = int32(i3+base+1), int32(i4+base+1)
			case pending3:
				prevLen, prevMatch, matchAvail = minMatch, i3, true
				c4 = int32(i4 + base + 1)
			}
			search = true
		}
		lo := int32(base + max(0, s-windowSize) + 1)
		switch {
		case search:
		case s+4 <= n: // insert, inline
			pos := int32(base + s + 1)
			x := load32(data, s)
			h3, h4 := hash3(x), hash4(x)
			c3, head3[h3] = head3[h3], pos
			c4, head4[h4] = head4[h4], pos
			prev[s&(windowSize-1)] = c4
			// Most 3-byte candidates are other strings with the same
			// hash: look at their bytes here rather than call longest,
			// which takes the 3-byte candidate only below minMatch.
			search = c4 >= lo && load32(data, int(c4)-base-1) == x ||
				c3 >= lo && prevLen < minMatch && (load32(data, int(c3)-base-1)^x)&0xffffff == 0
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
			e.match(nt, prevLen, s-1-prevMatch)
			e.insertRange(data, s+1, mend, base)
			s = mend
			matchAvail = false
			matchLen = minMatch - 1
		case matchAvail:
			e.literal(nt, data[s-1])
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
		e.literal(nt, data[s-1])
		nt++
	}
	e.nt = nt
	return s
}

// What literals stopped at.
const (
	none       = iota // limit, or the tokens are full
	candidates        // the string at s has candidates that match
	pending3          // a 3-byte match at s-1 waits: s has a 4-byte candidate
)

// literals is slow's loop while no match is pending (avail: the byte
// before s waits to be coded): it enters each string from s on in the
// tables and codes it as a literal, until the string at s has a
// candidate that matches (3 bytes from head3, 4 from head4: it returns
// their positions and candidates, s entered), s reaches limit (at most
// len(data)-3: the strings it looks at have 4 bytes) or the tokens are
// full (none). The kernel's usual match,
// 3 bytes from head3 with no 4-byte candidate at s or s+1, it codes
// itself; with a 4-byte candidate at s+1 it returns pending3: the 3-byte
// match's position and that candidate, s+1 entered.
func (e *Encoder) literals(data []byte, s, limit, base, nt int, avail bool) (int, int, int, int, int) {
	pad := e.pad
	mask := len(pad) - 9
	h := &e.segs[uint(nt)/splitTokens%uint(len(e.segs))]
	if avail {
		b := data[s-1]
		e.tokens[nt&blockTokens] = token(b)
		h.lit[b]++
		if nt++; nt&(splitTokens-1) == 0 || nt >= blockTokens {
			if nt >= blockTokens {
				return s, nt, 0, 0, none
			}
			h = &e.segs[uint(nt)/splitTokens%uint(len(e.segs))]
		}
	}
	for ; s < limit; s++ {
		x := load32(data, s)
		pos := int32(base + s + 1)
		h3, h4 := hash3(x), hash4(x)
		c3 := e.head3[h3]
		e.head3[h3] = pos
		c4 := e.head4[h4]
		e.head4[h4] = pos
		e.prev[s&(windowSize-1)] = c4
		// Both candidates' bytes are loaded (a stale one's from
		// somewhere in pad) and compared without a branch each.
		i3, i4 := int(c3)-base-1, int(c4)-base-1
		r3 := load32(pad, i3&mask) ^ x
		m3 := r3 << 8
		m4 := load32(pad, i4&mask) ^ x
		// A candidate from an earlier call is more than a window away.
		if uint(s-i3-1) >= tooFar {
			m3 = 1
		}
		if uint(s-i4-1) >= windowSize {
			m4 = 1
		}
		if m3 == 0 || m4 == 0 {
			if m4 == 0 || r3 < 1<<24 || s+2 >= limit {
				return s, nt, i3, i4, candidates
			}
			// Exactly 3 bytes, and no 4-byte candidate here. Lazy
			// matching looks at s+1: only a 4-byte match there can
			// take the place of this one.
			// s+1 and s+2 are entered here as insert does (a call costs
			// this loop 5% on the kernel).
			s1 := s + 1
			x1 := load32(data, s1)
			pos1 := int32(base + s1 + 1)
			g3, g4 := hash3(x1), hash4(x1)
			e.head3[g3] = pos1
			d4 := e.head4[g4]
			e.head4[g4] = pos1
			e.prev[s1&(windowSize-1)] = d4
			if k4 := int(d4) - base - 1; uint(s1-k4-1) < windowSize && load32(pad, k4&mask) == x1 {
				return s1, nt, i3, k4, pending3
			}
			// The token and its counts, as match makes them.
			d := uint32(s-i3-1) & (windowSize - 1)
			e.tokens[nt&blockTokens] = matchFlag | token(d) // length 3
			h.lit[257]++
			h.dist[distCode(d)]++
			h.raw += minMatch - 1
			// The match's last string.
			s2 := s + 2
			x2 := load32(data, s2)
			pos2 := int32(base + s2 + 1)
			g3, g4 = hash3(x2), hash4(x2)
			e.head3[g3] = pos2
			e.prev[s2&(windowSize-1)] = e.head4[g4]
			e.head4[g4] = pos2
			s = s2
		} else { // as literal does, with h at hand
			b := byte(x)
			e.tokens[nt&blockTokens] = token(b)
			h.lit[b]++
		}
		if nt++; nt&(splitTokens-1) == 0 || nt >= blockTokens {
			if nt >= blockTokens {
				return s + 1, nt, 0, 0, none
			}
			h = &e.segs[uint(nt)/splitTokens%uint(len(e.segs))]
		}
	}
	return s, nt, 0, 0, none
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
	if maxLen < 4 { // the last 3 bytes: a 3-byte match at most
		if bestLen < minMatch && c3 >= lo && data[c3] == data[s] && data[c3+1] == data[s+1] && data[c3+2] == data[s+2] {
			bestLen, bestStart = minMatch, c3
		}
		return bestLen, bestStart
	}
	// Every position read below is before s+maxLen <= len(data): the
	// candidates are before s.
	first := load32(data, s)
	if bestLen < minMatch && c3 >= lo && (load32(data, c3)^first)&0xffffff == 0 {
		bestLen, bestStart = minMatch+matchLen(data, c3+minMatch, s+minMatch, maxLen-minMatch), c3
	}
	nice := min(e.p.nice, maxLen)
	if c4 < lo || bestLen >= nice {
		return bestLen, bestStart
	}
	chain := e.p.chain
	if prevLen >= e.p.good {
		chain >>= 2
	}
	// The chain goes on to candidates after s-windowSize only: prev is a
	// ring, where s has taken that position's entry.
	limit := max(lo, s-windowSize+1) + base + 1 // as stored in prev
	end := load8(data, s+bestLen)
	cur := c4
	for {
		// The next candidate's load goes first: it is on the critical
		// path, and a mispredicted comparison does not cancel it.
		next := int(e.prev[cur&(windowSize-1)])
		if load8(data, cur+bestLen) == end && load32(data, cur) == first {
			if l := 4 + matchLen(data, cur+4, s+4, maxLen-4); l > bestLen {
				bestLen, bestStart = l, cur
				if l >= nice {
					break
				}
				end = load8(data, s+bestLen)
			}
		}
		if chain--; next < limit || chain == 0 {
			break
		}
		cur = next - base - 1
	}
	return bestLen, bestStart
}

// matchLen returns the length of the common prefix of data[a:a+max] and
// data[b:b+max] (a < b, b+max <= len(data)).
func matchLen(data []byte, a, b, max int) int {
	n := 0
	for max-n >= 8 {
		if x := load64(data, a+n) ^ load64(data, b+n); x != 0 {
			return n + bits.TrailingZeros64(x)/8
		}
		n += 8
	}
	for n < max && data[a+n] == data[b+n] {
		n++
	}
	return n
}

// Incompressible reports whether b's byte entropy is so close to 8 bits
// per byte that deflate cannot shrink it by even 0.5% (random or already
// compressed data); always false below 4 KiB.
func Incompressible(b []byte) bool {
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
