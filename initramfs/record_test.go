package initramfs

import (
	"bytes"
	"crypto/sha256"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
)

// TestRecord checks that Options.Record reports every entry, in archive
// order, with the digest of exactly the bytes the archive holds.
func TestRecord(t *testing.T) {
	var got []Entry
	var buf bytes.Buffer
	w, err := NewWriterOptions(&buf, Options{Record: func(e Entry) { got = append(got, e) }})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 70000) // several copy buffers
	steps := []func() error{
		func() error { return w.Mkdir("/app", 0o755) },
		func() error { return w.WriteFile("/app/etc/conf", 0o644, []byte("k=v\n")) },
		func() error { return w.CopyFile("/app/bin/big", 0o755, int64(len(big)), bytes.NewReader(big)) },
		func() error { return w.Symlink("/app/bin/current", "big") },
		func() error {
			return w.CopyFileLinks("/app/lib/a", 0o644, 3, strings.NewReader("abc"), 2)
		},
		func() error { return w.Link("/app/lib/b", "/app/lib/a") },
	}
	for i, f := range steps {
		if err := f(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		mode fs.FileMode
		data string
		link string
	}{
		{"/", fs.ModeDir | 0o755, "", ""},
		{"/app", fs.ModeDir | 0o755, "", ""},
		{"/app/etc", fs.ModeDir | 0o755, "", ""},
		{"/app/etc/conf", 0o644, "k=v\n", ""},
		{"/app/bin", fs.ModeDir | 0o755, "", ""},
		{"/app/bin/big", 0o755, string(big), ""},
		{"/app/bin/current", fs.ModeSymlink | 0o777, "", "big"},
		{"/app/lib", fs.ModeDir | 0o755, "", ""},
		{"/app/lib/a", 0o644, "abc", ""},
		{"/app/lib/b", 0o644, "", "/app/lib/a"},
	}
	if len(got) != len(want) {
		t.Fatalf("recorded %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if e.Name != w.name || e.Mode != w.mode || e.Linkname != w.link {
			t.Errorf("entry %d = %s %v %q, want %s %v %q", i, e.Name, e.Mode, e.Linkname, w.name, w.mode, w.link)
		}
		if e.Mode.IsRegular() && w.link == "" && (e.SHA256 != sha256.Sum256([]byte(w.data)) || e.Size != int64(len(w.data))) {
			t.Errorf("entry %s: size %d sha256 %x, want %d bytes %x", e.Name, e.Size, e.SHA256, len(w.data), sha256.Sum256([]byte(w.data)))
		}
	}
	// The digests are of what the archive holds.
	r := cpio.NewReader(&buf)
	byName := map[string]Entry{}
	for _, e := range got {
		byName[e.Name] = e
	}
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e := byName["/"+strings.TrimPrefix(h.Name, "/")]
		if h.Mode.IsRegular() && h.Size > 0 {
			data, _ := io.ReadAll(r)
			if sha256.Sum256(data) != e.SHA256 {
				t.Errorf("%s: recorded digest is not the archive's content", h.Name)
			}
		}
	}
}
