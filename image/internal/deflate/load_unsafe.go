//go:build (amd64 || arm64) && !purego

package deflate

import "unsafe"

// load32 returns the 4 bytes of b at i, little-endian. The caller
// guarantees 0 <= i and i+4 <= len(b): on these little-endian machines,
// which load unaligned words, this is one load without a bounds check
// (the match finder's inner loops do several per input byte).
func load32(b []byte, i int) uint32 {
	return *(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// load8 returns b[i]; the caller guarantees 0 <= i < len(b).
func load8(b []byte, i int) byte {
	return *(*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// store64 writes v at b[i:i+8], little-endian; the caller guarantees
// 0 <= i and i+8 <= len(b).
func store64(b []byte, i int, v uint64) {
	*(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i)) = v
}

// load64 returns the 8 bytes of b at i, little-endian; the caller
// guarantees 0 <= i and i+8 <= len(b).
func load64(b []byte, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}
