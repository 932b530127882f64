package debroot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/deb/debtest"
)

// writeDeb builds a package named name and writes it into dir.
func writeDeb(t *testing.T, dir, name string, files []debtest.File) string {
	t.Helper()
	b, err := debtest.Build(debtest.Package{
		Control:     fmt.Sprintf("Package: %s\nVersion: 1:2.0-1\nArchitecture: amd64\nDepends: libc6\n", name),
		Compression: "xz",
		Files:       files,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+"_2.0-1_amd64.deb")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// jdkLike is a package shaped like openjdk's: a JVM directory whose conf
// is an absolute link into /etc, a setuid file and a hard link.
func jdkLike(t *testing.T, dir string) string {
	return writeDeb(t, dir, "jre", []debtest.File{
		{Name: "./"},
		{Name: "./usr/"},
		{Name: "./usr/lib/"},
		{Name: "./usr/lib/jvm/"},
		{Name: "./usr/lib/jvm/java-17/"},
		{Name: "./usr/lib/jvm/java-17/bin/"},
		{Name: "./usr/lib/jvm/java-17/bin/java", Body: []byte("#!java\n"), Mode: 0o4755},
		{Name: "./usr/lib/jvm/java-17/bin/javaw", HardLink: "./usr/lib/jvm/java-17/bin/java"},
		{Name: "./usr/lib/jvm/java-17/conf", Link: "/etc/java-17"},
		{Name: "./usr/lib/jvm/java-17/lib/"},
		{Name: "./usr/lib/jvm/java-17/lib/jvm.cfg", Link: "/etc/java-17/jvm.cfg"},
		{Name: "./usr/lib/jvm/default", Link: "java-17"},
		{Name: "./usr/bin/"},
		{Name: "./usr/bin/java", Link: "/usr/lib/jvm/java-17/bin/java"},
		{Name: "./usr/share/tool", Body: []byte("tool"), Mode: 0o2755},
		{Name: "./etc/"},
		{Name: "./etc/java-17/"},
		{Name: "./etc/java-17/jvm.cfg", Body: []byte("-server KNOWN\n")},
		{Name: "./tmp/", Mode: 0o1777},
		{Name: "./rootlink", Link: "/"},
	})
}

func libLike(t *testing.T, dir string) string {
	return writeDeb(t, dir, "libz", []debtest.File{
		{Name: "./"},
		{Name: "./usr/"},
		{Name: "./usr/lib/"},
		{Name: "./usr/lib/x86_64-linux-gnu/"},
		{Name: "./usr/lib/x86_64-linux-gnu/libz.so.1.3", Body: []byte("\x7fELF..."), Mode: 0o644},
		{Name: "./usr/lib/x86_64-linux-gnu/libz.so.1", Link: "libz.so.1.3"},
		{Name: "./etc/"},
		{Name: "./etc/libz.conf", Body: []byte("z")},
	})
}

func TestUnpackMerges(t *testing.T) {
	src, cacheDir := t.TempDir(), t.TempDir()
	debs := []string{libLike(t, src), jdkLike(t, src)}
	root, err := Unpack(context.Background(), cacheDir, debs)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(root) != filepath.Join(cacheDir, cache.Runtimes) || !strings.HasPrefix(filepath.Base(root), "root-") {
		t.Errorf("tree at %s, want %s/root-KEY", root, filepath.Join(cacheDir, cache.Runtimes))
	}
	// Both packages' files are there, etc/ merged.
	for p, want := range map[string]string{
		"usr/lib/x86_64-linux-gnu/libz.so.1": "\x7fELF...",
		"etc/libz.conf":                      "z",
		"etc/java-17/jvm.cfg":                "-server KNOWN\n",
		"usr/lib/jvm/java-17/bin/java":       "#!java\n",
		"usr/lib/jvm/java-17/bin/javaw":      "#!java\n",
		"usr/lib/jvm/java-17/lib/jvm.cfg":    "-server KNOWN\n", // through the rewritten link
		"usr/lib/jvm/java-17/conf/jvm.cfg":   "-server KNOWN\n",
		"usr/bin/java":                       "#!java\n",
	} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	// Absolute targets become relative ones inside the tree; relative
	// ones stay as they are.
	for p, want := range map[string]string{
		"usr/lib/jvm/java-17/conf":           "../../../../etc/java-17",
		"usr/lib/jvm/java-17/lib/jvm.cfg":    "../../../../../etc/java-17/jvm.cfg",
		"usr/bin/java":                       "../lib/jvm/java-17/bin/java",
		"usr/lib/jvm/default":                "java-17",
		"usr/lib/x86_64-linux-gnu/libz.so.1": "libz.so.1.3",
		"rootlink":                           ".",
	} {
		if got, err := os.Readlink(filepath.Join(root, p)); err != nil || got != want {
			t.Errorf("link %s -> %q, %v; want %q", p, got, err, want)
		}
	}
	// Modes: setuid and setgid dropped, the rest kept.
	for p, want := range map[string]os.FileMode{
		"usr/lib/jvm/java-17/bin/java":             0o755,
		"usr/share/tool":                           0o755,
		"usr/lib/x86_64-linux-gnu/libz.so.1.3":     0o644,
		"etc/java-17/jvm.cfg":                      0o644,
		"tmp":                                      0o777 | os.ModeSticky | os.ModeDir,
		"usr/lib/jvm/java-17/lib":                  0o755 | os.ModeDir,
		"usr/lib/x86_64-linux-gnu/../../share/foo": 0, // absent
	} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if want == 0 {
			if err == nil {
				t.Errorf("%s exists", p)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode(), want)
		}
	}
	// The hard link is one (the temp dir's file system has them).
	a, _ := os.Stat(filepath.Join(root, "usr/lib/jvm/java-17/bin/java"))
	b, _ := os.Stat(filepath.Join(root, "usr/lib/jvm/java-17/bin/javaw"))
	if !os.SameFile(a, b) {
		t.Errorf("javaw is not a hard link of java")
	}
	// Modification times come from the archive.
	if fi, err := os.Stat(filepath.Join(root, "etc/libz.conf")); err != nil || fi.ModTime().Unix() != 1700000000 {
		t.Errorf("mtime %v, %v", fi.ModTime(), err)
	}

	// Packages reads back what went in, in name order.
	pk, err := Packages(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(pk) != 2 || pk[0].Name != "jre" || pk[1].Name != "libz" {
		t.Fatalf("Packages = %+v", pk)
	}
	for i, p := range []string{debs[1], debs[0]} {
		data, _ := os.ReadFile(p)
		sum := sha256.Sum256(data)
		want := Package{File: filepath.Base(p), Name: pk[i].Name, Version: "1:2.0-1", Arch: "amd64", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
		got := pk[i]
		if len(got.Files) == 0 {
			t.Errorf("Packages[%d] lists no files", i)
		}
		for _, f := range got.Files {
			if _, err := os.Lstat(filepath.Join(root, f)); err != nil {
				t.Errorf("Packages[%d] lists %s, which the tree lacks: %v", i, f, err)
			}
		}
		got.Files = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Packages[%d] = %+v, want %+v", i, got, want)
		}
	}
	// No temporary directory is left.
	if m, _ := filepath.Glob(filepath.Join(cacheDir, cache.Runtimes, ".tmp-*")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}

func TestUnpackWarm(t *testing.T) {
	src, cacheDir := t.TempDir(), t.TempDir()
	debs := []string{jdkLike(t, src), libLike(t, src)}
	root, err := Unpack(context.Background(), cacheDir, debs)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(root, "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Same packages in another order: the same tree, not unpacked again.
	start := time.Now()
	again, err := Unpack(context.Background(), cacheDir, []string{debs[1], debs[0]})
	took := time.Since(start)
	if err != nil || again != root {
		t.Fatalf("warm Unpack = %s, %v; want %s", again, err, root)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("warm call unpacked again: %v", err)
	}
	if took > 50*time.Millisecond {
		t.Errorf("warm call took %v", took)
	}
	// A changed package (new mtime) gives a new tree.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(debs[1], later, later); err != nil {
		t.Fatal(err)
	}
	other, err := Unpack(context.Background(), cacheDir, debs)
	if err != nil || other == root {
		t.Errorf("changed package: %s, %v; want a tree other than %s", other, err, root)
	}
	// One package alone is another tree too.
	one, err := Unpack(context.Background(), cacheDir, debs[:1])
	if err != nil || one == root || one == other {
		t.Errorf("one package: %s, %v", one, err)
	}
}

func TestUnpackConcurrent(t *testing.T) {
	src, cacheDir := t.TempDir(), t.TempDir()
	debs := []string{jdkLike(t, src), libLike(t, src)}
	const n = 8
	roots := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			roots[i], errs[i] = Unpack(context.Background(), cacheDir, debs)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || roots[i] != roots[0] {
			t.Fatalf("caller %d: %s, %v (caller 0: %s)", i, roots[i], errs[i], roots[0])
		}
	}
	if pk, err := Packages(roots[0]); err != nil || len(pk) != 2 {
		t.Errorf("Packages = %v, %v", pk, err)
	}
	if b, err := os.ReadFile(filepath.Join(roots[0], "usr/lib/jvm/java-17/conf/jvm.cfg")); err != nil || string(b) != "-server KNOWN\n" {
		t.Errorf("tree incomplete: %q, %v", b, err)
	}
	entries, _ := os.ReadDir(filepath.Join(cacheDir, cache.Runtimes))
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("runtimes holds %v, want the one tree", names)
	}
}

func TestUnpackRefusesEscapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		file debtest.File
	}{
		{"dotdot", debtest.File{Name: "./usr/../../etc/passwd", Body: []byte("x")}},
		{"dotdot-inside", debtest.File{Name: "./usr/../etc/passwd", Body: []byte("x")}},
		{"link-escapes", debtest.File{Name: "./usr/lib/evil", Link: "../../../etc/passwd"}},
		{"hardlink-escapes", debtest.File{Name: "./usr/evil", HardLink: "../etc/passwd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, cacheDir := t.TempDir(), t.TempDir()
			p := writeDeb(t, src, "evil", []debtest.File{{Name: "./usr/"}, {Name: "./usr/lib/"}, tc.file})
			_, err := Unpack(context.Background(), cacheDir, []string{p})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "unpack evil") || !strings.Contains(err.Error(), strings.TrimPrefix(tc.file.Name, "./")) {
				t.Errorf("error %q names neither the package nor the entry", err)
			}
			if m, _ := filepath.Glob(filepath.Join(cacheDir, cache.Runtimes, "*")); len(m) != 0 {
				t.Errorf("left behind: %v", m)
			}
			if m, _ := filepath.Glob(filepath.Join(cacheDir, cache.Runtimes, ".tmp-*")); len(m) != 0 {
				t.Errorf("left behind: %v", m)
			}
		})
	}
}

