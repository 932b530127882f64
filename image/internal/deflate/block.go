package deflate

import (
	"math/bits"
	"slices"
)

const (
	numLit  = 286
	numDist = 30
	numCL   = 19
	eob     = 256
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

// flushBlock writes the pending tokens as one block (or, stored, as
// several of at most 65535 bytes), in the smallest of the three codings.
func (e *Encoder) flushBlock(data []byte, final bool) {
	var litFreq [numLit]int
	var distFreq [numDist]int
	extraBits := 0
	for _, t := range e.tokens {
		if t&matchFlag == 0 {
			litFreq[t]++
			continue
		}
		lc, ln, _ := lengthCode(int(t>>16&0xff) + minMatch)
		dc, dn, _ := distCode(int(t&0xffff) + 1)
		litFreq[lc]++
		distFreq[dc]++
		extraBits += ln + dn
	}
	litFreq[eob]++

	var litLen [numLit]uint8
	var distLen [numDist]uint8
	buildLengths(litFreq[:], 15, litLen[:])
	// Decoders want a distance code of two symbols at least.
	used := countUsed(distFreq[:])
	df := distFreq
	for i := 0; used < 2; i++ {
		if df[i] == 0 {
			df[i] = 1
			used++
		}
	}
	buildLengths(df[:], 15, distLen[:])

	hlit := numLit
	for hlit > 257 && litLen[hlit-1] == 0 {
		hlit--
	}
	hdist := numDist
	for hdist > 1 && distLen[hdist-1] == 0 {
		hdist--
	}
	lens := make([]uint8, 0, hlit+hdist)
	lens = append(append(lens, litLen[:hlit]...), distLen[:hdist]...)
	cl := rleLengths(lens)
	var clFreq [numCL]int
	for _, c := range cl {
		clFreq[c.sym]++
	}
	// zlib's inflate refuses an incomplete code-length code: use two
	// symbols at least (the second costs 3 bits of header).
	if used := countUsed(clFreq[:]); used < 2 {
		for i := 0; used < 2; i++ {
			if clFreq[i] == 0 {
				clFreq[i] = 1
				used++
			}
		}
	}
	var clLen [numCL]uint8
	buildLengths(clFreq[:], 7, clLen[:])
	hclen := numCL
	for hclen > 4 && clLen[clOrder[hclen-1]] == 0 {
		hclen--
	}

	dynBits := 3 + 5 + 5 + 4 + 3*hclen + extraBits
	for _, c := range cl {
		dynBits += int(clLen[c.sym]) + int(c.nExtra)
	}
	fixBits := 3 + extraBits
	for i := range numLit {
		dynBits += litFreq[i] * int(litLen[i])
		fixBits += litFreq[i] * int(fixedLit[i])
	}
	for i := range numDist {
		dynBits += distFreq[i] * int(distLen[i])
		fixBits += distFreq[i] * int(fixedDist[i])
	}
	n := e.blockBytes
	storedBits := (n + 5*max(1, (n+65534)/65535)) * 8
	if n > 0 {
		storedBits += 7 // worst-case alignment
	}

	w := &e.bw
	fin := uint64(0)
	if final {
		fin = 1
	}
	switch {
	case storedBits < dynBits && storedBits < fixBits:
		raw := data[e.blockStart : e.blockStart+n]
		for {
			k := min(len(raw), 65535)
			last := k == len(raw)
			f := uint64(0)
			if last {
				f = fin
			}
			w.writeBits(f, 3) // BTYPE 00
			w.align()
			w.out = append(w.out, byte(k), byte(k>>8), ^byte(k), ^byte(k>>8))
			w.out = append(w.out, raw[:k]...)
			raw = raw[k:]
			if last {
				break
			}
		}
	case fixBits <= dynBits:
		w.writeBits(fin|1<<1, 3)
		e.writeTokens(codes(fixedLit[:]), fixedLit[:], codes(fixedDist[:]), fixedDist[:])
	default:
		w.writeBits(fin|2<<1, 3)
		w.writeBits(uint64(hlit-257), 5)
		w.writeBits(uint64(hdist-1), 5)
		w.writeBits(uint64(hclen-4), 4)
		for _, s := range clOrder[:hclen] {
			w.writeBits(uint64(clLen[s]), 3)
		}
		clCodes := codes(clLen[:])
		for _, c := range cl {
			w.writeBits(uint64(clCodes[c.sym]), uint(clLen[c.sym]))
			if c.nExtra > 0 {
				w.writeBits(uint64(c.extra), uint(c.nExtra))
			}
		}
		e.writeTokens(codes(litLen[:]), litLen[:], codes(distLen[:]), distLen[:])
	}
	e.blockStart += n
	e.blockBytes = 0
	e.tokens = e.tokens[:0]
}

// writeTokens writes the pending tokens and the end of block with the
// given codes (bit-reversed, as written) and lengths.
func (e *Encoder) writeTokens(litCodes []uint16, litLen []uint8, distCodes []uint16, distLen []uint8) {
	w := &e.bw
	for _, t := range e.tokens {
		if t&matchFlag == 0 {
			w.writeBits(uint64(litCodes[t]), uint(litLen[t]))
			continue
		}
		lc, ln, lx := lengthCode(int(t>>16&0xff) + minMatch)
		dc, dn, dx := distCode(int(t&0xffff) + 1)
		// A code and its extra bits in one write: at most 15+5 and 15+13 bits.
		w.writeBits(uint64(litCodes[lc])|uint64(lx)<<litLen[lc], uint(litLen[lc])+uint(ln))
		w.writeBits(uint64(distCodes[dc])|uint64(dx)<<distLen[dc], uint(distLen[dc])+uint(dn))
	}
	w.writeBits(uint64(litCodes[eob]), uint(litLen[eob]))
}

// clSym is one symbol of the code-length code with its extra bits.
type clSym struct {
	sym, nExtra, extra uint8
}

// rleLengths encodes code lengths with the code-length alphabet: 16
// repeats the previous length 3-6 times, 17 and 18 give 3-10 and 11-138
// zeros.
func rleLengths(lens []uint8) []clSym {
	var out []clSym
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
func buildLengths(freq []int, limit int, lens []uint8) {
	clear(lens)
	f := slices.Clone(freq)
	for {
		if huffman(f, lens) <= limit {
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
func huffman(freq []int, lens []uint8) int {
	type node struct {
		freq        int
		left, right int // child indexes, -1 for a leaf
		sym         int
	}
	var nodes []node
	for s, f := range freq {
		if f > 0 {
			nodes = append(nodes, node{f, -1, -1, s})
		}
	}
	switch len(nodes) {
	case 0:
		return 0
	case 1:
		lens[nodes[0].sym] = 1
		return 1
	}
	slices.SortFunc(nodes, func(a, b node) int {
		if a.freq != b.freq {
			return a.freq - b.freq
		}
		return a.sym - b.sym
	})
	leaves := len(nodes)
	// Two queues: leaves in order, internal nodes in creation order (their
	// frequencies never decrease).
	li, ii := 0, leaves
	pick := func() int {
		if li < leaves && (ii >= len(nodes) || nodes[li].freq <= nodes[ii].freq) {
			li++
			return li - 1
		}
		ii++
		return ii - 1
	}
	for len(nodes)-leaves < leaves-1 {
		a := pick()
		b := pick()
		nodes = append(nodes, node{nodes[a].freq + nodes[b].freq, a, b, -1})
	}
	depth := make([]int, len(nodes))
	maxDepth := 0
	for i := len(nodes) - 1; i >= leaves; i-- {
		for _, c := range [2]int{nodes[i].left, nodes[i].right} {
			depth[c] = depth[i] + 1
		}
	}
	for i := range leaves {
		lens[nodes[i].sym] = uint8(depth[i])
		maxDepth = max(maxDepth, depth[i])
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

func countUsed(freq []int) int {
	n := 0
	for _, f := range freq {
		if f > 0 {
			n++
		}
	}
	return n
}
