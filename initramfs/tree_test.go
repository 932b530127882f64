//go:build unix

package initramfs

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// makeTree creates a small app directory with every supported entry type,
// created in non-sorted order with host modes that must be kept.
func makeTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "app")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "static", "css"), 0o755))
	must(os.MkdirAll(filepath.Join(src, "empty"), 0o750))
	must(os.WriteFile(filepath.Join(src, "server"), []byte("\x7fELF..."), 0o755))
	must(os.WriteFile(filepath.Join(src, "static", "index.html"), []byte("<h1>hi</h1>"), 0o644))
	must(os.WriteFile(filepath.Join(src, "static", "css", "a.css"), []byte("h1{}"), 0o600))
	must(os.WriteFile(filepath.Join(src, "Config.toml"), nil, 0o640))
	must(os.Symlink("static/index.html", filepath.Join(src, "index")))
	must(os.Symlink("/etc/ssl/certs", filepath.Join(src, "certs")))
	must(os.Chmod(src, 0o755))
	// Host times and owners must not leak in.
	must(os.Chown(filepath.Join(src, "server"), 123, 456))
	must(os.Chtimes(filepath.Join(src, "server"), timeOf(2001), timeOf(2001)))
	return src
}

func TestAddTree(t *testing.T) {
	src := makeTree(t)
	data := build(t, Options{}, func(w *Writer) error { return AddTree(context.Background(), w, "/opt/app", src) })
	want := []entry{
		{Name: ".", Mode: dir | 0o755},
		{Name: "opt", Mode: dir | 0o755},
		{Name: "opt/app", Mode: dir | 0o755},
		{Name: "opt/app/Config.toml", Mode: reg | 0o640},
		{Name: "opt/app/certs", Mode: link | 0o777, Body: "/etc/ssl/certs"},
		{Name: "opt/app/empty", Mode: dir | 0o750},
		{Name: "opt/app/index", Mode: link | 0o777, Body: "static/index.html"},
		{Name: "opt/app/server", Mode: reg | 0o755, Body: "\x7fELF..."},
		{Name: "opt/app/static", Mode: dir | 0o755},
		{Name: "opt/app/static/css", Mode: dir | 0o755},
		{Name: "opt/app/static/css/a.css", Mode: reg | 0o600, Body: "h1{}"},
		{Name: "opt/app/static/index.html", Mode: reg | 0o644, Body: "<h1>hi</h1>"},
	}
	got := readArchive(t, data)
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g := got[i]
		if g.Name != want[i].Name || g.Mode != want[i].Mode || g.Body != want[i].Body || g.UID != 0 || g.GID != 0 || g.MTime != 0 || g.Inode != int64(i+1) {
			t.Errorf("entry %d:\n got %+v\nwant %+v (owner 0, mtime 0, inode %d)", i, g, want[i], i+1)
		}
	}

	// Same tree, same bytes; and a touched tree (times only) too.
	if err := os.Chtimes(filepath.Join(src, "static", "index.html"), timeOf(2020), timeOf(2020)); err != nil {
		t.Fatal(err)
	}
	again := build(t, Options{}, func(w *Writer) error { return AddTree(context.Background(), w, "/opt/app", src) })
	if !bytes.Equal(data, again) {
		t.Fatal("AddTree output changed with host times")
	}

	// GNU cpio extracts the same tree as the source.
	cpioTool := lookTool(t, "cpio", "cpio")
	out := t.TempDir()
	cmd := exec.Command(cpioTool, "-id", "--quiet")
	cmd.Dir = out
	cmd.Stdin = bytes.NewReader(data)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, b)
	}
	compareTrees(t, src, filepath.Join(out, "opt", "app"))
}

// compareTrees checks that two host trees hold the same names, modes,
// contents and link targets.
func compareTrees(t *testing.T, a, b string) {
	t.Helper()
	seen := 0
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		seen++
		rel, _ := filepath.Rel(a, p)
		q := filepath.Join(b, rel)
		ai, err := os.Lstat(p)
		if err != nil {
			return err
		}
		bi, err := os.Lstat(q)
		if err != nil {
			t.Errorf("missing in extracted tree: %v", err)
			return nil
		}
		if ai.Mode() != bi.Mode() {
			t.Errorf("%s: mode %v, source %v", rel, bi.Mode(), ai.Mode())
		}
		switch {
		case ai.Mode().IsRegular():
			x, _ := os.ReadFile(p)
			y, _ := os.ReadFile(q)
			if !bytes.Equal(x, y) {
				t.Errorf("%s: content differs", rel)
			}
		case ai.Mode()&fs.ModeSymlink != 0:
			x, _ := os.Readlink(p)
			y, _ := os.Readlink(q)
			if x != y {
				t.Errorf("%s: link %q, source %q", rel, y, x)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 5 {
		t.Fatalf("compared only %d entries", seen)
	}
}

func TestAddTreeErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		setup func(t *testing.T, src string) (dst string)
		want  error
	}{
		{"fifo", context.Background(), func(t *testing.T, src string) string {
			if err := syscall.Mkfifo(filepath.Join(src, "pipe"), 0o644); err != nil {
				t.Fatal(err)
			}
			return "/app"
		}, ErrUnsupportedType},
		{"cancelled", cancelled, func(t *testing.T, src string) string { return "/app" }, context.Canceled},
		{"bad destination", context.Background(), func(t *testing.T, src string) string { return "app" }, ErrInvalidName},
		{"destination exists as file", context.Background(), nil, ErrExist},
		{"missing source", context.Background(), func(t *testing.T, src string) string {
			if err := os.RemoveAll(src); err != nil {
				t.Fatal(err)
			}
			return "/app"
		}, fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := makeTree(t)
			w := NewWriter(new(bytes.Buffer))
			dst := "/app"
			if tt.setup != nil {
				dst = tt.setup(t, src)
			} else if err := w.WriteFile("/app", 0o644, nil); err != nil {
				t.Fatal(err)
			}
			if err := AddTree(tt.ctx, w, dst, src); !errors.Is(err, tt.want) {
				t.Fatalf("AddTree = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAddTreeFileAndSymlinkRoot(t *testing.T) {
	src := makeTree(t)
	link := filepath.Join(t.TempDir(), "current")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	data := build(t, Options{},
		func(w *Writer) error { return AddTree(context.Background(), w, "/app", link) },
		func(w *Writer) error {
			return AddTree(context.Background(), w, "/bin/server", filepath.Join(src, "server"))
		},
	)
	got := readArchive(t, data)
	names := map[string]entry{}
	for _, e := range got {
		names[e.Name] = e
	}
	if e := names["app"]; e.Mode != dir|0o755 {
		t.Errorf("symlinked root copied as %+v, want a directory", e)
	}
	if e := names["app/static/index.html"]; e.Body != "<h1>hi</h1>" {
		t.Errorf("app/static/index.html = %+v", e)
	}
	if e := names["bin/server"]; e.Mode != reg|0o755 || e.Body != "\x7fELF..." {
		t.Errorf("single file copied as %+v", e)
	}
}

// timeOf returns midnight UTC on January 1 of year.
func timeOf(year int) time.Time { return time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC) }
