package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The parts of the ext2/3/4 superblock that identify a volume. The superblock
// is 1024 bytes long and starts 1024 bytes into the device. Hand-written
// because it is three fields: a filesystem library would cost the init
// hundreds of kilobytes.
const (
	superblockOffset = 1024
	superblockSize   = 1024
	magicOffset      = 56 // s_magic, little-endian uint16
	ext4Magic        = 0xEF53
	labelOffset      = 120 // s_volume_name, 16 bytes, NUL padded
	labelSize        = 16
)

// errNotExt4 says a device holds no ext2/3/4 superblock.
var errNotExt4 = errors.New("no ext4 superblock")

// ext4Label returns the volume label of the ext2/3/4 filesystem on r. It
// returns errNotExt4 when r is too short or has no ext4 magic number.
func ext4Label(r io.ReaderAt) (string, error) {
	sb := make([]byte, superblockSize)
	n, err := r.ReadAt(sb, superblockOffset)
	if n < labelOffset+labelSize {
		if err == nil || errors.Is(err, io.EOF) {
			return "", errNotExt4
		}
		return "", fmt.Errorf("read superblock: %w", err)
	}
	if binary.LittleEndian.Uint16(sb[magicOffset:]) != ext4Magic {
		return "", errNotExt4
	}
	label := sb[labelOffset : labelOffset+labelSize]
	if i := bytes.IndexByte(label, 0); i >= 0 {
		label = label[:i]
	}
	return string(label), nil
}
