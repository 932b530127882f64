package untar

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ent is one archive entry built by the tests.
type ent struct {
	typ  byte
	name string
	mode int64
	link string
	body string
}

func reg(name string, mode int64, body string) ent {
	return ent{typ: tar.TypeReg, name: name, mode: mode, body: body}
}
func dir(name string, mode int64) ent { return ent{typ: tar.TypeDir, name: name, mode: mode} }
func sym(name, target string) ent {
	return ent{typ: tar.TypeSymlink, name: name, mode: 0o777, link: target}
}
func hard(name, target string) ent {
	return ent{typ: tar.TypeLink, name: name, mode: 0o644, link: target}
}

// mkTar writes entries as a tar archive in the given format.
func mkTar(t testing.TB, format tar.Format, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Typeflag: e.typ, Name: e.name, Mode: e.mode, Linkname: e.link, Format: format}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("header %s: %v", e.name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// compressors wrap a plain archive; the name is only for subtest names.
var compressors = []struct {
	name string
	wrap func(testing.TB, []byte) []byte
}{
	{"tar", func(_ testing.TB, b []byte) []byte { return b }},
	{"gzip", func(t testing.TB, b []byte) []byte {
		var o bytes.Buffer
		w := gzip.NewWriter(&o)
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return o.Bytes()
	}},
	{"xz", func(t testing.TB, b []byte) []byte {
		var o bytes.Buffer
		w, err := xz.NewWriter(&o)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return o.Bytes()
	}},
	{"zstd", func(t testing.TB, b []byte) []byte {
		w, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		return w.EncodeAll(b, nil)
	}},
}

// tempDst returns an empty directory that the test may leave with
// read-only directories in it.
func tempDst(t testing.TB) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "dst")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { makeWritable(d) })
	return d
}

// makeWritable gives every directory under d owner rwx, so that the
// temporary directory can be removed.
func makeWritable(d string) {
	filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
}

