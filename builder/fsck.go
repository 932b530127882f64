package builder

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/deb"
)

// The guest checks its data volume with Debian's statically linked e2fsck
// (package e2fsck-static, fetched into the cache with the kernel) before
// mounting it. It lives in the base segment at fsckGuestPath: root-owned,
// on the read-only root, where the app can neither replace nor add it.
const (
	fsckPathInDeb = "sbin/e2fsck.static"
	fsckGuestPath = "/sbin/e2fsck" // the init's e2fsckPath
)

// findFsck returns the newest e2fsck-static package in the cache, or "" (with
// a log line: the guest then mounts its volume unchecked) when there is none.
func findFsck(cacheDir string, logf func(string, ...any)) string {
	p, err := cache.Newest(filepath.Join(cacheDir, cache.Debs), cache.FsckPattern)
	if err != nil {
		logf("e2fsck: no e2fsck-static package in %s: the guest will mount its data volume without checking it (mkbootapp fetch downloads it)", filepath.Join(cacheDir, cache.Debs))
		return ""
	}
	logf("e2fsck: %s as %s, run on the data volume before it is mounted", filepath.Base(p), fsckGuestPath)
	return p
}

// writeFsck writes e2fsck from the e2fsck-static package at path.
func writeFsck(ctx context.Context, w *initramfs.Writer, path string) error {
	b, err := deb.ExtractFile(ctx, path, fsckPathInDeb)
	if err != nil {
		return fmt.Errorf("e2fsck-static package %s: %w", path, err)
	}
	return w.WriteFile(fsckGuestPath, 0o755, b)
}
