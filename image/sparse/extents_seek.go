//go:build (linux || darwin || freebsd) && !bootapp_portable

package sparse

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// findsHoles is true where Extents asks the file system for holes.
const findsHoles = true

// dataExtents walks f's data with lseek(2) SEEK_DATA and SEEK_HOLE. A file
// system that does not support them gives the whole file.
func dataExtents(f *os.File, size int64) ([]Extent, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("find data in %s: %w", f.Name(), err)
	}
	var out []Extent
	var serr error
	err = rc.Control(func(fd uintptr) {
		out, serr = seekExtents(int(fd), f.Name(), size)
	})
	if err != nil {
		return nil, fmt.Errorf("find data in %s: %w", f.Name(), err)
	}
	return out, serr
}

func seekExtents(fd int, name string, size int64) ([]Extent, error) {
	whole := []Extent{{0, size}}
	var out []Extent
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) { // no data after off
				break
			}
			if unsupported(err) {
				return whole, nil
			}
			return nil, fmt.Errorf("seek data in %s at %d: %w", name, off, err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			if unsupported(err) {
				return whole, nil
			}
			return nil, fmt.Errorf("seek hole in %s at %d: %w", name, data, err)
		}
		hole = min(hole, size)
		if hole <= data {
			break
		}
		out = append(out, Extent{data, hole - data})
		off = hole
	}
	return out, nil
}

// unsupported reports errors by which a file system says it cannot find
// holes (EOPNOTSUPP and ENOTSUP differ on macOS).
func unsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP)
}
