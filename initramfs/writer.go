package initramfs

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
)

// Errors returned by this package. They are wrapped with the offending name
// or path; test for them with errors.Is.
var (
	// ErrInvalidName means an entry name is empty, relative, contains a
	// NUL byte or a ".." element, names the root, or is too long.
	ErrInvalidName = errors.New("invalid name")
	// ErrExist means an entry with that name was already written (or, for
	// Mkdir, a directory with a different mode).
	ErrExist = errors.New("entry already exists")
	// ErrNotDir means a parent of an entry was written as a file or
	// symbolic link.
	ErrNotDir = errors.New("parent is not a directory")
	// ErrInvalidMode means a mode has bits other than the permission bits,
	// fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky (and fs.ModeDir for
	// Mkdir). Note that Unix-style 0o4000, 0o2000 and 0o1000 are not
	// fs.FileMode bits: use the fs.Mode* constants.
	ErrInvalidMode = errors.New("invalid mode (want permission bits with fs.ModeSetuid, fs.ModeSetgid or fs.ModeSticky)")
	// ErrTooLarge means a file does not fit the newc format (4 GiB - 1).
	ErrTooLarge = errors.New("file too large for newc cpio")
	// ErrSizeMismatch means CopyFile's reader did not hold exactly the
	// announced number of bytes.
	ErrSizeMismatch = errors.New("reader size differs from announced size")
	// ErrClosed means the Writer was used after Close.
	ErrClosed = errors.New("write after close")
	// ErrUnsupportedCompression means a compression name is not known.
	ErrUnsupportedCompression = errors.New("unsupported compression")
	// ErrUnsupportedType means AddTree met a file that is neither a
	// regular file, a directory nor a symbolic link.
	ErrUnsupportedType = errors.New("unsupported file type")
	// ErrLink means Link named a target that was not written with
	// CopyFileLinks, or one whose names are all written already, or
	// CopyFileLinks was given a link count below 1.
	ErrLink = errors.New("invalid hard link")
)

// Limits of the newc format and of the kernel's unpacker.
const (
	maxNameLen = 4095      // bytes, without the NUL; PATH_MAX - 1
	maxSize    = 1<<32 - 1 // the file size field has 8 hex digits
	maxMTime   = 1<<32 - 1 // so has the mtime field
	bufSize    = 256 << 10 // buffering in front of the compressor
	copySize   = 1 << 20   // CopyFile's read size
	dirMode    = fs.FileMode(0o755)
)

// modeBits are the fs.FileMode bits an entry may carry besides its type.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// Options tune a Writer. The zero value gives an uncompressed archive with
// mtime 0 and every entry owned by root.
type Options struct {
	// Compression of the segment. The empty string means None.
	Compression Compression
	// ModTime is stored as every entry's modification time. The zero
	// time stores 0 (1970-01-01); it must lie between 1970 and 2106.
	ModTime time.Time
	// UID and GID own every entry.
	UID, GID int
	// Record, when set, is called with each entry once it is completely
	// written (data included), in archive order: what a build records in
	// its manifest is then what the archive holds, with no second pass
	// over the files. Regular files are hashed only when Record is set.
	Record func(Entry)
}

// Entry describes an entry of the archive, for Options.Record.
type Entry struct {
	// Name is the absolute name ("/app/bin/x"; "/" for the root entry).
	Name string
	// Mode is the entry's type and permission bits: fs.ModeDir,
	// fs.ModeSymlink, or none for a regular file.
	Mode fs.FileMode
	// Size is a regular file's length (0 for a hard link's later names).
	Size int64
	// SHA256 is the digest of a regular file's content; zero for other
	// entries and for a hard link's later names.
	SHA256 [sha256.Size]byte
	// Linkname is a symbolic link's target, or for a later name of a hard
	// link (see Link) the absolute name of the entry that holds its data.
	Linkname string
}

