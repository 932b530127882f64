package sparse

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Extent is a byte range [Off, Off+Len) of a raw image that may hold data.
type Extent struct {
	// Off is the offset of the first byte.
	Off int64
	// Len is the number of bytes.
	Len int64
}

// End returns the offset just past the extent.
func (e Extent) End() int64 { return e.Off + e.Len }

// ErrRange reports extents that are unsorted, overlapping, negative or reach
// past the image size.
var ErrRange = errors.New("sparse: extent out of range")

// Check reports whether extents are sorted, non-overlapping and inside
// [0, size); nil and empty lists are valid. Encoders call it before trusting
// caller-supplied extents; the error matches ErrRange.
func Check(extents []Extent, size int64) error {
	if size < 0 {
		return fmt.Errorf("%w: image size %d is negative", ErrRange, size)
	}
	prev := int64(0)
	for i, e := range extents {
		if e.Off < prev || e.Len < 0 || e.Off+e.Len > size || e.Off+e.Len < e.Off {
			return fmt.Errorf("%w: extent %d [%d,+%d) with image size %d", ErrRange, i, e.Off, e.Len, size)
		}
		prev = e.Off + e.Len
	}
	return nil
}

// Extents returns the data extents of f in increasing offset order: every
// byte outside them reads as zero. It asks the file system (lseek(2)
// SEEK_DATA and SEEK_HOLE on Linux, macOS and FreeBSD); where the platform
// or the file system cannot tell, it returns one extent covering the whole
// file. A file that is empty or all hole gives an empty, non-nil slice. f's
// offset is restored before Extents returns.
func Extents(f *os.File) ([]Extent, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	size := fi.Size()
	if size == 0 {
		return []Extent{}, nil
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("find data in %s: %w", f.Name(), err)
	}
	ext, err := dataExtents(f, size)
	if _, serr := f.Seek(pos, io.SeekStart); serr != nil && err == nil {
		err = fmt.Errorf("find data in %s: %w", f.Name(), serr)
	}
	if err != nil {
		return nil, err
	}
	if ext == nil {
		ext = []Extent{}
	}
	return ext, nil
}
