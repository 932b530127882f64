package vmdk

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/internal/blocks"
)

// monoDescSectors is the room reserved for the embedded descriptor, as
// QEMU and VMware reserve it, so tools can edit it in place.
const monoDescSectors = 20

// WriteMonolithicSparse writes the raw image src of size bytes as a
// monolithicSparse VMDK (hosted sparse extent, version 1) to w, strictly
// forward. extents lists where src may hold data, nil meaning all of it;
// bytes outside them are taken as zeros and not read (the rules are in
// package image/sparse). All-zero grains are left unallocated either way. All grain tables are preallocated, twice (redundant grain
// directory), so hypervisors can write into the image. The first pass over
// the data finds the allocated grains and the CID; the second copies them.
func WriteMonolithicSparse(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, extents []sparse.Extent, opts Options) error {
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
	m, err := blocks.Scan(ctx, src, size, extents, grainSize)
	if err != nil {
		return fmt.Errorf("vmdk: scan image: %w", err)
	}
	cid := opts.CID
	if cid == 0 {
		cid = cidFrom(m.Sum)
	}
	sectors := uint64(sectorsFor(size))
	numGTs := (sectors + grainSectors*gtEntries - 1) / (grainSectors * gtEntries)
	gdSectors := uint64(sectorsFor(int64(numGTs) * 4))
	desc := descriptor(opts, "monolithicSparse", cid, sectors)
	if len(desc) > monoDescSectors*sector {
		return fmt.Errorf("vmdk: descriptor of %d bytes does not fit", len(desc))
	}
	// Layout in sectors: header, descriptor, redundant GD, redundant GTs,
	// GD, GTs, padding to a grain boundary, grains.
	rgd := uint64(1 + monoDescSectors)
	rgts := rgd + gdSectors
	gdOff := rgts + numGTs*gtSectors
	gts := gdOff + gdSectors
	overhead := gts + numGTs*gtSectors
	overhead = (overhead + grainSectors - 1) / grainSectors * grainSectors
	last := overhead + uint64(len(m.Blocks))*grainSectors
	if last > uint64(^uint32(0)) {
		return fmt.Errorf("vmdk: %d allocated grains pass 2 TiB, the limit of 32-bit grain table entries", len(m.Blocks))
	}

	hdr := header{
		Version: 1, Flags: flagNewlineTest | flagRedundantGD,
		Capacity: sectors, GrainSize: grainSectors,
		DescriptorOffset: 1, DescriptorSize: monoDescSectors,
		NumGTEsPerGT: gtEntries, RGDOffset: rgd, GDOffset: gdOff,
		Overhead: overhead,
	}
	gt := make([]uint32, numGTs*gtEntries)
	for k, idx := range m.Blocks {
		gt[idx] = uint32(overhead + uint64(k)*grainSectors)
	}
	cw := newCountingWriter(w)
	cw.Write(hdr.marshal())
	cw.Write([]byte(desc))
	cw.zeros(int64(rgd)*sector - cw.off)
	for _, base := range []uint64{rgts, gts} {
		gd := make([]uint32, numGTs)
		for i := range gd {
			gd[i] = uint32(base + uint64(i)*gtSectors)
		}
		binary.Write(cw, binary.LittleEndian, gd)
		cw.padSector()
		binary.Write(cw, binary.LittleEndian, gt)
	}
	if err := cw.zeros(int64(overhead)*sector - cw.off); err != nil {
		return fmt.Errorf("vmdk: write metadata: %w", err)
	}
	k := 0
	err = blocks.Walk(ctx, src, size, extents, grainSize, func(idx int64, data []byte) error {
		if k >= len(m.Blocks) || m.Blocks[k] != idx {
			return fmt.Errorf("vmdk: image changed while encoding (grain %d)", idx)
		}
		k++
		_, err := cw.Write(data)
		return err
	})
	if err == nil && k != len(m.Blocks) {
		err = fmt.Errorf("vmdk: image changed while encoding (%d of %d grains)", k, len(m.Blocks))
	}
	if err != nil {
		return fmt.Errorf("vmdk: copy grains: %w", err)
	}
	if err := cw.w.Flush(); err != nil {
		return fmt.Errorf("vmdk: write grains: %w", err)
	}
	return nil
}
