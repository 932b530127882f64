package untar

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/bootapp/bootapp/internal/deb"
)

var (
	// ErrUnsafePath reports an entry name (or hard link target) that
	// leaves the destination directory after cleaning, e.g. "../x".
	ErrUnsafePath = errors.New("path leaves the destination directory")
	// ErrSymlinkParent reports an entry whose path goes through a
	// symbolic link that the archive created earlier.
	ErrSymlinkParent = errors.New("path goes through a symbolic link")
	// ErrNotDir reports an entry whose parent path names an earlier
	// non-directory (a regular file, say) of the archive.
	ErrNotDir = errors.New("parent is not a directory")
	// ErrHardLink reports a hard link whose target is missing or is not a
	// regular file written earlier by the same archive.
	ErrHardLink = errors.New("hard link target is not an earlier regular file of the archive")
	// ErrDevice reports a character device, block device or FIFO entry.
	ErrDevice = errors.New("device files are not allowed in an app archive")
	// ErrUnsupportedType reports an entry type Extract does not know
	// (for example a GNU multi-volume continuation).
	ErrUnsupportedType = errors.New("unsupported tar entry type")
	// ErrUnsupportedCompression reports a stream compressed with something
	// other than gzip, xz or zstd (bzip2, lz4, or a zip file), or an xz or
	// zstd stream asking for more decoder memory than Extract allows.
	ErrUnsupportedCompression = errors.New("unsupported compression")
	// ErrDestination reports a destination that is not an existing empty
	// directory.
	ErrDestination = errors.New("destination must be an existing empty directory")
)

// Stats counts what Extract wrote.
type Stats struct {
	// Files counts regular-file entries written (a later duplicate that
	// replaces an earlier one is counted again).
	Files int
	// Dirs counts directories created, explicitly listed or implicit
	// parents; a repeated directory entry is not counted again.
	Dirs int
	// Symlinks counts symbolic-link entries created.
	Symlinks int
	// HardLinks counts hard-link entries created.
	HardLinks int
	// Bytes is the total size of the regular files written (for a sparse
	// file, its logical size).
	Bytes int64
	// SetIDDropped counts regular files whose setuid, setgid or sticky
	// bits were dropped.
	SetIDDropped int
}

// maxZstdWindow bounds the window a zstd frame can ask for (128 MiB, the
// zstd command's own default limit).
const maxZstdWindow = 1 << 27

// maxXZDict bounds the LZMA2 dictionary of an xz stream's first block
// (256 MiB; xz -9 uses 64 MiB).
const maxXZDict = 1 << 28

// maxName bounds an entry name, hard link target or symbolic link target
// (4095 bytes: Linux's PATH_MAX less the NUL), so that a huge PAX name
// cannot make the per-component walk quadratic.
const maxName = 4095

// copyChunk is the copy buffer; the context is checked once per chunk.
const copyChunk = 1 << 20

// suffixes are the archive names IsArchive accepts, lower case.
var suffixes = []string{".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.zst", ".tar.zstd", ".tzst"}

// IsArchive reports whether path names a tar archive by its suffix: .tar,
// .tar.gz, .tgz, .tar.xz, .txz, .tar.zst, .tar.zstd or .tzst, in any
// case. Extract itself ignores the name and reads the compression from
// the stream.
func IsArchive(path string) bool {
	name := strings.ToLower(filepath.Base(path))
	for _, s := range suffixes {
		if len(name) > len(s) && strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// ExtractFile opens the archive at path and extracts it into dst, an
// existing empty directory, like Extract. Its errors name the archive.
func ExtractFile(ctx context.Context, path, dst string) (*Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("untar: %w", err)
	}
	defer f.Close()
	st, err := extract(ctx, f, dst)
	if err != nil {
		return st, fmt.Errorf("untar %s: %w", path, err)
	}
	return st, nil
}

// Extract unpacks the tar archive read from r into dst, which must be an
// existing empty directory, and returns what it wrote. The compression
// (none, gzip, xz or zstd) is detected from the stream's first bytes. See
// the package documentation for how each entry type is written and what
// is refused. Errors about an entry name it.
//
// On error (including a cancelled ctx, which is checked between entries
// and during large copies) Extract returns at once without cleaning dst:
// the caller removes it. The Stats returned with an error count what was
// written so far.
func Extract(ctx context.Context, r io.Reader, dst string) (*Stats, error) {
	st, err := extract(ctx, r, dst)
	if err != nil {
		return st, fmt.Errorf("untar: %w", err)
	}
	return st, nil
}

func extract(ctx context.Context, r io.Reader, dst string) (*Stats, error) {
	st := &Stats{}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if err := checkEmptyDir(dst); err != nil {
		return st, err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return st, err
	}
	defer root.Close()

	dr, err := decompress(r)
	if err != nil {
		return st, err
	}
	defer dr.Close()

	x := &extractor{
		ctx:   ctx,
		root:  root,
		st:    st,
		dirs:  map[string]bool{},
		modes: map[string]fs.FileMode{},
	}
	defer x.release()
	tr := tar.NewReader(dr)
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("read archive: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return st, err
		}
	}
	return st, x.fixModes()
}

