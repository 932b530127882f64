package initramfs

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cavaliergopher/cpio"
)

// TestAddTreeDropsSetID checks that setuid and setgid bits of files do not
// reach the archive, where root owns every entry, that the caller hears
// about each such file, and that directories keep their setgid bit.
func TestAddTreeDropsSetID(t *testing.T) {
	src := t.TempDir()
	write := func(name string, mode fs.FileMode) {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // not subject to the umask
			t.Fatal(err)
		}
	}
	write("plain", 0o755)
	write("suid", fs.ModeSetuid|0o755)
	write("sgid", fs.ModeSetgid|0o750)
	write("both", fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky|0o711)
	shared := filepath.Join(src, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, fs.ModeSetgid|0o2775); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}

	stripped := map[string]fs.FileMode{}
	data := build(t, Options{}, func(w *Writer) error {
		return AddTreeOptions(context.Background(), w, "/app", src, TreeOptions{
			Stripped: func(name string, m fs.FileMode) { stripped[name] = m },
		})
	})
	want := map[string]cpio.FileMode{
		".":          dir | 0o755,
		"app":        dir | 0o755,
		"app/both":   reg | cpio.ModeSticky | 0o711,
		"app/plain":  reg | 0o755,
		"app/sgid":   reg | 0o750,
		"app/shared": dir | cpio.ModeSetgid | 0o775,
		"app/suid":   reg | 0o755,
	}
	got := readArchive(t, data)
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for _, e := range got {
		if m, ok := want[e.Name]; !ok || e.Mode != m {
			t.Errorf("%s: mode %v, want %v", e.Name, e.Mode, m)
		}
	}
	wantStripped := map[string]fs.FileMode{
		"/app/suid": fs.ModeSetuid | 0o755,
		"/app/sgid": fs.ModeSetgid | 0o750,
		"/app/both": fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | 0o711,
	}
	if len(stripped) != len(wantStripped) {
		t.Errorf("stripped %v, want %v", stripped, wantStripped)
	}
	for n, m := range wantStripped {
		if stripped[n] != m {
			t.Errorf("stripped[%s] = %v, want %v", n, stripped[n], m)
		}
	}

	// AddTree (no options) strips too.
	plain := build(t, Options{}, func(w *Writer) error { return AddTree(context.Background(), w, "/app", src) })
	for _, e := range readArchive(t, plain) {
		if e.Mode&cpio.TypeReg == cpio.TypeReg && e.Mode&(cpio.ModeSetuid|cpio.ModeSetgid) != 0 {
			t.Errorf("AddTree kept %s with mode %v", e.Name, e.Mode)
		}
	}
}

// TestRootEntry checks that every segment, even an empty one, starts with
// the root directory, mode 0755, owned by the Options' owner: the kernel
// would otherwise leave its rootfs world-writable (mode 1777).
func TestRootEntry(t *testing.T) {
	for _, opts := range []Options{{}, {Compression: None}, {UID: 7, GID: 8}} {
		for _, ops := range [][]op{nil, {file("/a", 0o644, "a")}, {mkdir("/d", 0o700)}, {symlink("/l", "x")}} {
			got := readArchive(t, build(t, opts, ops...))
			if len(got) != len(ops)+1 {
				t.Fatalf("got %+v", got)
			}
			r := got[0]
			if r.Name != "." || r.Mode != dir|0o755 || r.UID != opts.UID || r.GID != opts.GID || r.Inode != 1 {
				t.Errorf("first entry %+v, want . mode %v owned by %d:%d", r, dir|0o755, opts.UID, opts.GID)
			}
			for _, e := range got[1:] {
				if e.Name == "." {
					t.Errorf("root written twice: %+v", got)
				}
			}
		}
	}
}
