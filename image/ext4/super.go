package ext4

import (
	"encoding/binary"
)

// Superblock fields used here (struct ext4_super_block; offsets in bytes
// from the start of the superblock, which is 1024 bytes into the volume).
const (
	sInodesCount      = 0x000
	sBlocksCountLo    = 0x004
	sRBlocksCountLo   = 0x008
	sFreeBlocksLo     = 0x00c
	sFreeInodes       = 0x010
	sFirstDataBlock   = 0x014
	sLogBlockSize     = 0x018
	sLogClusterSize   = 0x01c
	sBlocksPerGroup   = 0x020
	sClustersPerGroup = 0x024
	sInodesPerGroup   = 0x028
	sWtime            = 0x030
	sMaxMntCount      = 0x036
	sMagic            = 0x038
	sState            = 0x03a
	sErrors           = 0x03c
	sLastcheck        = 0x040
	sRevLevel         = 0x04c
	sFirstIno         = 0x054
	sInodeSize        = 0x058
	sBlockGroupNr     = 0x05a
	sFeatureCompat    = 0x05c
	sFeatureIncompat  = 0x060
	sFeatureROCompat  = 0x064
	sUUID             = 0x068
	sVolumeName       = 0x078
	sReservedGDT      = 0x0ce
	sJournalInum      = 0x0e0
	sHashSeed         = 0x0ec
	sDefHashVersion   = 0x0fc
	sJnlBackupType    = 0x0fd
	sDescSize         = 0x0fe
	sDefaultMountOpts = 0x100
	sMkfsTime         = 0x108
	sJnlBlocks        = 0x10c // 17 words: i_block, i_size_high, i_size
	sBlocksCountHi    = 0x150
	sRBlocksCountHi   = 0x154
	sFreeBlocksHi     = 0x158
	sMinExtraIsize    = 0x15c
	sWantExtraIsize   = 0x15e
	sFlags            = 0x160
	sLogGroupsPerFlex = 0x174
	sChecksumType     = 0x175
	sWtimeHi          = 0x274
	sMkfsTimeHi       = 0x276
	sLastcheckHi      = 0x277
	sChecksum         = 0x3fc
	superSize         = 1024
	superOffset       = 1024 // of the primary superblock in block 0
	magic             = 0xef53
)

// Features: Debian bookworm's mke2fs.conf for ext4.
const (
	compatHasJournal  = 0x0004
	compatExtAttr     = 0x0008
	compatResizeInode = 0x0010
	compatDirIndex    = 0x0020

	incompatFiletype = 0x0002
	incompatExtents  = 0x0040
	incompat64bit    = 0x0080
	incompatFlexBG   = 0x0200

	roCompatSparseSuper  = 0x0001
	roCompatLargeFile    = 0x0002
	roCompatHugeFile     = 0x0008
	roCompatDirNlink     = 0x0020
	roCompatExtraIsize   = 0x0040
	roCompatMetadataCsum = 0x0400
)

// superblock is what differs between file systems in the superblock.
type superblock struct {
	l          *layout
	freeBlocks uint64
	freeInodes uint32
	uuid       [16]byte
	hashSeed   [16]byte
	label      string
	now        int64
	journal    [60]byte // the journal inode's i_block, backed up in s_jnl_blocks
}

