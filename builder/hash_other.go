//go:build !unix || bootapp_portable

package builder

import "os"

// allocated returns the file's size: this platform does not report the
// bytes a file occupies on disk through os.FileInfo (the bootapp_portable
// build tag forces this path on Unix, for tests).
func allocated(fi os.FileInfo) int64 {
	return fi.Size()
}
