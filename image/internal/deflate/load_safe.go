//go:build !(amd64 || arm64) || purego

package deflate

import "encoding/binary"

// load32 returns the 4 bytes of b at i, little-endian (i+4 <= len(b)).
func load32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }

// load8 returns b[i].
func load8(b []byte, i int) byte { return b[i] }

// store64 writes v at b[i:i+8], little-endian.
func store64(b []byte, i int, v uint64) { binary.LittleEndian.PutUint64(b[i:], v) }

// load64 returns the 8 bytes of b at i, little-endian (i+8 <= len(b)).
func load64(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }
