package initramfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// AddTree copies the host directory tree src into the archive at dst (an
// absolute archive path): directories, regular files with their permission
// bits, and symbolic links with their targets verbatim. Entries are written
// in lexical order, depth first, so the same tree always gives the same
// archive; host owners, times and inode numbers are not copied (the
// Writer's Options apply). dst itself gets src's mode. Regular files that
// are hard links of each other within src stay so: the first name in that
// order holds the data and the others are links to it (CopyFileLinks and
// Link), with the number of names inside src as their link count; links
// to a file outside src do not count, and where the platform does not
// tell (Windows) each name is a copy. Any other file type (device, FIFO,
// socket) fails with ErrUnsupportedType. AddTree stops when ctx is
// cancelled, returning ctx's error.
//
// Modes are kept as they are on the host: a tree readable only by its
// owner stays so in the guest, where root owns it. The one exception is
// the setuid and setgid bits of files, which are dropped: every entry is
// owned by the Writer's owner (root by default), so a file that is setuid
// to some user on the host would be setuid root in the guest. Directories
// keep theirs (setgid on a directory only sets the group of new files).
// AddTreeOptions says which files lost those bits. If src is a regular
// file, it is copied to dst.
func AddTree(ctx context.Context, w *Writer, dst string, src string) error {
	return AddTreeOptions(ctx, w, dst, src, TreeOptions{})
}

// TreeOptions tune AddTreeOptions.
type TreeOptions struct {
	// Stripped, if set, is called for each regular file whose setuid or
	// setgid bits were dropped, with its archive name and its host mode,
	// so that the caller can tell the user.
	Stripped func(name string, hostMode fs.FileMode)
	// Skip, if set, is called with the archive name of each entry; an
	// entry for which it returns true is left out (a directory with all
	// it holds), so that the caller can write its own in its place.
	Skip func(name string) bool
}

// setID are the mode bits AddTree drops from files.
const setID = fs.ModeSetuid | fs.ModeSetgid

// AddTreeOptions is AddTree with options.
func AddTreeOptions(ctx context.Context, w *Writer, dst string, src string, opts TreeOptions) error {
	if _, err := cleanName(dst); err != nil {
		return fmt.Errorf("initramfs: add tree %s: %w", src, err)
	}
	// WalkDir does not follow a symbolic link at the root: resolve it,
	// so that a linked app directory is copied, not linked.
	root, err := filepath.EvalSymlinks(src)
	if err != nil {
		return fmt.Errorf("initramfs: add tree: %w", err)
	}
	links, err := countLinks(ctx, root)
	if err != nil {
		return err
	}
	first := make(map[fileID]string) // archive name of each linked file's first name
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("initramfs: add tree: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return fmt.Errorf("initramfs: add tree: %s: %w", p, err)
		}
		name := path.Join(dst, filepath.ToSlash(rel))
		if opts.Skip != nil && opts.Skip(name) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch t := d.Type(); {
		case t.IsDir():
			info, err := d.Info()
			if err != nil {
				return fmt.Errorf("initramfs: add tree: %w", err)
			}
			return w.Mkdir(name, info.Mode())
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("initramfs: add tree: %w", err)
			}
			return w.Symlink(name, target)
		case t.IsRegular():
			id, n := linkedFile(d, links)
			if n < 2 {
				return addFile(ctx, w, name, p, 1, opts.Stripped)
			}
			target, ok := first[id]
			if !ok {
				first[id] = name
				return addFile(ctx, w, name, p, n, opts.Stripped)
			}
			if err := w.Link(name, target); !errors.Is(err, ErrLink) {
				return err
			}
			// More names than counted: the tree changed under us.
			return addFile(ctx, w, name, p, 1, opts.Stripped)
		default:
			return fmt.Errorf("initramfs: add tree: %s is %v: %w (remove it or copy it elsewhere)", p, t, ErrUnsupportedType)
		}
	})
}

// countLinks returns, for each regular file under root with more than one
// link, the number of its names under root.
func countLinks(ctx context.Context, root string) (map[fileID]int, error) {
	var links map[fileID]int
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("initramfs: add tree: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("initramfs: add tree: %w", err)
		}
		if id, ok := hostFileID(info); ok {
			if links == nil {
				links = make(map[fileID]int)
			}
			links[id]++
		}
		return nil
	})
	return links, err
}

// linkedFile returns the identity of the regular file d and the number of
// its names in the tree (0 when that is not known).
func linkedFile(d fs.DirEntry, links map[fileID]int) (fileID, int) {
	if len(links) == 0 {
		return fileID{}, 0
	}
	info, err := d.Info()
	if err != nil {
		return fileID{}, 0 // addFile reports it
	}
	id, ok := hostFileID(info)
	if !ok {
		return fileID{}, 0
	}
	return id, links[id]
}

// fileID identifies a host file with several links: its device and inode.
type fileID struct{ dev, ino uint64 }

// addFile streams one host file into the archive as the first of links
// names, without its setuid and setgid bits (reported to stripped, if set).
func addFile(ctx context.Context, w *Writer, name, p string, links int, stripped func(string, fs.FileMode)) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("initramfs: add tree: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("initramfs: add tree: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("initramfs: add tree: %s is %v: %w", p, info.Mode().Type(), ErrUnsupportedType)
	}
	mode := info.Mode() &^ fs.ModeType
	if mode&setID != 0 {
		if stripped != nil {
			stripped(name, mode)
		}
		mode &^= setID
	}
	// CopyFile's errors name the archive path, which mirrors p.
	return w.CopyFileLinks(name, mode, info.Size(), ctxReader{ctx, f}, links)
}

// ctxReader stops reading when its context is done, so that copying a big
// file can be cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
