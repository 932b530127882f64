package ext4

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

const (
	// BlockSize is the block size of every file system Format writes.
	BlockSize = blockSize

	// MinSize is the smallest size Format accepts: 2048 blocks (8 MiB),
	// the least e2fsprogs gives a journal.
	MinSize = 2048 * BlockSize

	// MaxSize is the largest size Format accepts: 2^32 - 1 blocks, just
	// under 16 TiB. Larger file systems cannot have a resize inode (its
	// block numbers are 32-bit) and would need meta_bg instead.
	MaxSize = (1<<32 - 1) * BlockSize

	// MaxLabelLen is the longest label in bytes (s_volume_name).
	MaxLabelLen = 16
)

var (
	// ErrSize is wrapped when a size is out of range.
	ErrSize = errors.New("ext4: file system size out of range")
	// ErrLabel is wrapped when a label does not fit the superblock.
	ErrLabel = errors.New("ext4: label too long")
)

// Params describes the file system Format writes.
type Params struct {
	// Size is the size of the device in bytes, from MinSize to MaxSize.
	// The file system covers Size / BlockSize blocks, less a last block
	// group too short to be worth having (as mke2fs: at most 564
	// blocks, about 2.2 MiB, are left unused at the end).
	Size int64

	// Label is the volume label, at most MaxLabelLen bytes.
	Label string

	// UUID is the file system UUID. When zero, a random (version 4) one
	// is drawn from Rand, so that two file systems never collide.
	UUID [16]byte

	// HashSeed seeds the directory index hashes (dir_index). When zero
	// it is drawn from Rand.
	HashSeed [16]byte

	// Time is stamped as the creation, write and check time and on the
	// inodes; zero means now.
	Time time.Time

	// Rand is the source of the random UUID and hash seed; nil means
	// crypto/rand. A fixed stream (with a fixed Time) makes the output
	// byte-reproducible, for tests.
	Rand io.Reader
}

// Info describes a file system Format wrote.
type Info struct {
	Blocks         uint64 // file system size in blocks of BlockSize bytes
	Groups         uint32 // block groups
	Inodes         uint32 // inodes (InodesPerGroup per group)
	InodesPerGroup uint32
	FreeBlocks     uint64
	FreeInodes     uint32
	ReservedBlocks uint64 // for root: 5%, mke2fs's default
	ReservedGDT    uint32 // descriptor blocks reserved for online growth
	JournalBlocks  uint32
	UUID           [16]byte
	Written        int64 // bytes written: the metadata
}

// Format writes an empty ext4 file system of p.Size bytes through w, which
// must read as zeros everywhere Format writes nothing (a new sparse file,
// a fresh cloud volume): inode tables, journal blocks and uninitialised
// bitmaps are left as they are and flagged as such. It writes in the order
// it computes, not sequentially, and returns once every write returned.
//
// The file system holds the root directory and lost+found; it passes
// e2fsck -fn. Format checks ctx between groups of writes.
func Format(ctx context.Context, w io.WriterAt, p Params) (*Info, error) {
	if p.Size < MinSize || p.Size > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d to %d", ErrSize, p.Size, int64(MinSize), int64(MaxSize))
	}
	if len(p.Label) > MaxLabelLen {
		return nil, fmt.Errorf("%w: %q has %d bytes, at most %d fit", ErrLabel, p.Label, len(p.Label), MaxLabelLen)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	blocks := uint64(p.Size) / blockSize
	l, err := newLayout(blocks, inodeRatio(blocks))
	if err != nil {
		return nil, err
	}
	f := &formatter{ctx: ctx, w: w, l: l}
	f.sb = superblock{l: l, label: p.Label, uuid: p.UUID, hashSeed: p.HashSeed, now: time.Now().Unix()}
	if !p.Time.IsZero() {
		f.sb.now = p.Time.Unix()
	}
	rnd := p.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	for _, id := range []*[16]byte{&f.sb.uuid, &f.sb.hashSeed} {
		if *id != [16]byte{} {
			continue
		}
		if _, err := io.ReadFull(rnd, id[:]); err != nil {
			return nil, fmt.Errorf("ext4: random UUID: %w", err)
		}
		id[6] = id[6]&0x0f | 0x40 // version 4
		id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	}
	f.seed = crc32c(^uint32(0), f.sb.uuid[:])
	f.sb.journal = extentRoot(l.journal, l.journalIndex)

	if err := f.groups(); err != nil {
		return nil, err
	}
	if err := f.files(); err != nil {
		return nil, err
	}
	if err := f.supers(); err != nil {
		return nil, err
	}
	return &Info{
		Blocks:         l.blocks,
		Groups:         l.groups,
		Inodes:         l.ipg * l.groups,
		InodesPerGroup: l.ipg,
		FreeBlocks:     f.sb.freeBlocks,
		FreeInodes:     f.sb.freeInodes,
		ReservedBlocks: l.reserved,
		ReservedGDT:    l.rsvGDT,
		JournalBlocks:  l.journalLen,
		UUID:           f.sb.uuid,
		Written:        f.written,
	}, nil
}

