package testutil

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/bootapp/bootapp/internal/cache"
)

// FetchFix is the command that fills the package cache.
const FetchFix = "run `make deps` or `go run ./cmd/mkbootapp fetch` (apt-get download into the cache)"

// CacheDir returns the bootapp cache the tests read, the one a user's
// `mkbootapp fetch` fills and a build reads: cache.DefaultDir
// ($BOOTAPP_CACHE, else $XDG_CACHE_HOME/bootapp, else ~/.cache/bootapp).
func CacheDir() string { return cache.DefaultDir() }

// DebsDir returns the directory of the cached .deb packages.
func DebsDir() string { return filepath.Join(CacheDir(), cache.Debs) }

// KernelDeb returns the newest cached Debian cloud kernel package
// (linux-image-<release>-cloud-amd64_<version>_amd64.deb), picked as a
// build picks it (cache.Newest), or reports it Missing.
func KernelDeb(t testing.TB) string {
	t.Helper()
	return cachedDeb(t, cache.KernelPattern)
}

// LoaderDeb returns the newest cached systemd-boot-efi package, or
// reports it Missing.
func LoaderDeb(t testing.TB) string {
	t.Helper()
	return cachedDeb(t, cache.LoaderPattern)
}

// FsckDeb returns the newest cached e2fsck-static package, or reports it
// Missing.
func FsckDeb(t testing.TB) string {
	t.Helper()
	return cachedDeb(t, cache.FsckPattern)
}

func cachedDeb(t testing.TB, pattern string) string {
	t.Helper()
	p, err := cache.Newest(DebsDir(), pattern)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		Missing(t, err.Error(), FetchFix)
	case err != nil:
		t.Fatal(err)
	}
	return p
}
