package initramfs

import (
	"bytes"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
)

// FuzzWriter feeds arbitrary names, link targets, modes and data to a
// Writer. It must never panic, and whatever it accepts must read back as
// a valid archive with clean, relative names.
func FuzzWriter(f *testing.F) {
	f.Add("/etc/x", "/etc", "target", uint32(0o644), []byte("data"))
	f.Add("/a/../b", "//", "", uint32(fs.ModeDir|0o755), []byte{})
	f.Add("/x\x00y", "/x/y/z", "../../etc/passwd", uint32(fs.ModeSetuid|0o4755), []byte{0})
	f.Fuzz(func(t *testing.T, name, dir, target string, mode uint32, data []byte) {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		accepted := 0
		if w.Mkdir(dir, fs.FileMode(mode)) == nil {
			accepted++
		}
		if w.WriteFile(name, fs.FileMode(mode), data) == nil {
			accepted++
		}
		if w.Symlink(name+"/l", target) == nil {
			accepted++
		}
		if w.CopyFile(dir+"/c", fs.FileMode(mode), int64(len(data)), bytes.NewReader(data)) == nil {
			accepted++
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close after validation errors only: %v", err)
		}
		r := cpio.NewReader(&buf)
		entries := 0
		for {
			h, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("archive does not read back: %v", err)
			}
			entries++
			if h.Name == "" || strings.HasPrefix(h.Name, "/") || strings.Contains(h.Name, "\x00") {
				t.Fatalf("bad stored name %q", h.Name)
			}
			if h.Name == "." {
				continue // the root directory, always first
			}
			for _, el := range strings.Split(h.Name, "/") {
				if el == ".." || el == "." || el == "" {
					t.Fatalf("unclean stored name %q", h.Name)
				}
			}
		}
		if entries < accepted {
			t.Fatalf("%d entries for %d accepted calls", entries, accepted)
		}
	})
}
