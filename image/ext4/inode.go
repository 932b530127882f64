package ext4

import (
	"encoding/binary"
)

// Inode fields used here (struct ext4_inode; offsets in bytes).
const (
	iMode        = 0x00
	iSizeLo      = 0x04
	iAtime       = 0x08
	iCtime       = 0x0c
	iMtime       = 0x10
	iLinks       = 0x1a
	iBlocksLo    = 0x1c
	iFlags       = 0x20
	iBlock       = 0x28 // 60 bytes: extent tree root or block map
	iSizeHigh    = 0x6c
	iChecksumLo  = 0x7c
	iExtraIsize  = 0x80
	iChecksumHi  = 0x82
	iCtimeExtra  = 0x84
	iMtimeExtra  = 0x88
	iAtimeExtra  = 0x8c
	iCrtime      = 0x90
	iCrtimeExtra = 0x94

	extentsFlag = 0x80000 // EXT4_EXTENTS_FL

	modeDir  = 0o040000
	modeFile = 0o100000

	dindBlockIndex = 13 // EXT2_DIND_BLOCK in i_block
)

// Extent tree geometry (struct ext4_extent_header, ext4_extent,
// ext4_extent_idx: 12 bytes each).
const (
	extentMagic  = 0xf30a
	inodeExtents = 4                     // entries in i_block after the header
	leafExtents  = (blockSize - 12) / 12 // entries in a tree block
	extentTail   = 12 + 12*leafExtents   // offset of a tree block's checksum
)

// inode is the content of one inode before encoding.
type inode struct {
	mode   uint16
	links  uint16
	size   uint64
	blocks uint64 // file system blocks it owns, tree and indirect blocks included
	flags  uint32
	iblock [60]byte
	extra  bool // i_extra_isize = 32 and the timestamps; false: an unused reserved inode
}

// encode writes the inode into b (inodeSize bytes, zero on entry) and sets
// its checksum.
func (in *inode) encode(b []byte, ino uint32, now int64, fsSeed uint32) {
	le := binary.LittleEndian
	if in.extra {
		le.PutUint16(b[iMode:], in.mode)
		le.PutUint32(b[iSizeLo:], uint32(in.size))
		le.PutUint32(b[iSizeHigh:], uint32(in.size>>32))
		lo, extra := encodeTime(now)
		for _, off := range []int{iAtime, iCtime, iMtime, iCrtime} {
			le.PutUint32(b[off:], lo)
		}
		for _, off := range []int{iAtimeExtra, iCtimeExtra, iMtimeExtra, iCrtimeExtra} {
			le.PutUint32(b[off:], extra)
		}
		le.PutUint16(b[iLinks:], in.links)
		// i_blocks counts 512-byte sectors (huge_file without
		// EXT4_HUGE_FILE_FL); l_i_blocks_high stays 0 for our sizes.
		le.PutUint32(b[iBlocksLo:], uint32(in.blocks*(blockSize/512)))
		le.PutUint32(b[iFlags:], in.flags)
		copy(b[iBlock:iBlock+60], in.iblock[:])
		le.PutUint16(b[iExtraIsize:], extraIsize)
	}
	// The checksum covers the whole inode with both checksum fields
	// zero, seeded with the inode number and generation (0).
	c := crc32c(inodeSeed(fsSeed, ino, 0), b[:inodeSize])
	le.PutUint16(b[iChecksumLo:], uint16(c))
	if in.extra {
		le.PutUint16(b[iChecksumHi:], uint16(c>>16))
	}
}

// encodeTime splits seconds since 1970 into an inode's 32-bit time field
// and its _extra field (two epoch bits, no nanoseconds), as the kernel's
// ext4_encode_extra_time does.
func encodeTime(sec int64) (lo, extra uint32) {
	return uint32(sec), uint32((sec-int64(int32(sec)))>>32) & 3
}

// extentRoot fills an inode's i_block with an extent tree: the extents
// themselves when at most four, else an index to the leaf block leaf,
// which leafBlock encodes.
func extentRoot(ext []extent, leaf uint64) [60]byte {
	var b [60]byte
	le := binary.LittleEndian
	le.PutUint16(b[0:], extentMagic)
	le.PutUint16(b[4:], inodeExtents)
	if leaf == 0 {
		le.PutUint16(b[2:], uint16(len(ext)))
		for i, e := range ext {
			putExtent(b[12+12*i:], e)
		}
		return b
	}
	le.PutUint16(b[2:], 1) // one index entry
	le.PutUint16(b[6:], 1) // depth 1
	// struct ext4_extent_idx: ei_block, ei_leaf_lo, ei_leaf_hi.
	le.PutUint32(b[12:], 0)
	le.PutUint32(b[16:], uint32(leaf))
	le.PutUint16(b[20:], uint16(leaf>>32))
	return b
}

// leafBlock encodes the extent tree leaf of file ino holding ext.
func leafBlock(ext []extent, ino uint32, fsSeed uint32) []byte {
	b := make([]byte, blockSize)
	le := binary.LittleEndian
	le.PutUint16(b[0:], extentMagic)
	le.PutUint16(b[2:], uint16(len(ext)))
	le.PutUint16(b[4:], leafExtents)
	for i, e := range ext {
		putExtent(b[12+12*i:], e)
	}
	le.PutUint32(b[extentTail:], crc32c(inodeSeed(fsSeed, ino, 0), b[:extentTail]))
	return b
}

// putExtent encodes struct ext4_extent.
func putExtent(b []byte, e extent) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], e.logical)
	le.PutUint16(b[4:], uint16(e.length))
	le.PutUint16(b[6:], uint16(e.start>>32))
	le.PutUint32(b[8:], uint32(e.start))
}

// extentBlocks is the number of blocks ext maps.
func extentBlocks(ext []extent) uint64 {
	var n uint64
	for _, e := range ext {
		n += uint64(e.length)
	}
	return n
}

// Directory blocks (struct ext4_dir_entry_2, with the metadata_csum tail
// struct ext4_dir_entry_tail in the last 12 bytes of every block).
const (
	fileTypeDir = 2
	dirTailLen  = 12
	dirTailType = 0xde
)

// dirent is one directory entry.
type dirent struct {
	ino  uint32
	name string
}

// dirBlock encodes a directory block of directory ino holding entries;
// the last entry's record extends to the checksum tail. An empty entries
// list gives an empty block (one unused record spanning it).
func dirBlock(ino uint32, entries []dirent, fsSeed uint32) []byte {
	b := make([]byte, blockSize)
	le := binary.LittleEndian
	end := blockSize - dirTailLen
	off := 0
	if len(entries) == 0 {
		le.PutUint16(b[4:], uint16(end))
	}
	for i, e := range entries {
		recLen := (8 + len(e.name) + 3) &^ 3
		if i == len(entries)-1 {
			recLen = end - off
		}
		le.PutUint32(b[off:], e.ino)
		le.PutUint16(b[off+4:], uint16(recLen))
		b[off+6] = byte(len(e.name))
		b[off+7] = fileTypeDir // every entry we write is a directory
		copy(b[off+8:], e.name)
		off += recLen
	}
	// Tail: inode 0, rec_len 12, name_len 0, file type 0xde, checksum.
	le.PutUint16(b[end+4:], dirTailLen)
	b[end+7] = dirTailType
	le.PutUint32(b[end+8:], crc32c(inodeSeed(fsSeed, ino, 0), b[:end]))
	return b
}
