package deb

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/deb/debtest"
)

// debWithData returns a .deb whose data.tar member (uncompressed) is data,
// so that the fuzzer's mutations reach the tar reader directly.
func debWithData(t testing.TB, data []byte) []byte {
	t.Helper()
	b, err := debtest.RawDataDeb("Package: fuzz\nVersion: 1\nArchitecture: amd64\n", data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tarOf builds a tar stream of the given entries in format.
func tarOf(t testing.TB, format tar.Format, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		h.Format = format
		h.ModTime = time.Unix(1700000000, 0)
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		body := []byte(nil)
		if h.Typeflag == tar.TypeReg {
			body = []byte("body of " + h.Name)
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sparseTar returns a PAX-format (GNU 1.0) sparse tar entry of realsize
// bytes, all of them a hole, in well under 4 KiB: what FuzzDataTar found
// ExtractFile would read whole into memory.
func sparseTar(name string, realsize int64) []byte {
	pax := func(k, v string) string {
		rec := " " + k + "=" + v + "\n"
		n := len(rec)
		for len(fmt.Sprint(n)+rec) != n {
			n = len(fmt.Sprint(n) + rec)
		}
		return fmt.Sprint(n) + rec
	}
	hdr := func(name string, typ byte, size int) []byte {
		h := make([]byte, 512)
		copy(h, name)
		copy(h[100:], "0000644\x00")
		copy(h[124:], fmt.Sprintf("%011o\x00", size))
		copy(h[136:], "15260274400\x00")
		h[156] = typ
		copy(h[257:], "ustar\x0000")
		copy(h[148:], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
		return h
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }
	recs := pax("GNU.sparse.major", "1") + pax("GNU.sparse.minor", "0") +
		pax("GNU.sparse.name", name) + pax("GNU.sparse.realsize", fmt.Sprint(realsize))
	smap := pad([]byte("1\n0\n0\n")) // one empty data region at 0: all hole
	var b []byte
	b = append(b, hdr("PaxHeaders/"+name, tar.TypeXHeader, len(recs))...)
	b = append(b, pad([]byte(recs))...)
	b = append(b, hdr("GNUSparseFile/"+name, tar.TypeReg, len(smap))...)
	b = append(b, smap...)
	return append(b, make([]byte, 1024)...)
}

// TestExtractFileSparse: a sparse entry is refused, not expanded into
// memory (4 GiB of zeros from a 3 KiB package, found by FuzzDataTar).
func TestExtractFileSparse(t *testing.T) {
	data := sparseTar("big", 4<<30)
	tr := tar.NewReader(bytes.NewReader(data))
	h, err := tr.Next()
	if err != nil || h.Size != 4<<30 || !IsSparse(h) {
		t.Fatalf("sparse test entry: %+v, %v", h, err)
	}
	p := filepath.Join(t.TempDir(), "sparse.deb")
	if err := os.WriteFile(p, debWithData(t, data), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := ExtractFile(context.Background(), p, "big")
	if !errors.Is(err, errors.ErrUnsupported) || b != nil {
		t.Fatalf("ExtractFile of a sparse entry = %d bytes, %v; want errors.ErrUnsupported", len(b), err)
	}
	plain := tarOf(t, tar.FormatPAX, &tar.Header{Name: "small", Typeflag: tar.TypeReg, PAXRecords: map[string]string{"comment": "x"}})
	if h, _ := tar.NewReader(bytes.NewReader(plain)).Next(); IsSparse(h) {
		t.Error("a PAX entry without GNU.sparse records reported sparse")
	}
}

// FuzzDataTar feeds arbitrary tar streams as the data member of an
// otherwise valid package. Reading it through Data must fail cleanly, and
// ExtractFile must agree with a plain walk of the same stream: the body of
// the first entry whose clean name is want when that is a regular file, an
// error when it is not, ErrFileNotFound when the archive ends without one.
func FuzzDataTar(f *testing.F) {
	long := strings.Repeat("long-directory-name/", 8) + "file"
	for _, format := range []tar.Format{tar.FormatGNU, tar.FormatPAX, tar.FormatUSTAR} {
		f.Add(tarOf(f, format,
			&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
			&tar.Header{Name: "./usr/bin/hello", Typeflag: tar.TypeReg, Mode: 0o755},
			&tar.Header{Name: "./usr/bin/hi", Typeflag: tar.TypeSymlink, Linkname: "hello"},
		), "usr/bin/hello")
	}
	f.Add(tarOf(f, tar.FormatPAX, &tar.Header{Name: long, Typeflag: tar.TypeReg, PAXRecords: map[string]string{"comment": "x"}}), "/"+long)
	f.Add(tarOf(f, tar.FormatGNU, &tar.Header{Name: "./x", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		&tar.Header{Name: "x", Typeflag: tar.TypeReg}), "./x")
	f.Add(tarOf(f, tar.FormatGNU, &tar.Header{Name: "./a/../b", Typeflag: tar.TypeLink, Linkname: "./c"}), "b")
	full := tarOf(f, tar.FormatGNU, &tar.Header{Name: "./usr/share/odd", Typeflag: tar.TypeReg})
	f.Add(full[:len(full)-1024], "usr/share/odd") // no end-of-archive marker
	f.Add(full[:600], "usr/share/odd")            // body cut short
	f.Add([]byte{}, "x")
	f.Add(sparseTar("big", 4<<30), "big")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, want string) {
		pkg := debWithData(t, data)
		rd, err := NewReader(bytes.NewReader(pkg))
		if err != nil {
			t.Fatalf("the package around the data member is valid: %v", err)
		}
		tr, err := rd.Data()
		if err != nil {
			t.Fatalf("the package around the data member is valid: %v", err)
		}
		defer rd.Close()
		var (
			found   bool
			isReg   bool
			body    []byte
			walkErr error
		)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				walkErr = err
				break
			}
			if cleanName(h.Name) != cleanName(want) {
				continue
			}
			found, isReg = true, h.Typeflag == tar.TypeReg && !IsSparse(h)
			if isReg {
				body, walkErr = io.ReadAll(tr)
			}
			break
		}

		p := filepath.Join(dir, "fuzz.deb")
		if err := os.WriteFile(p, pkg, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ExtractFile(context.Background(), p, want)
		switch {
		case found && isReg && walkErr == nil:
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("ExtractFile(%q) = %q, %v; the walk read %q", want, got, err, body)
			}
		case found || walkErr != nil:
			if err == nil {
				t.Fatalf("ExtractFile(%q) = %q, nil; the walk found a non-file or failed (%v)", want, got, walkErr)
			}
		default:
			if !errors.Is(err, ErrFileNotFound) {
				t.Fatalf("ExtractFile(%q) error %v; the walk ended without it, want ErrFileNotFound", want, err)
			}
		}
		if err != nil && got != nil {
			t.Fatalf("ExtractFile returned %d bytes with error %v", len(got), err)
		}
	})
}

// FuzzControl builds packages with arbitrary control files. Reader.Control
// must return what parseControl makes of the text, and that must be
// self-consistent: the three named fields are the map's, keys have no
// surrounding space and no newline, the lines of values no surrounding
// space.
func FuzzControl(f *testing.F) {
	f.Add("Package: test\nVersion: 1.0-1\nArchitecture: amd64\nDescription: test package\n multi-line\n")
	f.Add("Package: linux-image-9.9.9-1-test-amd64\nSource: linux-signed-amd64 (9.9.9+1)\nVersion: 9.9.9-1\n" +
		"Architecture: amd64\nDepends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool\n" +
		"Recommends: firmware-linux-free, apparmor\nSuggests: linux-doc-6.1, debian-kernel-handbook\n" +
		"Description: Linux 6.1 for x86-64 cloud\n The Linux kernel 6.1 and modules for use on x86-64 cloud platforms\n .\n second paragraph\n")
	f.Add(" continuation first\n\tPackage : spaced \r\n:empty key\nno colon\n\nVersion:\n")
	f.Add("Package: a\nPackage: b\n  \n")
	f.Fuzz(func(t *testing.T, text string) {
		c := parseControl([]byte(text))
		if c.Package != c.Fields["Package"] || c.Version != c.Fields["Version"] || c.Architecture != c.Fields["Architecture"] {
			t.Fatalf("named fields %q %q %q disagree with the map %v", c.Package, c.Version, c.Architecture, c.Fields)
		}
		for k, v := range c.Fields {
			if k != strings.TrimSpace(k) || strings.Contains(k, "\n") {
				t.Fatalf("key %q", k)
			}
			for _, line := range strings.Split(v, "\n") {
				if line != strings.TrimSpace(line) {
					t.Fatalf("value %q of %q has a line with surrounding space", v, k)
				}
			}
		}
		if len(text) > 1<<16 {
			return // building the package costs more than it finds
		}
		pkg, err := debtest.Build(debtest.Package{Control: text})
		if err != nil {
			t.Skip(err)
		}
		rd, err := NewReader(bytes.NewReader(pkg))
		if err != nil {
			t.Fatal(err)
		}
		got, err := rd.Control()
		if text == "" {
			return // debtest writes its default control file
		}
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("Reader.Control = %+v, %v; parseControl = %+v", got, err, c)
		}
	})
}
