// Package ext4 writes empty ext4 file systems: a small mkfs that writes only
// the metadata, so that its cost follows the metadata, not the size. A
// 1 GiB file system is about 600 KB of writes, 1 TiB about 16 MB, and the
// rest of the device is never touched (it must read as zeros, as a new
// sparse file or cloud volume does).
//
// Format takes the device as an io.WriterAt and Params (size, label,
// optional UUID, hash seed, time and random source) and returns Info
// (geometry and free counts). It computes the layout first, without I/O,
// then writes, per block group, the bitmaps that must be initialised, then
// the few file blocks, then the superblock and descriptor copies.
//
// # What is written
//
// The result is what Debian bookworm's mke2fs (e2fsprogs 1.47) makes of
// the same device with -E lazy_itable_init=1,lazy_journal_init=1 on a
// device that reads as zeros: the same geometry, free counts and feature
// set, so e2fsck, resize2fs and the kernel see nothing unusual:
//
//   - Features: has_journal ext_attr resize_inode dir_index filetype extent
//     64bit flex_bg sparse_super large_file huge_file dir_nlink extra_isize
//     metadata_csum (bookworm's mke2fs.conf for ext4). 64bit is needed only
//     past 16 TiB, but it is what the kernel needs to grow the volume past
//     16 TiB online later, so it is on. resize_inode is dropped only where
//     no descriptor block would be reserved (at MinSize, and within 8 GiB
//     of MaxSize).
//   - 4 KiB blocks, 32768 blocks per group, 256-byte inodes, one inode per
//     16 KiB (32 KiB from 4 TiB, mke2fs's "big" type), flex groups of 16,
//     5% of the blocks reserved for root. mke2fs's "small" type (1 KiB
//     blocks below 512 MiB) is not followed: one geometry for every size.
//   - Group 0 and groups 1, 3^n, 5^n, 7^n (sparse_super) begin with a
//     superblock copy, the descriptor table (64-byte descriptors) and the
//     reserved descriptor blocks for online growth (enough for 1024 times
//     the size, at most 1024 blocks, up to 2^32 blocks in all; beyond that
//     the kernel switches to meta_bg by itself).
//   - The first group of each flex group holds the block bitmaps, inode
//     bitmaps and inode tables of its 16 groups, in that order.
//   - Descriptors carry BLOCK_UNINIT (except where the bitmap says more
//     than the geometry: flex group leaders, groups with file blocks, the
//     last group), INODE_UNINIT (except group 0) and ITABLE_ZEROED on every
//     group: the inode tables are holes and therefore zeros, so the kernel
//     has nothing to zero after the first mount. Uninitialised bitmaps are
//     holes; initialised ones are written, with their checksums.
//   - Inodes 1 to 11: the reserved inodes as zeros with a checksum, the
//     root directory (2, one block), the resize inode (7), the journal (8)
//     and lost+found (11, four blocks: 16 KiB, so e2fsck can reconnect
//     files without allocating).
//   - The resize inode maps the reserved descriptor blocks through its
//     double-indirect block, each primary reserved block listing its
//     backups, as e2fsprogs' ext2fs_create_resize_inode lays it out.
//   - The journal (e2fsprogs' default size: 4 MiB to 1 GiB) is allocated
//     right after the directories, in extents of at most 32768 blocks
//     around the backup superblocks; more than four extents go into one
//     extent tree leaf. Only its superblock (jbd2 v2, empty: s_start 0) is
//     written; the kernel sets the journal checksum features at mount.
//   - metadata_csum: CRC-32C checksums of the superblock, descriptors,
//     bitmaps, inodes, directory blocks (tail entries) and extent blocks,
//     seeded with the CRC-32C of the UUID.
//
// A last block group too short to hold its own metadata and 50 blocks is
// left out, as mke2fs does, so Info.Blocks may be less than Size/BlockSize
// by up to 564 blocks.
//
// # Identity
//
// The UUID and the directory hash seed are random (version 4 UUIDs from
// crypto/rand) unless given: two volumes attached to one machine must not
// share a UUID. Params.Rand and Params.Time make the output
// byte-reproducible for tests.
//
// The layout follows the kernel's Documentation/filesystems/ext4 and was
// checked against e2fsprogs' dumpe2fs, debugfs, e2fsck and resize2fs; the
// tests compare the geometry and free counts with mke2fs's at several
// sizes and mount the result.
package ext4
