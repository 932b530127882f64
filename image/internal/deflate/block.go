package deflate

import (
	"math"
	"math/bits"
	"slices"
)

const (
	numLit  = 286
	numDist = 30
	numCL   = 19
	eob     = 256
	// splitTokens is the granularity of block splitting: a block ends
	// at a multiple of it (or where the input ends).
	splitTokens = 4096
)

// clOrder is the order of the code-length code's lengths in a header.
var clOrder = [numCL]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// fixedLit and fixedDist are the lengths of the fixed Huffman code.
var fixedLit, fixedDist = func() (l [288]uint8, d [numDist]uint8) {
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	for i := range d {
		d[i] = 5
	}
	return l, d
}()

var fixedLitCodes, fixedDistCodes = codes(fixedLit[:])[:numLit], codes(fixedDist[:])

// hist is the symbol histogram of some tokens, and the input bytes they
// stand for.
type hist struct {
	lit  [numLit]int32
	dist [numDist]int32
	raw  int
}

func (h *hist) addHist(o *hist) {
	h.raw += o.raw
	for i := range h.lit {
		h.lit[i] += o.lit[i]
	}
	for i := range h.dist {
		h.dist[i] += o.dist[i]
	}
}

// estimate returns about how many bits the block with histogram h takes:
// its symbols at their entropy, their extra bits and a dynamic header
// (about 3.5 bits per code length, the least a header of mostly nonzero
// lengths costs), or the stored size if that is smaller.
func (h *hist) estimate() int {
	bits, used := 0.0, 0
	extra := 0
	est := func(freq []int32, extraBits []uint8, off int) {
		total := 0
		for _, f := range freq {
			total += int(f)
		}
		if total == 0 {
			return
		}
		lt := log2(total)
		for i, f := range freq {
			if f == 0 {
				continue
			}
			used++
			bits += float64(f) * (lt - log2(int(f)))
			if i >= off && extraBits != nil {
				extra += int(f) * int(extraBits[i-off])
			}
		}
	}
	lit := h.lit
	lit[eob]++
	est(lit[:], lenExtra[:], 257)
	est(h.dist[:], distExtra[:], 0)
	dyn := int(bits) + extra + 17 + 19*3/2 + used*7/2
	return min(dyn, h.raw*8+40)
}

// log2Table holds math.Log2 of the counts a histogram of a few thousand
// symbols mostly has, so that estimate, which runs for every 4096 tokens,
// computes no logarithm for them.
var log2Table = func() (t [1024]float64) {
	for i := 1; i < len(t); i++ {
		t[i] = math.Log2(float64(i))
	}
	return t
}()

// log2 is math.Log2(float64(n)) for n > 0.
func log2(n int) float64 {
	if uint(n) < uint(len(log2Table)) {
		return log2Table[n]
	}
	return math.Log2(float64(n))
}

// plan is the coding of one block, as chosen by plan.
type plan struct {
	litLen  [numLit]uint8
	distLen [numDist]uint8
	clLen   [numCL]uint8
	cl      [numLit + numDist]clSym // the code lengths, run-length coded: ncl of them
	ncl     int
	hlit    int
	hdist   int
	hclen   int
	// bits of each coding, the 3 header bits included; stored counts the
	// worst-case alignment.
	dyn, fixed, stored int
	raw                int // input bytes
}

// huff is the scratch space of buildLengths.
type huff struct {
	keys   [2 * numLit]uint64
	parent [2 * numLit]int16
	depth  [2 * numLit]uint8
	freq   [2 * numLit]int64
	f      [numLit]int64
}

