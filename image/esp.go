package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// espChunk is how much of a file writeESPFiles reads and writes at a time.
// go-diskfs rescans the cluster chain and rewrites the whole FAT on every
// Write, so a chunk must be large; a multiple of every cluster size keeps
// each Write on whole clusters, which gives the same clusters as a single
// Write would.
const espChunk = 8 << 20

// writeESP is writeESPFiles followed by fixFAT32 with serial as the FAT
// volume ID.
func writeESP(ctx context.Context, b backend.Storage, start, size int64, files []espFile, serial uint32) error {
	if err := writeESPFiles(ctx, b, start, size, files); err != nil {
		return err
	}
	return fixFAT32(b, start, serial)
}

// writeESPFiles creates a FAT32 file system in the partition of size bytes
// at offset start of b (see fat32FSSize) and writes files into it, each in
// chunks of espChunk bytes read from its reader (and passed on to its hash),
// so that memory stays bounded whatever the files' sizes. The FAT32
// structures go-diskfs leaves wrong are for fixFAT32 to correct.
func writeESPFiles(ctx context.Context, b backend.Storage, start, size int64, files []espFile) error {
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
	var buf []byte
	padded := false
	for _, fl := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fsys.Mkdir(path.Dir(fl.path)); err != nil {
			return fmt.Errorf("create ESP directory %s: %w", path.Dir(fl.path), err)
		}
		if fl.align > 0 && !padded {
			var err error
			if padded, err = padTo(fsys, b, start, size, fl.align); err != nil {
				return fmt.Errorf("align ESP file %s: %w", fl.path, err)
			}
		}
		w, err := fsys.OpenFile(fl.path, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("create ESP file %s: %w", fl.path, err)
		}
		if buf == nil {
			buf = make([]byte, espChunk)
		}
		if err := copyESPFile(ctx, w, fl, buf); err != nil {
			return fmt.Errorf("write ESP file %s (%s): %w", fl.path, fmtSize(fl.size), err)
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
	if padded {
		stamp = append(stamp, padPath)
	}
	for _, p := range stamp {
		if err := fsys.Chtimes(p, fatEpoch, fatEpoch, fatEpoch); err != nil {
			return fmt.Errorf("set timestamp of ESP entry %s: %w", p, err)
		}
	}
	return nil
}

// padTo writes padPath, zeros, so that the next file written starts at a
// disk offset that is a multiple of align (or, when clusters are larger
// than the sectors the FATs end on, just below one). go-diskfs gives a
// file the first free clusters, so the next file starts at the first
// free cluster after the pad; it is found in the FAT as written so far.
// It reports whether it wrote the pad (none is needed when the next file
// is aligned already). Only one file of an ESP can be aligned this way.
func padTo(fsys *fat32.FileSystem, b backend.Storage, start, size, align int64) (bool, error) {
	fat, err := openFAT32(io.NewSectionReader(b, start, size))
	if err != nil {
		return false, err
	}
	next := fat.firstFree()
	if next == 0 {
		return false, errors.New("the ESP is full")
	}
	off := start + fat.dataStart + int64(next-2)*fat.clusterBytes
	pad := (align - off%align) % align / fat.clusterBytes * fat.clusterBytes
	if pad == 0 {
		return false, nil
	}
	w, err := fsys.OpenFile(padPath, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return false, fmt.Errorf("create %s: %w", padPath, err)
	}
	if _, err := w.Write(make([]byte, pad)); err != nil {
		w.Close()
		return false, fmt.Errorf("write %s: %w", padPath, err)
	}
	return true, w.Close()
}

// copyESPFile copies fl into w through buf, one chunk per Write.
func copyESPFile(ctx context.Context, w io.Writer, fl espFile, buf []byte) error {
	for off := int64(0); off < fl.size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := buf[:min(int64(len(buf)), fl.size-off)]
		n, err := fl.r.ReadAt(p, off)
		if n < len(p) {
			if err == nil || err == io.EOF {
				err = fmt.Errorf("read %d of %d bytes: %w", off+int64(n), fl.size, io.ErrUnexpectedEOF)
			}
			return err
		}
		m, err := w.Write(p)
		if err == nil && m != len(p) {
			err = fmt.Errorf("wrote %d of %d bytes", m, len(p))
		}
		if err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}
