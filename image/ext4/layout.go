package ext4

import (
	"cmp"
	"fmt"
	"slices"
)

// Geometry constants. Every file system this package writes has 4 KiB
// blocks (one page: the block size the kernel handles best and the only one
// with which a volume can later grow to 16 TiB), 256-byte inodes and flex
// groups of 16 block groups, as mke2fs's ext4 defaults.
const (
	blockSize      = 4096
	logBlockSize   = 2 // s_log_block_size: 1024 << 2
	blocksPerGroup = 8 * blockSize
	inodeSize      = 256
	inodesPerBlock = blockSize / inodeSize
	descSize       = 64 // 64bit feature: ext4_group_desc with the _hi half
	descsPerBlock  = blockSize / descSize
	addrsPerBlock  = blockSize / 4 // block numbers in an indirect block
	logFlexGroups  = 4
	flexGroups     = 1 << logFlexGroups
	firstIno       = 11 // first non-reserved inode: lost+found
	extraIsize     = 32 // i_extra_isize: sizeof(struct ext4_inode) - 128
	maxExtentLen   = 32768
	// reservedPercent of the blocks are reserved for root, mke2fs's
	// default (-m 5).
	reservedPercent = 5
)

// Special inodes.
const (
	rootIno    = 2
	resizeIno  = 7
	journalIno = 8
	lpfIno     = 11
)

// span is the block range [start, end).
type span struct{ start, end uint64 }

// extent maps length blocks of a file from logical block logical onwards
// to the blocks from start.
type extent struct {
	logical uint32
	start   uint64
	length  uint32
}

// layout is where everything of one file system goes: its geometry, the
// per-group metadata positions (computed, not stored) and the blocks of
// the few files mkfs creates. It is computed without touching the disk.
type layout struct {
	blocks     uint64 // file system size in blocks
	groups     uint32
	descBlocks uint32 // blocks of the group descriptor table
	rsvGDT     uint32 // s_reserved_gdt_blocks (0 without resize_inode)
	ipg        uint32 // inodes per group
	itb        uint32 // inode table blocks per group
	journalLen uint32 // journal blocks
	reserved   uint64 // s_r_blocks_count

	// backups lists the groups, after group 0, that hold a copy of the
	// superblock and descriptors (sparse_super: 1 and powers of 3, 5, 7).
	backups []uint32

	// used holds every allocated block, sorted and disjoint: superblocks,
	// descriptor tables, reserved descriptor blocks, bitmaps, inode tables
	// and file blocks.
	used []span

	root, lpf, journal []extent
	dind               uint64 // the resize inode's double-indirect block
	journalIndex       uint64 // the journal's extent leaf block, 0 if none
}

// newLayout computes the layout of a file system of at most blocks blocks
// with one inode per inodeRatio bytes. The file system is smaller when the
// last group would be too small to be worth having, as mke2fs does.
func newLayout(blocks uint64, inodeRatio uint64) (*layout, error) {
	l := &layout{blocks: blocks}
	for {
		if err := l.geometry(inodeRatio); err != nil {
			return nil, err
		}
		// A short last group must hold its bitmaps and inode table (in
		// the worst case: it may be the first of a flex group) and
		// leave some room, or it is dropped (e2fsprogs' rule).
		rem := l.blocks % blocksPerGroup
		overhead := uint64(2 + l.itb)
		if l.hasSuper(l.groups - 1) {
			overhead += l.superLen()
		}
		if l.groups == 1 && rem != 0 && rem < overhead+50 {
			return nil, fmt.Errorf("%w: %d blocks leave no room for data", ErrSize, l.blocks)
		}
		if rem == 0 || rem >= overhead+50 {
			break
		}
		l.blocks -= rem
	}
	l.reserved = l.blocks * reservedPercent / 100
	if err := l.placeMetadata(); err != nil {
		return nil, err
	}
	if err := l.placeFiles(); err != nil {
		return nil, err
	}
	return l, nil
}

