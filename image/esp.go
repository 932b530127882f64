package image

import (
	"context"
	"fmt"
	"os"
	"path"
	"time"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// writeESP creates a FAT32 file system in the partition of size bytes at
// offset start of b (see fat32FSSize) and writes files into it, each with
// a single Write (go-diskfs rescans and rewrites the FAT on every Write).
// serial becomes the FAT volume ID.
func writeESP(ctx context.Context, b backend.Storage, start, size int64, files []espFile, serial uint32) error {
	fsys, err := fat32.Create(b, fat32FSSize(size), start, sectorSize, espLabel, true)
	if err != nil {
		return fmt.Errorf("create FAT32 ESP: %w", err)
	}
	var dirs []string
	seen := map[string]bool{}
	for _, fl := range files {
		for d := path.Dir(fl.path); d != "/" && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	for _, fl := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fsys.Mkdir(path.Dir(fl.path)); err != nil {
			return fmt.Errorf("create ESP directory %s: %w", path.Dir(fl.path), err)
		}
		w, err := fsys.OpenFile(fl.path, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("create ESP file %s: %w", fl.path, err)
		}
		n, err := w.Write(fl.data)
		if err == nil && n != len(fl.data) {
			err = fmt.Errorf("wrote %d of %d bytes", n, len(fl.data))
		}
		if err != nil {
			return fmt.Errorf("write ESP file %s (%s): %w", fl.path, fmtSize(int64(len(fl.data))), err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("close ESP file %s: %w", fl.path, err)
		}
	}

	// go-diskfs stamps entries with the current time (or SOURCE_DATE_EPOCH,
	// which would mean changing the process environment). Chtimes rewrites
	// them: every file, every directory's entry in its parent, the "." and
	// ".." entries inside each directory, and the volume label entry, all
	// to the FAT epoch, so the output does not depend on when it was built.
	fatEpoch := time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)
	stamp := []string{"/" + espLabel}
	for _, d := range dirs {
		stamp = append(stamp, d, d+"/.", d+"/..")
	}
	for _, fl := range files {
		stamp = append(stamp, fl.path)
	}
	for _, p := range stamp {
		if err := fsys.Chtimes(p, fatEpoch, fatEpoch, fatEpoch); err != nil {
			return fmt.Errorf("set timestamp of ESP entry %s: %w", p, err)
		}
	}

	return fixFAT32(b, start, serial)
}
