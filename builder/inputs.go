package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Cache layout below Spec.CacheDir.
const (
	cacheDebs      = "debs"      // kernel and systemd-boot-efi packages (mkbootapp fetch)
	cacheDownloads = "downloads" // files fetched from Spec.Kernel.URL, by checksum
	cacheInitramfs = "initramfs" // compressed base segments, by content key
	cacheLoaders   = "loaders"   // boot loaders extracted from packages
)

// ErrNotFound is wrapped when an input (kernel, boot loader, app) is missing.
var ErrNotFound = errors.New("not found")

// findNewest returns the lexically newest file in dir matching pattern, with
// Debian versions compared roughly (dpkg's ordering is overkill for picking
// the newest of a handful of cached packages).
func findNewest(dir, pattern string) (string, error) {
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return "", err
	}
	if len(m) == 0 {
		return "", ErrNotFound
	}
	sort.Slice(m, func(i, j int) bool { return versionLess(m[i], m[j]) })
	return m[len(m)-1], nil
}

// versionLess compares two strings treating runs of digits as numbers, so
// 6.1.0-9 sorts before 6.1.0-56.
func versionLess(a, b string) bool {
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

// resolveKernel returns the path of the kernel .deb to use.
func resolveKernel(ctx context.Context, s *Spec) (string, error) {
	k := s.Kernel
	switch {
	case k.Deb != "":
		if _, err := os.Stat(k.Deb); err != nil {
			return "", fmt.Errorf("kernel package %s: %w; pass an existing linux-image .deb or run `mkbootapp fetch`", k.Deb, ErrNotFound)
		}
		return k.Deb, nil
	case k.URL != "":
		return download(ctx, filepath.Join(s.CacheDir, cacheDownloads), k.URL, k.Checksum)
	}
	dir := filepath.Join(s.CacheDir, cacheDebs)
	p, err := findNewest(dir, "linux-image-*-cloud-amd64_*.deb")
	if err != nil {
		return "", fmt.Errorf("no kernel package (linux-image-*-cloud-amd64_*.deb) in %s: %w; run `mkbootapp fetch` to download one, or pass --kernel", dir, ErrNotFound)
	}
	return p, nil
}

// resolveBootloader returns the path of a systemd-boot-efi .deb or a
// systemd-bootx64.efi file.
func resolveBootloader(s *Spec) (string, error) {
	if s.Bootloader != "" {
		if _, err := os.Stat(s.Bootloader); err != nil {
			return "", fmt.Errorf("boot loader %s: %w; pass a systemd-boot-efi .deb or systemd-bootx64.efi, or run `mkbootapp fetch`", s.Bootloader, ErrNotFound)
		}
		return s.Bootloader, nil
	}
	dir := filepath.Join(s.CacheDir, cacheDebs)
	p, err := findNewest(dir, "systemd-boot-efi_*.deb")
	if err != nil {
		return "", fmt.Errorf("no systemd-boot-efi package in %s: %w; run `mkbootapp fetch` to download it, or pass --bootloader", dir, ErrNotFound)
	}
	return p, nil
}

// parseChecksum accepts "sha256:<hex>" or a bare 64-digit hex string.
func parseChecksum(c string) ([]byte, error) {
	c = strings.TrimSpace(c)
	if t, v, ok := strings.Cut(c, ":"); ok {
		if !strings.EqualFold(t, "sha256") {
			return nil, fmt.Errorf("checksum type %q not supported (use sha256:<hex>)", t)
		}
		c = v
	}
	b, err := hex.DecodeString(c)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("checksum %q is not a sha256 (64 hex digits)", c)
	}
	return b, nil
}

// download fetches url into dir, named by its checksum, unless it is there
// already. The file is verified before it is renamed into place, so a
// mismatch leaves nothing behind.
func download(ctx context.Context, dir, url, checksum string) (string, error) {
	want, err := parseChecksum(checksum)
	if err != nil {
		return "", err
	}
	name := hex.EncodeToString(want) + "-" + filepath.Base(strings.SplitN(url, "?", 2)[0])
	dst := filepath.Join(dir, name)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create download cache %s: %w", dir, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download %s: HTTP %s", url, resp.Status)
	}
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return "", fmt.Errorf("download %s: checksum mismatch: got sha256:%x, want sha256:%x", url, got, want)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	return dst, nil
}
