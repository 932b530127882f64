package qcow2

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/internal/blocks"
)

// Options tunes Write. The zero value gives the defaults; it exists so the
// encoders share one shape and options can be added without breaking
// callers.
type Options struct {
	// ClusterBits is log2 of the cluster size, 9 to 21. Zero selects 16
	// (64 KiB), QEMU's default.
	ClusterBits uint32
}

const (
	magic        = 0x514649fb // "QFI\xfb"
	version      = 3
	headerLength = 104
	refcountBits = 16
	refcountOrd  = 4 // log2(refcountBits)
	flagCopied   = uint64(1) << 63
)

// layout is where everything goes, in clusters.
type layout struct {
	clusterSize  int64
	l1Entries    int64
	l1Off        int64 // cluster index of the L1 table
	l1Clusters   int64
	rtOff        int64 // refcount table
	rtClusters   int64
	rbOff        int64 // refcount blocks
	rbClusters   int64
	l2Off        int64   // L2 tables
	l2Tables     []int64 // L1 indices that get an L2 table, sorted
	dataOff      int64   // first data cluster
	dataClusters int64
	total        int64 // clusters in the file
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func plan(size int64, clusterBits uint32, blocks []int64) layout {
	cs := int64(1) << clusterBits
	l2Entries := cs / 8
	l := layout{clusterSize: cs, dataClusters: int64(len(blocks))}
	l.l1Entries = ceilDiv(ceilDiv(size, cs), l2Entries)
	l.l1Clusters = max(1, ceilDiv(l.l1Entries*8, cs))
	prev := int64(-1)
	for _, b := range blocks {
		if i := b / l2Entries; i != prev {
			l.l2Tables = append(l.l2Tables, i)
			prev = i
		}
	}
	fixed := 1 + l.l1Clusters + int64(len(l.l2Tables)) + l.dataClusters
	refsPerBlock := cs * 8 / refcountBits
	// The refcount structures count themselves: iterate to a fixed point.
	l.rbClusters, l.rtClusters = 1, 1
	for {
		total := fixed + l.rbClusters + l.rtClusters
		rb := ceilDiv(total, refsPerBlock)
		rt := ceilDiv(rb*8, cs)
		if rb == l.rbClusters && rt == l.rtClusters {
			l.total = total
			break
		}
		l.rbClusters, l.rtClusters = rb, rt
	}
	l.l1Off = 1
	l.rtOff = l.l1Off + l.l1Clusters
	l.rbOff = l.rtOff + l.rtClusters
	l.l2Off = l.rbOff + l.rbClusters
	l.dataOff = l.l2Off + int64(len(l.l2Tables))
	return l
}

// VirtualSize returns the virtual size Write records for a raw image of
// size bytes: size rounded up to a multiple of 512, since QEMU drops a
// partial last sector.
func VirtualSize(size int64) int64 { return (size + 511) / 512 * 512 }

// Write writes the raw image src of size bytes as a qcow2 v3 image to w,
// strictly forward. extents lists where src may hold data, nil meaning
// all of it; bytes outside them are taken as zeros and not read (the rules
// are in package image/sparse). All-zero clusters stay unallocated either
// way. The data extents are read twice: once to plan the layout, once to
// copy. The virtual size is VirtualSize(size).
func Write(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, extents []sparse.Extent, opts Options) error {
	bits := opts.ClusterBits
	if bits == 0 {
		bits = 16
	}
	if bits < 9 || bits > 21 {
		return fmt.Errorf("qcow2: cluster bits %d out of range 9..21", bits)
	}
	if size <= 0 {
		return fmt.Errorf("qcow2: image size %d must be positive", size)
	}
	extents, err := blocks.Data(extents, size)
	if err != nil {
		return fmt.Errorf("qcow2: %w", err)
	}
	cs := int64(1) << bits
	m, err := blocks.Scan(ctx, src, size, extents, cs)
	if err != nil {
		return fmt.Errorf("qcow2: scan image: %w", err)
	}
	l := plan(size, bits, m.Blocks)
	bw := bufio.NewWriterSize(w, 1<<20)
	be := binary.BigEndian

	// Header cluster.
	h := make([]byte, cs)
	be.PutUint32(h[0:], magic)
	be.PutUint32(h[4:], version)
	be.PutUint32(h[20:], bits)
	// QEMU counts the virtual size in whole 512-byte sectors, rounding
	// down: a size off the sector grid would lose the tail, so it is
	// rounded up, the added bytes reading as zeros (as VMDK pads).
	be.PutUint64(h[24:], uint64(VirtualSize(size)))
	be.PutUint32(h[36:], uint32(l.l1Entries))
	be.PutUint64(h[40:], uint64(l.l1Off*cs))
	be.PutUint64(h[48:], uint64(l.rtOff*cs))
	be.PutUint32(h[56:], uint32(l.rtClusters))
	be.PutUint32(h[96:], refcountOrd)
	be.PutUint32(h[100:], headerLength)
	// Header extensions start at headerLength; the zero bytes there are
	// the end-of-extensions marker.
	bw.Write(h)

	// L1 table.
	l1 := make([]byte, l.l1Clusters*cs)
	for k, i := range l.l2Tables {
		be.PutUint64(l1[i*8:], uint64((l.l2Off+int64(k))*cs)|flagCopied)
	}
	bw.Write(l1)

	// Refcount table and blocks: every cluster up to total has refcount 1.
	rt := make([]byte, l.rtClusters*cs)
	for k := int64(0); k < l.rbClusters; k++ {
		be.PutUint64(rt[k*8:], uint64((l.rbOff+k)*cs))
	}
	bw.Write(rt)
	rb := make([]byte, l.rbClusters*cs)
	for c := int64(0); c < l.total; c++ {
		be.PutUint16(rb[c*2:], 1)
	}
	bw.Write(rb)

	// L2 tables.
	l2Entries := cs / 8
	l2 := make([]byte, cs)
	k := 0
	for t, i := range l.l2Tables {
		clear(l2)
		for ; k < len(m.Blocks) && m.Blocks[k]/l2Entries == i; k++ {
			be.PutUint64(l2[(m.Blocks[k]%l2Entries)*8:], uint64((l.dataOff+int64(k))*cs)|flagCopied)
		}
		if _, err := bw.Write(l2); err != nil {
			return fmt.Errorf("qcow2: write L2 table %d: %w", t, err)
		}
	}

	// Data clusters, in guest order.
	k = 0
	err = blocks.Walk(ctx, src, size, extents, cs, func(idx int64, data []byte) error {
		if k >= len(m.Blocks) || m.Blocks[k] != idx {
			return fmt.Errorf("image changed while encoding (cluster %d)", idx)
		}
		k++
		_, err := bw.Write(data)
		return err
	})
	if err == nil && k != len(m.Blocks) {
		err = fmt.Errorf("image changed while encoding (%d of %d clusters)", k, len(m.Blocks))
	}
	if err != nil {
		return fmt.Errorf("qcow2: copy clusters: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("qcow2: write: %w", err)
	}
	return nil
}