// geometry sets the group count, descriptor and inode table sizes for
// l.blocks.
func (l *layout) geometry(inodeRatio uint64) error {
	l.groups = uint32((l.blocks + blocksPerGroup - 1) / blocksPerGroup)
	l.descBlocks = (l.groups + descsPerBlock - 1) / descsPerBlock
	l.backups = l.backups[:0]
	for three, five, seven := uint64(1), uint64(5), uint64(7); ; {
		g := min(three, five, seven)
		if g >= uint64(l.groups) {
			break
		}
		l.backups = append(l.backups, uint32(g))
		switch g {
		case three:
			three *= 3
		case five:
			five *= 5
		default:
			seven *= 7
		}
	}

	// Inodes: one per inodeRatio bytes, spread evenly over the groups,
	// filling whole inode table blocks, a multiple of 8 and at most one
	// bitmap block's worth per group.
	inodes := l.blocks * blockSize / inodeRatio
	ipg := (inodes + uint64(l.groups) - 1) / uint64(l.groups)
	ipg = (ipg + inodesPerBlock - 1) / inodesPerBlock * inodesPerBlock
	ipg = max(ipg, inodesPerBlock)
	ipg = min(ipg, 8*blockSize)
	if ipg*uint64(l.groups) > 1<<32-1 {
		return fmt.Errorf("%w: %d groups of %d inodes overflow the inode count", ErrSize, l.groups, ipg)
	}
	l.ipg = uint32(ipg)
	l.itb = l.ipg / inodesPerBlock

	// Reserved descriptor blocks let the kernel grow the file system
	// online to 1024 times its size, or to 2^32 blocks (what the resize
	// inode's 32-bit block numbers reach), whichever is less, and at
	// most one indirect block's worth (calc_reserved_gdt_blocks in
	// e2fsprogs). Past that the kernel switches to meta_bg by itself.
	maxBlocks := uint64(1<<32 - 1)
	if l.blocks < maxBlocks/1024 {
		maxBlocks = l.blocks * 1024
	}
	rsvGroups := (maxBlocks + blocksPerGroup - 1) / blocksPerGroup
	rsv := int64((rsvGroups+descsPerBlock-1)/descsPerBlock) - int64(l.descBlocks)
	l.rsvGDT = uint32(min(max(rsv, 0), addrsPerBlock))

	l.journalLen = journalBlocks(l.blocks)
	return nil
}

// journalBlocks is e2fsprogs' default journal size for a file system of
// the given number of blocks (ext2fs_default_journal_size): 4 MiB up to
// 1 GiB for 4 KiB blocks.
func journalBlocks(blocks uint64) uint32 {
	switch {
	case blocks < 32768:
		return 1024
	case blocks < 256*1024:
		return 4096
	case blocks < 512*1024:
		return 8192
	case blocks < 4096*1024:
		return 16384
	case blocks < 8192*1024:
		return 32768
	case blocks < 16384*1024:
		return 65536
	case blocks < 32768*1024:
		return 131072
	}
	return 262144
}

// hasSuper reports whether group g holds a superblock and descriptors.
func (l *layout) hasSuper(g uint32) bool {
	if g == 0 {
		return true
	}
	_, found := slices.BinarySearch(l.backups, g)
	return found
}

// superLen is the number of blocks a superblock copy, the descriptor table
// and the reserved descriptor blocks take at the start of a group.
func (l *layout) superLen() uint64 {
	return 1 + uint64(l.descBlocks) + uint64(l.rsvGDT)
}

// groupStart is the first block of group g.
func groupStart(g uint32) uint64 { return uint64(g) * blocksPerGroup }

// groupEnd is the block after the last one of group g.
func (l *layout) groupEnd(g uint32) uint64 {
	return min(groupStart(g+1), l.blocks)
}

// flexMeta returns where the bitmaps and inode tables of the flex group
// led by group lead begin, and how many groups the flex group has. With
// flex_bg they are packed at the start of the lead group, after its
// superblock copy: n block bitmaps, n inode bitmaps, n inode tables.
func (l *layout) flexMeta(lead uint32) (base uint64, n uint32) {
	base = groupStart(lead)
	if l.hasSuper(lead) {
		base += l.superLen()
	}
	return base, min(flexGroups, l.groups-lead)
}

// blockBitmap, inodeBitmap and inodeTable are the first blocks of group
// g's metadata.
func (l *layout) blockBitmap(g uint32) uint64 {
	base, _ := l.flexMeta(g &^ (flexGroups - 1))
	return base + uint64(g%flexGroups)
}

func (l *layout) inodeBitmap(g uint32) uint64 {
	base, n := l.flexMeta(g &^ (flexGroups - 1))
	return base + uint64(n) + uint64(g%flexGroups)
}

func (l *layout) inodeTable(g uint32) uint64 {
	base, n := l.flexMeta(g &^ (flexGroups - 1))
	return base + 2*uint64(n) + uint64(g%flexGroups)*uint64(l.itb)
}

