package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bootapp/bootapp/image/gce"
	"github.com/bootapp/bootapp/image/qcow2"
	"github.com/bootapp/bootapp/image/vhd"
	"github.com/bootapp/bootapp/image/vmdk"
	"github.com/bootapp/bootapp/internal/sparse"
	"golang.org/x/sys/unix"
)

// ErrUnknownFormat reports a Format that Encode does not know.
var ErrUnknownFormat = errors.New("unknown image format")

// ErrSameFile reports an Encode whose destination is its source; the
// source is left untouched.
var ErrSameFile = errors.New("destination is the source")

// Encode writes the raw disk image at srcPath to dstPath in format f. It
// creates (or truncates) dstPath and removes it again on error; callers
// pass a temporary path and rename it into place. Only the data extents of
// the source are read, and sparse formats stay sparse:
//
//   - Raw: a sparse copy (copy_file_range per data extent, which the file
//     system may turn into a reflink).
//   - VMDKStream, VMDKSparse: see package vmdk. The descriptor's extent
//     name is dstPath's base name up to ".vmdk", without a leading dot
//     (".hello.vmdk.tmp-123" gives "hello.vmdk").
//   - QCOW2: see package qcow2.
//   - VHD: see package vhd; the virtual size is rounded up to 1 MiB.
//   - GCE: see package gce; disk.raw in a gzip'd old-GNU sparse tar.
//
// Encoding is deterministic: the same source gives the same bytes.
func Encode(ctx context.Context, f Format, dstPath, srcPath string) (err error) {
	if !knownFormat(f) {
		return fmt.Errorf("encode %s: %w %q", dstPath, ErrUnknownFormat, f)
	}
	src, err := os.Open(srcPath)
	if err != nil {
		return fmt.Errorf("open raw image: %w", err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return fmt.Errorf("stat raw image: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("raw image %s is not a regular file", srcPath)
	}
	size := fi.Size()
	if size == 0 && f != Raw && f != GCE {
		return fmt.Errorf("raw image %s is empty: %w", srcPath, ErrBadSize)
	}
	if dfi, err := os.Stat(dstPath); err == nil && os.SameFile(fi, dfi) {
		return fmt.Errorf("encode %s: destination is the source image: %w", dstPath, ErrSameFile)
	}
	extents, err := sparse.Extents(src)
	if err != nil {
		return fmt.Errorf("find data in raw image: %w", err)
	}
	dst, err := os.OpenFile(dstPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create image: %w", err)
	}
	defer func() {
		if cerr := dst.Close(); err == nil && cerr != nil { // NFS and full disks report late
			err = fmt.Errorf("write %s: %w", dstPath, cerr)
		}
		if err != nil {
			os.Remove(dstPath)
		}
	}()
	err = encodeTo(ctx, f, dst, src, size, extents)
	if err != nil {
		return fmt.Errorf("encode %s as %s: %w", srcPath, f, err)
	}
	return nil
}

func knownFormat(f Format) bool {
	for _, k := range Formats() {
		if f == k {
			return true
		}
	}
	return false
}

func encodeTo(ctx context.Context, f Format, dst *os.File, src *os.File, size int64, extents []sparse.Extent) error {
	switch f {
	case Raw:
		return copySparse(ctx, dst, src, size, extents)
	case VMDKStream:
		return vmdk.WriteStreamOptimized(ctx, dst, src, size, extents, vmdk.Options{ExtentName: vmdkExtentName(dst.Name())})
	case VMDKSparse:
		return vmdk.WriteMonolithicSparse(ctx, dst, src, size, extents, vmdk.Options{ExtentName: vmdkExtentName(dst.Name())})
	case QCOW2:
		return qcow2.Write(ctx, dst, src, size, extents, qcow2.Options{})
	case VHD:
		return vhd.WriteFixed(ctx, dst, src, size, extents, vhd.Options{})
	case GCE:
		return gce.Write(ctx, dst, src, size, extents, gce.Options{})
	}
	return fmt.Errorf("%w %q", ErrUnknownFormat, f)
}

// vmdkExtentName is the file name a VMDK's descriptor gives its extent:
// the final name of the file, recovered from a temporary one.
func vmdkExtentName(path string) string {
	base := filepath.Base(path)
	i := strings.Index(base, ".vmdk")
	if i < 0 {
		return "disk.vmdk"
	}
	base = strings.TrimLeft(base[:i+len(".vmdk")], ".")
	if base == "vmdk" || strings.ContainsAny(base, "\"\r\n") {
		return "disk.vmdk"
	}
	return base
}

// copySparse copies the data extents of src into dst at the same offsets
// and sets dst's size, leaving holes where src has them. It uses
// copy_file_range(2), which copies inside the kernel (or reflinks), and
// falls back to read and write where the kernel refuses it.
func copySparse(ctx context.Context, dst, src *os.File, size int64, extents []sparse.Extent) error {
	if err := sparse.Check(extents, size); err != nil {
		return err
	}
	var buf []byte
	for _, e := range extents {
		off, end := e.Off, e.End()
		for off < end {
			if err := ctx.Err(); err != nil {
				return err
			}
			chunk := min(end-off, 64<<20)
			if buf == nil {
				roff, woff := off, off
				n, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), &woff, int(chunk), 0)
				if err == nil && n > 0 {
					off += int64(n)
					continue
				}
				if err == nil && n == 0 {
					return fmt.Errorf("copy %s at offset %d: %w", src.Name(), off, io.ErrUnexpectedEOF)
				}
				if !errors.Is(err, unix.EXDEV) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOPNOTSUPP) {
					return fmt.Errorf("copy %s at offset %d: %w", src.Name(), off, err)
				}
				buf = make([]byte, 1<<20) // the kernel cannot: copy by hand from now on
			}
			n := min(chunk, int64(len(buf)))
			if _, err := src.ReadAt(buf[:n], off); err != nil {
				return fmt.Errorf("read %s at offset %d: %w", src.Name(), off, err)
			}
			if _, err := dst.WriteAt(buf[:n], off); err != nil {
				return fmt.Errorf("write %s at offset %d: %w", dst.Name(), off, err)
			}
			off += n
		}
	}
	if err := dst.Truncate(size); err != nil {
		return fmt.Errorf("set size of %s: %w", dst.Name(), err)
	}
	return nil
}
