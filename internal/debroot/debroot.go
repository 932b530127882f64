package debroot

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/deb"
)

// PackagesFile is the file at the top of every tree that lists the
// packages unpacked into it (read it with Packages). It is written last,
// so a tree that has it is complete.
const PackagesFile = ".bootapp-packages.json"

// format is part of every tree's key: change it when the unpacking rules
// change, so that old trees are not reused.
const format = "debroot/2"

// Package is one package unpacked into a tree.
type Package struct {
	// File is the .deb's base name.
	File string `json:"file"`
	// Name, Version and Arch are the control file's Package, Version and
	// Architecture fields.
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
	// Size is the .deb's size in bytes and SHA256 its hex SHA-256.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Files lists the guest paths of the files and links the package
	// wrote into the tree, so that a user of the tree can tell which
	// packages the files it takes come from (set by Packages, not by
	// Extract, whose Unpacked.Files has them).
	Files []string `json:"files,omitempty"`
}

// info is the content of PackagesFile.
type info struct {
	Format   string    `json:"format"`
	Packages []Package `json:"packages"`
}

// Unpacked is what Extract unpacked from one package.
type Unpacked struct {
	Package
	// Control is the package's control file.
	Control deb.Control
	// Files lists the guest paths ("/usr/bin/node") of the regular files,
	// hard links and symbolic links written, in archive order.
	Files []string
}

// Unpack unpacks the data archives of debs into one merged tree below
// cacheDir/runtimes and returns its path, reusing the tree an earlier
// call made from the same packages (same base names, sizes and
// modification times, in any order). The packages are unpacked in the
// order of their base names, so the order of debs does not matter.
func Unpack(ctx context.Context, cacheDir string, debs []string) (root string, err error) {
	if len(debs) == 0 {
		return "", errors.New("debroot: no packages to unpack")
	}
	sorted := append([]string(nil), debs...)
	sort.Slice(sorted, func(i, j int) bool { return filepath.Base(sorted[i]) < filepath.Base(sorted[j]) })
	key, stats, err := treeKey(sorted)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, cache.Runtimes)
	root = filepath.Join(dir, "root-"+key)
	if complete(root) {
		return root, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create cache folder %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(dir, ".tmp-root-"+key+"-")
	if err != nil {
		return "", fmt.Errorf("unpack packages: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	r, err := os.OpenRoot(tmp)
	if err != nil {
		return "", err
	}
	defer r.Close()
	ix := info{Format: format}
	for i, p := range sorted {
		u, err := extract(ctx, r, p, true)
		if err != nil {
			return "", err
		}
		// The key was computed from the stat before unpacking: a package
		// replaced meanwhile must not be filed under it.
		if fi, err := os.Stat(p); err != nil || fi.Size() != stats[i].Size() || !fi.ModTime().Equal(stats[i].ModTime()) || fi.Size() != u.Size {
			return "", fmt.Errorf("unpack %s: the file changed while it was unpacked", p)
		}
		pkg := u.Package
		pkg.Files = u.Files
		ix.Packages = append(ix.Packages, pkg)
	}
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, PackagesFile), append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("unpack packages: %w", err)
	}
	for attempt := 0; ; attempt++ {
		err := os.Rename(tmp, root)
		if err == nil {
			return root, nil
		}
		if complete(root) {
			return root, nil // another caller won the race: use its tree
		}
		if _, serr := os.Lstat(root); serr != nil || attempt > 0 {
			return "", fmt.Errorf("unpack packages: %w", err)
		}
		// A directory without PackagesFile is no tree of ours (a rename
		// is all or nothing): clear it and try once more.
		if err := os.RemoveAll(root); err != nil {
			return "", fmt.Errorf("unpack packages: remove incomplete %s: %w", root, err)
		}
	}
}

// complete reports whether root is a finished tree.
func complete(root string) bool {
	_, err := os.Lstat(filepath.Join(root, PackagesFile))
	return err == nil
}