// Writer writes one initramfs segment: a newc cpio archive, optionally
// compressed. Names are absolute slash-separated paths ("/etc/x"); they are
// stored without the leading slash, as the kernel expects. The first entry
// is always the root directory itself ("."), mode 0755 and owned like every
// other entry: without it the kernel leaves its rootfs at mode 1777, writable
// by every user of the guest. Parent directories are written automatically,
// mode 0755, the first time they are needed. Entries get sequential inode
// numbers, the Options' mtime and owner, and one link each (hard links,
// CopyFileLinks and Link, share their file's), so the output depends only
// on the calls made.
//
// A Writer is not safe for concurrent use. After an error that leaves the
// archive incomplete (a failed write, a short CopyFile), every later call
// returns that error. Validation errors (a bad name, a duplicate) leave the
// archive intact.
type Writer struct {
	opts  Options
	mtime time.Time // zero, or opts.ModTime when set
	buf   *bufio.Writer
	cw    *cpio.Writer
	comp  io.WriteCloser // nil when uncompressed
	dst   *countWriter   // what reaches the caller's writer
	seen  map[string]fs.FileMode
	links map[string]*hardLink // files written with CopyFileLinks, by archive name
	inode int64
	root  bool  // the "." entry is written
	err   error // sticky: the archive is broken
	done  bool
	copy  []byte
}

// NewWriter returns a Writer that writes an uncompressed archive with
// default Options to w.
func NewWriter(w io.Writer) *Writer {
	return newWriter(&countWriter{w: w}, Options{}, nil)
}

// NewWriterOptions returns a Writer that writes an archive to w as opts
// say. It fails if the compression is unknown (ErrUnsupportedCompression),
// or if the time or the owner does not fit the newc format.
func NewWriterOptions(w io.Writer, opts Options) (*Writer, error) {
	if !opts.ModTime.IsZero() && (opts.ModTime.Unix() < 0 || opts.ModTime.Unix() > maxMTime) {
		return nil, fmt.Errorf("initramfs: modification time %s does not fit newc cpio (1970 to 2106)", opts.ModTime.UTC().Format(time.RFC3339))
	}
	if opts.UID < 0 || opts.GID < 0 || int64(opts.UID) > maxSize || int64(opts.GID) > maxSize {
		return nil, fmt.Errorf("initramfs: owner %d:%d does not fit newc cpio", opts.UID, opts.GID)
	}
	c := opts.Compression
	if c == "" {
		c = None
	}
	cw := &countWriter{w: w}
	var comp io.WriteCloser
	if c != None {
		var err error
		if comp, err = NewCompressor(cw, c); err != nil {
			return nil, err
		}
	}
	return newWriter(cw, opts, comp), nil
}

// newWriter assembles a Writer: cpio -> buffer -> comp (if any) -> cw.
func newWriter(cw *countWriter, opts Options, comp io.WriteCloser) *Writer {
	var sink io.Writer = cw
	if comp != nil {
		sink = comp
	}
	buf := bufio.NewWriterSize(sink, bufSize)
	wr := &Writer{
		opts: opts,
		buf:  buf,
		cw:   cpio.NewWriter(buf),
		comp: comp,
		dst:  cw,
		seen: make(map[string]fs.FileMode),
	}
	if !opts.ModTime.IsZero() && opts.ModTime.Unix() != 0 {
		// cavaliergopher/cpio writes the zero time as 0; any other
		// time is written as its Unix seconds.
		wr.mtime = time.Unix(opts.ModTime.Unix(), 0)
	}
	return wr
}

// Mkdir adds a directory. mode holds the permission bits, optionally with
// fs.ModeDir, fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky. Adding a
// directory that already exists with the same mode (for example one made
// implicitly as a parent) does nothing; with another mode it fails with
// ErrExist: call Mkdir before adding anything beneath the directory.
func (w *Writer) Mkdir(name string, mode fs.FileMode) error {
	if err := w.usable(); err != nil {
		return err
	}
	if mode&^(fs.ModeDir|modeBits) != 0 {
		return fmt.Errorf("initramfs: mkdir %s: mode %v: %w", name, mode, ErrInvalidMode)
	}
	rel, err := cleanName(name)
	if err != nil {
		return err
	}
	want := fs.ModeDir | mode
	if have, ok := w.seen[rel]; ok {
		if have == want {
			return nil
		}
		return fmt.Errorf("initramfs: mkdir %s: %w as %v (call Mkdir before adding entries beneath it)", name, ErrExist, have)
	}
	if err := w.parents(rel); err != nil {
		return err
	}
	return w.dir(rel, want)
}

