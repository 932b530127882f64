package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/bootapp/bootapp/internal/cache"
)

// resolveKernel returns the path of the kernel .deb to use.
func resolveKernel(ctx context.Context, s *Spec) (string, error) {
	k := s.Kernel
	switch {
	case k.Deb != "":
		if _, err := os.Stat(k.Deb); err != nil {
			return "", fieldErr(ErrNotFound, "kernel.deb", "kernel package %s: %v: give an existing linux-image .deb", k.Deb, err)
		}
		return k.Deb, nil
	case k.URL != "":
		p, err := download(ctx, filepath.Join(s.CacheDir, cache.Downloads), k.URL, k.Checksum)
		if err != nil {
			return "", &FieldError{Field: "kernel.url", Msg: err.Error(), Err: err}
		}
		return p, nil
	}
	dir := filepath.Join(s.CacheDir, cache.Debs)
	p, err := cache.Newest(dir, cache.KernelPattern)
	if err != nil {
		return "", fieldErr(ErrNotCached, "kernel.deb", "no kernel package (%s) in %s", cache.KernelPattern, dir)
	}
	return p, nil
}

// resolveBootloader returns the path of a systemd-boot-efi .deb or a
// systemd-bootx64.efi file.
func resolveBootloader(s *Spec) (string, error) {
	if s.Bootloader != "" {
		if _, err := os.Stat(s.Bootloader); err != nil {
			return "", fieldErr(ErrNotFound, "bootloader", "boot loader %s: %v: give a systemd-boot-efi .deb or a systemd-bootx64.efi file", s.Bootloader, err)
		}
		return s.Bootloader, nil
	}
	dir := filepath.Join(s.CacheDir, cache.Debs)
	p, err := cache.Newest(dir, cache.LoaderPattern)
	if err != nil {
		return "", fieldErr(ErrNotCached, "bootloader", "no systemd-boot-efi package (%s) in %s", cache.LoaderPattern, dir)
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