// encode returns the superblock as stored in group group (its
// s_block_group_nr), checksum included.
func (s *superblock) encode(group uint32) []byte {
	l := s.l
	b := make([]byte, superSize)
	le := binary.LittleEndian
	le.PutUint32(b[sInodesCount:], l.ipg*l.groups)
	le.PutUint32(b[sBlocksCountLo:], uint32(l.blocks))
	le.PutUint32(b[sBlocksCountHi:], uint32(l.blocks>>32))
	le.PutUint32(b[sRBlocksCountLo:], uint32(l.reserved))
	le.PutUint32(b[sRBlocksCountHi:], uint32(l.reserved>>32))
	le.PutUint32(b[sFreeBlocksLo:], uint32(s.freeBlocks))
	le.PutUint32(b[sFreeBlocksHi:], uint32(s.freeBlocks>>32))
	le.PutUint32(b[sFreeInodes:], s.freeInodes)
	le.PutUint32(b[sFirstDataBlock:], 0)
	le.PutUint32(b[sLogBlockSize:], logBlockSize)
	le.PutUint32(b[sLogClusterSize:], logBlockSize)
	le.PutUint32(b[sBlocksPerGroup:], blocksPerGroup)
	le.PutUint32(b[sClustersPerGroup:], blocksPerGroup)
	le.PutUint32(b[sInodesPerGroup:], l.ipg)
	lo, hi := uint32(s.now), byte(s.now>>32)
	le.PutUint32(b[sWtime:], lo)
	b[sWtimeHi] = hi
	le.PutUint32(b[sLastcheck:], lo)
	b[sLastcheckHi] = hi
	le.PutUint32(b[sMkfsTime:], lo)
	b[sMkfsTimeHi] = hi
	le.PutUint16(b[sMaxMntCount:], 0xffff) // -1: no mount-count checks
	le.PutUint16(b[sMagic:], magic)
	le.PutUint16(b[sState:], 1)  // EXT4_VALID_FS: clean
	le.PutUint16(b[sErrors:], 1) // EXT4_ERRORS_CONTINUE, mke2fs's default
	le.PutUint32(b[sRevLevel:], 1)
	le.PutUint32(b[sFirstIno:], firstIno)
	le.PutUint16(b[sInodeSize:], inodeSize)
	le.PutUint16(b[sBlockGroupNr:], uint16(group))

	compat := uint32(compatHasJournal | compatExtAttr | compatDirIndex)
	if l.rsvGDT > 0 {
		compat |= compatResizeInode
	}
	le.PutUint32(b[sFeatureCompat:], compat)
	le.PutUint32(b[sFeatureIncompat:], incompatFiletype|incompatExtents|incompat64bit|incompatFlexBG)
	le.PutUint32(b[sFeatureROCompat:], roCompatSparseSuper|roCompatLargeFile|roCompatHugeFile|
		roCompatDirNlink|roCompatExtraIsize|roCompatMetadataCsum)

	copy(b[sUUID:sUUID+16], s.uuid[:])
	copy(b[sVolumeName:sVolumeName+16], s.label)
	le.PutUint16(b[sReservedGDT:], uint16(l.rsvGDT))
	le.PutUint32(b[sJournalInum:], journalIno)
	copy(b[sHashSeed:sHashSeed+16], s.hashSeed[:])
	b[sDefHashVersion] = 1 // DX_HASH_HALF_MD4
	b[sJnlBackupType] = 1  // EXT3_JNL_BACKUP_BLOCKS
	le.PutUint16(b[sDescSize:], descSize)
	le.PutUint32(b[sDefaultMountOpts:], 0x0004|0x0008) // user_xattr, acl
	copy(b[sJnlBlocks:sJnlBlocks+60], s.journal[:])
	size := uint64(l.journalLen) * blockSize
	le.PutUint32(b[sJnlBlocks+15*4:], uint32(size>>32))
	le.PutUint32(b[sJnlBlocks+16*4:], uint32(size))
	le.PutUint16(b[sMinExtraIsize:], extraIsize)
	le.PutUint16(b[sWantExtraIsize:], extraIsize)
	le.PutUint32(b[sFlags:], 0x0001) // EXT2_FLAGS_SIGNED_HASH, as mke2fs on x86
	b[sLogGroupsPerFlex] = logFlexGroups
	b[sChecksumType] = 1 // EXT4_CRC32C_CHKSUM
	le.PutUint32(b[sChecksum:], crc32c(^uint32(0), b[:sChecksum]))
	return b
}

// Journal superblock (journal_superblock_t, big-endian), in the journal's
// first block. The journal is empty (s_start 0), so its other blocks are
// never read before being written and stay holes, as with mke2fs -E
// lazy_journal_init. Like mke2fs, no journal checksum features are set:
// the kernel turns on the ones it wants at mount time.
func journalSuper(uuid [16]byte, blocks uint32) []byte {
	b := make([]byte, blockSize)
	be := binary.BigEndian
	be.PutUint32(b[0x00:], 0xc03b3998) // JBD2_MAGIC_NUMBER
	be.PutUint32(b[0x04:], 4)          // JBD2_SUPERBLOCK_V2
	be.PutUint32(b[0x0c:], blockSize)
	be.PutUint32(b[0x10:], blocks) // s_maxlen
	be.PutUint32(b[0x14:], 1)      // s_first
	be.PutUint32(b[0x18:], 1)      // s_sequence
	copy(b[0x30:0x40], uuid[:])
	be.PutUint32(b[0x40:], 1) // s_nr_users
	return b
}