// treeKey hashes the base names, sizes and modification times of debs
// (sorted by base name).
func treeKey(debs []string) (string, []os.FileInfo, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", format)
	stats := make([]os.FileInfo, len(debs))
	seen := map[string]bool{}
	for i, p := range debs {
		fi, err := os.Stat(p)
		if err != nil {
			return "", nil, fmt.Errorf("unpack packages: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return "", nil, fmt.Errorf("unpack packages: %s is not a regular file", p)
		}
		base := filepath.Base(p)
		if seen[base] {
			return "", nil, fmt.Errorf("unpack packages: %s is given twice", base)
		}
		seen[base] = true
		stats[i] = fi
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", base, fi.Size(), fi.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), stats, nil
}

// Packages returns the packages unpacked into the tree at root, in the
// order they were unpacked.
func Packages(root string) ([]Package, error) {
	b, err := os.ReadFile(filepath.Join(root, PackagesFile))
	if err != nil {
		return nil, fmt.Errorf("read the package list of %s: %w", root, err)
	}
	var ix info
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("read the package list of %s: %w", root, err)
	}
	return ix.Packages, nil
}

// Extract unpacks the data archive of the .deb at debPath into the
// existing directory dir, with Unpack's rules, and returns what it wrote.
func Extract(ctx context.Context, dir, debPath string) (*Unpacked, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return extract(ctx, r, debPath, true)
}

func extract(ctx context.Context, r *os.Root, debPath string, listFiles bool) (*Unpacked, error) {
	f, err := os.Open(debPath)
	if err != nil {
		return nil, fmt.Errorf("unpack package: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(f, h)}
	rd, err := deb.NewReader(cr)
	if err != nil {
		return nil, fmt.Errorf("unpack %s: %w", debPath, err)
	}
	defer rd.Close()
	ctl, err := rd.Control()
	if err != nil {
		return nil, fmt.Errorf("unpack %s: %w", debPath, err)
	}
	tr, err := rd.Data()
	if err != nil {
		return nil, fmt.Errorf("unpack %s: %w", debPath, err)
	}
	u := &Unpacked{Control: ctl}
	x := &extractor{r: r, pkg: ctl.Package, deb: debPath}
	if x.pkg == "" {
		x.pkg = filepath.Base(debPath)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", debPath, err)
		}
		th, err := tr.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, tar.ErrInsecurePath) && th != nil {
			err = nil // refused below, naming the entry
		}
		if err != nil {
			return nil, fmt.Errorf("unpack %s (%s): %w", x.pkg, debPath, err)
		}
		name, wrote, err := x.entry(th, tr)
		if err != nil {
			return nil, err
		}
		if wrote && listFiles {
			u.Files = append(u.Files, "/"+name)
		}
	}
	if err := rd.Finish(); err != nil {
		return nil, fmt.Errorf("unpack %s (%s): %w", x.pkg, debPath, err)
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, fmt.Errorf("unpack %s: %w", debPath, err)
	}
	u.Package = Package{
		File:    filepath.Base(debPath),
		Name:    ctl.Package,
		Version: ctl.Version,
		Arch:    ctl.Architecture,
		Size:    cr.n,
		SHA256:  hex.EncodeToString(h.Sum(nil)),
	}
	return u, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// extractor writes the entries of one package into the tree.
type extractor struct {
	r   *os.Root
	pkg string // package name, for errors
	deb string
}

func (x *extractor) errorf(entry, format string, a ...any) error {
	return fmt.Errorf("unpack %s (%s): entry %q: %s", x.pkg, x.deb, entry, fmt.Sprintf(format, a...))
}

// clean turns an archive name ("./usr/bin/node", "/usr/bin/node",
// "usr/lib/") into a path relative to the tree ("usr/bin/node"); "" is
// the tree itself. A ".." component is an error.
func clean(name string) (string, bool) {
	n := strings.Trim(name, "/")
	n = strings.TrimPrefix(n, "./")
	if n == "." {
		return "", true
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", false
		}
	}
	return strings.TrimPrefix(path.Clean("/"+n), "/"), true
}

// perm returns the permission bits to keep: setuid and setgid dropped.
func perm(mode int64) fs.FileMode {
	m := fs.FileMode(mode & 0o777)
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// entry writes one tar entry. It returns the entry's tree path and
// whether it wrote a file or link.
func (x *extractor) entry(h *tar.Header, tr io.Reader) (string, bool, error) {
	name, ok := clean(h.Name)
	if !ok {
		return "", false, x.errorf(h.Name, "has a \"..\" component (it would leave the tree)")
	}
	if name == "" {
		return "", false, nil // the tree's own directory
	}
	if deb.IsSparse(h) {
		return "", false, x.errorf(h.Name, "a sparse tar entry (dpkg writes none)")
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return name, false, x.dir(h, name)
	case tar.TypeReg, tar.TypeRegA:
		if err := x.replace(h.Name, name); err != nil {
			return "", false, err
		}
		return name, true, x.file(h, name, tr)
	case tar.TypeSymlink:
		if err := x.replace(h.Name, name); err != nil {
			return "", false, err
		}
		return name, true, x.symlink(h, name)
	case tar.TypeLink:
		if err := x.replace(h.Name, name); err != nil {
			return "", false, err
		}
		return name, true, x.hardlink(h, name)
	default:
		// Device nodes and FIFOs (Debian's runtime packages have none),
		// and types archive/tar reports but does not define.
		return name, false, nil
	}
}

// dir creates a directory (and its parents), keeping an existing one or
// a link to one.
func (x *extractor) dir(h *tar.Header, name string) error {
	fi, err := x.r.Lstat(name)
	switch {
	case err == nil && fi.IsDir():
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		if st, err := x.r.Stat(name); err == nil && st.IsDir() {
			return nil // e.g. a merged-/usr link to the directory
		}
		return x.errorf(h.Name, "a directory where an earlier package has a link that is none")
	case err == nil:
		return x.errorf(h.Name, "a directory where an earlier package has a file")
	default:
		if err := x.r.MkdirAll(name, 0o755); err != nil {
			return x.errorf(h.Name, "%v", err)
		}
	}
	// Owner rwx always, so that later entries (and a cache cleaner) can
	// write into it.
	if err := x.r.Chmod(name, perm(h.Mode)|0o700); err != nil {
		return x.errorf(h.Name, "%v", err)
	}
	return nil
}

// replace makes room for a file or link at name: parents are created,
// and a file or link already there (from an earlier package) is removed.
func (x *extractor) replace(entry, name string) error {
	if d := path.Dir(name); d != "." {
		if err := x.r.MkdirAll(d, 0o755); err != nil {
			return x.errorf(entry, "%v", err)
		}
	}
	fi, err := x.r.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return x.errorf(entry, "%v", err)
	}
	if fi.IsDir() {
		return x.errorf(entry, "a file where an earlier package has a directory")
	}
	if err := x.r.Remove(name); err != nil {
		return x.errorf(entry, "%v", err)
	}
	return nil
}

func (x *extractor) file(h *tar.Header, name string, tr io.Reader) error {
	f, err := x.r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return x.errorf(h.Name, "%v", err)
	}
	_, werr := io.Copy(f, tr)
	if werr != nil {
		f.Close()
		return fmt.Errorf("unpack %s (%s): entry %q: %w", x.pkg, x.deb, h.Name, werr)
	}
	cerr := f.Chmod(perm(h.Mode))
	if err := errors.Join(cerr, f.Close()); err != nil {
		return x.errorf(h.Name, "%v", err)
	}
	if err := x.r.Chtimes(name, h.ModTime, h.ModTime); err != nil {
		return x.errorf(h.Name, "%v", err)
	}
	return nil
}

