package initramfs

import (
	"bytes"
	"io"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
)

// FuzzWriterRoundTrip writes a file, a symbolic link and a hard link with
// arbitrary names and contents, and reads the archive back with an
// independent cpio reader: each accepted entry is there once, under its
// clean name, with its contents, link target and permission bits.
func FuzzWriterRoundTrip(f *testing.F) {
	f.Add("/usr/bin/app", []byte("#!/bin/sh\necho hi\n"), uint16(0o755), "/lib/x", "../usr/bin/app", "/usr/bin/app2")
	f.Add("etc/bootapp/init.json", []byte(`{"version":1}`), uint16(0o644), "/etc/resolv.conf", "/run/bootapp/resolv.conf", "etc/init")
	f.Add("/a//b/./c", []byte{}, uint16(0o4755), "/a/b/c", "c", "/a/b/c")
	f.Fuzz(func(t *testing.T, name string, data []byte, perm uint16, link, target, hard string) {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		want := map[string]string{} // clean name -> contents or link target
		clean := func(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }
		if w.WriteFile(name, fs.FileMode(perm&0o777), data) == nil {
			want[clean(name)] = string(data)
		}
		if w.Symlink(link, target) == nil {
			want[clean(link)] = target
		}
		if w.Link(hard, name) == nil {
			want[clean(hard)] = string(data)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		r := cpio.NewReader(&buf)
		seen := map[string]bool{}
		for {
			h, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("archive does not read back: %v", err)
			}
			if seen[h.Name] {
				t.Fatalf("entry %q twice", h.Name)
			}
			seen[h.Name] = true
			exp, ok := want[h.Name]
			if !ok {
				continue // a parent directory
			}
			switch {
			case h.Mode.IsRegular():
				b, err := io.ReadAll(r)
				if err != nil || string(b) != exp {
					t.Fatalf("%s holds %q, %v; want %q", h.Name, b, err, exp)
				}
				if h.Name == clean(name) && h.Mode.Perm() != cpio.FileMode(perm&0o777) {
					t.Fatalf("%s mode %v, want %o", h.Name, h.Mode, perm&0o777)
				}
			case h.Mode&cpio.ModeType == cpio.TypeSymlink:
				if h.Linkname != exp {
					t.Fatalf("%s -> %q, want %q", h.Name, h.Linkname, exp)
				}
			default:
				t.Fatalf("%s has mode %v", h.Name, h.Mode)
			}
		}
		for n := range want {
			if !seen[n] {
				t.Fatalf("accepted entry %q is not in the archive", n)
			}
		}
	})
}
