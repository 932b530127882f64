package image

import (
	"errors"
	"fmt"
)

// ErrTooSmall is wrapped when a requested image size cannot hold its
// contents. The error message says the minimum size to use.
var ErrTooSmall = errors.New("image too small")

// ErrBadSize is wrapped when a requested image size is negative, not a
// multiple of the 512-byte sector, or larger than the layout supports.
var ErrBadSize = errors.New("invalid image size")

const (
	// sectorSize is the logical sector size of every image we write.
	sectorSize = 512
	mib        = 1 << 20
)

// fmtSize formats a byte count in MiB for error messages: "66 MiB",
// "13.6 MiB".
func fmtSize(n int64) string {
	if n%mib == 0 {
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/mib)
}