// placeMetadata records the blocks of every superblock copy and every flex
// group's bitmaps and inode tables in l.used.
func (l *layout) placeMetadata() error {
	l.used = make([]span, 0, len(l.backups)+1+int(l.groups/flexGroups)+1)
	for g := uint32(0); g < l.groups; g++ {
		start := groupStart(g)
		if l.hasSuper(g) {
			l.add(span{start, start + l.superLen()})
		}
		if g%flexGroups == 0 {
			base, n := l.flexMeta(g)
			end := base + uint64(n)*(2+uint64(l.itb))
			if end > l.groupEnd(g) {
				// Cannot happen for the inode ratios Format uses; a
				// layout that spills would need a real allocator.
				return fmt.Errorf("%w: the metadata of flex group %d does not fit in group %d", ErrSize, g/flexGroups, g)
			}
			l.add(span{base, end})
		}
	}
	return nil
}

// add appends s to l.used, which must stay sorted: s starts at or after
// the end of the last span (adjacent spans are merged).
func (l *layout) add(s span) {
	if n := len(l.used); n > 0 && l.used[n-1].end == s.start {
		l.used[n-1].end = s.end
		return
	}
	l.used = append(l.used, s)
}

// placeFiles allocates the blocks of the root directory, lost+found and
// the resize inode from the first free block on, then the journal in the
// first free run that holds it whole (as mke2fs, which puts it in the
// middle, it is then in as few extents as it can be), and its extent tree
// leaf if it has more than fit in the inode.
func (l *layout) placeFiles() error {
	var err error
	if l.root, err = l.alloc(1); err != nil {
		return err
	}
	// lost+found has 4 blocks (16 KiB), as mke2fs makes it, so that
	// e2fsck can reconnect files without allocating.
	if l.lpf, err = l.alloc(4); err != nil {
		return err
	}
	if l.rsvGDT > 0 {
		ext, err := l.alloc(1)
		if err != nil {
			return err
		}
		l.dind = ext[0].start
	}
	if start, ok := l.freeRun(uint64(l.journalLen)); ok {
		l.insert(span{start, start + uint64(l.journalLen)})
		for done := uint32(0); done < l.journalLen; done += maxExtentLen {
			l.journal = append(l.journal, extent{logical: done, start: start + uint64(done),
				length: min(maxExtentLen, l.journalLen-done)})
		}
	} else if l.journal, err = l.alloc(l.journalLen); err != nil {
		return err
	}
	if len(l.journal) > inodeExtents {
		if len(l.journal) > leafExtents {
			return fmt.Errorf("%w: the journal needs %d extents", ErrSize, len(l.journal))
		}
		ext, err := l.alloc(1)
		if err != nil {
			return err
		}
		l.journalIndex = ext[0].start
	}
	return nil
}

// freeRun returns the first block of the first run of n free blocks.
func (l *layout) freeRun(n uint64) (uint64, bool) {
	prev := uint64(0)
	for _, s := range l.used {
		if s.start-prev >= n {
			return prev, true
		}
		prev = s.end
	}
	return prev, l.blocks-prev >= n
}

// alloc allocates n blocks first-fit, in extents of at most maxExtentLen
// blocks.
func (l *layout) alloc(n uint32) ([]extent, error) {
	var out []extent
	var logical uint32
	for n > 0 {
		start, ok := l.freeRun(1)
		if !ok {
			return nil, fmt.Errorf("%w: no room for the journal and directories", ErrSize)
		}
		// The free run ends where the next used span starts.
		end := l.blocks
		if i, _ := slices.BinarySearchFunc(l.used, start, func(s span, b uint64) int {
			return cmp.Compare(s.start, b)
		}); i < len(l.used) {
			end = l.used[i].start
		}
		length := uint32(min(uint64(n), end-start, maxExtentLen))
		out = append(out, extent{logical: logical, start: start, length: length})
		l.insert(span{start, start + uint64(length)})
		logical += length
		n -= length
	}
	return out, nil
}

// insert adds s, which must be free, to l.used, merging it with its
// neighbours.
func (l *layout) insert(s span) {
	i, _ := slices.BinarySearchFunc(l.used, s.start, func(u span, b uint64) int {
		return cmp.Compare(u.start, b)
	})
	if i > 0 && l.used[i-1].end == s.start {
		l.used[i-1].end = s.end
		if i < len(l.used) && l.used[i].start == s.end {
			l.used[i-1].end = l.used[i].end
			l.used = slices.Delete(l.used, i, i+1)
		}
		return
	}
	if i < len(l.used) && l.used[i].start == s.end {
		l.used[i].start = s.start
		return
	}
	l.used = slices.Insert(l.used, i, s)
}
