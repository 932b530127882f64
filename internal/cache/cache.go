package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Folders below the cache directory.
const (
	// Debs holds the kernel and systemd-boot-efi packages that
	// `mkbootapp fetch` downloads.
	Debs = "debs"
	// Downloads holds files fetched from a URL with a checksum, named by
	// that checksum.
	Downloads = "downloads"
	// Encoded holds compressed VMDK grains and GCE chunks (package
	// image/memo), keyed by their content.
	Encoded = "encoded"
	// Initramfs holds compressed base segments of the initramfs, keyed by
	// their content.
	Initramfs = "initramfs"
	// Loaders holds boot loaders extracted from packages.
	Loaders = "loaders"
	// Extracted holds what builds derive from packages in Debs (the CA
	// bundle of ca-certificates, and what the manifest records of each
	// input package), keyed by the package's path, size and
	// modification time.
	Extracted = "extracted"
	// Runtimes holds the language runtimes (Node.js, Java) that
	// `mkbootapp fetch --runtime` resolves: one index per runtime
	// (RuntimeIndex) and the merged trees their packages unpack into
	// (internal/debroot).
	Runtimes = "runtimes"
)

// File name patterns of the packages in Debs.
const (
	// KernelPattern matches the Debian cloud kernel packages.
	KernelPattern = "linux-image-*-cloud-amd64_*.deb"
	// LoaderPattern matches Debian's systemd-boot-efi packages.
	LoaderPattern = "systemd-boot-efi_*.deb"
	// FsckPattern matches Debian's e2fsck-static packages (a statically
	// linked e2fsck that the guest runs on the data volume).
	FsckPattern = "e2fsck-static_*.deb"
)

// DefaultDir returns the cache directory used when none is configured:
// $BOOTAPP_CACHE, else $XDG_CACHE_HOME/bootapp, else ~/.cache/bootapp.
func DefaultDir() string {
	if d := os.Getenv("BOOTAPP_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "bootapp")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "bootapp")
	}
	return filepath.Join(os.TempDir(), "bootapp-cache")
}

// Newest returns the newest file in dir whose name matches pattern
// (filepath.Match syntax), comparing names with VersionLess. It returns an
// error wrapping fs.ErrNotExist when nothing matches.
func Newest(dir, pattern string) (string, error) {
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return "", fmt.Errorf("look for %s in %s: %w", pattern, dir, err)
	}
	if len(m) == 0 {
		return "", fmt.Errorf("no %s in %s: %w", pattern, dir, fs.ErrNotExist)
	}
	sort.Slice(m, func(i, j int) bool { return VersionLess(m[i], m[j]) })
	return m[len(m)-1], nil
}

// VersionLess compares two names treating runs of digits as numbers, so
// "6.1.0-9" sorts before "6.1.0-57". It is a rough form of dpkg's version
// ordering, enough to pick the newest of a few cached packages.
func VersionLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// WriteFile stores data at path (inside dir, which is created if needed)
// through a temporary file and a rename, so a concurrent reader sees the
// old file or the whole new one. A cache is an optimisation: callers may
// ignore the error, which only costs speed.
func WriteFile(dir, path string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cache folder %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write cache file %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("write cache file %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write cache file %s: %w", path, err)
	}
	return nil
}
