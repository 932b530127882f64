//go:build !linux || bootapp_portable

package image

import "os"

// copyRange reports errNoCopyRange: only Linux has copy_file_range(2) (the
// bootapp_portable build tag forces this path on Linux, for tests), so
// copySparse reads and writes.
func copyRange(_, _ *os.File, _, _ int64) (int64, error) {
	return 0, errNoCopyRange
}
