package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"unicode"
	"unicode/utf8"

	"github.com/diskfs/go-diskfs/filesystem/ext4"
)

const (
	// MinDataVolumeSize is the smallest data volume WriteDataVolume
	// accepts: room for the ext4 metadata, a 4 MiB journal and some data.
	// go-diskfs can lay out smaller file systems, but below this size the
	// journal and metadata take most of the space.
	MinDataVolumeSize = 16 << 20

	// MaxLabelLen is the longest ext4 volume label in bytes
	// (the superblock's s_volume_name field).
	MaxLabelLen = 16

	// lostFound is created like mke2fs does, so that e2fsck in the guest
	// can reconnect orphaned inodes without having to allocate the
	// directory during a repair.
	lostFound = "lost+found"
)

// ErrBadLabel is wrapped when a data volume label is empty, longer than
// MaxLabelLen bytes, not UTF-8 or contains control characters or '/'.
var ErrBadLabel = errors.New("invalid file system label")

// WriteDataVolume writes a sparse raw ext4 file system that spans the whole
// file at path (no partition table), with the given label. The guest init
// finds the volume by that label. size must be a multiple of 512 bytes and
// at least MinDataVolumeSize (ErrTooSmall otherwise). The file is created or
// truncated; on error it is removed.
//
// The volume holds an empty root directory and lost+found; it passes
// e2fsck -fn. Its UUID is random, so two volumes never collide when both are
// attached to one machine; the output is therefore not byte-reproducible.
func WriteDataVolume(ctx context.Context, path string, size int64, label string) (err error) {
	if err := checkLabel(label); err != nil {
		return fmt.Errorf("data volume %s: %w", path, err)
	}
	if size < MinDataVolumeSize {
		return fmt.Errorf("data volume %s: size of %s: %w; use at least %s",
			path, fmtSize(size), ErrTooSmall, fmtSize(MinDataVolumeSize))
	}
	if size%sectorSize != 0 {
		return fmt.Errorf("data volume %s: size %d is not a multiple of %d bytes: %w", path, size, sectorSize, ErrBadSize)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("data volume %s: %w", path, err)
	}

	sf, err := createSparse(path, size)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sf.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()

	fsys, err := ext4.Create(sf, size, 0, sectorSize, &ext4.Params{
		VolumeName: label,
		// go-diskfs v1.9.4 writes a resize inode that e2fsck rejects
		// ("Resize inode not valid"); online growth is not needed for a
		// volume we create at its final size.
		Features: []ext4.FeatureOpt{ext4.WithFeatureReservedGDTBlocksForExpansion(false)},
	})
	if err != nil {
		return fmt.Errorf("create ext4 on data volume %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("data volume %s: %w", path, err)
	}
	if err := fsys.Mkdir(lostFound); err != nil {
		return fmt.Errorf("create %s on data volume %s: %w", lostFound, path, err)
	}
	if err := fsys.Chmod(lostFound, 0o700); err != nil {
		return fmt.Errorf("chmod %s on data volume %s: %w", lostFound, path, err)
	}
	return nil
}

// checkLabel validates an ext4 volume label.
func checkLabel(label string) error {
	switch {
	case label == "":
		return fmt.Errorf("%w: empty (the guest finds the data volume by its label)", ErrBadLabel)
	case len(label) > MaxLabelLen:
		return fmt.Errorf("%w %q: %d bytes, ext4 allows at most %d", ErrBadLabel, label, len(label), MaxLabelLen)
	case !utf8.ValidString(label):
		return fmt.Errorf("%w %q: not UTF-8", ErrBadLabel, label)
	}
	for _, r := range label {
		if unicode.IsControl(r) || r == '/' {
			return fmt.Errorf("%w %q: contains %q (use letters, digits, '-', '_' or '.')", ErrBadLabel, label, r)
		}
	}
	return nil
}