func TestUnpackReplacesAndConflicts(t *testing.T) {
	src, cacheDir := t.TempDir(), t.TempDir()
	a := writeDeb(t, src, "a", []debtest.File{{Name: "./etc/"}, {Name: "./etc/x", Body: []byte("a")}, {Name: "./etc/l", Link: "x"}})
	b := writeDeb(t, src, "b", []debtest.File{{Name: "./etc/"}, {Name: "./etc/x", Body: []byte("b")}, {Name: "./etc/l", Body: []byte("file now")}})
	root, err := Unpack(context.Background(), cacheDir, []string{b, a})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/x")); string(got) != "b" {
		t.Errorf("etc/x = %q, want the later package's", got)
	}
	if fi, err := os.Lstat(filepath.Join(root, "etc/l")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("etc/l not replaced by a file: %v", err)
	}
	c := writeDeb(t, src, "c", []debtest.File{{Name: "./etc/x/"}})
	if _, err := Unpack(context.Background(), cacheDir, []string{a, c}); err == nil || !strings.Contains(err.Error(), "unpack c") {
		t.Errorf("directory over a file: %v", err)
	}
}

func TestExtractListsFiles(t *testing.T) {
	src, dir := t.TempDir(), t.TempDir()
	p := libLike(t, src)
	u, err := Extract(context.Background(), dir, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/lib/x86_64-linux-gnu/libz.so.1.3", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/etc/libz.conf"}
	if fmt.Sprint(u.Files) != fmt.Sprint(want) {
		t.Errorf("Files = %v, want %v", u.Files, want)
	}
	if u.Name != "libz" || u.Control.Fields["Depends"] != "libc6" || u.File != filepath.Base(p) {
		t.Errorf("Unpacked = %+v", u.Package)
	}
}

func TestUnpackCancelled(t *testing.T) {
	src, cacheDir := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Unpack(ctx, cacheDir, []string{libLike(t, src)}); err == nil {
		t.Fatal("no error")
	}
	if m, _ := filepath.Glob(filepath.Join(cacheDir, cache.Runtimes, "*")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}