// WriteFile adds a regular file holding data. mode holds the permission
// bits, optionally with fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky.
func (w *Writer) WriteFile(name string, mode fs.FileMode, data []byte) error {
	rel, err := w.prepareFile(name, mode, int64(len(data)))
	if err != nil {
		return err
	}
	if err := w.header(rel, fileMode(mode)|cpio.TypeReg, int64(len(data)), 1); err != nil {
		return err
	}
	if _, err := w.cw.Write(data); err != nil {
		return w.fail(fmt.Errorf("initramfs: write %s: %w", name, err))
	}
	if w.opts.Record != nil {
		w.opts.Record(Entry{Name: "/" + rel, Mode: mode, Size: int64(len(data)), SHA256: sha256.Sum256(data)})
	}
	return nil
}

// CopyFile adds a regular file of size bytes, streamed from r. r must hold
// exactly size bytes and then report io.EOF: fewer, or more, fail with
// ErrSizeMismatch, and since the header is already written the archive is
// then unusable. mode is as for WriteFile.
func (w *Writer) CopyFile(name string, mode fs.FileMode, size int64, r io.Reader) error {
	return w.copyFile(name, mode, size, r, 1)
}

// hardLink is a file written with CopyFileLinks.
type hardLink struct {
	inode int64
	mode  fs.FileMode
	links int // names the file has
	names int // names written so far
}

// CopyFileLinks is CopyFile for a file that has links names (hard links)
// in the archive: name is the first, and Link adds each of the others,
// later, as an entry of its own. All of them share one inode number and
// store links as their link count; only this first entry holds the data.
// That is what the kernel's unpacker expects: it creates the file at the
// first entry of an inode whose link count is 2 or more, and links each
// later entry with the same inode number to it (their data, if any, would
// be written into the file). The kernel forgets inode numbers at the end
// of each segment, so all the names must be in the same one. links must
// be at least 1 (ErrLink); 1 is CopyFile.
func (w *Writer) CopyFileLinks(name string, mode fs.FileMode, size int64, r io.Reader, links int) error {
	if err := w.usable(); err != nil {
		return err
	}
	if links < 1 || int64(links) > maxSize {
		return fmt.Errorf("initramfs: file %s: %d links: %w", name, links, ErrLink)
	}
	return w.copyFile(name, mode, size, r, links)
}

// Link adds name as another name of the regular file target (hard link):
// an entry without data that shares target's inode number, mode and link
// count. target must have been written with CopyFileLinks, and may get as
// many names as it was given links; a target that was not, or whose names
// are all written, fails with ErrLink and leaves the archive intact.
func (w *Writer) Link(name, target string) error {
	if err := w.usable(); err != nil {
		return err
	}
	trel, err := cleanName(target)
	if err != nil {
		return fmt.Errorf("initramfs: link %s: target: %w", name, err)
	}
	hl := w.links[trel]
	switch {
	case hl == nil:
		return fmt.Errorf("initramfs: link %s to %s: the target was not written with CopyFileLinks: %w", name, target, ErrLink)
	case hl.names >= hl.links:
		return fmt.Errorf("initramfs: link %s to %s: all %d names of the target are written: %w", name, target, hl.links, ErrLink)
	}
	rel, err := w.prepareNew(name)
	if err != nil {
		return err
	}
	w.seen[rel] = hl.mode
	hl.names++
	if err := w.writeRoot(); err != nil {
		return err
	}
	if err := w.entryInode(rel, fileMode(hl.mode)|cpio.TypeReg, 0, hl.links, hl.inode); err != nil {
		return err
	}
	if w.opts.Record != nil {
		w.opts.Record(Entry{Name: "/" + rel, Mode: hl.mode, Linkname: "/" + trel})
	}
	return nil
}