// checkEmptyDir reports ErrDestination unless dst is an empty directory.
func checkEmptyDir(dst string) error {
	f, err := os.Open(dst)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDestination, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDestination, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrDestination, dst)
	}
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("%w: %w", ErrDestination, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("%w: %s is not empty", ErrDestination, dst)
	}
	return nil
}

// decompress wraps r in the decompressor its magic bytes call for.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(6) // a short stream is read as plain tar
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("open gzip stream: %w", err)
		}
		return z, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		if err := checkXZDict(br); err != nil {
			return nil, err
		}
		z, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("open xz stream: %w", err)
		}
		return io.NopCloser(z), nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		z, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("open zstd stream: %w", err)
		}
		return zstdCloser{z}, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return nil, fmt.Errorf("%w: bzip2 (want none, gzip, xz or zstd)", ErrUnsupportedCompression)
	case bytes.HasPrefix(magic, []byte{0x04, 0x22, 0x4d, 0x18}):
		return nil, fmt.Errorf("%w: lz4 (want none, gzip, xz or zstd)", ErrUnsupportedCompression)
	case bytes.HasPrefix(magic, []byte("PK\x03\x04")):
		return nil, fmt.Errorf("%w: a zip file, not a tar archive", ErrUnsupportedCompression)
	}
	return io.NopCloser(br), nil
}

// zstdCloser makes a *zstd.Decoder an io.ReadCloser.
type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error { z.Decoder.Close(); return nil }

// checkXZDict peeks at the first block header of an xz stream and refuses
// an LZMA2 dictionary larger than maxXZDict, which the xz package would
// allocate in full. Anything it cannot parse is left to the xz package.
func checkXZDict(br *bufio.Reader) error {
	const streamHeader = 12
	h, err := br.Peek(streamHeader + 1)
	if err != nil || h[streamHeader] == 0 { // short, or no block (index)
		return nil
	}
	b, err := br.Peek(streamHeader + (int(h[streamHeader])+1)*4)
	if err != nil {
		return nil
	}
	b = b[streamHeader+1:]
	if len(b) == 0 {
		return nil
	}
	flags := b[0]
	b = b[1:]
	skipVarint := func() bool {
		for i := 0; i < 9 && len(b) > 0; i++ {
			c := b[0]
			b = b[1:]
			if c&0x80 == 0 {
				return true
			}
		}
		return false
	}
	if flags&0x40 != 0 && !skipVarint() {
		return nil
	}
	if flags&0x80 != 0 && !skipVarint() {
		return nil
	}
	for n := int(flags&3) + 1; n > 0 && len(b) >= 3; n-- {
		id, size := b[0], b[1]
		if id&0x80 != 0 || size&0x80 != 0 {
			return nil // multi-byte varints: not LZMA2, not ours to judge
		}
		b = b[2:]
		if int(size) > len(b) {
			return nil
		}
		if id == 0x21 && size == 1 {
			c := b[0]
			if c > 40 {
				return nil
			}
			dict := uint64(1<<32 - 1)
			if c < 40 {
				dict = uint64(2|c&1) << (c/2 + 11)
			}
			if dict > maxXZDict {
				return fmt.Errorf("%w: xz dictionary of %d MiB (at most %d MiB)",
					ErrUnsupportedCompression, dict>>20, maxXZDict>>20)
			}
		}
		b = b[size:]
	}
	return nil
}

// extractor holds the state of one Extract.
type extractor struct {
	ctx  context.Context
	root *os.Root
	st   *Stats
	// dirs holds the paths (cleaned, slash-separated) known to be real
	// directories made or checked by this extraction.
	dirs map[string]bool
	// modes holds the final mode of each directory made, applied at the end.
	modes map[string]fs.FileMode
	// buf is the copy buffer, taken from bufPool at the first file.
	buf *[]byte
}