// makePlan computes the three codings of a block with histogram h.
func (e *Encoder) makePlan(p *plan, h *hist) {
	raw := h.raw
	litFreq := h.lit
	litFreq[eob]++
	e.h.buildLengths(litFreq[:], 15, p.litLen[:])
	// Decoders want a distance code of two symbols at least.
	df := h.dist
	for i, used := 0, countUsed(df[:]); used < 2; i++ {
		if df[i] == 0 {
			df[i] = 1
			used++
		}
	}
	e.h.buildLengths(df[:], 15, p.distLen[:])

	p.hlit = numLit
	for p.hlit > 257 && p.litLen[p.hlit-1] == 0 {
		p.hlit--
	}
	p.hdist = numDist
	for p.hdist > 1 && p.distLen[p.hdist-1] == 0 {
		p.hdist--
	}
	var lens [numLit + numDist]uint8
	k := copy(lens[:], p.litLen[:p.hlit])
	k += copy(lens[k:], p.distLen[:p.hdist])
	p.ncl = len(rleLengths(p.cl[:0], lens[:k]))
	var clFreq [numCL]int32
	for _, c := range p.cl[:p.ncl] {
		clFreq[c.sym]++
	}
	// zlib's inflate refuses an incomplete code-length code: use two
	// symbols at least (the second costs 3 bits of header).
	for i, used := 0, countUsed(clFreq[:]); used < 2; i++ {
		if clFreq[i] == 0 {
			clFreq[i] = 1
			used++
		}
	}
	e.h.buildLengths(clFreq[:], 7, p.clLen[:])
	p.hclen = numCL
	for p.hclen > 4 && p.clLen[clOrder[p.hclen-1]] == 0 {
		p.hclen--
	}

	extra := 0
	for i := 257; i < numLit; i++ {
		extra += int(litFreq[i]) * int(lenExtra[i-257])
	}
	for i := range numDist {
		extra += int(h.dist[i]) * int(distExtra[i])
	}
	dyn := 3 + 5 + 5 + 4 + 3*p.hclen + extra
	for _, c := range p.cl[:p.ncl] {
		dyn += int(p.clLen[c.sym]) + int(c.nExtra)
	}
	fix := 3 + extra
	for i := range numLit {
		dyn += int(litFreq[i]) * int(p.litLen[i])
		fix += int(litFreq[i]) * int(fixedLit[i])
	}
	for i := range numDist {
		dyn += int(h.dist[i]) * int(p.distLen[i])
		fix += int(h.dist[i]) * 5
	}
	p.dyn, p.fixed, p.raw = dyn, fix, raw
	p.stored = (raw + 5*max(1, (raw+65534)/65535)) * 8
	if raw > 0 {
		p.stored += 7 // worst-case alignment
	}
}

func (p *plan) bits() int { return min(p.dyn, p.fixed, p.stored) }

// flush writes the pending tokens as one or more blocks: a block ends at
// a multiple of splitTokens where that makes the output smaller.
func (e *Encoder) flush(data []byte, final bool) {
	toks := e.tokens[:e.nt]
	e.nt = 0
	nseg := (len(toks) + splitTokens - 1) / splitTokens
	segs := e.segs[:max(1, nseg)]
	defer clear(segs)
	for i := range nseg {
		segs[i].raw += min(len(toks), (i+1)*splitTokens) - i*splitTokens
	}
	var p plan
	if nseg <= 1 {
		e.makePlan(&p, &segs[0])
		e.writeBlock(&p, data, toks, final)
		return
	}
	// Greedily: a segment joins the current block unless coding it on its
	// own, after the block, is smaller.
	// The costs compared are estimates (entropy plus a header), which
	// need no Huffman code built; the block written gets its real code.
	cur, first := segs[0], 0 // the current block and its first segment
	curBits := cur.estimate()
	for i := 1; i < nseg; i++ {
		alone := segs[i].estimate()
		j := cur
		j.addHist(&segs[i])
		if jb := j.estimate(); jb <= curBits+alone {
			cur, curBits = j, jb
			continue
		}
		e.makePlan(&p, &cur)
		e.writeBlock(&p, data, toks[first*splitTokens:i*splitTokens], false)
		cur, first, curBits = segs[i], i, alone
	}
	e.makePlan(&p, &cur)
	e.writeBlock(&p, data, toks[first*splitTokens:], final)
}

