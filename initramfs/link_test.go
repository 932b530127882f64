package initramfs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestWriterLinks checks CopyFileLinks and Link: one inode, the link count
// on every entry, the data in the first only, and the misuses.
func TestWriterLinks(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.CopyFileLinks("/bin/tool", 0o755, 5, strings.NewReader("hello"), 3); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile("/bin/other", 0o644, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Link("/sbin/tool", "/bin/tool"); err != nil {
		t.Fatal(err)
	}
	// Misuses fail with ErrLink and leave the archive usable.
	for _, tc := range []struct{ name, target string }{
		{"/x", "/bin/other"},   // not written with CopyFileLinks
		{"/x", "/bin/missing"}, // not written at all
	} {
		if err := w.Link(tc.name, tc.target); !errors.Is(err, ErrLink) {
			t.Errorf("Link(%s, %s) = %v, want ErrLink", tc.name, tc.target, err)
		}
	}
	if err := w.CopyFileLinks("/y", 0o644, 1, strings.NewReader("y"), 0); !errors.Is(err, ErrLink) {
		t.Errorf("CopyFileLinks with 0 links = %v, want ErrLink", err)
	}
	if err := w.Link("/bin/tool", "/bin/tool"); !errors.Is(err, ErrExist) {
		t.Errorf("Link over an existing name = %v, want ErrExist", err)
	}
	if err := w.Link("/usr/bin/tool", "/bin/tool"); err != nil {
		t.Fatal(err)
	}
	if err := w.Link("/usr/bin/tool4", "/bin/tool"); !errors.Is(err, ErrLink) {
		t.Errorf("a fourth name of a file with 3 links = %v, want ErrLink", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	byName := map[string]entry{}
	for _, e := range readArchive(t, buf.Bytes()) {
		byName[e.Name] = e
	}
	first := byName["bin/tool"]
	if first.Body != "hello" || first.Links != 3 || !first.Mode.IsRegular() || first.Mode.Perm() != 0o755 {
		t.Errorf("first name: %+v", first)
	}
	for _, n := range []string{"sbin/tool", "usr/bin/tool"} {
		e := byName[n]
		if e.Inode != first.Inode || e.Links != 3 || e.Body != "" || e.Mode != first.Mode {
			t.Errorf("%s: %+v, want inode %d, 3 links, no data, mode %v", n, e, first.Inode, first.Mode)
		}
	}
	if o := byName["bin/other"]; o.Inode == first.Inode || o.Links != 1 {
		t.Errorf("unlinked file: %+v", o)
	}
	if _, ok := byName["x"]; ok {
		t.Error("a failed Link left an entry")
	}
}

// linkTree makes a tree with a file of three names (two directories apart,
// one of them 0700), a file linked only from outside the tree, and a plain
// file; it returns the tree.
func linkTree(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("AddTree copies hard links on Windows")
	}
	base := t.TempDir()
	src := filepath.Join(base, "app")
	for _, d := range []string{"bin", "lib/private"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, data string) {
		if err := os.WriteFile(filepath.Join(src, p), []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(old, new string) {
		if err := os.Link(old, new); err != nil {
			t.Fatal(err)
		}
	}
	write("bin/a", "shared data")
	link(filepath.Join(src, "bin/a"), filepath.Join(src, "bin/b"))
	link(filepath.Join(src, "bin/a"), filepath.Join(src, "lib/private/c"))
	write("outside", "linked from outside")
	link(filepath.Join(src, "outside"), filepath.Join(base, "elsewhere"))
	write("plain", "plain")
	if err := os.Chmod(filepath.Join(src, "lib/private"), 0o700); err != nil {
		t.Fatal(err)
	}
	return src
}

// TestAddTreeHardLinks checks that hard links inside the tree become one
// inode of the archive with its data stored once, that GNU cpio extracts
// them as links of one file, and that the archive does not depend on the
// host's link counts.
func TestAddTreeHardLinks(t *testing.T) {
	src := linkTree(t)
	archive := func() []byte {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if err := AddTree(context.Background(), w, "/app", src); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	data := archive()
	byName := map[string]entry{}
	for _, e := range readArchive(t, data) {
		byName[e.Name] = e
	}
	a, b, c := byName["app/bin/a"], byName["app/bin/b"], byName["app/lib/private/c"]
	if a.Body != "shared data" || a.Links != 3 {
		t.Errorf("first name: %+v, want the data and 3 links", a)
	}
	for _, e := range []entry{b, c} {
		if e.Inode != a.Inode || e.Links != 3 || e.Body != "" || e.Mode != a.Mode {
			t.Errorf("%s: %+v, want a link to inode %d without data", e.Name, e, a.Inode)
		}
	}
	if d := byName["app/lib/private"]; d.Mode.Perm() != 0o700 {
		t.Errorf("directory holding a link: mode %v, want 0700", d.Mode.Perm())
	}
	// A file whose other name is outside the tree is a plain file.
	if o := byName["app/outside"]; o.Links != 1 || o.Body != "linked from outside" {
		t.Errorf("file linked from outside the tree: %+v", o)
	}
	if n := bytes.Count(data, []byte("shared data")); n != 1 {
		t.Errorf("the linked file's data is stored %d times", n)
	}

	// One more link outside the tree changes no byte.
	if err := os.Link(filepath.Join(src, "bin/a"), filepath.Join(filepath.Dir(src), "a-again")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(archive(), data) {
		t.Error("the archive depends on links outside the tree")
	}

	// GNU cpio, the reference reader, restores them as links.
	cpioTool, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio not installed (apt-get install cpio)")
	}
	dst := t.TempDir()
	cmd := exec.Command(cpioTool, "-i", "-d", "--quiet")
	cmd.Dir, cmd.Stdin = dst, bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	fa, err := os.Stat(filepath.Join(dst, "app/bin/a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"app/bin/b", "app/lib/private/c"} {
		p := filepath.Join(dst, n)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(p)
		if !os.SameFile(fa, fi) || string(got) != "shared data" {
			t.Errorf("cpio -i: %s is not a link of app/bin/a holding its data (%q)", n, got)
		}
	}
}