// inodeRatio is bytes per inode, by mke2fs.conf's size types: 16 KiB up to
// 4 TiB ("default"), 32 KiB above ("big"). The "small" type (below
// 512 MiB) is not followed: it comes with 1 KiB blocks, and one geometry
// for every size keeps a volume able to grow.
func inodeRatio(blocks uint64) uint64 {
	if blocks*blockSize >= 4<<40 {
		return 32768
	}
	return 16384
}

// formatter carries one Format call.
type formatter struct {
	ctx     context.Context
	w       io.WriterAt
	l       *layout
	sb      superblock
	seed    uint32 // metadata checksum seed: crc32c(~0, uuid)
	gdt     []byte // the descriptor table, descBlocks blocks
	written int64
}

// write writes p at block blk.
func (f *formatter) write(p []byte, blk uint64, what string) error {
	if _, err := f.w.WriteAt(p, int64(blk)*blockSize); err != nil {
		return fmt.Errorf("ext4: write %s at block %d: %w", what, blk, err)
	}
	f.written += int64(len(p))
	return nil
}

// groups computes every group descriptor into f.gdt and writes the bitmaps
// that must be initialised: the block bitmap of group 0, of every group
// holding other groups' metadata or file blocks, and of the last group;
// the inode bitmap of group 0. Every other group is BLOCK_UNINIT and
// INODE_UNINIT, and its bitmaps stay holes: the kernel and e2fsck derive
// them from the geometry. Every inode table is flagged zeroed (it is, as
// the device reads as zeros), so the kernel does not zero them after
// mounting.
func (f *formatter) groups() error {
	l := f.l
	f.gdt = make([]byte, int(l.descBlocks)*blockSize)
	bitmap := make([]byte, blockSize)
	next := 0 // first span of l.used that may reach into the group
	var free uint64
	for g := uint32(0); g < l.groups; g++ {
		if g%1024 == 0 {
			if err := f.ctx.Err(); err != nil {
				return err
			}
		}
		start, end := groupStart(g), l.groupEnd(g)
		d := groupDesc{
			blockBitmap:  l.blockBitmap(g),
			inodeBitmap:  l.inodeBitmap(g),
			inodeTable:   l.inodeTable(g),
			freeInodes:   l.ipg,
			itableUnused: l.ipg,
			flags:        bgInodeUninit | bgBlockUninit | bgInodeZeroed,
		}
		// Blocks in use in this group.
		for next < len(l.used) && l.used[next].end <= start {
			next++
		}
		var used uint64
		for i := next; i < len(l.used) && l.used[i].start < end; i++ {
			used += min(l.used[i].end, end) - max(l.used[i].start, start)
		}
		d.freeBlocks = uint32(end - start - used)
		free += uint64(d.freeBlocks)

		// What an uninitialised bitmap would say: the superblock copy
		// and the group's own metadata where it lies inside the group.
		own := uint64(0)
		if l.hasSuper(g) {
			own += l.superLen()
		}
		if g%flexGroups == 0 {
			own += 2 + uint64(l.itb)
		}
		if used != own || g == l.groups-1 {
			d.flags &^= bgBlockUninit
			clear(bitmap)
			for i := next; i < len(l.used) && l.used[i].start < end; i++ {
				setBits(bitmap, max(l.used[i].start, start)-start, min(l.used[i].end, end)-start)
			}
			setBits(bitmap, end-start, blocksPerGroup) // past the end of the file system
			d.blockBitmapCsum = crc32c(f.seed, bitmap[:blocksPerGroup/8])
			if err := f.write(bitmap, d.blockBitmap, "block bitmap"); err != nil {
				return err
			}
		}
		if g == 0 {
			// Inodes 1 to 11 are in use: the reserved ones and
			// lost+found.
			d.flags &^= bgInodeUninit
			d.freeInodes = l.ipg - firstIno
			d.itableUnused = l.ipg - firstIno
			d.usedDirs = 2
			clear(bitmap)
			setBits(bitmap, 0, firstIno)
			setBits(bitmap, uint64(l.ipg), 8*blockSize) // padding
			d.inodeBitmapCsum = crc32c(f.seed, bitmap[:l.ipg/8])
			if err := f.write(bitmap, d.inodeBitmap, "inode bitmap"); err != nil {
				return err
			}
		}
		d.encode(f.gdt[int(g)*descSize:int(g+1)*descSize], g, f.seed)
	}
	f.sb.freeBlocks = free
	f.sb.freeInodes = l.ipg*l.groups - firstIno
	return nil
}

// supers writes the primary superblock, descriptor table and reserved
// descriptor blocks (which the resize inode uses as its indirect blocks),
// then a superblock and descriptor copy into every backup group. Backup
// reserved descriptor blocks are all zeros and stay holes.
func (f *formatter) supers() error {
	l := f.l
	primary := make([]byte, int(1+l.descBlocks+l.rsvGDT)*blockSize)
	copy(primary[superOffset:], f.sb.encode(0))
	copy(primary[blockSize:], f.gdt)
	f.resizeBlocks(primary[int(1+l.descBlocks)*blockSize:])
	if err := f.write(primary, 0, "superblock and descriptors"); err != nil {
		return err
	}
	backup := make([]byte, int(1+l.descBlocks)*blockSize)
	copy(backup[blockSize:], f.gdt)
	for _, g := range l.backups {
		if err := f.ctx.Err(); err != nil {
			return err
		}
		copy(backup, f.sb.encode(g))
		if err := f.write(backup, groupStart(g), "backup superblock and descriptors"); err != nil {
			return err
		}
	}
	return nil
}

