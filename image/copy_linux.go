//go:build !bootapp_portable

package image

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyRange copies up to n bytes at off from src to dst, at the same
// offset, inside the kernel with copy_file_range(2), and returns how many it
// copied. It returns errNoCopyRange when the kernel or the file systems
// cannot do it.
func copyRange(dst, src *os.File, off, n int64) (int64, error) {
	roff, woff := off, off
	c, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), &woff, int(n), 0)
	switch {
	case err == nil && c > 0:
		return int64(c), nil
	case err == nil:
		return 0, fmt.Errorf("copy %s at offset %d: %w", src.Name(), off, io.ErrUnexpectedEOF)
	case errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
		return 0, errNoCopyRange
	}
	return 0, fmt.Errorf("copy %s at offset %d: %w", src.Name(), off, err)
}
