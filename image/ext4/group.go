package ext4

import (
	"encoding/binary"
)

// Block group descriptor fields (struct ext4_group_desc, 64 bytes).
const (
	bgBlockBitmapLo     = 0x00
	bgInodeBitmapLo     = 0x04
	bgInodeTableLo      = 0x08
	bgFreeBlocksLo      = 0x0c
	bgFreeInodesLo      = 0x0e
	bgUsedDirsLo        = 0x10
	bgFlags             = 0x12
	bgBlockBitmapCsumLo = 0x18
	bgInodeBitmapCsumLo = 0x1a
	bgItableUnusedLo    = 0x1c
	bgChecksum          = 0x1e
	bgBlockBitmapHi     = 0x20
	bgInodeBitmapHi     = 0x24
	bgInodeTableHi      = 0x28
	bgFreeBlocksHi      = 0x2c
	bgFreeInodesHi      = 0x2e
	bgUsedDirsHi        = 0x30
	bgItableUnusedHi    = 0x32
	bgBlockBitmapCsumHi = 0x38
	bgInodeBitmapCsumHi = 0x3a

	// bg_flags
	bgInodeUninit = 0x0001 // inode bitmap and table not initialised
	bgBlockUninit = 0x0002 // block bitmap not initialised
	bgInodeZeroed = 0x0004 // inode table zeroed
)

// groupDesc is one group's descriptor before encoding.
type groupDesc struct {
	blockBitmap, inodeBitmap, inodeTable uint64
	freeBlocks, freeInodes, usedDirs     uint32
	itableUnused                         uint32
	flags                                uint16
	blockBitmapCsum, inodeBitmapCsum     uint32
}

// encode writes the descriptor of group g into b (descSize bytes) with
// its checksum.
func (d *groupDesc) encode(b []byte, g uint32, fsSeed uint32) {
	le := binary.LittleEndian
	le.PutUint32(b[bgBlockBitmapLo:], uint32(d.blockBitmap))
	le.PutUint32(b[bgBlockBitmapHi:], uint32(d.blockBitmap>>32))
	le.PutUint32(b[bgInodeBitmapLo:], uint32(d.inodeBitmap))
	le.PutUint32(b[bgInodeBitmapHi:], uint32(d.inodeBitmap>>32))
	le.PutUint32(b[bgInodeTableLo:], uint32(d.inodeTable))
	le.PutUint32(b[bgInodeTableHi:], uint32(d.inodeTable>>32))
	le.PutUint16(b[bgFreeBlocksLo:], uint16(d.freeBlocks))
	le.PutUint16(b[bgFreeBlocksHi:], uint16(d.freeBlocks>>16))
	le.PutUint16(b[bgFreeInodesLo:], uint16(d.freeInodes))
	le.PutUint16(b[bgFreeInodesHi:], uint16(d.freeInodes>>16))
	le.PutUint16(b[bgUsedDirsLo:], uint16(d.usedDirs))
	le.PutUint16(b[bgUsedDirsHi:], uint16(d.usedDirs>>16))
	le.PutUint16(b[bgItableUnusedLo:], uint16(d.itableUnused))
	le.PutUint16(b[bgItableUnusedHi:], uint16(d.itableUnused>>16))
	le.PutUint16(b[bgFlags:], d.flags)
	le.PutUint16(b[bgBlockBitmapCsumLo:], uint16(d.blockBitmapCsum))
	le.PutUint16(b[bgBlockBitmapCsumHi:], uint16(d.blockBitmapCsum>>16))
	le.PutUint16(b[bgInodeBitmapCsumLo:], uint16(d.inodeBitmapCsum))
	le.PutUint16(b[bgInodeBitmapCsumHi:], uint16(d.inodeBitmapCsum>>16))
	// metadata_csum: crc32c over the group number and the descriptor
	// with bg_checksum zero, low 16 bits.
	c := crc32c(crc32cU32(fsSeed, g), b[:descSize])
	le.PutUint16(b[bgChecksum:], uint16(c))
}

// setBits sets bits [from, to) of bitmap b.
func setBits(b []byte, from, to uint64) {
	for ; from < to && from%8 != 0; from++ {
		b[from/8] |= 1 << (from % 8)
	}
	for ; from+8 <= to; from += 8 {
		b[from/8] = 0xff
	}
	for ; from < to; from++ {
		b[from/8] |= 1 << (from % 8)
	}
}