func perm(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

func TestExtract(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes and symbolic links are POSIX")
	}
	type check func(t *testing.T, dst string, st *Stats)
	cases := []struct {
		name    string
		ents    []ent
		wantErr error  // nil: success
		errName string // the entry the error must name
		check   check
	}{
		{
			name: "modes kept",
			ents: []ent{dir("d", 0o750), reg("d/x", 0o755, "#!/bin/sh\n"), reg("d/ro", 0o444, "r"), reg("d/p", 0o600, "p"), dir("ro", 0o555), reg("ro/f", 0o640, "in a read-only dir")},
			check: func(t *testing.T, dst string, st *Stats) {
				for p, m := range map[string]fs.FileMode{"d": 0o750, "d/x": 0o755, "d/ro": 0o444, "d/p": 0o600, "ro": 0o555, "ro/f": 0o640} {
					if got := perm(t, filepath.Join(dst, p)); got != m {
						t.Errorf("%s: mode %v, want %v", p, got, m)
					}
				}
				if st.Files != 4 || st.Dirs != 2 || st.Bytes != int64(len("#!/bin/sh\nrpin a read-only dir")) {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "symlink kept",
			ents: []ent{reg("etc/conf", 0o644, "c"), sym("rel", "etc/conf"), sym("abs", "/etc/passwd"), sym("dangling", "../../nowhere")},
			check: func(t *testing.T, dst string, st *Stats) {
				for name, target := range map[string]string{"rel": "etc/conf", "abs": "/etc/passwd", "dangling": "../../nowhere"} {
					got, err := os.Readlink(filepath.Join(dst, name))
					if err != nil || got != target {
						t.Errorf("%s -> %q (%v), want %q", name, got, err, target)
					}
				}
				if st.Symlinks != 3 || st.Dirs != 1 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "hard link shares the inode",
			ents: []ent{reg("bin/java", 0o755, "ELF"), hard("bin/java2", "bin/java"), hard("./lib/j", "/bin/java")},
			check: func(t *testing.T, dst string, st *Stats) {
				a, _ := os.Stat(filepath.Join(dst, "bin/java"))
				for _, p := range []string{"bin/java2", "lib/j"} {
					b, err := os.Stat(filepath.Join(dst, p))
					if err != nil || !os.SameFile(a, b) {
						t.Errorf("%s is not the same file as bin/java (%v)", p, err)
					}
				}
				if st.HardLinks != 2 || st.Files != 1 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "dir after its files",
			ents: []ent{reg("a/b/c", 0o644, "c"), dir("a/b", 0o700), dir("a", 0o751), dir("a/b/", 0o710)},
			check: func(t *testing.T, dst string, st *Stats) {
				if m := perm(t, filepath.Join(dst, "a")); m != 0o751 {
					t.Errorf("a: %v", m)
				}
				if m := perm(t, filepath.Join(dst, "a/b")); m != 0o710 {
					t.Errorf("a/b: %v", m)
				}
				if b, err := os.ReadFile(filepath.Join(dst, "a/b/c")); err != nil || string(b) != "c" {
					t.Errorf("a/b/c: %q %v", b, err)
				}
				if st.Dirs != 2 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "implicit parents 0755",
			ents: []ent{reg("x/y/z", 0o644, "")},
			check: func(t *testing.T, dst string, st *Stats) {
				for _, p := range []string{"x", "x/y"} {
					if m := perm(t, filepath.Join(dst, p)); m != 0o755 {
						t.Errorf("%s: %v", p, m)
					}
				}
			},
		},
		{name: "root dotdot refused", ents: []ent{reg("/../up", 0o600, "u")}, wantErr: ErrUnsafePath, errName: "/../up"},
		{
			name: "absolute lands at dst/abs/x",
			ents: []ent{dir("./", 0o700), reg("/abs/x", 0o644, "x"), reg("./rel/y", 0o644, "y"), reg("//a/../b", 0o644, "b")},
			check: func(t *testing.T, dst string, st *Stats) {
				for p, want := range map[string]string{"abs/x": "x", "rel/y": "y", "b": "b"} {
					if b, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(b) != want {
						t.Errorf("%s: %q %v", p, b, err)
					}
				}
				if m := perm(t, dst); m != 0o755 {
					t.Errorf("dst mode changed to %v", m)
				}
			},
		},
		{name: "dotdot refused", ents: []ent{reg("../x", 0o644, "x")}, wantErr: ErrUnsafePath, errName: "../x"},
		{name: "deep dotdot refused", ents: []ent{reg("a/../../x", 0o644, "x")}, wantErr: ErrUnsafePath, errName: "a/../../x"},
		{name: "dotdot symlink name refused", ents: []ent{sym("../l", "x")}, wantErr: ErrUnsafePath, errName: "../l"},
		{
			name:    "write through an earlier symlink refused",
			ents:    []ent{sym("l", "/etc"), reg("l/passwd", 0o644, "root::0:0::/:/bin/sh\n")},
			wantErr: ErrSymlinkParent, errName: "l/passwd",
		},
		{
			name:    "write through a relative symlink refused",
			ents:    []ent{dir("d", 0o755), sym("l", "d"), reg("l/f", 0o644, "f")},
			wantErr: ErrSymlinkParent, errName: "l/f",
		},
		{
			name:    "write through a symlink that replaced a directory refused",
			ents:    []ent{dir("d", 0o755), reg("d/f", 0o644, ""), dir("e", 0o755), sym("e", "d"), reg("e/g", 0o644, "")},
			wantErr: ErrSymlinkParent, errName: "e/g",
		},
		{
			name:    "directory through a symlink refused",
			ents:    []ent{sym("l", "/tmp"), dir("l/d", 0o755)},
			wantErr: ErrSymlinkParent, errName: "l/d",
		},
		{
			name:    "file as parent refused",
			ents:    []ent{reg("f", 0o644, ""), reg("f/g", 0o644, "")},
			wantErr: ErrNotDir, errName: "f/g",
		},
		{name: "hard link to a missing target refused", ents: []ent{hard("h", "nothere")}, wantErr: ErrHardLink, errName: "h"},
		{name: "hard link to a missing dir refused", ents: []ent{hard("h", "no/file")}, wantErr: ErrHardLink, errName: "h"},
		{name: "hard link to a directory refused", ents: []ent{dir("d", 0o755), hard("h", "d")}, wantErr: ErrHardLink, errName: "h"},
		{name: "hard link to a symlink refused", ents: []ent{sym("s", "/etc/passwd"), hard("h", "s")}, wantErr: ErrHardLink, errName: "h"},
		{name: "hard link to dst refused", ents: []ent{hard("h", "./")}, wantErr: ErrHardLink, errName: "h"},
		{name: "hard link outside refused", ents: []ent{hard("h", "../../etc/passwd")}, wantErr: ErrUnsafePath, errName: "h"},
		{
			name:    "hard link through a symlink refused",
			ents:    []ent{reg("d/f", 0o644, ""), sym("l", "d"), hard("h", "l/f")},
			wantErr: ErrSymlinkParent, errName: "h",
		},
		{name: "character device refused", ents: []ent{{typ: tar.TypeChar, name: "dev/null", mode: 0o666}}, wantErr: ErrDevice, errName: "dev/null"},
		{name: "block device refused", ents: []ent{{typ: tar.TypeBlock, name: "sda", mode: 0o660}}, wantErr: ErrDevice, errName: "sda"},
		{name: "fifo refused", ents: []ent{{typ: tar.TypeFifo, name: "p", mode: 0o644}}, wantErr: ErrDevice, errName: "p"},
		{name: "file named dot refused", ents: []ent{reg(".", 0o644, "")}, errName: ".", wantErr: errAny},
		{
			name: "setuid dropped",
			ents: []ent{reg("su", 0o4755, "s"), reg("sg", 0o2755, "g"), reg("st", 0o1644, "t"), reg("plain", 0o755, ""), dir("tmp", 0o1777), dir("shared", 0o2775)},
			check: func(t *testing.T, dst string, st *Stats) {
				for p, m := range map[string]fs.FileMode{"su": 0o755, "sg": 0o755, "st": 0o644, "plain": 0o755,
					"tmp": 0o777 | fs.ModeSticky, "shared": 0o775 | fs.ModeSetgid} {
					if got := perm(t, filepath.Join(dst, p)); got != m {
						t.Errorf("%s: mode %v, want %v", p, got, m)
					}
				}
				if st.SetIDDropped != 3 {
					t.Errorf("SetIDDropped = %d, want 3", st.SetIDDropped)
				}
			},
		},
		{
			name: "duplicates: later replaces earlier",
			ents: []ent{
				reg("f", 0o644, "old"), reg("f", 0o600, "new"),
				reg("s", 0o644, "file"), sym("s", "target"),
				sym("t", "x"), reg("t", 0o644, "now a file"),
				dir("d", 0o700), reg("d/in", 0o644, ""), dir("d", 0o750),
				dir("e", 0o755), reg("e", 0o644, "empty dir replaced"),
				reg("h1", 0o644, "one"), hard("h1", "h1"), reg("g", 0o644, "g"), hard("g", "h1"),
			},
			check: func(t *testing.T, dst string, st *Stats) {
				for p, want := range map[string]string{"f": "new", "t": "now a file", "e": "empty dir replaced", "g": "one", "h1": "one"} {
					if b, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(b) != want {
						t.Errorf("%s: %q %v, want %q", p, b, err, want)
					}
				}
				if m := perm(t, filepath.Join(dst, "f")); m != 0o600 {
					t.Errorf("f: %v", m)
				}
				if l, err := os.Readlink(filepath.Join(dst, "s")); l != "target" {
					t.Errorf("s -> %q %v", l, err)
				}
				if m := perm(t, filepath.Join(dst, "d")); m != 0o750 {
					t.Errorf("d: %v", m)
				}
				if _, err := os.Stat(filepath.Join(dst, "d/in")); err != nil {
					t.Error(err)
				}
			},
		},
		{
			name:    "non-empty directory not replaced by a file",
			ents:    []ent{reg("d/f", 0o644, ""), reg("d", 0o644, "")},
			wantErr: errAny, errName: "d",
		},
		{
			name: "long names",
			ents: []ent{reg(strings.Repeat("long-directory-name/", 8)+"file", 0o644, "deep"), sym("s", strings.Repeat("t", 200))},
			check: func(t *testing.T, dst string, st *Stats) {
				if b, err := os.ReadFile(filepath.Join(dst, strings.Repeat("long-directory-name/", 8)+"file")); err != nil || string(b) != "deep" {
					t.Errorf("%q %v", b, err)
				}
				if l, _ := os.Readlink(filepath.Join(dst, "s")); l != strings.Repeat("t", 200) {
					t.Errorf("s -> %q", l)
				}
			},
		},
		{name: "overlong name refused", ents: []ent{reg(strings.Repeat("a/", 2048)+"f", 0o644, "")}, wantErr: errAny, errName: strings.Repeat("a/", 2048) + "f"},
		{name: "overlong symlink target refused", ents: []ent{sym("s", strings.Repeat("t", 4096))}, wantErr: errAny, errName: "s"},
		{name: "empty archive", ents: nil, check: func(t *testing.T, dst string, st *Stats) {
			if *st != (Stats{}) {
				t.Errorf("stats %+v", st)
			}
		}},
		{name: "global header skipped", ents: []ent{{typ: tar.TypeXGlobalHeader, name: "pax_global_header"}, reg("a", 0o644, "a")}, check: func(t *testing.T, dst string, st *Stats) {
			if st.Files != 1 {
				t.Errorf("stats %+v", st)
			}
		}},
	}
	for _, c := range cases {
		formats := []tar.Format{tar.FormatPAX, tar.FormatGNU}
		if c.name == "global header skipped" {
			formats = formats[:1]
		}
		for _, format := range formats {
			for _, z := range compressors {
				if z.name != "tar" && format != tar.FormatPAX {
					continue
				}
				t.Run(c.name+"/"+format.String()+"/"+z.name, func(t *testing.T) {
					data := z.wrap(t, mkTar(t, format, c.ents...))
					dst := tempDst(t)
					st, err := Extract(context.Background(), bytes.NewReader(data), dst)
					if c.wantErr != nil {
						if err == nil {
							t.Fatalf("no error, want %v", c.wantErr)
						}
						if c.wantErr != errAny && !errors.Is(err, c.wantErr) {
							t.Fatalf("error %v, want %v", err, c.wantErr)
						}
						if !strings.Contains(err.Error(), `"`+c.errName+`"`) {
							t.Fatalf("error %q does not name the entry %q", err, c.errName)
						}
						t.Logf("%v", err)
						checkInside(t, dst)
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					checkInside(t, dst)
					if c.check != nil {
						c.check(t, dst, st)
					}
				})
			}
		}
	}
}

// errAny accepts any error in a test case.
var errAny = errors.New("any error")

// checkInside fails unless dst is the only thing in its parent.
func checkInside(t testing.TB, dst string) {
	t.Helper()
	es, err := os.ReadDir(filepath.Dir(dst))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Name() != filepath.Base(dst) {
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		t.Fatalf("outside dst: %v", names)
	}
}

func TestIsArchive(t *testing.T) {
	for name, want := range map[string]bool{
		"app.tar": true, "app.tar.gz": true, "jdk.tgz": true, "node.tar.xz": true, "a.txz": true,
		"a.tar.zst": true, "a.tar.zstd": true, "a.tzst": true, "/x/Y.TAR.GZ": true, "A.TgZ": true,
		"app": false, "app.gz": false, "tar": false, ".tar": false, "a.zip": false, "a.tar.bz2": false,
		"a.tar/b": false,
	} {
		if got := IsArchive(name); got != want {
			t.Errorf("IsArchive(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestDestination(t *testing.T) {
	data := mkTar(t, tar.FormatPAX, reg("a", 0o644, "a"))
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{d, filepath.Join(d, "x"), filepath.Join(d, "missing")} {
		if _, err := Extract(context.Background(), bytes.NewReader(data), dst); !errors.Is(err, ErrDestination) {
			t.Errorf("%s: %v, want ErrDestination", dst, err)
		}
	}
}

func TestCompressionErrors(t *testing.T) {
	for name, data := range map[string][]byte{
		"bzip2": []byte("BZh91AY&SY"),
		"zip":   []byte("PK\x03\x04rest"),
		"lz4":   {0x04, 0x22, 0x4d, 0x18, 0, 0},
	} {
		if _, err := Extract(context.Background(), bytes.NewReader(data), tempDst(t)); !errors.Is(err, ErrUnsupportedCompression) {
			t.Errorf("%s: %v, want ErrUnsupportedCompression", name, err)
		}
	}
	// Not a tar archive at all, and cut-short archives of each compression.
	if _, err := Extract(context.Background(), strings.NewReader(strings.Repeat("not a tar archive\n", 100)), tempDst(t)); err == nil {
		t.Error("text accepted as a tar archive")
	}
	full := mkTar(t, tar.FormatPAX, reg("big", 0o644, strings.Repeat("0123456789", 10000)))
	for _, z := range compressors {
		data := z.wrap(t, full)
		cut := data[:len(data)/2]
		if _, err := Extract(context.Background(), bytes.NewReader(cut), tempDst(t)); err == nil {
			t.Errorf("%s: truncated archive accepted", z.name)
		}
	}
}

func TestXZDictLimit(t *testing.T) {
	var o bytes.Buffer
	w, err := xz.WriterConfig{DictCap: 1 << 29}.NewWriter(&o)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(mkTar(t, tar.FormatPAX, reg("a", 0o644, "a")))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Extract(context.Background(), &o, tempDst(t))
	if !errors.Is(err, ErrUnsupportedCompression) || !strings.Contains(err.Error(), "512 MiB") {
		t.Fatalf("%v, want ErrUnsupportedCompression about 512 MiB", err)
	}
}

// cancelAfter cancels a context once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n -= k
	if c.n <= 0 {
		c.cancel()
	}
	return k, err
}

func TestCancel(t *testing.T) {
	data := mkTar(t, tar.FormatPAX, reg("a", 0o644, "a"), reg("big", 0o644, strings.Repeat("x", 32<<20)), reg("z", 0o644, "z"))

	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		dst := tempDst(t)
		if _, err := Extract(ctx, bytes.NewReader(data), dst); !errors.Is(err, context.Canceled) {
			t.Fatalf("%v, want context.Canceled", err)
		}
		if es, _ := os.ReadDir(dst); len(es) != 0 {
			t.Errorf("wrote %d entries after cancellation", len(es))
		}
	})
	t.Run("during copy", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dst := tempDst(t)
		r := &cancelAfter{r: bytes.NewReader(data), n: 4 << 20, cancel: cancel}
		st, err := Extract(ctx, r, dst)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v, want context.Canceled", err)
		}
		if st.Bytes >= 32<<20 {
			t.Errorf("copied %d bytes after cancellation", st.Bytes)
		}
		if _, err := os.Lstat(filepath.Join(dst, "z")); err == nil {
			t.Error("extracted an entry after cancellation")
		}
	})
}

func TestExtractFileNamesArchive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.tar")
	if err := os.WriteFile(p, mkTar(t, tar.FormatPAX, reg("../evil", 0o644, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ExtractFile(context.Background(), p, tempDst(t))
	if !errors.Is(err, ErrUnsafePath) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), `"../evil"`) {
		t.Fatalf("%v: want ErrUnsafePath naming %s and the entry", err, p)
	}
	_, err = ExtractFile(context.Background(), p+".missing", tempDst(t))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), p+".missing") {
		t.Fatalf("%v: want ErrNotExist naming the archive", err)
	}
}

// node describes one path of a tree for comparison.
type node struct {
	typ    fs.FileMode
	perm   fs.FileMode
	target string
	data   string
}

// snapshot describes the tree under root (root itself excluded).
func snapshot(t *testing.T, root string) map[string]node {
	t.Helper()
	m := map[string]node{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n := node{typ: fi.Mode().Type(), perm: fi.Mode() & (fs.ModePerm | fs.ModeSetgid | fs.ModeSticky)}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			n.target, err = os.Readlink(p)
			n.perm = 0
		case fi.Mode().IsRegular():
			var b []byte
			b, err = os.ReadFile(p)
			n.data = string(b)
		}
		m[filepath.ToSlash(rel)] = n
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGNUTar extracts archives made by the host's tar and compares trees.
func TestGNUTar(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs GNU tar and POSIX modes")
	}
	tarCmd := testutil.NeedCommand(t, "tar", "apt-get install -y tar")
	src := t.TempDir()
	long := strings.Repeat("a-rather-long-directory-name/", 5)
	files := []struct {
		name string
		mode fs.FileMode
		data string
	}{
		{"bin/run", 0o755, "#!/bin/sh\necho hi\n"},
		{"etc/app.conf", 0o644, "key=value\n"},
		{"etc/secret", 0o600, "s3cret"},
		{"lib/ro.so", 0o444, "\x7fELF"},
		{long + "deep.txt", 0o640, "deep"},
		{"empty", 0o644, ""},
	}
	for _, f := range files {
		p := filepath.Join(src, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("../etc/app.conf", filepath.Join(src, "lib/conf-link")))
	must(os.Symlink("/usr/bin/env", filepath.Join(src, "bin/env")))
	must(os.Link(filepath.Join(src, "bin/run"), filepath.Join(src, "bin/run-again")))
	must(os.Mkdir(filepath.Join(src, "emptydir"), 0o755))
	must(os.Chmod(filepath.Join(src, "emptydir"), 0o700))
	must(os.Mkdir(filepath.Join(src, "shared"), 0o755))
	must(os.Chmod(filepath.Join(src, "shared"), 0o2775))
	// A sparse file: 4 MiB with a few bytes in the middle.
	sp, err := os.Create(filepath.Join(src, "sparse.img"))
	must(err)
	must(sp.Truncate(4 << 20))
	_, err = sp.WriteAt([]byte("middle"), 2<<20)
	must(err)
	must(sp.Close())
	must(os.Chmod(filepath.Join(src, "lib"), 0o555))
	t.Cleanup(func() { makeWritable(src) })
	want := snapshot(t, src)

	variants := []struct {
		name, flag, need string
	}{
		{"plain", "-cf", ""},
		{"gzip", "-czf", "gzip"},
		{"xz", "-cJf", "xz"},
		{"zstd", "--zstd -cf", "zstd"},
		{"posix-sparse", "--format=posix -S -czf", "gzip"},
		{"gnu-sparse", "--format=gnu -S -cf", ""},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			if v.need != "" {
				testutil.NeedCommand(t, v.need, "apt-get install -y "+map[string]string{"gzip": "gzip", "xz": "xz-utils", "zstd": "zstd"}[v.need])
			}
			archive := filepath.Join(t.TempDir(), "a.tar")
			args := append([]string{"-C", src}, strings.Fields(v.flag)...)
			args = append(args, archive, ".")
			if out, err := exec.Command(tarCmd, args...).CombinedOutput(); err != nil {
				t.Fatalf("tar %v: %v\n%s", args, err, out)
			}
			dst := tempDst(t)
			st, err := ExtractFile(context.Background(), archive, dst)
			if err != nil {
				t.Fatal(err)
			}
			got := snapshot(t, dst)
			compareTrees(t, want, got)
			a, err1 := os.Stat(filepath.Join(dst, "bin/run"))
			b, err2 := os.Stat(filepath.Join(dst, "bin/run-again"))
			if err1 != nil || err2 != nil || !os.SameFile(a, b) {
				t.Errorf("bin/run and bin/run-again are not one file (%v, %v)", err1, err2)
			}
			if st.HardLinks != 1 || st.Symlinks != 2 || st.Files != len(files)+1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func compareTrees(t *testing.T, want, got map[string]node) {
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		w, wok := want[n]
		g, gok := got[n]
		switch {
		case !gok:
			t.Errorf("%s: missing", n)
		case !wok:
			t.Errorf("%s: extra", n)
		case w.typ != g.typ || w.perm != g.perm || w.target != g.target:
			t.Errorf("%s: type %v perm %v -> %q, want type %v perm %v -> %q", n, g.typ, g.perm, g.target, w.typ, w.perm, w.target)
		case w.data != g.data:
			t.Errorf("%s: contents differ (%d bytes, want %d)", n, len(g.data), len(w.data))
		}
	}
}