// copyFile writes a regular file with links names, this being the first.
func (w *Writer) copyFile(name string, mode fs.FileMode, size int64, r io.Reader, links int) error {
	rel, err := w.prepareFile(name, mode, size)
	if err != nil {
		return err
	}
	if err := w.header(rel, fileMode(mode)|cpio.TypeReg, size, links); err != nil {
		return err
	}
	if links > 1 {
		if w.links == nil {
			w.links = make(map[string]*hardLink)
		}
		w.links[rel] = &hardLink{inode: w.inode, mode: mode, links: links, names: 1}
	}
	if w.copy == nil {
		w.copy = make([]byte, copySize)
	}
	var h hash.Hash
	if w.opts.Record != nil {
		h = sha256.New()
	}
	// io.LimitReader stops at size; a hand-written loop instead of
	// io.CopyBuffer keeps the one buffer and tells short reads from
	// write errors.
	var n int64
	for n < size {
		want := min(int64(len(w.copy)), size-n)
		m, rerr := io.ReadFull(r, w.copy[:want])
		if m > 0 {
			if _, werr := w.cw.Write(w.copy[:m]); werr != nil {
				return w.fail(fmt.Errorf("initramfs: write %s: %w", name, werr))
			}
			if h != nil {
				h.Write(w.copy[:m])
			}
			n += int64(m)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return w.fail(fmt.Errorf("initramfs: copy %s: got %d of %d bytes: %w", name, n, size, ErrSizeMismatch))
		}
		if rerr != nil {
			return w.fail(fmt.Errorf("initramfs: copy %s: read: %w", name, rerr))
		}
	}
	var one [1]byte
	if m, _ := io.ReadFull(r, one[:]); m > 0 {
		return w.fail(fmt.Errorf("initramfs: copy %s: reader holds more than %d bytes: %w", name, size, ErrSizeMismatch))
	}
	if h != nil {
		e := Entry{Name: "/" + rel, Mode: mode, Size: size}
		h.Sum(e.SHA256[:0])
		w.opts.Record(e)
	}
	return nil
}

// Symlink adds a symbolic link name pointing to target. The target is
// stored verbatim: it may be relative, absolute or dangling, but not empty,
// and must not contain NUL.
func (w *Writer) Symlink(name, target string) error {
	if err := w.usable(); err != nil {
		return err
	}
	if target == "" || strings.IndexByte(target, 0) >= 0 || len(target) > maxNameLen {
		return fmt.Errorf("initramfs: symlink %s: target %q: %w", name, target, ErrInvalidName)
	}
	rel, err := w.prepareNew(name)
	if err != nil {
		return err
	}
	w.seen[rel] = fs.ModeSymlink | 0o777
	if err := w.header(rel, cpio.TypeSymlink|0o777, int64(len(target)), 1); err != nil {
		return err
	}
	if _, err := io.WriteString(w.cw, target); err != nil {
		return w.fail(fmt.Errorf("initramfs: write symlink %s: %w", name, err))
	}
	if w.opts.Record != nil {
		w.opts.Record(Entry{Name: "/" + rel, Mode: fs.ModeSymlink | 0o777, Size: int64(len(target)), Linkname: target})
	}
	return nil
}

// Close writes the trailer, finishes the compressed stream and pads the
// output with zero bytes to a multiple of four bytes, so that another
// segment may follow. It does not close the underlying writer. Calling
// Close again returns the first Close's result.
func (w *Writer) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	if w.err != nil {
		return w.err
	}
	if err := w.writeRoot(); err != nil {
		return err
	}
	if err := w.cw.Close(); err != nil {
		return w.fail(fmt.Errorf("initramfs: write trailer: %w", err))
	}
	if err := w.buf.Flush(); err != nil {
		return w.fail(fmt.Errorf("initramfs: flush archive: %w", err))
	}
	if w.comp != nil {
		if err := w.comp.Close(); err != nil {
			return w.fail(fmt.Errorf("initramfs: finish %s stream: %w", w.opts.Compression, err))
		}
	}
	if pad := -w.dst.n & 3; pad != 0 {
		if _, err := w.dst.Write(make([]byte, pad)); err != nil {
			return w.fail(fmt.Errorf("initramfs: pad segment: %w", err))
		}
	}
	return nil
}

// Written returns the number of bytes written so far to the underlying
// writer (after compression). After Close it is the segment's full size.
func (w *Writer) Written() int64 { return w.dst.n }

// usable reports why w cannot take another entry, if it cannot.
func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return fmt.Errorf("initramfs: %w", ErrClosed)
	}
	return nil
}

// fail records err as the reason the archive is broken and returns it.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// prepareFile validates a regular file's mode and size and claims its name.
func (w *Writer) prepareFile(name string, mode fs.FileMode, size int64) (string, error) {
	if err := w.usable(); err != nil {
		return "", err
	}
	if mode&^modeBits != 0 {
		return "", fmt.Errorf("initramfs: file %s: mode %v: %w", name, mode, ErrInvalidMode)
	}
	if size < 0 || size > maxSize {
		return "", fmt.Errorf("initramfs: file %s: size %d: %w", name, size, ErrTooLarge)
	}
	rel, err := w.prepareNew(name)
	if err != nil {
		return "", err
	}
	w.seen[rel] = mode
	return rel, nil
}

