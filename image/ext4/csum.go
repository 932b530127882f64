package ext4

import (
	"hash/crc32"
)

// castagnoli is the CRC-32C table: ext4's metadata_csum checksums are all
// CRC-32C (s_checksum_type 1).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c continues the CRC-32C of the kernel's and e2fsprogs'
// crc32c_le(seed, p): the raw shift register, without the final inversion
// that hash/crc32 applies. Chaining is therefore plain:
// crc32c(crc32c(s, a), b) == crc32c(s, a||b).
func crc32c(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}

// crc32cU32 continues a CRC-32C over the little-endian bytes of v. It
// steps the table itself: a 4-byte slice handed to hash/crc32 would be
// allocated on the heap, once per group descriptor.
func crc32cU32(seed, v uint32) uint32 {
	c := seed
	for range 4 {
		c = castagnoli[byte(c)^byte(v)] ^ c>>8
		v >>= 8
	}
	return c
}

// inodeSeed is the per-inode checksum seed that inode, directory block and
// extent block checksums start from: the file system's seed continued over
// the inode number and its generation.
func inodeSeed(fsSeed, ino, generation uint32) uint32 {
	return crc32cU32(crc32cU32(fsSeed, ino), generation)
}