// writeBlock writes tokens, planned as p, as one block (or, stored, as
// several of at most 65535 bytes), in the smallest of the three codings.
func (e *Encoder) writeBlock(p *plan, data []byte, toks []token, final bool) {
	n := p.raw
	w := &e.bw
	fin := uint64(0)
	if final {
		fin = 1
	}
	switch {
	case p.stored < p.dyn && p.stored < p.fixed:
		e.storeRaw(data[e.blockStart:e.blockStart+n], final)
	case p.fixed <= p.dyn:
		w.writeBits(fin|1<<1, 3)
		e.writeTokens(toks, fixedLitCodes, fixedLit[:numLit], fixedDistCodes, fixedDist[:])
	default:
		w.writeBits(fin|2<<1, 3)
		w.writeBits(uint64(p.hlit-257), 5)
		w.writeBits(uint64(p.hdist-1), 5)
		w.writeBits(uint64(p.hclen-4), 4)
		for _, s := range clOrder[:p.hclen] {
			w.writeBits(uint64(p.clLen[s]), 3)
		}
		clCodes := codes(p.clLen[:])
		for _, c := range p.cl[:p.ncl] {
			w.writeBits(uint64(clCodes[c.sym])|uint64(c.extra)<<p.clLen[c.sym], uint(p.clLen[c.sym])+uint(c.nExtra))
		}
		e.writeTokens(toks, codes(p.litLen[:]), p.litLen[:], codes(p.distLen[:]), p.distLen[:])
	}
	e.blockStart += n
}

// storeRaw writes raw as stored blocks of at most 65535 bytes (one empty
// block if raw is empty).
func (e *Encoder) storeRaw(raw []byte, final bool) {
	w := &e.bw
	for {
		k := min(len(raw), 65535)
		last := k == len(raw)
		f := uint64(0)
		if last && final {
			f = 1
		}
		w.writeBits(f, 3) // BTYPE 00
		w.align()
		w.out = append(w.out, byte(k), byte(k>>8), ^byte(k), ^byte(k>>8))
		w.out = append(w.out, raw[:k]...)
		raw = raw[k:]
		if last {
			return
		}
	}
}

// writeTokens writes tokens and the end of block with the given codes
// (bit-reversed, as written) and lengths.
func (e *Encoder) writeTokens(toks []token, litCodes []uint16, litLen []uint8, distCodes []uint16, distLen []uint8) {
	// A literal's code and length in one word: code | length<<16; a
	// match length's code with its extra bits: bits | count<<32.
	var lit [256]uint32
	for i := range lit {
		lit[i] = uint32(litCodes[i]) | uint32(litLen[i])<<16
	}
	var length [256]uint64
	for l := range length {
		s := 257 + int(lenSym[l])
		n := uint64(litLen[s])
		length[l] = uint64(litCodes[s]) | uint64(l-int(lenBase[s-257]))<<n | (n+uint64(lenExtra[s-257]))<<32
	}
	var dist [numDist]uint32
	for i := range numDist {
		dist[i] = uint32(distCodes[i]) | uint32(distLen[i])<<16 | uint32(distExtra[i])<<24
	}
	// A token takes at most 48 bits (15+5 and 15+13), written at once:
	// with room for that, every write stores 8 bytes unconditionally
	// and moves on by the whole bytes it completed.
	w := &e.bw
	w.flushBytes()
	buf := slices.Grow(w.out, 6*len(toks)+16)
	pos := len(buf)
	buf = buf[:cap(buf)]
	acc, nbits := w.acc, w.nbits
	put := func(v uint64, n uint) {
		acc |= v << (nbits & 63)
		nbits += n
		store64(buf, pos, acc)
		k := nbits >> 3
		pos += int(k)
		acc >>= (k << 3) & 63
		nbits &= 7
	}
	for _, t := range toks {
		var v uint64
		var n uint
		if t&matchFlag == 0 {
			c := lit[t&0xff]
			v, n = uint64(c&0xffff), uint(c>>16)
		} else {
			lc := length[t>>16&0xff]
			d := uint32(t) & 0xffff
			ds := distCode(d)
			dc := dist[ds]
			n = uint(lc >> 32)
			dcl := uint(dc>>16&0xff) & 63
			v = lc&0xffffffff | (uint64(dc&0xffff)|uint64(d-uint32(distBase[ds]))<<dcl)<<(n&63)
			n += dcl + uint(dc>>24)
		}
		put(v, n)
	}
	put(uint64(litCodes[eob]), uint(litLen[eob]))
	w.out, w.acc, w.nbits = buf[:pos], acc, nbits
}

// clSym is one symbol of the code-length code with its extra bits.
type clSym struct {
	sym, nExtra, extra uint8
}

