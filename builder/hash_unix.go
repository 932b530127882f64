//go:build unix && !bootapp_portable

package builder

import (
	"os"
	"syscall"
)

// allocated returns the bytes a file occupies on disk (st_blocks), or its
// size when the file system does not say.
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
