//go:build !(linux || darwin || freebsd) || bootapp_portable

package sparse

import "os"

// findsHoles is true where Extents asks the file system for holes.
const findsHoles = false

// dataExtents reports the whole file: this platform has no portable way to
// find holes (the bootapp_portable build tag forces this path on Linux, for
// tests). The encoders still skip all-zero blocks, so the output stays
// sparse; only the whole input is read.
func dataExtents(_ *os.File, size int64) ([]Extent, error) {
	return []Extent{{0, size}}, nil
}
