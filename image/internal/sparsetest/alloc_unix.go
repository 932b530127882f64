//go:build unix

package sparsetest

import (
	"os"
	"syscall"
	"testing"
)

// allocated returns the bytes path occupies on disk: st_blocks in
// 512-byte units.
func allocated(t testing.TB, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatalf("no block count for %s", path)
	}
	return st.Blocks * 512
}