// prepareNew validates name, checks it is new and writes its parents.
func (w *Writer) prepareNew(name string) (string, error) {
	rel, err := cleanName(name)
	if err != nil {
		return "", err
	}
	if have, ok := w.seen[rel]; ok {
		return "", fmt.Errorf("initramfs: %s: %w as %v", name, ErrExist, have)
	}
	if err := w.parents(rel); err != nil {
		return "", err
	}
	return rel, nil
}

// parents writes the missing parent directories of rel, outermost first.
func (w *Writer) parents(rel string) error {
	for i := 0; i < len(rel); i++ {
		if rel[i] != '/' {
			continue
		}
		p := rel[:i]
		have, ok := w.seen[p]
		if !ok {
			if err := w.dir(p, fs.ModeDir|dirMode); err != nil {
				return err
			}
			continue
		}
		if !have.IsDir() {
			return fmt.Errorf("initramfs: /%s: /%s is %v: %w", rel, p, have, ErrNotDir)
		}
	}
	return nil
}

// dir writes a directory entry.
func (w *Writer) dir(rel string, mode fs.FileMode) error {
	w.seen[rel] = mode
	if err := w.header(rel, fileMode(mode)|cpio.TypeDir, 0, 2); err != nil {
		return err
	}
	if w.opts.Record != nil {
		w.opts.Record(Entry{Name: "/" + rel, Mode: mode})
	}
	return nil
}

// rootName is the archive name of the root directory. The kernel's
// unpacker applies a directory entry's owner and mode even when the
// directory exists, so each concatenated segment may carry one.
const rootName = "."

// writeRoot writes the root directory entry, once, before any other.
func (w *Writer) writeRoot() error {
	if w.root {
		return nil
	}
	w.root = true
	if err := w.entry(rootName, fileMode(dirMode)|cpio.TypeDir, 0, 2); err != nil {
		return err
	}
	if w.opts.Record != nil {
		w.opts.Record(Entry{Name: "/", Mode: fs.ModeDir | dirMode})
	}
	return nil
}

// header writes one entry header with the Writer's fixed metadata, after
// the root directory's.
func (w *Writer) header(rel string, mode cpio.FileMode, size int64, links int) error {
	if err := w.writeRoot(); err != nil {
		return err
	}
	return w.entry(rel, mode, size, links)
}

// entry writes one header, with the next inode number.
func (w *Writer) entry(rel string, mode cpio.FileMode, size int64, links int) error {
	w.inode++
	return w.entryInode(rel, mode, size, links, w.inode)
}

// entryInode writes one header with the given inode number.
func (w *Writer) entryInode(rel string, mode cpio.FileMode, size int64, links int, inode int64) error {
	err := w.cw.WriteHeader(&cpio.Header{
		Name:    rel,
		Mode:    mode,
		Size:    size,
		Links:   links,
		Uid:     w.opts.UID,
		Guid:    w.opts.GID,
		ModTime: w.mtime,
		Inode:   inode,
	})
	if err != nil {
		return w.fail(fmt.Errorf("initramfs: write header of /%s: %w", rel, err))
	}
	return nil
}

// cleanName checks an absolute entry name and returns it in archive form:
// cleaned, without the leading slash.
func cleanName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("initramfs: name %q: %s: %w", name, why, ErrInvalidName)
	}
	switch {
	case name == "":
		return bad("empty")
	case name[0] != '/':
		return bad("not absolute (names start with /)")
	case strings.IndexByte(name, 0) >= 0:
		return bad("contains NUL")
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return bad(`contains ".."`)
		}
	}
	rel := path.Clean(name)[1:]
	switch {
	case rel == "":
		return bad("names the root directory")
	case len(rel) > maxNameLen:
		return bad(fmt.Sprintf("longer than %d bytes", maxNameLen))
	}
	return rel, nil
}

// fileMode converts permission and special bits to their cpio form.
func fileMode(m fs.FileMode) cpio.FileMode {
	c := cpio.FileMode(m.Perm())
	if m&fs.ModeSetuid != 0 {
		c |= cpio.ModeSetuid
	}
	if m&fs.ModeSetgid != 0 {
		c |= cpio.ModeSetgid
	}
	if m&fs.ModeSticky != 0 {
		c |= cpio.ModeSticky
	}
	return c
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