// rleLengths appends lens encoded with the code-length alphabet to out:
// 16 repeats the previous length 3-6 times, 17 and 18 give 3-10 and
// 11-138 zeros.
func rleLengths(out []clSym, lens []uint8) []clSym {
	for i := 0; i < len(lens); {
		v := lens[i]
		run := 1
		for i+run < len(lens) && lens[i+run] == v {
			run++
		}
		i += run
		if v == 0 {
			for run >= 11 {
				k := min(run, 138)
				out = append(out, clSym{18, 7, uint8(k - 11)})
				run -= k
			}
			if run >= 3 {
				out = append(out, clSym{17, 3, uint8(run - 3)})
				run = 0
			}
			for ; run > 0; run-- {
				out = append(out, clSym{0, 0, 0})
			}
			continue
		}
		out = append(out, clSym{v, 0, 0})
		run--
		for run >= 3 {
			k := min(run, 6)
			out = append(out, clSym{16, 2, uint8(k - 3)})
			run -= k
		}
		for ; run > 0; run-- {
			out = append(out, clSym{v, 0, 0})
		}
	}
	return out
}

// buildLengths sets lens to the lengths of a Huffman code for freq whose
// longest code is at most limit bits: a plain Huffman code, with the
// frequencies halved until it fits. A single used symbol gets length 1.
func (h *huff) buildLengths(freq []int32, limit int, lens []uint8) {
	clear(lens)
	f := h.f[:len(freq)]
	for i, v := range freq {
		f[i] = int64(v)
	}
	for {
		if h.huffman(f, lens) <= limit {
			return
		}
		for i, v := range f {
			if v > 0 {
				f[i] = max(1, v>>1)
			}
		}
	}
}

// huffman sets lens to the code lengths of a Huffman code for freq and
// returns the longest. Ties are broken by symbol, so the result is
// deterministic.
func (h *huff) huffman(freq []int64, lens []uint8) int {
	keys := h.keys[:0]
	for s, f := range freq {
		if f > 0 {
			keys = append(keys, uint64(f)<<16|uint64(s))
		}
	}
	leaves := len(keys)
	switch leaves {
	case 0:
		return 0
	case 1:
		lens[keys[0]&0xffff] = 1
		return 1
	}
	slices.Sort(keys)
	nf := h.freq[:2*leaves-1]
	for i, k := range keys {
		nf[i] = int64(k >> 16)
	}
	parent := h.parent[:2*leaves-1]
	// Two queues: leaves in order, internal nodes in creation order (their
	// frequencies never decrease).
	li, ii := 0, leaves
	for k := leaves; k < len(nf); k++ {
		var a, b int
		if li < leaves && (ii >= k || nf[li] <= nf[ii]) {
			a, li = li, li+1
		} else {
			a, ii = ii, ii+1
		}
		if li < leaves && (ii >= k || nf[li] <= nf[ii]) {
			b, li = li, li+1
		} else {
			b, ii = ii, ii+1
		}
		nf[k] = nf[a] + nf[b]
		parent[a], parent[b] = int16(k), int16(k)
	}
	depth := h.depth[:len(nf)]
	depth[len(nf)-1] = 0
	for i := len(nf) - 2; i >= 0; i-- {
		depth[i] = depth[parent[i]] + 1
	}
	maxDepth := 0
	for i, k := range keys {
		lens[k&0xffff] = depth[i]
		maxDepth = max(maxDepth, int(depth[i]))
	}
	return maxDepth
}

// codes returns the canonical codes for lens (RFC 1951, 3.2.2),
// bit-reversed for LSB-first output.
func codes(lens []uint8) []uint16 {
	var count [16]int
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [16]int
	code := 0
	for b := 1; b < 16; b++ {
		code = (code + count[b-1]) << 1
		next[b] = code
	}
	out := make([]uint16, len(lens))
	for s, l := range lens {
		if l == 0 {
			continue
		}
		out[s] = bits.Reverse16(uint16(next[l])) >> (16 - l)
		next[l]++
	}
	return out
}

func countUsed(freq []int32) int {
	n := 0
	for _, f := range freq {
		if f > 0 {
			n++
		}
	}
	return n
}
