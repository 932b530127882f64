package elfdeps

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Options configures Resolve.
type Options struct {
	// Root is the directory the guest's "/" is: "/" (default) for the
	// build host, or a sysroot.
	Root string
	// Mounts places host files or directories at guest paths, above
	// Root: {"/app": "/home/me/build/app"} resolves /app/... in that
	// directory. Files found there are marked File.Mounted.
	Mounts map[string]string
	// Extra lists further files, directories (taken whole) or globs, as
	// guest paths relative to Root (leading "/" optional); ELF objects
	// among them get their dependencies resolved too. A pattern that
	// matches nothing is an error.
	Extra []string
	// Lib is what $LIB expands to. Default: "lib/x86_64-linux-gnu", as
	// Debian's loader expands it.
	Lib string
	// Platform is what $PLATFORM expands to (AT_PLATFORM). Default:
	// "x86_64".
	Platform string
}

// File is one entry of a closure.
type File struct {
	// Path is the guest path.
	Path string
	// Host is the file on the build host.
	Host string
	// Link is a symbolic link's target as stored; empty for a regular
	// file or directory.
	Link string
	// Dir is set for a directory (from Options.Extra).
	Dir bool
	// Mounted is set for a file found below one of Options.Mounts.
	Mounted bool
}

// Closure is what a program needs at run time.
type Closure struct {
	// Interp is the guest path of the program's dynamic loader
	// (PT_INTERP); empty for a static executable.
	Interp string
	// Objects lists the guest paths (symbolic links resolved) of every
	// ELF object, the inputs first, in the order ld.so loads them.
	Objects []string
	// Files holds every file and symbolic link, sorted by path.
	Files []File
	// LibraryPath lists the directories (guest paths, in search order) in
	// which a library was found only because /etc/ld.so.conf names them:
	// the loader finds those through ld.so.cache, and without one only
	// in LD_LIBRARY_PATH.
	LibraryPath []string
	// Glibc is set when libc.so.6 is in the closure.
	Glibc bool
}

// Errors returned by Resolve, wrapped with details.
var (
	// ErrNotELF is returned for an input that is not an ELF object.
	ErrNotELF = errors.New("not an ELF object")
	// ErrNotFound is wrapped by MissingError.
	ErrNotFound = errors.New("not found")
	// ErrIncompatible is returned for an input, or a library named by a
	// path, built for another ELF class or machine.
	ErrIncompatible = errors.New("built for another machine")
)

// MissingError is a library, or a dynamic loader, that is nowhere to be
// found.
type MissingError struct {
	// Name is the DT_NEEDED name or the PT_INTERP path.
	Name string
	// NeededBy is the guest path of the object that needs it.
	NeededBy string
	// Searched lists the directories looked in (guest paths).
	Searched []string
}

func (e *MissingError) Error() string {
	if len(e.Searched) == 0 {
		return fmt.Sprintf("%s, needed by %s: %v", e.Name, e.NeededBy, ErrNotFound)
	}
	return fmt.Sprintf("library %s, needed by %s: %v in %s", e.Name, e.NeededBy, ErrNotFound, strings.Join(e.Searched, ":"))
}

// Unwrap returns ErrNotFound.
func (e *MissingError) Unwrap() error { return ErrNotFound }

// DefaultDirs are the directories searched after RUNPATH and ld.so.conf.
var DefaultDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// loaderDirs are the directories Debian's x86_64 loader searches without
// ld.so.cache (`ld.so --help`, "system search path").
var loaderDirs = map[string]bool{"/lib/x86_64-linux-gnu": true, "/usr/lib/x86_64-linux-gnu": true, "/lib": true, "/usr/lib": true}

// maxLinks bounds the symbolic links followed for one path, as the
// kernel's MAXSYMLINKS does.
const maxLinks = 40

// object is one loaded ELF object.
type object struct {
	path   string // the guest path it was found at
	canon  string // that path with symbolic links resolved
	origin string // $ORIGIN
	info   *Info
	loader *object
}

type resolver struct {
	o       Options
	files   map[string]File
	objs    []*object
	byName  map[string]*object // needed names, sonames and paths already loaded
	byCanon map[string]*object
	conf    []string // ld.so.conf directories, read once
	confErr error
	confOK  bool
	libDirs []string
	ident   *Info // the class, byte order and machine objects must have
}