// resizeBlocks fills the primary reserved descriptor blocks, b, as the
// resize inode's indirect blocks: each lists where its backups lie (the
// same block of every backup group).
func (f *formatter) resizeBlocks(b []byte) {
	l := f.l
	for i := uint32(0); i < l.rsvGDT; i++ {
		blk := b[int(i)*blockSize : int(i+1)*blockSize]
		primary := uint64(1 + l.descBlocks + i)
		for j, g := range l.backups {
			binary.LittleEndian.PutUint32(blk[4*j:], uint32(groupStart(g)+primary))
		}
	}
}

// files writes the first inode table block (inodes 1 to 16), the two
// directories, the resize inode's double-indirect block and the journal's
// superblock and extent leaf.
func (f *formatter) files() error {
	l := f.l
	if err := f.ctx.Err(); err != nil {
		return err
	}
	now := f.sb.now
	inodes := map[uint32]*inode{
		rootIno: {mode: modeDir | 0o755, links: 3, size: blockSize, blocks: 1,
			flags: extentsFlag, iblock: extentRoot(l.root, 0), extra: true},
		lpfIno: {mode: modeDir | 0o700, links: 2, size: 4 * blockSize, blocks: 4,
			flags: extentsFlag, iblock: extentRoot(l.lpf, 0), extra: true},
		journalIno: {mode: modeFile | 0o600, links: 1, size: uint64(l.journalLen) * blockSize,
			blocks: extentBlocks(l.journal), flags: extentsFlag, iblock: f.sb.journal, extra: true},
	}
	if l.journalIndex != 0 {
		inodes[journalIno].blocks++
	}
	if l.rsvGDT > 0 {
		// The resize inode maps the reserved descriptor blocks through
		// its double-indirect block: entry k of that block is the
		// primary reserved block that is, as an indirect block, the
		// list of its backups. Its size is the largest such a map can
		// reach.
		rsz := &inode{mode: modeFile | 0o600, links: 1, extra: true,
			size:   (addrsPerBlock*addrsPerBlock + addrsPerBlock + 12) * blockSize,
			blocks: 1 + uint64(l.rsvGDT)*uint64(1+len(l.backups))}
		binary.LittleEndian.PutUint32(rsz.iblock[4*dindBlockIndex:], uint32(l.dind))
		inodes[resizeIno] = rsz
	}
	table := make([]byte, blockSize)
	for ino := uint32(1); ino <= inodesPerBlock; ino++ {
		in, ok := inodes[ino]
		if !ok {
			if ino >= firstIno {
				continue // unused: beyond bg_itable_unused's mark
			}
			in = &inode{} // an unused reserved inode: zeros, checksummed, as mke2fs writes it
		}
		in.encode(table[(ino-1)*inodeSize:ino*inodeSize], ino, now, f.seed)
	}
	if err := f.write(table, l.inodeTable(0), "inode table"); err != nil {
		return err
	}

	root := dirBlock(rootIno, []dirent{{rootIno, "."}, {rootIno, ".."}, {lpfIno, "lost+found"}}, f.seed)
	if err := f.writeFile(l.root, [][]byte{root}, "root directory"); err != nil {
		return err
	}
	lpf := [][]byte{dirBlock(lpfIno, []dirent{{lpfIno, "."}, {rootIno, ".."}}, f.seed)}
	empty := dirBlock(lpfIno, nil, f.seed)
	lpf = append(lpf, empty, empty, empty)
	if err := f.writeFile(l.lpf, lpf, "lost+found"); err != nil {
		return err
	}

	if l.rsvGDT > 0 {
		dind := make([]byte, blockSize)
		for i := uint32(0); i < l.rsvGDT; i++ {
			k := (l.descBlocks + i) % addrsPerBlock
			binary.LittleEndian.PutUint32(dind[4*k:], 1+l.descBlocks+i)
		}
		if err := f.write(dind, l.dind, "resize inode"); err != nil {
			return err
		}
	}

	if err := f.write(journalSuper(f.sb.uuid, l.journalLen), l.journal[0].start, "journal superblock"); err != nil {
		return err
	}
	if l.journalIndex != 0 {
		if err := f.write(leafBlock(l.journal, journalIno, f.seed), l.journalIndex, "journal extents"); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes the blocks of a file, one per element of data, to the
// blocks its extents map.
func (f *formatter) writeFile(ext []extent, data [][]byte, what string) error {
	for _, e := range ext {
		for i := uint32(0); i < e.length; i++ {
			if err := f.write(data[e.logical+i], e.start+uint64(i), what); err != nil {
				return err
			}
		}
	}
	return nil
}