// symlink creates a symbolic link, an absolute target rewritten relative
// to the link's directory.
func (x *extractor) symlink(h *tar.Header, name string) error {
	target := h.Linkname
	if target == "" {
		return x.errorf(h.Name, "a symbolic link without a target")
	}
	dir := path.Dir(name)
	if strings.HasPrefix(target, "/") {
		t := strings.TrimPrefix(path.Clean(target), "/")
		if t == "" {
			t = "."
		}
		rel, err := filepath.Rel(dir, t)
		if err != nil {
			return x.errorf(h.Name, "link target %q: %v", target, err)
		}
		target = filepath.ToSlash(rel)
	} else if j := path.Join(dir, target); j == ".." || strings.HasPrefix(j, "../") {
		return x.errorf(h.Name, "link target %q leaves the tree", h.Linkname)
	}
	if err := x.r.Symlink(target, name); err != nil {
		return x.errorf(h.Name, "%v", err)
	}
	return nil
}

// hardlink links name to an earlier entry, or copies it where the file
// system has no hard links.
func (x *extractor) hardlink(h *tar.Header, name string) error {
	old, ok := clean(h.Linkname)
	if !ok || old == "" {
		return x.errorf(h.Name, "hard link to %q leaves the tree", h.Linkname)
	}
	if err := x.r.Link(old, name); err == nil {
		return nil
	}
	src, err := x.r.Open(old)
	if err != nil {
		return x.errorf(h.Name, "hard link to %q: %v", h.Linkname, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return x.errorf(h.Name, "hard link to %q, which is no regular file", h.Linkname)
	}
	dst, err := x.r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return x.errorf(h.Name, "%v", err)
	}
	_, werr := io.Copy(dst, src)
	cerr := dst.Chmod(fi.Mode().Perm())
	if err := errors.Join(werr, cerr, dst.Close()); err != nil {
		return x.errorf(h.Name, "%v", err)
	}
	return nil
}
