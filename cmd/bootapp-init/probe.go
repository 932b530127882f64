package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// What a block device holds, as far as the data volume is concerned.
//
// A disk is blank when its first and last MiB (the whole disk when it is
// smaller than 2 MiB) read as zeros. Those two ranges hold the superblock,
// label or partition table of every file system, volume manager and
// partitioning scheme Linux knows: MBR and GPT (LBA 0 and 1, the backup
// GPT in the last sectors), ext2/3/4 (1 KiB), XFS and LUKS (0), swap (the
// end of the first page), btrfs (64 KiB), ISO 9660 (32 KiB), LVM (the
// first four sectors), MD RAID (0, 4 KiB, or 64-128 KiB before the end),
// ZFS (labels in the first and last 512 KiB), bcache (4 KiB). Only a
// blank disk is ever formatted. The rest of the disk is not read (a
// 1 TiB volume would take minutes); a fresh cloud volume reads as zeros
// throughout, which is what image/ext4 needs (the inode tables it leaves
// unwritten must read as zeros).
const blankSpan = 1 << 20

// contentKind is the classification of a device's content.
type contentKind int

const (
	contentBlank   contentKind = iota // zeros where any signature would be
	contentExt4                       // an ext2/3/4 superblock
	contentForeign                    // anything else: never written
)

func (k contentKind) String() string {
	switch k {
	case contentBlank:
		return "blank"
	case contentExt4:
		return "ext4"
	case contentForeign:
		return "foreign"
	}
	return fmt.Sprintf("contentKind(%d)", int(k))
}

// content is what probe found on a device.
type content struct {
	kind contentKind
	// what names a foreign content for the log: "xfs", "gpt partition
	// table", "non-zero data at byte 4096".
	what string
	// The ext4 superblock's fields, for contentExt4.
	label     string
	uuid      [16]byte
	blocks    uint64 // s_blocks_count
	blockSize uint32
	// state is s_state: bit 0 clean unmount, bit 1 errors detected.
	state    uint16
	incompat uint32 // s_feature_incompat
}

// is64Bit reports whether the file system can have more than 2^32 blocks.
func (c content) is64Bit() bool { return c.incompat&incompat64Bit != 0 }

// The ext2/3/4 superblock fields probe reads, at their offsets in the
// superblock (which starts 1024 bytes into the device).
const (
	sbBlocksLo     = 4     // s_blocks_count_lo
	sbLogBlockSize = 24    // s_log_block_size: 1024 << n
	sbState        = 58    // s_state
	sbIncompat     = 96    // s_feature_incompat
	sbUUID         = 104   // s_uuid
	sbBlocksHi     = 0x150 // s_blocks_count_hi, with INCOMPAT_64BIT
	incompat64Bit  = 0x80
)

// signature is a magic string at an offset from the start of the device.
type signature struct {
	offset int64
	magic  string
	what   string
}

// signatures are checked in order; the first match names the content.
// The ext4 magic is handled by probe itself.
var signatures = []signature{
	{0, "XFSB", "xfs"},
	{0, "LUKS\xba\xbe", "LUKS"},
	{0x4000, "SKUL\xba\xbe", "LUKS2 (secondary header)"},
	{0x10040, "_BHRfS_M", "btrfs"},
	{4096 - 10, "SWAPSPACE2", "swap"},
	{4096 - 10, "SWAP-SPACE", "swap"},
	{512, "EFI PART", "gpt partition table"},
	{4096, "EFI PART", "gpt partition table (4 KiB sectors)"},
	{3, "NTFS    ", "ntfs"},
	{3, "EXFAT   ", "exfat"},
	{82, "FAT32   ", "vfat (FAT32)"},
	{54, "FAT16   ", "vfat (FAT16)"},
	{54, "FAT12   ", "vfat (FAT12)"},
	{0x8001, "CD001", "iso9660"},
	{512 + 0, "LABELONE", "lvm2 physical volume"},
	{0, "hsqs", "squashfs"},
	{0, "\xfc\x4e\x2b\xa9", "md raid (1.1)"},
	{4096, "\xfc\x4e\x2b\xa9", "md raid (1.2)"},
}

// probe classifies the content of a device of size bytes.
func probe(r io.ReaderAt, size int64) (content, error) {
	if size < 0 {
		return content{}, fmt.Errorf("probe: negative size %d", size)
	}
	head := make([]byte, min(size, blankSpan))
	if err := readFull(r, head, 0); err != nil {
		return content{}, fmt.Errorf("read the first %d bytes: %w", len(head), err)
	}
	if c, ok := parseExt4(head); ok {
		return c, nil
	}
	for _, s := range signatures {
		if s.offset+int64(len(s.magic)) <= int64(len(head)) && string(head[s.offset:s.offset+int64(len(s.magic))]) == s.magic {
			return content{kind: contentForeign, what: s.what}, nil
		}
	}
	if len(head) >= 512 && head[510] == 0x55 && head[511] == 0xaa {
		if !allZero(head[446:510]) {
			return content{kind: contentForeign, what: "mbr partition table"}, nil
		}
		return content{kind: contentForeign, what: "boot sector (0x55AA)"}, nil
	}
	if i := firstNonZero(head); i >= 0 {
		return content{kind: contentForeign, what: fmt.Sprintf("non-zero data at byte %d", i)}, nil
	}
	tailStart := max(int64(len(head)), size-blankSpan)
	if tailStart < size {
		tail := make([]byte, size-tailStart)
		if err := readFull(r, tail, tailStart); err != nil {
			return content{}, fmt.Errorf("read the last %d bytes: %w", len(tail), err)
		}
		if i := firstNonZero(tail); i >= 0 {
			return content{kind: contentForeign, what: fmt.Sprintf("non-zero data at byte %d (%d before the end)", tailStart+int64(i), size-tailStart-int64(i))}, nil
		}
	}
	return content{kind: contentBlank}, nil
}

// parseExt4 reads the ext2/3/4 superblock at byte 1024 of head.
func parseExt4(head []byte) (content, bool) {
	if len(head) < superblockOffset+superblockSize {
		return content{}, false
	}
	sb := head[superblockOffset : superblockOffset+superblockSize]
	if binary.LittleEndian.Uint16(sb[magicOffset:]) != ext4Magic {
		return content{}, false
	}
	c := content{kind: contentExt4, what: "ext4", state: binary.LittleEndian.Uint16(sb[sbState:])}
	label := sb[labelOffset : labelOffset+labelSize]
	if i := bytes.IndexByte(label, 0); i >= 0 {
		label = label[:i]
	}
	c.label = string(label)
	copy(c.uuid[:], sb[sbUUID:])
	c.blocks = uint64(binary.LittleEndian.Uint32(sb[sbBlocksLo:]))
	c.incompat = binary.LittleEndian.Uint32(sb[sbIncompat:])
	if c.is64Bit() {
		c.blocks |= uint64(binary.LittleEndian.Uint32(sb[sbBlocksHi:])) << 32
	}
	if lg := binary.LittleEndian.Uint32(sb[sbLogBlockSize:]); lg <= 6 {
		c.blockSize = 1024 << lg
	} // else: a corrupt superblock; blockSize 0 disables the resize
	return c, true
}

// readFull reads len(b) bytes at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func allZero(b []byte) bool { return firstNonZero(b) < 0 }

// firstNonZero returns the index of the first non-zero byte of b, or -1.
func firstNonZero(b []byte) int {
	for i, c := range b {
		if c != 0 {
			return i
		}
	}
	return -1
}
