package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bootapp/bootapp/image/gce"
	"github.com/bootapp/bootapp/image/memo"
	"github.com/bootapp/bootapp/image/ova"
	"github.com/bootapp/bootapp/image/qcow2"
	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/image/vhd"
	"github.com/bootapp/bootapp/image/vmdk"
	"github.com/bootapp/bootapp/internal/blocks"
)

// ErrUnknownFormat reports a Format that Encode does not know.
var ErrUnknownFormat = errors.New("unknown image format")

// ErrSameFile reports an Encode whose destination is its source; the
// source is left untouched.
var ErrSameFile = errors.New("destination is the source")

// Encode writes the raw disk image at srcPath to dstPath in format f. It
// creates (or truncates) dstPath and removes it again on error; callers
// pass a temporary path and rename it into place. Only the data extents of
// the source are read (sparse.Extents; the whole file on systems that cannot
// find holes), and sparse formats stay sparse:
//
//   - Raw: a sparse copy (on Linux copy_file_range per data extent, which
//     the file system may turn into a reflink; elsewhere a read and write
//     that leaves out all-zero 4 KiB blocks).
//   - VMDKStream, VMDKSparse: see package vmdk. The descriptor's extent
//     name is dstPath's base name up to ".vmdk", without a leading dot
//     (".hello.vmdk.tmp-123" gives "hello.vmdk").
//   - QCOW2: see package qcow2.
//   - VHD: see package vhd; the virtual size is rounded up to 1 MiB. A
//     source larger than vhd.MaxSize (2040 GiB) is refused with an error
//     wrapping ErrBadSize, before dstPath is created.
//   - GCE: see package gce; disk.raw in a gzip'd old-GNU sparse tar,
//     padded to a whole number of GiB.
//   - OVA: see package ova; the virtual machine and its files are named
//     after dstPath's base name up to ".ova" (ovaName), and the VMDK is
//     staged next to dstPath while the archive is written.
//
// Encoding is deterministic: the same source gives the same bytes.
func Encode(ctx context.Context, f Format, dstPath, srcPath string) error {
	return EncodeWith(ctx, f, dstPath, srcPath, EncodeOptions{})
}

// EncodeOptions tunes EncodeWith. The zero value is Encode.
type EncodeOptions struct {
	// Memo, if not nil, keeps what the Compressed formats compress (the
	// grains of VMDKStream and OVA and the chunks of GCE) across encodes,
	// so that the parts of a disk encoded before (the kernel, the base
	// initramfs, a runtime: the same bytes at the same offsets in the next
	// release's disk) are copied instead of compressed again. The output
	// is byte-identical with or without it.
	Memo *memo.Store
}

// EncodeWith is Encode with options.
func EncodeWith(ctx context.Context, f Format, dstPath, srcPath string, o EncodeOptions) (err error) {
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
	if f == VHD && size > vhd.MaxSize {
		return fmt.Errorf("encode %s: raw image %s is %d bytes (%.1f GiB), more than a VHD holds (%d bytes, 2040 GiB): %w", dstPath, srcPath, size, float64(size)/(1<<30), int64(vhd.MaxSize), ErrBadSize)
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
	err = encodeTo(ctx, f, dst, src, size, extents, o)
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

func encodeTo(ctx context.Context, f Format, dst *os.File, src *os.File, size int64, extents []sparse.Extent, o EncodeOptions) error {
	switch f {
	case Raw:
		return copySparse(ctx, dst, src, size, extents)
	case VMDKStream:
		return vmdk.WriteStreamOptimized(ctx, dst, src, size, extents, vmdk.Options{ExtentName: vmdkExtentName(dst.Name()), Memo: o.Memo})
	case VMDKSparse:
		return vmdk.WriteMonolithicSparse(ctx, dst, src, size, extents, vmdk.Options{ExtentName: vmdkExtentName(dst.Name())})
	case QCOW2:
		return qcow2.Write(ctx, dst, src, size, extents, qcow2.Options{})
	case VHD:
		return vhd.WriteFixed(ctx, dst, src, size, extents, vhd.Options{})
	case GCE:
		return gce.Write(ctx, dst, src, size, extents, gce.Options{Memo: o.Memo})
	case OVA:
		return ova.Write(ctx, dst, src, size, extents, ova.Options{Name: ovaName(dst.Name()), TempDir: filepath.Dir(dst.Name()), VMDK: vmdk.Options{Memo: o.Memo}})
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

// ovaName is the name an OVA gives its virtual machine and files: the
// output's final base name up to ".ova", without leading dots, with any
// character ova.Options.Name refuses replaced by '_'.
func ovaName(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, ".ova"); i >= 0 {
		base = base[:i]
	}
	base = strings.TrimLeft(base, ".-")
	b := []byte(base)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || len(b) > 80 {
		return ova.DefaultName
	}
	return string(b)
}

// copySparse copies the data extents of src (nil: all of it) into dst at
// the same offsets and sets dst's size, leaving holes where src has them.
// On Linux it uses copy_file_range(2), which copies inside the kernel (or
// reflinks); where the kernel or the platform cannot, it reads and writes,
// leaving out all-zero blocks so that dst stays sparse.
func copySparse(ctx context.Context, dst, src *os.File, size int64, extents []sparse.Extent) error {
	extents, err := blocks.Data(extents, size)
	if err != nil {
		return err
	}
	kernel := true
	var buf []byte
	for _, e := range extents {
		off, end := e.Off, e.End()
		for off < end {
			if err := ctx.Err(); err != nil {
				return err
			}
			chunk := min(end-off, 64<<20)
			if kernel {
				n, err := copyRange(dst, src, off, chunk)
				if err == nil {
					off += n
					continue
				}
				if !errors.Is(err, errNoCopyRange) {
					return err
				}
				kernel = false // the kernel cannot: copy by hand from now on
				buf = make([]byte, 1<<20)
			}
			n := min(chunk, int64(len(buf)))
			if _, err := src.ReadAt(buf[:n], off); err != nil {
				return fmt.Errorf("read %s at offset %d: %w", src.Name(), off, err)
			}
			if err := writeNonZero(dst, buf[:n], off); err != nil {
				return err
			}
			off += n
		}
	}
	if err := dst.Truncate(size); err != nil {
		return fmt.Errorf("set size of %s: %w", dst.Name(), err)
	}
	return nil
}

// copyBlock is the granularity at which copySparse's read and write path
// leaves zeros out: one file system block.
const copyBlock = 4096

// writeNonZero writes p at off to a file whose bytes there are still zero
// (freshly created or truncated), leaving out every all-zero copyBlock
// aligned to the file and writing each run of the others at once.
func writeNonZero(dst *os.File, p []byte, off int64) error {
	end := off + int64(len(p))
	run := int64(-1) // start of the pending non-zero run
	for pos := off; pos < end; {
		next := min((pos/copyBlock+1)*copyBlock, end)
		zero := blocks.IsZero(p[pos-off : next-off])
		if !zero && run < 0 {
			run = pos
		}
		if zero && run >= 0 {
			if _, err := dst.WriteAt(p[run-off:pos-off], run); err != nil {
				return fmt.Errorf("write %s at offset %d: %w", dst.Name(), run, err)
			}
			run = -1
		}
		pos = next
	}
	if run >= 0 {
		if _, err := dst.WriteAt(p[run-off:], run); err != nil {
			return fmt.Errorf("write %s at offset %d: %w", dst.Name(), run, err)
		}
	}
	return nil
}

// errNoCopyRange is copyRange's answer when the kernel cannot copy: the
// caller then copies through user space.
var errNoCopyRange = errors.New("no in-kernel copy")