// bufPool holds copy buffers, so that extracting many small archives (or
// failing early) does not allocate a megabyte each time.
var bufPool = sync.Pool{New: func() any { b := make([]byte, copyChunk); return &b }}

// release returns the copy buffer to the pool.
func (x *extractor) release() {
	if x.buf != nil {
		bufPool.Put(x.buf)
		x.buf = nil
	}
}

// entryError names the entry an error is about.
func entryError(name string, err error) error {
	return fmt.Errorf("entry %q: %w", name, err)
}

// cleanName turns an entry name into a path relative to dst ("." for dst
// itself), or reports ErrUnsafePath.
func cleanName(name string) (string, error) {
	if len(name) > maxName {
		return "", fmt.Errorf("name of %d bytes is longer than %d", len(name), maxName)
	}
	n := path.Clean(strings.TrimLeft(name, "/"))
	if n == "." {
		return n, nil
	}
	if n == ".." || strings.HasPrefix(n, "../") || !filepath.IsLocal(filepath.FromSlash(n)) ||
		strings.ContainsRune(n, 0) {
		return "", ErrUnsafePath
	}
	return n, nil
}

// native turns a slash-separated relative path into the host's form.
func native(n string) string { return filepath.FromSlash(n) }

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader, 'V': // PAX global header, GNU volume label
		return nil
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return entryError(hdr.Name, err)
	}
	switch hdr.Typeflag {
	case tar.TypeDir, 'D': // 'D': GNU incremental dump directory
		err = x.dir(name, hdr)
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont:
		err = x.file(name, hdr, r)
	case tar.TypeSymlink:
		err = x.symlink(name, hdr)
	case tar.TypeLink:
		err = x.hardlink(name, hdr)
	case tar.TypeChar:
		err = fmt.Errorf("%w (character device)", ErrDevice)
	case tar.TypeBlock:
		err = fmt.Errorf("%w (block device)", ErrDevice)
	case tar.TypeFifo:
		err = fmt.Errorf("%w (FIFO)", ErrDevice)
	default:
		err = fmt.Errorf("%w %q", ErrUnsupportedType, hdr.Typeflag)
	}
	if err != nil {
		return entryError(hdr.Name, err)
	}
	return nil
}

// parents makes sure every parent component of name is a real directory,
// creating missing ones with mode 0755 when create is set; a component that
// is a symbolic link is ErrSymlinkParent, any other non-directory
// ErrNotDir.
func (x *extractor) parents(name string, create bool) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		p := name[:i]
		if x.dirs[p] {
			continue
		}
		fi, err := x.root.Lstat(native(p))
		switch {
		case errors.Is(err, fs.ErrNotExist) && create:
			if err := x.mkdir(p, 0o755); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w %q", ErrSymlinkParent, p)
		case !fi.IsDir():
			return fmt.Errorf("%w: %q", ErrNotDir, p)
		}
		x.dirs[p] = true
	}
	return nil
}

// mkdir creates directory p (owner-writable for now) and records mode as
// its final mode.
func (x *extractor) mkdir(p string, mode fs.FileMode) error {
	if err := x.root.Mkdir(native(p), 0o700|mode.Perm()); err != nil {
		return err
	}
	x.dirs[p] = true
	x.modes[p] = mode
	x.st.Dirs++
	return nil
}

