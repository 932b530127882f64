//go:build unix

package initramfs

import (
	"io/fs"
	"syscall"
)

// hostFileID returns the device and inode of a file with more than one
// link; ok is false for a file with one.
func hostFileID(info fs.FileInfo) (id fileID, ok bool) {
	st, isStat := info.Sys().(*syscall.Stat_t)
	if !isStat || st.Nlink < 2 {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}
