package builder

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bootapp/bootapp/internal/elfdeps"
)

// appLayout is the resolved app: what to copy into the initramfs and where
// the entrypoint lands inside the guest.
type appLayout struct {
	// src is the host path: a file, or a directory copied whole.
	src   string
	isDir bool
	// entry is the host path of the executable that is checked.
	entry string
	// guestPath is the entrypoint's absolute path in the guest.
	guestPath string
	// closure is what a dynamically linked app needs from the sysroot
	// (and App.ExtraFiles); nil for a static app without extra files.
	closure *elfdeps.Closure
	// system holds the system files (CA bundle, time zones, /etc),
	// settled by resolveSystem.
	system *systemFiles
	// runtime is the Java or Node.js runtime the app runs on; nil for a
	// native executable.
	runtime *runtimeLayout
	// tmp is a temporary directory the app archive was unpacked into,
	// removed when the build ends; "" for none.
	tmp string
	// notes are progress lines about the app, for the build's log.
	notes []string
}

// exec returns the guest path of the executable the init starts and its
// arguments before the app's own.
func (l *appLayout) exec() (string, []string) {
	if l.runtime != nil {
		return l.runtime.exec, l.runtime.args
	}
	return l.guestPath, nil
}

// resolveApp checks the app path and its entrypoint, and resolves the
// libraries of a dynamically linked one (what it found is in notes).
func resolveApp(a App) (*appLayout, error) {
	fi, err := os.Stat(a.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fieldErr(ErrNotFound, "app.path", "%s does not exist: build your app first or fix the path", a.Path)
		}
		return nil, fieldErr(err, "app.path", "%v", err)
	}
	l := &appLayout{src: a.Path}
	if fi.IsDir() {
		if a.Entrypoint == "" {
			return nil, specErr("app.entrypoint", "app %s is a directory: name the executable inside it as the entrypoint", a.Path)
		}
		rel := filepath.Clean(a.Entrypoint)
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, specErr("app.entrypoint", "%q must be a path inside %s", a.Entrypoint, a.Path)
		}
		l.isDir = true
		resolved, err := resolveInTree(a.Path, rel)
		if err != nil {
			return nil, err
		}
		l.entry = filepath.Join(a.Path, resolved)
		l.guestPath = appInstallDir + "/" + filepath.ToSlash(rel)
	} else {
		l.entry = a.Path
		l.guestPath = appInstallDir + "/" + filepath.Base(a.Path)
	}
	field := "app.path"
	if l.isDir {
		field = "app.entrypoint"
	}
	dynamic, err := checkExecutable(field, l.entry)
	if err != nil {
		return nil, err
	}
	if l.isDir {
		if err := checkGuestExecutable(a.Path, l.entry); err != nil {
			return nil, err
		}
	}
	logf := func(format string, args ...any) { l.notes = append(l.notes, fmt.Sprintf(format, args...)) }
	if l.closure, err = resolveClosure(a, l, dynamic, logf); err != nil {
		return nil, err
	}
	return l, nil
}

// maxSymlinks bounds the symlinks followed to reach the entrypoint, as the
// kernel's MAXSYMLINKS does.
const maxSymlinks = 40

// resolveInTree follows rel inside the app directory root the way the guest
// will see it once root is copied to /app: each symlink on the way must be
// relative and stay inside root (an absolute one, or one that leaves the
// directory, dangles in the guest). It returns the resolved path relative
// to root.
func resolveInTree(root, rel string) (string, error) {
	todo := strings.Split(filepath.ToSlash(rel), "/")
	var done []string
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", specErr("app.entrypoint", "%s leads out of the app directory %s, which is all the guest has", rel, root)
			}
			done = done[:len(done)-1]
			continue
		}
		p := filepath.Join(root, filepath.Join(append(done, c)...))
		fi, err := os.Lstat(p)
		if err != nil {
			return "", fieldErr(ErrNotFound, "app.entrypoint", "app entrypoint %s: %v", filepath.Join(root, rel), err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if hops++; hops > maxSymlinks {
			return "", specErr("app.entrypoint", "%s: too many levels of symbolic links", filepath.Join(root, rel))
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", fieldErr(err, "app.entrypoint", "app entrypoint %s: %v", p, err)
		}
		if filepath.IsAbs(target) {
			return "", specErr("app.entrypoint", "%s is a symbolic link to the absolute path %s, which does not exist in the guest (the app directory becomes %s): make the link relative to a file inside %s, or name the file itself as the entrypoint",
				p, target, appInstallDir, root)
		}
		todo = append(strings.Split(filepath.ToSlash(target), "/"), todo...)
	}
	if len(done) == 0 {
		return "", specErr("app.entrypoint", "%s is the app directory itself, not an executable inside it", rel)
	}
	return filepath.Join(done...), nil
}

// checkGuestExecutable makes sure the app user can execute entry (inside
// the app directory root) in the guest, where root owns every file and the
// app runs as an unprivileged user: the file and every directory on the way
// need execute permission for others.
func checkGuestExecutable(root, entry string) error {
	fi, err := os.Stat(entry)
	if err != nil {
		return fieldErr(err, "app.entrypoint", "app entrypoint %s: %v", entry, err)
	}
	if fi.Mode().Perm()&0o001 == 0 {
		return fieldErr(ErrBadApp, "app.entrypoint",
			"app entrypoint %s has mode %04o: in the guest root owns every file and the app runs as an unprivileged user, who could not execute it: chmod o+rx %s",
			entry, fi.Mode().Perm(), entry)
	}
	rel, err := filepath.Rel(root, filepath.Dir(entry))
	if err != nil {
		return fieldErr(err, "app.entrypoint", "app entrypoint %s: %v", entry, err)
	}
	dir := root
	for _, c := range append([]string{""}, strings.Split(rel, string(filepath.Separator))...) {
		if c == "." {
			continue
		}
		dir = filepath.Join(dir, c)
		di, err := os.Stat(dir)
		if err != nil {
			return fieldErr(err, "app.entrypoint", "app directory %s: %v", dir, err)
		}
		if di.Mode().Perm()&0o001 == 0 {
			return fieldErr(ErrBadApp, "app.entrypoint",
				"directory %s has mode %04o: in the guest the unprivileged app user could not reach the entrypoint through it: chmod o+rx %s",
				dir, di.Mode().Perm(), dir)
		}
	}
	return nil
}

// checkExecutable makes sure path is an x86_64 Linux ELF executable, and
// reports whether it is dynamically linked (has a PT_INTERP: its loader
// and libraries come from the sysroot). Errors name field.
func checkExecutable(field, path string) (dynamic bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, fieldErr(ErrNotFound, field, "app entrypoint %s does not exist", path)
		}
		return false, fieldErr(err, field, "app entrypoint: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return false, fieldErr(ErrBadApp, field, "app entrypoint %s: not a regular file", path)
	}
	f, err := elf.Open(path)
	if err != nil {
		return false, fieldErr(ErrBadApp, field, "app entrypoint %s: not an ELF executable (%v); bootapp boots Linux executables: build with GOOS=linux GOARCH=amd64", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return false, fieldErr(ErrBadApp, field, "app entrypoint %s: built for %s, the image is x86_64: rebuild for x86_64 (Go: GOARCH=amd64), or take the amd64 build of the program", path, f.Machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return false, fieldErr(ErrBadApp, field, "app entrypoint %s: ELF type %s is not an executable", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			dynamic = true
		}
	}
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return false, fieldErr(ErrBadApp, field, "app entrypoint %s: built for %s, not Linux: rebuild with GOOS=linux", path, f.OSABI)
	}
	return dynamic, nil
}
