package builder

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/elfdeps"
)

// resolveClosure computes the files a dynamically linked app needs from
// the sysroot (the build host's / by default): the dynamic loader, the
// libraries of the entrypoint and of every other dynamically linked ELF
// object in an app directory (shared libraries, Node.js addons, helper
// programs), glibc's run-time modules, and App.ExtraFiles. The app itself
// is resolved where the guest has it, below /app, so $ORIGIN works as in
// the guest. It returns nil when there is nothing to add: a static app
// without extra files.
func resolveClosure(a App, l *appLayout, dynamic bool, logf func(string, ...any)) (*elfdeps.Closure, error) {
	entryField := "app.path"
	if l.isDir {
		entryField = "app.entrypoint"
	}
	inputs := []string{l.guestPath}
	mounts := map[string]string{appInstallDir: l.src}
	rt := l.runtime
	if rt != nil {
		// The runtime's executable and objects come first: the first
		// input sets the ELF class and machine of the rest.
		inputs = append([]string(nil), rt.inputs...)
		for g, h := range rt.mounts {
			mounts[g] = h
		}
	}
	if !l.isDir {
		delete(mounts, appInstallDir)
		mounts[l.guestPath] = l.src
	} else {
		more, err := appObjects(l, logf)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, more...)
	}
	if !dynamic && len(inputs) == 1 && len(a.ExtraFiles) == 0 {
		return nil, nil
	}
	root := a.Sysroot
	if root == "" {
		root = "/"
	}
	if rt != nil {
		root = rt.root
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fieldErr(ErrNotFound, "app.sysroot", "%s is not a directory: give the root directory of the system the app was built for", root)
	}
	extra := a.ExtraFiles
	if rt != nil {
		extra = append(append([]string(nil), extra...), rt.extra...)
	}
	c, err := elfdeps.Resolve(elfdeps.Options{Root: root, Mounts: mounts, Extra: extra}, inputs...)
	if err != nil {
		field := entryField
		if a.Sysroot != "" {
			field = "app.sysroot"
		}
		if rt != nil && a.RuntimePath == "" {
			// The libraries come from the runtime's Debian packages.
			field = "app.runtime"
			var me *elfdeps.MissingError
			if errors.As(err, &me) {
				return nil, fieldErr(ErrNotFound, field, "%v in the %s runtime's Debian packages (%s): fetch the runtime again (mkbootapp fetch --runtime %s); a native addon's own libraries need a runtime path and a sysroot that has them", err, rt.kind, root, rt.kind)
			}
		}
		var me *elfdeps.MissingError
		switch {
		case errors.As(err, &me):
			return nil, fieldErr(ErrNotFound, field, "%v in %s: install it there, add its directory to %s/etc/ld.so.conf, or link the app statically", err, root, strings.TrimSuffix(root, "/"))
		case strings.HasPrefix(err.Error(), "extra file"):
			return nil, fieldErr(ErrNotFound, "app.extra_files", "%v (paths are relative to %s)", err, root)
		case errors.Is(err, elfdeps.ErrIncompatible):
			return nil, fieldErr(ErrBadApp, field, "%v: the image is x86_64", err)
		}
		return nil, fieldErr(ErrBadApp, field, "libraries of %s: %v", l.entry, err)
	}
	n, size := 0, int64(0)
	for _, f := range c.Files {
		if f.Mounted || f.Link != "" || f.Dir {
			continue
		}
		fi, err := os.Stat(f.Host)
		if err != nil {
			return nil, fieldErr(err, entryField, "libraries of %s: %v", l.entry, err)
		}
		// Root owns every file in the guest and the app runs
		// unprivileged: it must be able to read its libraries.
		if fi.Mode().Perm()&0o004 == 0 {
			return nil, fieldErr(ErrBadApp, entryField, "%s (%s in the guest, needed by the app) has mode %04o: in the guest root owns it and the unprivileged app user could not read it: chmod o+r %s",
				f.Host, f.Path, fi.Mode().Perm(), f.Host)
		}
		n, size = n+1, size+fi.Size()
	}
	if rt != nil {
		logf("%s: %d files, %.1f MiB of libraries from %s", rt.kind, n, float64(size)/(1<<20), root)
	} else if c.Interp != "" {
		logf("app: dynamically linked (loader %s): %d files, %.1f MiB from %s", c.Interp, n, float64(size)/(1<<20), root)
	} else if n > 0 {
		logf("app: %d files, %.1f MiB from %s", n, float64(size)/(1<<20), root)
	}
	return c, nil
}

// appObjects returns the guest paths of the dynamically linked x86_64 ELF
// objects in an app directory, other than the entrypoint; objects for
// another machine are skipped (a package may carry prebuilt ones for
// several), with a line saying so.
func appObjects(l *appLayout, logf func(string, ...any)) ([]string, error) {
	var out []string
	err := filepath.WalkDir(l.src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fieldErr(err, "app.path", "read app directory: %v", err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(l.src, p)
		if err != nil {
			return err
		}
		guest := appInstallDir + "/" + filepath.ToSlash(rel)
		if guest == l.guestPath || p == l.entry {
			return nil
		}
		info, ok := elfObject(p)
		if !ok || info.Interp == "" && len(info.Needed) == 0 {
			return nil
		}
		if info.Machine != elf.EM_X86_64 || info.Class != elf.ELFCLASS64 {
			logf("app: %s is built for %s %s, not x86_64: its libraries are not added", guest, info.Class, info.Machine)
			return nil
		}
		out = append(out, guest)
		return nil
	})
	return out, err
}