// Resolve returns the closure of the ELF objects at paths (guest paths:
// executables or shared libraries) inside o.Root. The first input decides
// the ELF class and machine the others must have.
func Resolve(o Options, paths ...string) (*Closure, error) {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Lib == "" {
		o.Lib = "lib/x86_64-linux-gnu"
	}
	if o.Platform == "" {
		o.Platform = "x86_64"
	}
	r := &resolver{o: o, files: map[string]File{}, byName: map[string]*object{}, byCanon: map[string]*object{}}
	c := &Closure{}
	var queue []*object
	for _, p := range paths {
		obj, err := r.loadInput(p)
		if err != nil {
			return nil, err
		}
		if obj == nil {
			continue
		}
		queue = append(queue, obj)
		if c.Interp == "" && obj.info.Interp != "" {
			c.Interp = obj.info.Interp
		}
	}
	// The loader itself: the kernel maps it, ld.so counts it as loaded
	// (its soname satisfies a DT_NEEDED of ld-linux-x86-64.so.2).
	for _, obj := range append([]*object(nil), queue...) {
		if obj.info.Interp == "" {
			continue
		}
		if _, err := r.loadPath(obj.info.Interp, obj, true); err != nil {
			return nil, err
		}
	}
	if err := r.breadthFirst(queue); err != nil {
		return nil, err
	}
	if err := r.glibcExtras(c); err != nil {
		return nil, err
	}
	if err := r.extra(); err != nil {
		return nil, err
	}
	for _, obj := range r.objs {
		c.Objects = append(c.Objects, obj.canon)
	}
	for _, f := range r.files {
		c.Files = append(c.Files, f)
	}
	sort.Slice(c.Files, func(i, j int) bool { return c.Files[i].Path < c.Files[j].Path })
	c.LibraryPath = r.libDirs
	return c, nil
}

// breadthFirst loads the dependencies of queue and of what they load, in
// ld.so's order.
func (r *resolver) breadthFirst(queue []*object) error {
	for len(queue) > 0 {
		obj := queue[0]
		queue = queue[1:]
		for _, name := range obj.info.Needed {
			dep, isNew, err := r.need(name, obj)
			if err != nil {
				return err
			}
			if isNew {
				queue = append(queue, dep)
			}
		}
	}
	return nil
}

// loadInput loads an input: an ELF object, which must match the first
// input. A static executable gives an object with no dependencies.
func (r *resolver) loadInput(p string) (*object, error) {
	p = cleanGuest(p)
	canon, err := r.walk(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if r.byCanon[canon] != nil {
		return nil, nil
	}
	info, err := r.open(canon)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if r.ident == nil {
		r.ident = info
	} else if !r.compatible(info) {
		return nil, fmt.Errorf("%s: %w: %s %s, not %s %s", p, ErrIncompatible, info.Class, info.Machine, r.ident.Class, r.ident.Machine)
	}
	// The executable's $ORIGIN is the directory of its real path
	// (/proc/self/exe).
	obj := &object{path: p, canon: canon, origin: path.Dir(canon), info: info}
	r.add(obj, p)
	return obj, nil
}

// loadPath loads the object at guest path p (a PT_INTERP, or a DT_NEEDED
// name with a slash); by needs it.
func (r *resolver) loadPath(p string, by *object, interp bool) (*object, error) {
	if o := r.byName[p]; o != nil {
		return o, nil
	}
	canon, err := r.walk(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if interp {
				return nil, &MissingError{Name: "dynamic loader " + p, NeededBy: by.canon}
			}
			return nil, &MissingError{Name: p, NeededBy: by.canon}
		}
		return nil, fmt.Errorf("%s, needed by %s: %w", p, by.canon, err)
	}
	if o := r.byCanon[canon]; o != nil {
		r.byName[p] = o
		return o, nil
	}
	info, err := r.open(canon)
	if err != nil {
		return nil, fmt.Errorf("%s, needed by %s: %w", p, by.canon, err)
	}
	if !r.compatible(info) {
		return nil, fmt.Errorf("%s, needed by %s: %w: %s %s, not %s %s", p, by.canon, ErrIncompatible, info.Class, info.Machine, r.ident.Class, r.ident.Machine)
	}
	obj := &object{path: p, canon: canon, origin: path.Dir(p), info: info, loader: by}
	r.add(obj, p)
	return obj, nil
}

// add records obj as loaded under name.
func (r *resolver) add(obj *object, name string) {
	r.objs = append(r.objs, obj)
	r.byCanon[obj.canon] = obj
	r.byName[name] = obj
	r.byName[obj.path] = obj
	if obj.info.Soname != "" {
		if _, ok := r.byName[obj.info.Soname]; !ok {
			r.byName[obj.info.Soname] = obj
		}
	}
}