// clear removes whatever is at name (not a directory's contents), so that
// a later entry can replace it. It reports whether name was a directory
// when keepDir is set, in which case a directory is left alone.
func (x *extractor) clear(name string, keepDir bool) (isDir bool, err error) {
	fi, err := x.root.Lstat(native(name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.IsDir() && keepDir {
		return true, nil
	}
	if err := x.root.Remove(native(name)); err != nil {
		if fi.IsDir() {
			return false, fmt.Errorf("cannot replace the non-empty directory of the same name: %w", err)
		}
		return false, err
	}
	delete(x.dirs, name)
	delete(x.modes, name)
	return false, nil
}

// dirMode is a directory's mode from its header: permissions, setuid,
// setgid and sticky bits.
func dirMode(hdr *tar.Header) fs.FileMode {
	m := fs.FileMode(hdr.Mode & 0o777)
	if hdr.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if hdr.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if hdr.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func (x *extractor) dir(name string, hdr *tar.Header) error {
	if name == "." {
		return nil // dst itself belongs to the caller
	}
	if err := x.parents(name, true); err != nil {
		return err
	}
	isDir, err := x.clear(name, true)
	if err != nil {
		return err
	}
	if isDir {
		x.dirs[name] = true
		x.modes[name] = dirMode(hdr)
		return nil
	}
	return x.mkdir(name, dirMode(hdr))
}

// prepare checks and creates the parents of a non-directory entry and
// removes what is at its name.
func (x *extractor) prepare(name string) error {
	if name == "." {
		return errors.New("a non-directory cannot replace the destination directory")
	}
	if err := x.parents(name, true); err != nil {
		return err
	}
	_, err := x.clear(name, false)
	return err
}

func (x *extractor) file(name string, hdr *tar.Header, r io.Reader) error {
	if err := x.prepare(name); err != nil {
		return err
	}
	f, err := x.root.OpenFile(native(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := x.copy(f, r, deb.IsSparse(hdr))
	x.st.Bytes += n
	if err == nil {
		err = f.Chmod(fs.FileMode(hdr.Mode & 0o777))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if hdr.Mode&0o7000 != 0 {
		x.st.SetIDDropped++
	}
	x.st.Files++
	return nil
}

// copy streams r into f a chunk at a time, checking the context between
// chunks. With sparse set, chunks of zeros are skipped with a seek (and the
// file is sized at the end), so that a sparse file stays sparse on disk.
func (x *extractor) copy(f *os.File, r io.Reader, sparse bool) (int64, error) {
	if x.buf == nil {
		x.buf = bufPool.Get().(*[]byte)
	}
	buf := *x.buf
	var n, hole int64
	for {
		if err := x.ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := fill(r, buf)
		if k > 0 {
			chunk := buf[:k]
			if sparse && allZero(chunk) {
				hole += int64(k)
			} else {
				if hole > 0 {
					if _, err := f.Seek(hole, io.SeekCurrent); err != nil {
						return n, err
					}
					n += hole
					hole = 0
				}
				if _, err := f.Write(chunk); err != nil {
					return n, err
				}
				n += int64(k)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, rerr
		}
	}
	if hole > 0 {
		n += hole
		if err := f.Truncate(n); err != nil {
			return n, err
		}
	}
	return n, nil
}

// fill reads from r until buf is full or r fails, and returns the bytes
// read and r's error (io.EOF at the end of the entry).
func fill(r io.Reader, buf []byte) (int, error) {
	k := 0
	for k < len(buf) {
		m, err := r.Read(buf[k:])
		k += m
		if err != nil {
			return k, err
		}
	}
	return k, nil
}

// zeros is compared against to find holes.
var zeros = make([]byte, copyChunk)

func allZero(b []byte) bool { return bytes.Equal(b, zeros[:len(b)]) }

func (x *extractor) symlink(name string, hdr *tar.Header) error {
	if hdr.Linkname == "" {
		return errors.New("symbolic link with an empty target")
	}
	if len(hdr.Linkname) > maxName {
		return fmt.Errorf("symbolic link target of %d bytes is longer than %d", len(hdr.Linkname), maxName)
	}
	if err := x.prepare(name); err != nil {
		return err
	}
	if err := x.root.Symlink(hdr.Linkname, native(name)); err != nil {
		return err
	}
	x.st.Symlinks++
	return nil
}

func (x *extractor) hardlink(name string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	if target == "." {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, ErrHardLink)
	}
	if err := x.parents(target, false); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = ErrHardLink
		}
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	fi, err := x.root.Lstat(native(target))
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, ErrHardLink)
	}
	if target == name {
		x.st.HardLinks++ // a link to itself: already there
		return nil
	}
	if err := x.prepare(name); err != nil {
		return err
	}
	if err := x.root.Link(native(target), native(name)); err != nil {
		return err
	}
	x.st.HardLinks++
	return nil
}

// fixModes gives every directory made its final mode, deepest first, after
// checking that it is still a directory.
func (x *extractor) fixModes() error {
	paths := make([]string, 0, len(x.modes))
	for p := range x.modes {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool {
		di, dj := strings.Count(paths[i], "/"), strings.Count(paths[j], "/")
		if di != dj {
			return di > dj
		}
		return paths[i] < paths[j]
	})
	for _, p := range paths {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		fi, err := x.root.Lstat(native(p))
		if err != nil || !fi.IsDir() {
			continue // replaced later; nothing to fix
		}
		if err := x.root.Chmod(native(p), x.modes[p]); err != nil {
			return fmt.Errorf("directory %q: %w", p, err)
		}
	}
	return nil
}
