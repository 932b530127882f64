//go:build !bootapp_portable

package image

import (
	"os"

	"golang.org/x/sys/unix"
)

// holePunching is true where punchHole can make holes.
const holePunching = true

// punchHole deallocates [off, off+n) of f, which then reads as zeros; the
// file size is unchanged.
func punchHole(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}
