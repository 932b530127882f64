package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"unicode"
	"unicode/utf8"

	"github.com/bootapp/bootapp/image/ext4"
)

const (
	// MinDataVolumeSize is the smallest data volume WriteDataVolume
	// accepts: room for the ext4 metadata, a 4 MiB journal and some data.
	// Smaller file systems can be laid out, but below this size the
	// journal and metadata take most of the space.
	MinDataVolumeSize = 16 << 20

	// MaxDataVolumeSize is the largest data volume WriteDataVolume
	// accepts: just under 16 TiB (2^32 - 1 blocks of 4 KiB), the most a
	// file system with a resize inode can span. Its 64bit feature lets
	// the guest grow the volume past that online.
	MaxDataVolumeSize = ext4.MaxSize

	// MaxLabelLen is the longest ext4 volume label in bytes
	// (the superblock's s_volume_name field).
	MaxLabelLen = ext4.MaxLabelLen
)

// ErrBadLabel is wrapped when a data volume label is empty, longer than
// MaxLabelLen bytes, not UTF-8 or contains control characters or '/'.
var ErrBadLabel = errors.New("invalid file system label")

// WriteDataVolume writes a sparse raw ext4 file system that spans the whole
// file at path (no partition table), with the given label. The guest init
// finds the volume by that label. size must be a multiple of 512 bytes and
// at least MinDataVolumeSize (ErrTooSmall otherwise) and at most
// MaxDataVolumeSize (ErrBadSize). The file is created or truncated; on
// error, including a cancelled ctx, it is removed.
//
// The volume holds an empty root directory and lost+found; it passes
// e2fsck -fn. Only its metadata is written (package image/ext4), so the
// cost follows the metadata: about 600 KB for 1 GiB, 16 MB for 1 TiB, the
// rest holes. Its UUID is random, so two volumes never collide when both
// are attached to one machine; the output is therefore not
// byte-reproducible.
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
	if size > MaxDataVolumeSize {
		return fmt.Errorf("data volume %s: size %d: %w: at most %d bytes (16 TiB less 4 KiB)",
			path, size, ErrBadSize, int64(MaxDataVolumeSize))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("data volume %s: %w", path, err)
	}

	// A plain file: Format writes only metadata, from tens to a few
	// thousand runs of whole blocks that are (almost) never zeros, so
	// the combining and hole punching of sparseFile would only cost its
	// 4 MiB buffer.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create data volume %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close data volume %s: %w", path, cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("size data volume %s to %d bytes (is there room on its file system?): %w", path, size, err)
	}
	if _, err := ext4.Format(ctx, f, ext4.Params{Size: size, Label: label}); err != nil {
		return fmt.Errorf("data volume %s: %w", path, err)
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
