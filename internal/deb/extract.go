package deb

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// ExtractFile returns the contents of the regular file name (for example
// "usr/lib/systemd/boot/efi/systemd-bootx64.efi"; a leading "/" or "./" is
// ignored) from the data archive of the .deb at debPath. It follows no
// links. Errors match fs.ErrNotExist when debPath is missing,
// ErrFileNotFound when the package has no such file, and ErrNotDeb or
// ErrTruncated for a damaged package.
func ExtractFile(ctx context.Context, debPath, name string) ([]byte, error) {
	want := cleanName(name)
	f, err := os.Open(debPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("Debian package %s not found: %w", debPath, err)
		}
		return nil, fmt.Errorf("open Debian package: %w", err)
	}
	defer f.Close()
	rd, err := NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", debPath, err)
	}
	defer rd.Close()
	tr, err := rd.Data()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", debPath, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("extract %s from %s: %w", name, debPath, err)
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("extract %s from %s: %w", name, debPath, ErrFileNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", debPath, truncated(err))
		}
		if cleanName(h.Name) != want {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("extract %s from %s: not a regular file (tar type %q)", name, debPath, h.Typeflag)
		}
		if IsSparse(h) {
			return nil, fmt.Errorf("extract %s from %s: %w: a sparse tar entry (dpkg writes none)", name, debPath, errors.ErrUnsupported)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s from %s: %w", name, debPath, truncated(err))
		}
		return b, nil
	}
}

// IsSparse reports whether h is a sparse file, in the old GNU format (type
// 'S') or a PAX one (GNU.sparse.* records). archive/tar expands such an
// entry to h.Size bytes, holes read as zeros, from a few hundred bytes of
// archive: read whole into memory, a tiny hostile package would ask for
// gigabytes. dpkg neither writes nor unpacks sparse entries, so readers of
// package contents refuse them.
func IsSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// cleanName turns "./usr/x", "/usr/x" and "usr/x" into "usr/x".
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}
