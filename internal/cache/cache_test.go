package cache

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestVersionLess(t *testing.T) {
	tests := []struct{ a, b string }{
		{"linux-image-9.9.9-9-cloud-amd64_9.9.9-1_amd64.deb", "linux-image-9.9.9-10-cloud-amd64_9.9.9-2_amd64.deb"},
		{"systemd-boot-efi_252.38-1", "systemd-boot-efi_252.39-1"},
		{"a1", "a10"},
		{"a01", "a2"},
		{"a", "a1"},
	}
	for _, tc := range tests {
		if !VersionLess(tc.a, tc.b) || VersionLess(tc.b, tc.a) {
			t.Errorf("VersionLess(%q, %q) wrong", tc.a, tc.b)
		}
	}
}

func TestNewest(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"linux-image-6.1.0-9-cloud-amd64_6.1.27-1_amd64.deb", "linux-image-6.1.0-10-cloud-amd64_6.1.38-1_amd64.deb", "other.deb"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Newest(dir, KernelPattern)
	if err != nil || filepath.Base(got) != "linux-image-6.1.0-10-cloud-amd64_6.1.38-1_amd64.deb" {
		t.Errorf("Newest = %q, %v", got, err)
	}
	if _, err := Newest(dir, LoaderPattern); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Newest with no match: %v, want fs.ErrNotExist", err)
	}
}

func TestWriteFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	p := filepath.Join(dir, "x")
	if err := WriteFile(dir, p, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "data" {
		t.Errorf("read back %q, %v", b, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("BOOTAPP_CACHE", "/c")
	if d := DefaultDir(); d != "/c" {
		t.Errorf("BOOTAPP_CACHE ignored: %s", d)
	}
	t.Setenv("BOOTAPP_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "/x")
	if d := DefaultDir(); d != filepath.Join("/x", "bootapp") {
		t.Errorf("XDG_CACHE_HOME ignored: %s", d)
	}
}