// need finds DT_NEEDED name of obj. isNew is false when it was loaded
// already.
func (r *resolver) need(name string, by *object) (dep *object, isNew bool, err error) {
	name = r.expand(name, by)
	if strings.Contains(name, "/") {
		before := len(r.objs)
		o, err := r.loadPath(cleanGuest(name), by, false)
		return o, err == nil && len(r.objs) > before, err
	}
	if o := r.byName[name]; o != nil {
		return o, false, nil
	}
	var searched []string
	try := func(dirs []string, fromConf bool) (*object, bool, error) {
		for _, d := range dirs {
			if d == "" {
				continue
			}
			d = cleanGuest(d)
			searched = append(searched, d)
			o, isNew, ok, err := r.tryDir(d, name, by)
			if err != nil {
				return nil, false, err
			}
			if ok {
				if fromConf && isNew && !loaderDirs[d] && !contains(r.libDirs, d) {
					r.libDirs = append(r.libDirs, d)
				}
				return o, isNew, nil
			}
		}
		return nil, false, nil
	}
	if by.info.Runpath == nil {
		// RPATH of the requesting object, then of the one that loaded
		// it, up to the executable.
		for l := by; l != nil; l = l.loader {
			if l.info.Runpath != nil || l.info.Rpath == nil {
				continue
			}
			if o, n, err := try(r.expandList(l.info.Rpath, l), false); o != nil || err != nil {
				return o, n, err
			}
		}
	}
	if o, n, err := try(r.expandList(by.info.Runpath, by), false); o != nil || err != nil {
		return o, n, err
	}
	if !by.info.NoDefLib {
		conf, err := r.ldsoConf()
		if err != nil {
			return nil, false, err
		}
		if o, n, err := try(conf, true); o != nil || err != nil {
			return o, n, err
		}
		if o, n, err := try(DefaultDirs, true); o != nil || err != nil {
			return o, n, err
		}
	}
	return nil, false, &MissingError{Name: name, NeededBy: by.canon, Searched: dedupe(searched)}
}

// tryDir looks for name in guest directory dir. ok is false when there is
// no compatible ELF object of that name there.
func (r *resolver) tryDir(dir, name string, by *object) (o *object, isNew, ok bool, err error) {
	p := path.Join(dir, name)
	// Only a file that exists and is compatible counts; its symbolic
	// links are recorded only then.
	saved := r.snapshot()
	canon, err := r.walk(p)
	if err != nil {
		r.restore(saved)
		return nil, false, false, nil
	}
	if o := r.byCanon[canon]; o != nil {
		r.byName[name] = o
		return o, false, true, nil
	}
	info, err := r.open(canon)
	if err != nil || !r.compatible(info) {
		r.restore(saved)
		return nil, false, false, nil
	}
	obj := &object{path: p, canon: canon, origin: dir, info: info, loader: by}
	r.add(obj, name)
	return obj, true, true, nil
}

func (r *resolver) snapshot() map[string]bool {
	m := make(map[string]bool, len(r.files))
	for k := range r.files {
		m[k] = true
	}
	return m
}

func (r *resolver) restore(saved map[string]bool) {
	for k := range r.files {
		if !saved[k] {
			delete(r.files, k)
		}
	}
}

// compatible reports whether info can be loaded with the first input.
func (r *resolver) compatible(info *Info) bool {
	return info.Class == r.ident.Class && info.Data == r.ident.Data && info.Machine == r.ident.Machine
}

// open parses the ELF object at canonical guest path p and records it.
func (r *resolver) open(p string) (*Info, error) {
	host, mounted := r.host(p)
	f, err := os.Open(host)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := Parse(f)
	if err != nil {
		return nil, err
	}
	r.files[p] = File{Path: p, Host: host, Mounted: mounted}
	return info, nil
}

// expand replaces $ORIGIN, $LIB and $PLATFORM in s.
func (r *resolver) expand(s string, obj *object) string {
	if !strings.Contains(s, "$") {
		return s
	}
	for _, v := range [][2]string{{"ORIGIN", obj.origin}, {"LIB", r.o.Lib}, {"PLATFORM", r.o.Platform}} {
		s = strings.ReplaceAll(s, "${"+v[0]+"}", v[1])
		s = replaceToken(s, "$"+v[0], v[1])
	}
	return s
}