// elfObject parses the ELF headers of the file at p, if it is an ELF file.
func elfObject(p string) (*elfdeps.Info, bool) {
	f, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || !bytes.Equal(magic[:], []byte(elf.ELFMAG)) {
		return nil, false
	}
	info, err := elfdeps.Parse(f)
	return info, err == nil
}

// imageWriter adds entries to the app segment and remembers what it holds,
// so that the closure and the system files can share directories and
// skip what is there already.
type imageWriter struct {
	w *initramfs.Writer
	// dirs are the guest directories the image has (of both segments);
	// a directory link of the closure cannot replace one.
	dirs  map[string]bool
	names map[string]bool
}

// guestDir is path.Dir, for callers with a variable named path.
func guestDir(p string) string { return path.Dir(p) }

// newImageWriter returns an imageWriter on w; baseDirs are guest paths
// whose directories the image holds (a file's path stands for its parent
// directories).
func newImageWriter(w *initramfs.Writer, baseDirs []string) *imageWriter {
	iw := &imageWriter{w: w, dirs: map[string]bool{"/": true}, names: map[string]bool{}}
	for _, d := range baseDirs {
		iw.markDir(path.Dir(d))
		iw.dirs[d] = true
	}
	return iw
}

// markDir records d and its parents as directories.
func (iw *imageWriter) markDir(d string) {
	for d = path.Clean(d); d != "/" && d != "."; d = path.Dir(d) {
		iw.dirs[d] = true
	}
}

// has reports whether name was written (or is a directory of the image).
func (iw *imageWriter) has(name string) bool { return iw.names[name] || iw.dirs[name] }

func (iw *imageWriter) symlink(name, target string) error {
	if iw.has(name) {
		return nil
	}
	iw.markDir(path.Dir(name))
	iw.names[name] = true
	return iw.w.Symlink(name, target)
}

func (iw *imageWriter) file(name string, mode fs.FileMode, data []byte) error {
	if iw.has(name) {
		return nil
	}
	iw.markDir(path.Dir(name))
	iw.names[name] = true
	return iw.w.WriteFile(name, mode, data)
}

func (iw *imageWriter) mkdir(name string, mode fs.FileMode) error {
	if iw.has(name) {
		return nil
	}
	iw.markDir(name)
	return iw.w.Mkdir(name, mode)
}

// copyFile streams the host file src into the image at name, with its
// permission bits less setuid and setgid (root owns every file).
func (iw *imageWriter) copyFile(ctx context.Context, name, src string) error {
	if iw.has(name) {
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	iw.markDir(path.Dir(name))
	iw.names[name] = true
	return iw.w.CopyFile(name, fi.Mode().Perm(), fi.Size(), io.NewSectionReader(f, 0, fi.Size()))
}

// writeClosure copies the closure into the image at the paths the guest
// looks them up at, symbolic links kept as links. The app's own files
// (below /app) are copied with the app. A directory link of the sysroot
// whose path is a directory of the image already (merged-/usr's /lib ->
// usr/lib, where the image keeps its kernel modules in /lib/modules) is
// written one level down instead: a link for each entry of its target
// that the closure uses (/lib/x86_64-linux-gnu -> ../usr/lib/x86_64-linux-gnu).
// Libraries that the loader finds only through ld.so.conf get an
// /etc/ld.so.cache that lists them.
func writeClosure(ctx context.Context, iw *imageWriter, c *elfdeps.Closure) error {
	if c == nil {
		return nil
	}
	// Libraries found only through ld.so.conf: the guest's loader finds
	// them through an ld.so.cache, as on the sysroot.
	if len(c.LibraryPath) > 0 {
		var libs []string
		for _, f := range c.Files {
			if !f.Mounted && !f.Dir && slices.Contains(c.LibraryPath, path.Dir(f.Path)) {
				libs = append(libs, f.Path)
			}
		}
		if err := iw.file(ldsoCachePath, 0o644, ldsoCache(libs)); err != nil {
			return err
		}
	}
	// Directories first, so that their modes are the sysroot's.
	for _, f := range c.Files {
		if f.Dir && !f.Mounted {
			fi, err := os.Stat(f.Host)
			if err != nil {
				return fmt.Errorf("copy %s: %w", f.Host, err)
			}
			if err := iw.mkdir(f.Path, fi.Mode().Perm()); err != nil {
				return err
			}
		}
	}
	for _, f := range c.Files {
		if f.Mounted || f.Dir {
			continue
		}
		if f.Link == "" {
			if err := iw.copyFile(ctx, f.Path, f.Host); err != nil {
				return fmt.Errorf("copy %s into the image: %w", f.Host, err)
			}
			continue
		}
		if !iw.dirs[f.Path] {
			if err := iw.symlink(f.Path, f.Link); err != nil {
				return err
			}
			continue
		}
		target := f.Link
		if !strings.HasPrefix(target, "/") {
			target = path.Join(path.Dir(f.Path), target)
		}
		target = path.Clean(target)
		var children []string
		for _, g := range c.Files {
			if rest, ok := strings.CutPrefix(g.Path, target+"/"); ok {
				children = append(children, strings.SplitN(rest, "/", 2)[0])
			}
		}
		sort.Strings(children)
		for i, ch := range children {
			if i > 0 && children[i-1] == ch {
				continue
			}
			rel, err := filepath.Rel(f.Path, path.Join(target, ch))
			if err != nil {
				return err
			}
			if err := iw.symlink(path.Join(f.Path, ch), filepath.ToSlash(rel)); err != nil {
				return err
			}
		}
	}
	return nil
}
