package initramfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/cavaliergopher/cpio"

	"github.com/bootapp/bootapp/internal/testutil"
)

// entry is one archive record as read back, for comparisons.
type entry struct {
	Name     string
	Mode     cpio.FileMode
	Body     string // file data or symlink target
	UID, GID int
	MTime    int64
	Inode    int64
	Links    int
}

// readArchive parses an uncompressed newc archive with cavaliergopher/cpio.
func readArchive(t *testing.T, data []byte) []entry {
	t.Helper()
	r := cpio.NewReader(bytes.NewReader(data))
	var out []entry
	for {
		h, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read archive: %v", err)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read %s: %v", h.Name, err)
		}
		if h.Linkname != "" {
			body = []byte(h.Linkname)
		}
		out = append(out, entry{h.Name, h.Mode, string(body), h.Uid, h.Guid, h.ModTime.Unix(), h.Inode, h.Links})
	}
}

// op is one call on a Writer.
type op func(w *Writer) error

func mkdir(name string, mode fs.FileMode) op {
	return func(w *Writer) error { return w.Mkdir(name, mode) }
}
func file(name string, mode fs.FileMode, data string) op {
	return func(w *Writer) error { return w.WriteFile(name, mode, []byte(data)) }
}
func copyFile(name string, mode fs.FileMode, size int64, data string) op {
	return func(w *Writer) error { return w.CopyFile(name, mode, size, strings.NewReader(data)) }
}
func symlink(name, target string) op {
	return func(w *Writer) error { return w.Symlink(name, target) }
}

// build runs ops on a fresh Writer and returns the closed archive.
func build(t *testing.T, opts Options, ops ...op) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriterOptions(&buf, opts)
	if err != nil {
		t.Fatalf("NewWriterOptions: %v", err)
	}
	for i, o := range ops {
		if err := o(w); err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if w.Written() != int64(buf.Len()) {
		t.Errorf("Written() = %d, buffer holds %d", w.Written(), buf.Len())
	}
	return buf.Bytes()
}

const (
	dir  = cpio.TypeDir
	reg  = cpio.TypeReg
	link = cpio.TypeSymlink
)

