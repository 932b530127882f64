//go:build !unix

package initramfs

import "io/fs"

// hostFileID reports no identity: where the file system's link counts
// are not known, each name of a file is copied.
func hostFileID(fs.FileInfo) (fileID, bool) { return fileID{}, false }
