package builder

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrBadApp is wrapped when the app cannot run on the target machine.
var ErrBadApp = errors.New("app cannot be booted")

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
}

// resolveApp checks the app path and its entrypoint.
func resolveApp(a App) (*appLayout, error) {
	fi, err := os.Stat(a.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("app %s: %w: build your app first or fix the path", a.Path, ErrNotFound)
		}
		return nil, fmt.Errorf("app %s: %w", a.Path, err)
	}
	l := &appLayout{src: a.Path}
	if fi.IsDir() {
		if a.Entrypoint == "" {
			return nil, fmt.Errorf("app %s is a directory: %w: name the executable inside it with the entrypoint option", a.Path, ErrInvalidSpec)
		}
		rel := filepath.Clean(a.Entrypoint)
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, fmt.Errorf("%w: app.entrypoint %q must be a path inside %s", ErrInvalidSpec, a.Entrypoint, a.Path)
		}
		l.isDir = true
		l.entry = filepath.Join(a.Path, rel)
		l.guestPath = appInstallDir + "/" + filepath.ToSlash(rel)
	} else {
		l.entry = a.Path
		l.guestPath = appInstallDir + "/" + filepath.Base(a.Path)
	}
	if err := checkExecutable(l.entry); err != nil {
		return nil, err
	}
	return l, nil
}

// checkExecutable makes sure path is an x86_64 Linux ELF executable that
// needs no dynamic loader: the guest has no libc.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("app entrypoint %s: %w", path, ErrNotFound)
		}
		return fmt.Errorf("app entrypoint %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("app entrypoint %s: %w: not a regular file", path, ErrBadApp)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("app entrypoint %s: %w: not an ELF executable (%v); bootapp boots Linux executables: build with GOOS=linux GOARCH=amd64", path, ErrBadApp, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return fmt.Errorf("app entrypoint %s: %w: built for %s, the image is x86_64: rebuild with GOARCH=amd64", path, ErrBadApp, f.Machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("app entrypoint %s: %w: ELF type %s is not an executable", path, ErrBadApp, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("app entrypoint %s: %w: dynamically linked (needs a loader and libc the image does not have): build a static binary, e.g. CGO_ENABLED=0 go build", path, ErrBadApp)
		}
	}
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return fmt.Errorf("app entrypoint %s: %w: built for %s, not Linux: rebuild with GOOS=linux", path, ErrBadApp, f.OSABI)
	}
	return nil
}