func TestWriterEntries(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ops  []op
		want []entry
	}{
		{
			name: "parents are made once, in order, mode 0755",
			ops: []op{
				file("/etc/bootapp/init.json", 0o644, "{}"),
				file("/etc/hosts", 0o644, "127.0.0.1 localhost\n"),
				copyFile("/usr/lib/modules/a.ko", 0o600, 3, "abc"),
			},
			want: []entry{
				{Name: ".", Mode: dir | 0o755, Inode: 1, Links: 2},
				{Name: "etc", Mode: dir | 0o755, Inode: 2, Links: 2},
				{Name: "etc/bootapp", Mode: dir | 0o755, Inode: 3, Links: 2},
				{Name: "etc/bootapp/init.json", Mode: reg | 0o644, Body: "{}", Inode: 4, Links: 1},
				{Name: "etc/hosts", Mode: reg | 0o644, Body: "127.0.0.1 localhost\n", Inode: 5, Links: 1},
				{Name: "usr", Mode: dir | 0o755, Inode: 6, Links: 2},
				{Name: "usr/lib", Mode: dir | 0o755, Inode: 7, Links: 2},
				{Name: "usr/lib/modules", Mode: dir | 0o755, Inode: 8, Links: 2},
				{Name: "usr/lib/modules/a.ko", Mode: reg | 0o600, Body: "abc", Inode: 9, Links: 1},
			},
		},
		{
			name: "explicit dirs, special bits, symlinks, empty file, unclean names",
			ops: []op{
				mkdir("/tmp", fs.ModeDir|fs.ModeSticky|0o777),
				mkdir("/tmp", 0o777|fs.ModeSticky), // same again: no-op
				file("/bin/su", fs.ModeSetuid|fs.ModeSetgid|0o755, "x"),
				symlink("/sbin", "bin"),
				symlink("/lib64/ld.so", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
				file("//app/./empty/", 0o400, ""),
				mkdir("/bin", 0o755), // made implicitly with this mode: no-op
			},
			want: []entry{
				{Name: ".", Mode: dir | 0o755, Inode: 1, Links: 2},
				{Name: "tmp", Mode: dir | cpio.ModeSticky | 0o777, Inode: 2, Links: 2},
				{Name: "bin", Mode: dir | 0o755, Inode: 3, Links: 2},
				{Name: "bin/su", Mode: reg | cpio.ModeSetuid | cpio.ModeSetgid | 0o755, Body: "x", Inode: 4, Links: 1},
				{Name: "sbin", Mode: link | 0o777, Body: "bin", Inode: 5, Links: 1},
				{Name: "lib64", Mode: dir | 0o755, Inode: 6, Links: 2},
				{Name: "lib64/ld.so", Mode: link | 0o777, Body: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", Inode: 7, Links: 1},
				{Name: "app", Mode: dir | 0o755, Inode: 8, Links: 2},
				{Name: "app/empty", Mode: reg | 0o400, Inode: 9, Links: 1},
			},
		},
		{
			name: "owner and time from options",
			opts: Options{UID: 1000, GID: 100, ModTime: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)},
			ops:  []op{file("/a/b", 0o644, "b")},
			want: []entry{
				{Name: ".", Mode: dir | 0o755, UID: 1000, GID: 100, MTime: 1704164645, Inode: 1, Links: 2},
				{Name: "a", Mode: dir | 0o755, UID: 1000, GID: 100, MTime: 1704164645, Inode: 2, Links: 2},
				{Name: "a/b", Mode: reg | 0o644, Body: "b", UID: 1000, GID: 100, MTime: 1704164645, Inode: 3, Links: 1},
			},
		},
		{
			name: "empty archive is the root and a trailer",
			want: []entry{{Name: ".", Mode: dir | 0o755, Inode: 1, Links: 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := build(t, tt.opts, tt.ops...)
			if len(data)%4 != 0 {
				t.Errorf("archive length %d is not a multiple of 4", len(data))
			}
			got := readArchive(t, data)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d entries, want %d:\n%+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	long := "/" + strings.Repeat("a", 4096)
	tests := []struct {
		name   string
		before []op
		op     op
		want   error
		broken bool // the archive is unusable afterwards
	}{
		{"empty name", nil, file("", 0o644, ""), ErrInvalidName, false},
		{"relative name", nil, file("etc/x", 0o644, ""), ErrInvalidName, false},
		{"dot dot", nil, file("/etc/../x", 0o644, ""), ErrInvalidName, false},
		{"trailing dot dot", nil, mkdir("/etc/..", 0o755), ErrInvalidName, false},
		{"NUL", nil, file("/etc/x\x00y", 0o644, ""), ErrInvalidName, false},
		{"root", nil, mkdir("/", 0o755), ErrInvalidName, false},
		{"root via dot", nil, file("/.", 0o644, ""), ErrInvalidName, false},
		{"too long", nil, file(long, 0o644, ""), ErrInvalidName, false},
		{"empty symlink target", nil, symlink("/x", ""), ErrInvalidName, false},
		{"NUL in symlink target", nil, symlink("/x", "a\x00"), ErrInvalidName, false},
		{"duplicate file", []op{file("/x", 0o644, "")}, file("/x", 0o644, ""), ErrExist, false},
		{"file over dir", []op{mkdir("/x", 0o755)}, file("/x", 0o644, ""), ErrExist, false},
		{"file over implicit dir", []op{file("/x/y", 0o644, "")}, symlink("/x", "z"), ErrExist, false},
		{"dir over file", []op{file("/x", 0o644, "")}, mkdir("/x", 0o755), ErrExist, false},
		{"dir with other mode", []op{file("/x/y", 0o644, "")}, mkdir("/x", 0o700), ErrExist, false},
		{"unclean duplicate", []op{file("/x/y", 0o644, "")}, file("/x//y/", 0o644, ""), ErrExist, false},
		{"parent is file", []op{file("/x", 0o644, "")}, file("/x/y", 0o644, ""), ErrNotDir, false},
		{"parent is symlink", []op{symlink("/x", "/y")}, file("/x/y", 0o644, ""), ErrNotDir, false},
		{"dir mode for file", nil, file("/x", fs.ModeDir|0o755, ""), ErrInvalidMode, false},
		{"symlink mode for dir", nil, mkdir("/x", fs.ModeSymlink|0o755), ErrInvalidMode, false},
		{"unix sticky bit", nil, mkdir("/x", 0o1777), ErrInvalidMode, false},
		{"unix setuid bit", nil, file("/x", 0o4755, ""), ErrInvalidMode, false},
		{"negative size", nil, copyFile("/x", 0o644, -1, ""), ErrTooLarge, false},
		{"size over 4 GiB", nil, copyFile("/x", 0o644, 1<<32, ""), ErrTooLarge, false},
		{"short reader", nil, copyFile("/x", 0o644, 4, "abc"), ErrSizeMismatch, true},
		{"long reader", nil, copyFile("/x", 0o644, 2, "abc"), ErrSizeMismatch, true},
		{"reader error", nil, func(w *Writer) error {
			return w.CopyFile("/x", 0o644, 10, iotest.ErrReader(iotest.ErrTimeout))
		}, iotest.ErrTimeout, true},
		{"after close", []op{func(w *Writer) error { return w.Close() }}, file("/x", 0o644, ""), ErrClosed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			for i, o := range tt.before {
				if err := o(w); err != nil {
					t.Fatalf("setup op %d: %v", i, err)
				}
			}
			err := tt.op(w)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if w.done {
				return
			}
			next := w.WriteFile("/ok", 0o644, nil)
			cerr := w.Close()
			if tt.broken {
				if next == nil || cerr == nil {
					t.Fatalf("archive still usable after a broken write: WriteFile %v, Close %v", next, cerr)
				}
				return
			}
			if next != nil || cerr != nil {
				t.Fatalf("archive unusable after a validation error: WriteFile %v, Close %v", next, cerr)
			}
			// The rejected entry left no trace: the archive still parses.
			for _, e := range readArchive(t, buf.Bytes()) {
				if e.Name == "" || strings.Contains(e.Name, "..") {
					t.Errorf("bad entry %q in archive", e.Name)
				}
			}
		})
	}
}

func TestNewWriterOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"unknown compression", Options{Compression: "lz4"}, ErrUnsupportedCompression},
		{"time before 1970", Options{ModTime: time.Unix(-1, 0)}, nil},
		{"time after 2106", Options{ModTime: time.Unix(1<<32, 0)}, nil},
		{"negative uid", Options{UID: -1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriterOptions(io.Discard, tt.opts)
			if err == nil || w != nil {
				t.Fatalf("got writer %v, error %v; want an error", w, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

var errDisk = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errDisk
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriterDestinationError(t *testing.T) {
	for _, c := range []Compression{None, Gzip, Zstd, XZ} {
		t.Run(string(c), func(t *testing.T) {
			w, err := NewWriterOptions(&failWriter{n: 10}, Options{Compression: c})
			if errors.Is(err, errDisk) {
				return // xz writes its header at once
			}
			if err != nil {
				t.Fatal(err)
			}
			// Small entries stay in the buffer; the error shows at the
			// latest in Close, and sticks.
			werr := w.WriteFile("/big", 0o644, bytes.Repeat([]byte{1, 2, 3}, 1<<20))
			cerr := w.Close()
			if !errors.Is(werr, errDisk) && !errors.Is(cerr, errDisk) {
				t.Fatalf("WriteFile %v, Close %v: want %v", werr, cerr, errDisk)
			}
			if err := w.Close(); !errors.Is(err, errDisk) {
				t.Fatalf("second Close = %v, want %v", err, errDisk)
			}
		})
	}
}

// sample is a small archive with every entry type.
func sample(t *testing.T, opts Options) []byte {
	return build(t, opts,
		mkdir("/tmp", fs.ModeSticky|0o777),
		file("/init", 0o755, "#!/bin/sh\necho hi\n"),
		file("/etc/bootapp/init.json", 0o644, `{"version":1}`),
		copyFile("/app/data.bin", 0o600, 4096, strings.Repeat("0123456789abcdef", 256)),
		symlink("/bin", "usr/bin"),
		symlink("/app/current", "/app/data.bin"),
	)
}

func TestDeterministic(t *testing.T) {
	for _, c := range []Compression{None, Gzip, Zstd, XZ} {
		t.Run(string(c), func(t *testing.T) {
			a := sample(t, Options{Compression: c})
			b := sample(t, Options{Compression: c})
			if !bytes.Equal(a, b) {
				t.Fatalf("two identical builds differ (%d and %d bytes)", len(a), len(b))
			}
			if len(a)%4 != 0 {
				t.Fatalf("segment length %d is not a multiple of 4", len(a))
			}
		})
	}
	// The golden archive pins the exact encoding, so that a library
	// update that changes a byte is noticed.
	got := sample(t, Options{})
	golden := filepath.Join("testdata", "sample.cpio")
	if os.Getenv("BOOTAPP_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (regenerate with BOOTAPP_UPDATE_GOLDEN=1)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("archive differs from %s (regenerate with BOOTAPP_UPDATE_GOLDEN=1 if intended)", golden)
	}
}

// lookTool returns the path of a command-line tool from the Debian
// package pkg; when it is missing the test fails with BOOTAPP_E2E=1 and
// skips otherwise, saying how to install it (testutil.NeedCommand).
func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	return testutil.NeedCommand(t, name, "apt-get install -y "+pkg+" (or make deps)")
}

func TestGNUCpio(t *testing.T) {
	cpioTool := lookTool(t, "cpio", "cpio")
	data := sample(t, Options{})

	list := exec.Command(cpioTool, "-it", "--quiet")
	list.Stdin = bytes.NewReader(data)
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -it: %v\n%s", err, out)
	}
	wantList := ".\ntmp\ninit\netc\netc/bootapp\netc/bootapp/init.json\napp\napp/data.bin\nbin\napp/current\n"
	if string(out) != wantList {
		t.Fatalf("cpio -it listed\n%s\nwant\n%s", out, wantList)
	}

	dir := t.TempDir()
	extract := exec.Command(cpioTool, "-idv", "--quiet", "--no-absolute-filenames")
	extract.Dir = dir
	extract.Stdin = bytes.NewReader(data)
	if out, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("cpio -idv: %v\n%s", err, out)
	}
	checks := []struct {
		path string
		mode fs.FileMode
		body string
	}{
		{".", fs.ModeDir | 0o755, ""},
		{"tmp", fs.ModeDir | fs.ModeSticky | 0o777, ""},
		{"init", 0o755, "#!/bin/sh\necho hi\n"},
		{"etc/bootapp", fs.ModeDir | 0o755, ""},
		{"etc/bootapp/init.json", 0o644, `{"version":1}`},
		{"app/data.bin", 0o600, strings.Repeat("0123456789abcdef", 256)},
		{"bin", fs.ModeSymlink | 0o777, "usr/bin"},
		{"app/current", fs.ModeSymlink | 0o777, "/app/data.bin"},
	}
	for _, c := range checks {
		p := filepath.Join(dir, c.path)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("extracted tree: %v", err)
			continue
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
		var body []byte
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			s, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			body = []byte(s)
		case fi.Mode().IsRegular():
			if body, err = os.ReadFile(p); err != nil {
				t.Fatal(err)
			}
		}
		if string(body) != c.body {
			t.Errorf("%s: content %q, want %q", c.path, body, c.body)
		}
	}
}
