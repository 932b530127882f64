package deb

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/deb/debtest"
	"github.com/bootapp/bootapp/internal/testutil"
)

func synthetic(t testing.TB, compression string) []byte {
	t.Helper()
	b, err := debtest.Build(debtest.Package{
		Compression: compression,
		Files: []debtest.File{
			{Name: "./"},
			{Name: "./usr/"},
			{Name: "./usr/bin/hello", Body: []byte("#!/bin/sh\necho hello\n"), Mode: 0o755},
			{Name: "./usr/share/odd", Body: []byte("odd length!")},
			{Name: "./usr/bin/hi", Link: "hello"},
		},
	})
	if err != nil {
		t.Fatalf("build synthetic deb: %v", err)
	}
	return b
}

// readAll pulls every entry of the data archive and returns name -> body.
func readAll(r io.Reader) (Control, map[string]string, error) {
	rd, err := NewReader(r)
	if err != nil {
		return Control{}, nil, err
	}
	defer rd.Close()
	c, err := rd.Control()
	if err != nil {
		return Control{}, nil, err
	}
	tr, err := rd.Data()
	if err != nil {
		return c, nil, err
	}
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return c, files, rd.Finish()
		}
		if err != nil {
			return c, files, truncated(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return c, files, truncated(err)
		}
		files[h.Name] = string(b)
	}
}

func TestReaderCompressions(t *testing.T) {
	for _, comp := range []string{"", "gz", "xz", "xz-mt", "zst"} {
		t.Run("compression="+comp, func(t *testing.T) {
			c, files, err := readAll(bytes.NewReader(synthetic(t, comp)))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if c.Package != "test" || c.Version != "1.0-1" || c.Architecture != "amd64" {
				t.Errorf("control = %+v, want test 1.0-1 amd64", c)
			}
			if got := c.Fields["Description"]; got != "test package\nmulti-line" {
				t.Errorf("Description = %q", got)
			}
			if got := files["./usr/bin/hello"]; got != "#!/bin/sh\necho hello\n" {
				t.Errorf("usr/bin/hello = %q", got)
			}
			if got := files["./usr/share/odd"]; got != "odd length!" {
				t.Errorf("usr/share/odd = %q", got)
			}
			if len(files) != 5 {
				t.Errorf("got %d entries, want 5", len(files))
			}
		})
	}
}

func TestDataWithoutControl(t *testing.T) {
	rd, err := NewReader(bytes.NewReader(synthetic(t, "xz")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Data(); err != nil {
		t.Fatalf("Data: %v", err)
	}
	// Control was passed on the way and must be cached.
	c, err := rd.Control()
	if err != nil || c.Package != "test" {
		t.Fatalf("Control after Data = %+v, %v; want cached fields", c, err)
	}
	if _, err := rd.Data(); err == nil {
		t.Fatal("second Data call succeeded, want an error")
	}
}

func TestNotDeb(t *testing.T) {
	tests := map[string][]byte{
		"empty":          nil,
		"garbage":        []byte("this is not an ar archive at all, just text"),
		"gzip":           {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3},
		"ar-no-members":  []byte("!<arch>\n"),
		"ar-wrong-first": mustAr(t, "control.tar", "x"),
		"ar-bad-version": mustAr(t, "debian-binary", "3.0\n"),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(b))
			if !errors.Is(err, ErrNotDeb) {
				t.Fatalf("NewReader error = %v, want ErrNotDeb", err)
			}
		})
	}
}

func mustAr(t *testing.T, name, body string) []byte {
	t.Helper()
	var hdr [60]byte
	copy(hdr[:], []byte(name+"/"))
	for i := len(name) + 1; i < 58; i++ {
		hdr[i] = ' '
	}
	size := []byte(strconv.Itoa(len(body)))
	copy(hdr[48:], size)
	hdr[58], hdr[59] = '`', '\n'
	out := append([]byte("!<arch>\n"), hdr[:]...)
	out = append(out, body...)
	if len(body)%2 == 1 {
		out = append(out, '\n')
	}
	return out
}

// TestTruncated cuts a package at many offsets: every cut must give an
// error matching ErrTruncated (or ErrNotDeb for a cut that leaves no member),
// never a panic and never success.
func TestTruncated(t *testing.T) {
	for _, comp := range []string{"", "gz", "xz", "xz-mt", "zst"} {
		full := synthetic(t, comp)
		t.Run("compression="+comp, func(t *testing.T) {
			for cut := 0; cut < len(full)-1; cut++ {
				// Each xz reader allocates an 8 MiB dictionary; test
				// every 5th cut in the middle of xz members to stay fast.
				if comp == "xz" && cut > 200 && cut < len(full)-40 && cut%5 != 0 {
					continue
				}
				_, _, err := readAll(bytes.NewReader(full[:cut]))
				switch {
				case err == nil:
					t.Fatalf("cut at %d of %d: no error", cut, len(full))
				case cut <= len(arMagic) && errors.Is(err, ErrNotDeb): // nothing or an empty ar archive
				case errors.Is(err, ErrTruncated):
				default:
					t.Fatalf("cut at %d of %d: error %v does not match ErrTruncated", cut, len(full), err)
				}
			}
		})
	}
}

func TestExtractFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.deb")
	if err := os.WriteFile(p, synthetic(t, "zst"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr error
	}{
		{"plain", "usr/bin/hello", "#!/bin/sh\necho hello\n", nil},
		{"leading-slash", "/usr/share/odd", "odd length!", nil},
		{"dot-slash", "./usr/share/odd", "odd length!", nil},
		{"missing", "usr/bin/nope", "", ErrFileNotFound},
		{"symlink", "usr/bin/hi", "", nil},
		{"no-such-deb", "", "", fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			deb := p
			if tc.name == "no-such-deb" {
				deb = filepath.Join(dir, "missing.deb")
			}
			b, err := ExtractFile(context.Background(), deb, tc.path)
			if tc.name == "symlink" {
				if err == nil {
					t.Fatal("extracting a symlink succeeded, want an error")
				}
				return
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(b) != tc.want {
				t.Fatalf("got %q, %v; want %q", b, err, tc.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ExtractFile(ctx, p, "usr/bin/hello"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ExtractFile error = %v, want context.Canceled", err)
	}
}

// TestRealPackages reads the newest cached kernel and systemd-boot-efi
// packages (`mkbootapp fetch`): the boot loader is a PE file, the kernel
// package's control fields name the kernel release its files carry, and a
// cut-off package reports truncation.
func TestRealPackages(t *testing.T) {
	realKernelDeb, realBootDeb := testutil.KernelDeb(t), testutil.LoaderDeb(t)
	b, err := ExtractFile(context.Background(), realBootDeb, "usr/lib/systemd/boot/efi/systemd-bootx64.efi")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 50000 || string(b[:2]) != "MZ" {
		t.Fatalf("systemd-bootx64.efi: %d bytes starting %q, want a PE file", len(b), b[:2])
	}
	f, err := os.Open(realKernelDeb)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rd.Control()
	if err != nil {
		t.Fatal(err)
	}
	// The file name is <Package>_<Version>_<Architecture>.deb (apt-get
	// download's naming, with ':' of an epoch escaped), and the package
	// ships boot/vmlinuz-<release> for its linux-image-<release> name.
	wantName := c.Package + "_" + strings.ReplaceAll(c.Version, ":", "%3a") + "_" + c.Architecture + ".deb"
	if filepath.Base(realKernelDeb) != wantName || c.Architecture != "amd64" || !strings.HasPrefix(c.Package, "linux-image-") {
		t.Fatalf("control = %q %q %q, file %s", c.Package, c.Version, c.Architecture, filepath.Base(realKernelDeb))
	}
	release := strings.TrimPrefix(c.Package, "linux-image-")
	tr, err := rd.Data()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if path.Clean(h.Name) == "boot/vmlinuz-"+release {
			found = true
			break
		}
	}
	if !found {
		t.Errorf("%s has no boot/vmlinuz-%s", realKernelDeb, release)
	}
	// Truncating a real package inside data.tar.xz must be reported as
	// truncation when the caller pulls from Data.
	_, _, err = readAll(io.LimitReader(mustOpen(t, realBootDeb), 60000))
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated real package: error %v, want ErrTruncated", err)
	}
}

func mustOpen(t *testing.T, p string) io.Reader {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func FuzzReader(f *testing.F) {
	for _, comp := range []string{"", "gz", "xz", "xz-mt", "zst"} {
		f.Add(synthetic(f, comp))
	}
	f.Add([]byte("!<arch>\n"))
	f.Add([]byte("!<arch>\ndebian-binary   1700000000  0     0     100644  4         `\n2.0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Any input: an error or success, never a panic or a hang.
		_, _, _ = readAll(bytes.NewReader(b))
	})
}

func BenchmarkExtractBootloader(b *testing.B) {
	realBootDeb := testutil.LoaderDeb(b)
	st, _ := os.Stat(realBootDeb)
	for b.Loop() {
		if _, err := ExtractFile(context.Background(), realBootDeb, "usr/lib/systemd/boot/efi/systemd-bootx64.efi"); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(st.Size())
}

func BenchmarkReadKernelDeb(b *testing.B) {
	realKernelDeb := testutil.KernelDeb(b)
	for b.Loop() {
		f, err := os.Open(realKernelDeb)
		if err != nil {
			b.Fatal(err)
		}
		rd, err := NewReader(f)
		if err != nil {
			b.Fatal(err)
		}
		tr, err := rd.Data()
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for {
			_, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			m, _ := io.Copy(io.Discard, tr)
			n += m
		}
		f.Close()
		b.ReportMetric(float64(n)/1e6, "MB-unpacked/op")
		b.SetBytes(n)
	}
}
