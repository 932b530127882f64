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
// from an .efi file. What it extracts from a .deb is kept in cacheDir, keyed
// by the package's path, size and modification time, which saves decoding
// the package on every build.
func readLoader(ctx context.Context, cacheDir, path string) ([]byte, error) {
	if strings.HasSuffix(path, ".deb") {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fieldErr(ErrNotFound, "bootloader", "boot loader package %s: %v", path, err)
		}
		abs, _ := filepath.Abs(path)
		key := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", abs, fi.Size(), fi.ModTime().UnixNano()))
		cached := filepath.Join(cacheDir, hex.EncodeToString(key[:16])+".efi")
		if b, err := os.ReadFile(cached); err == nil {
			return b, nil
		}
		b, err := deb.ExtractFile(ctx, path, loaderPathInDeb)
		if err != nil {
			return nil, &FieldError{Field: "bootloader", Err: err,
				Msg: fmt.Sprintf("boot loader package %s: %v (expected Debian's systemd-boot-efi)", path, err)}
		}
		_ = cache.WriteFile(cacheDir, cached, b) // a failed cache write only costs speed
		return b, nil
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