// replaceToken replaces tok in s where it is not followed by a character
// that would make it a longer name ($ORIGINX is no $ORIGIN).
func replaceToken(s, tok, v string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, tok)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := i + len(tok)
		if j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
			b.WriteString(s[:j])
			s = s[j:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[j:]
	}
}

// expandList expands a DT_RPATH or DT_RUNPATH list of obj. Relative
// entries are relative to the working directory, which the guest's is
// not known here: they are taken relative to the root.
func (r *resolver) expandList(list []string, obj *object) []string {
	out := make([]string, 0, len(list))
	for _, d := range list {
		out = append(out, r.expand(d, obj))
	}
	return out
}

// ldsoConf returns the directories /etc/ld.so.conf names in the root.
func (r *resolver) ldsoConf() ([]string, error) {
	if r.confOK {
		return r.conf, r.confErr
	}
	r.confOK = true
	seen := map[string]bool{}
	var dirs []string
	var read func(p string, depth int) error
	read = func(p string, depth int) error {
		if depth > 8 || seen["file:"+p] {
			return nil
		}
		seen["file:"+p] = true
		host, _ := r.host(p)
		data, err := os.ReadFile(host)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if rest, ok := strings.CutPrefix(line, "include"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
				for _, pat := range strings.Fields(rest) {
					if !strings.HasPrefix(pat, "/") {
						pat = path.Join(path.Dir(p), pat)
					}
					matches, err := r.glob(pat)
					if err != nil {
						continue
					}
					for _, m := range matches {
						if err := read(m, depth+1); err != nil {
							return err
						}
					}
				}
				continue
			}
			if strings.HasPrefix(line, "hwcap ") {
				continue
			}
			// ldconfig accepts "dir" and the old "dir=TYPE" form,
			// separated by spaces, tabs, commas or colons.
			for _, d := range strings.FieldsFunc(line, func(c rune) bool { return c == ' ' || c == '\t' || c == ',' || c == ':' }) {
				d, _, _ = strings.Cut(d, "=")
				if strings.HasPrefix(d, "/") && !seen[d] {
					seen[d] = true
					dirs = append(dirs, cleanGuest(d))
				}
			}
		}
		return nil
	}
	r.confErr = read("/etc/ld.so.conf", 0)
	r.conf = dirs
	return r.conf, r.confErr
}

// host returns the host path of guest path p (clean, absolute) and
// whether it is below a mount.
func (r *resolver) host(p string) (string, bool) {
	best := ""
	for g := range r.o.Mounts {
		g = cleanGuest(g)
		if (p == g || g == "/" || strings.HasPrefix(p, g+"/")) && len(g) > len(best) {
			best = g
		}
	}
	if best != "" {
		h := r.o.Mounts[best]
		if h == "" {
			h = r.o.Mounts[best+"/"]
		}
		return filepath.Join(h, filepath.FromSlash(strings.TrimPrefix(p, best))), true
	}
	return filepath.Join(r.o.Root, filepath.FromSlash(p)), false
}

// mountParent reports whether guest path p is a directory above one of
// the mounts (and not itself below one): it exists in the guest whatever
// the root holds there.
func (r *resolver) mountParent(p string) bool {
	for g := range r.o.Mounts {
		g = cleanGuest(g)
		if g != p && strings.HasPrefix(g, p+"/") || p == "/" {
			return true
		}
	}
	return false
}

