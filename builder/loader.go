package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/deb"
)

// loaderPathInDeb is where Debian's systemd-boot-efi package keeps the
// x86_64 boot loader.
const loaderPathInDeb = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// readLoader returns systemd-bootx64.efi from a systemd-boot-efi .deb or
// from an .efi file. What it extracts from a .deb is kept in cacheDir (see
// fromPackage), which saves decoding the package on every build.
func readLoader(ctx context.Context, cacheDir, path string) ([]byte, error) {
	if strings.HasSuffix(path, ".deb") {
		if _, err := os.Stat(path); err != nil {
			return nil, fieldErr(ErrNotFound, "bootloader", "boot loader package %s: %v", path, err)
		}
		return fromPackage(cacheDir, path, ".efi", func() ([]byte, error) {
			b, err := deb.ExtractFile(ctx, path, loaderPathInDeb)
			if err != nil {
				return nil, &FieldError{Field: "bootloader", Err: err,
					Msg: fmt.Sprintf("boot loader package %s: %v (expected Debian's systemd-boot-efi)", path, err)}
			}
			return b, nil
		})
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fieldErr(ErrNotFound, "bootloader", "boot loader %s: %v", path, err)
	}
	if len(b) < 2 || b[0] != 'M' || b[1] != 'Z' {
		return nil, specErr("bootloader", "boot loader %s: not a PE/EFI executable", path)
	}
	return b, nil
}

// fromPackage returns what extract derives from the package at deb, kept in
// cacheDir under a name (ending in ext) keyed by the package's absolute
// path, size and modification time: a package replaced in the cache gets
// a new key. An unreadable or unwritable cache only costs the extraction.
func fromPackage(cacheDir, deb, ext string, extract func() ([]byte, error)) ([]byte, error) {
	var cached string
	if fi, err := os.Stat(deb); err == nil && cacheDir != "" {
		abs, _ := filepath.Abs(deb)
		key := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", abs, fi.Size(), fi.ModTime().UnixNano()))
		cached = filepath.Join(cacheDir, hex.EncodeToString(key[:16])+ext)
		if b, err := os.ReadFile(cached); err == nil {
			return b, nil
		}
	}
	b, err := extract()
	if err != nil {
		return nil, err
	}
	if cached != "" {
		_ = cache.WriteFile(cacheDir, cached, b)
	}
	return b, nil
}