// glob returns the guest paths that match the guest pattern pat
// (path.Match syntax), sorted, resolving directories inside the root as
// walk does: unlike filepath.Glob, a symbolic link never leads out of it.
func (r *resolver) glob(pat string) ([]string, error) {
	if _, err := path.Match(pat, ""); err != nil {
		return nil, err
	}
	cur := []string{"/"}
	for _, c := range strings.Split(strings.TrimPrefix(cleanGuest(pat), "/"), "/") {
		if c == "" {
			continue
		}
		var next []string
		for _, dir := range cur {
			if !strings.ContainsAny(c, `*?[\`) {
				next = append(next, path.Join(dir, c))
				continue
			}
			saved := r.snapshot()
			canon, err := r.walk(dir)
			r.restore(saved)
			if err != nil {
				continue
			}
			host, _ := r.host(canon)
			entries, err := os.ReadDir(host)
			if err != nil {
				continue
			}
			for _, e := range entries {
				if ok, _ := path.Match(c, e.Name()); ok && (e.Name()[0] != '.' || c[0] == '.') {
					next = append(next, path.Join(dir, e.Name()))
				}
			}
		}
		cur = next
	}
	var out []string
	for _, p := range cur {
		saved := r.snapshot()
		_, err := r.walk(p)
		r.restore(saved)
		if err == nil {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// walk resolves guest path p component by component inside the root,
// recording every symbolic link on the way, and returns the resulting
// path of a regular file (or directory).
func (r *resolver) walk(p string) (string, error) {
	todo := strings.Split(strings.TrimPrefix(cleanGuest(p), "/"), "/")
	cur := "/"
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		if r.mountParent(next) {
			cur = next
			continue
		}
		host, mounted := r.host(next)
		fi, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if len(todo) > 0 && !fi.IsDir() {
				return "", fmt.Errorf("%s: %w", next, fs.ErrNotExist)
			}
			cur = next
			continue
		}
		if hops++; hops > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		r.files[next] = File{Path: next, Host: host, Link: target, Mounted: mounted}
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return cur, nil
}

// glibcExtras adds the files glibc loads with dlopen when libc.so.6 is in
// the closure.
func (r *resolver) glibcExtras(c *Closure) error {
	var libc *object
	for _, o := range r.objs {
		if o.info.Soname == "libc.so.6" {
			libc = o
			break
		}
	}
	if libc == nil {
		return nil
	}
	c.Glibc = true
	var queue []*object
	for _, nss := range []string{"libnss_files.so.2", "libnss_dns.so.2"} {
		// Optional: stubs since glibc 2.34, absent in some sysroots.
		if o, isNew, err := r.need(nss, libc); err == nil && isNew {
			queue = append(queue, o)
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	gconv := path.Join(path.Dir(libc.canon), "gconv")
	for _, name := range []string{"gconv-modules", "gconv-modules.cache"} {
		p := path.Join(gconv, name)
		if host, _ := r.host(p); fileExists(host) {
			r.addFile(p)
		}
	}
	if host, _ := r.host(path.Join(gconv, "gconv-modules.d")); fileExists(host) {
		matches, _ := filepath.Glob(filepath.Join(host, "*.conf"))
		for _, m := range matches {
			r.addFile(path.Join(gconv, "gconv-modules.d", filepath.Base(m)))
		}
	}
	for _, m := range []string{"UTF-7", "UTF-16", "UTF-32", "UNICODE", "ISO8859-1", "ISO8859-15", "CP1252"} {
		p := path.Join(gconv, m+".so")
		if host, _ := r.host(p); !fileExists(host) {
			continue
		}
		o, err := r.loadPath(p, libc, false)
		if err != nil {
			continue // not a loadable module: iconv reports the conversion as unsupported
		}
		queue = append(queue, o)
	}
	return r.breadthFirst(queue)
}

// addFile records the guest path p (and its symbolic links) as a plain
// file of the closure.
func (r *resolver) addFile(p string) {
	canon, err := r.walk(p)
	if err != nil {
		return
	}
	host, mounted := r.host(canon)
	r.files[canon] = File{Path: canon, Host: host, Mounted: mounted}
}

// extra adds Options.Extra.
func (r *resolver) extra() error {
	var queue []*object
	for _, pat := range r.o.Extra {
		g := cleanGuest(pat)
		matches, err := r.glob(g)
		if err != nil {
			return fmt.Errorf("extra file pattern %q: %w", pat, err)
		}
		if len(matches) == 0 {
			return fmt.Errorf("extra file pattern %q: %w in %s", pat, ErrNotFound, r.o.Root)
		}
		for _, m := range matches {
			canon, err := r.walk(m)
			if err != nil {
				return fmt.Errorf("extra file %s: %w", m, err)
			}
			host, _ := r.host(canon)
			fi, err := os.Stat(host)
			if err != nil {
				return fmt.Errorf("extra file %s: %w", canon, err)
			}
			if fi.IsDir() {
				if err := r.addTree(canon, &queue); err != nil {
					return err
				}
				continue
			}
			if o := r.addExtraFile(canon, host); o != nil {
				queue = append(queue, o)
			}
		}
	}
	return r.breadthFirst(queue)
}

// addTree adds the directory at canonical guest path dir and everything
// below it.
func (r *resolver) addTree(dir string, queue *[]*object) error {
	host, _ := r.host(dir)
	return filepath.WalkDir(host, func(h string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("extra directory %s: %w", dir, err)
		}
		rel, _ := filepath.Rel(host, h)
		g := path.Join(dir, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			r.files[g] = File{Path: g, Host: h, Dir: true}
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(h)
			if err != nil {
				return fmt.Errorf("extra file %s: %w", g, err)
			}
			r.files[g] = File{Path: g, Host: h, Link: target}
		case d.Type().IsRegular():
			if o := r.addExtraFile(g, h); o != nil {
				*queue = append(*queue, o)
			}
		}
		return nil
	})
}

// addExtraFile records a regular file; a compatible ELF object becomes an
// object whose dependencies are resolved.
func (r *resolver) addExtraFile(g, host string) *object {
	r.files[g] = File{Path: g, Host: host}
	if r.byCanon[g] != nil || r.ident == nil {
		return nil
	}
	f, err := os.Open(host)
	if err != nil {
		return nil
	}
	defer f.Close()
	info, err := Parse(f)
	if err != nil || !r.compatible(info) || (info.Interp == "" && !info.Dynamic) {
		return nil
	}
	obj := &object{path: g, canon: g, origin: path.Dir(g), info: info}
	r.add(obj, g)
	return obj
}

// Info is what Resolve reads of an ELF object.
type Info struct {
	Class   elf.Class
	Data    elf.Data
	Machine elf.Machine
	OSABI   elf.OSABI
	Type    elf.Type
	// Interp is the PT_INTERP path.
	Interp string
	// Dynamic is set when the object has a PT_DYNAMIC segment.
	Dynamic bool
	// Needed, Soname, Rpath and Runpath are from the dynamic section.
	// Rpath and Runpath are split at ':'; Runpath is non-nil (maybe
	// empty) when DT_RUNPATH is present, and then Rpath is nil (ld.so
	// ignores DT_RPATH then).
	Needed  []string
	Soname  string
	Rpath   []string
	Runpath []string
	// NoDefLib is DF_1_NODEFLIB: no default directories.
	NoDefLib bool
}

// Parse reads the ELF header, PT_INTERP and the dynamic section of the
// object in r. It never panics on malformed input.
func Parse(r io.ReaderAt) (info *Info, err error) {
	defer func() {
		if p := recover(); p != nil {
			info, err = nil, fmt.Errorf("%w: malformed (%v)", ErrNotELF, p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotELF, err)
	}
	defer f.Close()
	info = &Info{Class: f.Class, Data: f.Data, Machine: f.Machine, OSABI: f.OSABI, Type: f.Type}
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			if p.Filesz > 4096 {
				return nil, fmt.Errorf("%w: PT_INTERP of %d bytes", ErrNotELF, p.Filesz)
			}
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return nil, fmt.Errorf("%w: read PT_INTERP: %v", ErrNotELF, err)
			}
			info.Interp, _, _ = strings.Cut(string(b), "\x00")
		case elf.PT_DYNAMIC:
			info.Dynamic = true
		}
	}
	if !info.Dynamic {
		return info, nil
	}
	str := func(tag elf.DynTag) ([]string, error) {
		v, err := f.DynString(tag)
		if err != nil {
			return nil, fmt.Errorf("%w: dynamic section: %v", ErrNotELF, err)
		}
		return v, nil
	}
	if info.Needed, err = str(elf.DT_NEEDED); err != nil {
		return nil, err
	}
	sonames, err := str(elf.DT_SONAME)
	if err != nil {
		return nil, err
	}
	if len(sonames) > 0 {
		info.Soname = sonames[0]
	}
	runpath, err := str(elf.DT_RUNPATH)
	if err != nil {
		return nil, err
	}
	if len(runpath) > 0 {
		info.Runpath = []string{}
		for _, rp := range runpath {
			info.Runpath = append(info.Runpath, strings.Split(rp, ":")...)
		}
	} else {
		rpath, err := str(elf.DT_RPATH)
		if err != nil {
			return nil, err
		}
		for _, rp := range rpath {
			info.Rpath = append(info.Rpath, strings.Split(rp, ":")...)
		}
	}
	if flags, err := f.DynValue(elf.DT_FLAGS_1); err == nil {
		for _, v := range flags {
			if elf.DynFlag1(v)&elf.DF_1_NODEFLIB != 0 {
				info.NoDefLib = true
			}
		}
	}
	return info, nil
}

func cleanGuest(p string) string { return path.Clean("/" + p) }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func dedupe(l []string) []string {
	var out []string
	for _, s := range l {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
