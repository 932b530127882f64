package debtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"time"

	"github.com/blakesmith/ar"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// File is one entry of the data archive. Names are written with a leading
// "./", as dpkg-deb does. A Name ending in "/" is a directory; a non-empty
// Link makes a symbolic link, a non-empty HardLink a hard link to that
// earlier entry's name.
type File struct {
	Name     string
	Body     []byte
	Mode     int64
	Link     string
	HardLink string
}

// Package describes a package to build.
type Package struct {
	// Control is the control file's text. Default: a minimal amd64 stanza.
	Control string
	// Compression of both tar members: "" (none), "gz", "xz", "xz-mt"
	// (independent 4 KiB blocks with sizes in their headers, as dpkg-deb
	// writes with a multi-threaded liblzma; see XZBlocks) or "zst".
	Compression string
	// Files of the data archive, in order.
	Files []File
}

// epoch is the fixed modification time of every entry.
var epoch = time.Unix(1700000000, 0)

// Build returns the .deb's bytes.
func Build(p Package) ([]byte, error) {
	ctl := p.Control
	if ctl == "" {
		ctl = "Package: test\nVersion: 1.0-1\nArchitecture: amd64\nDescription: test package\n multi-line\n"
	}
	ctlTar, err := tarball([]File{{Name: "./"}, {Name: "./control", Body: []byte(ctl)}}, p.Compression)
	if err != nil {
		return nil, err
	}
	dataTar, err := tarball(p.Files, p.Compression)
	if err != nil {
		return nil, err
	}
	ext := ""
	switch p.Compression {
	case "":
	case "xz-mt":
		ext = ".xz"
	default:
		ext = "." + p.Compression
	}
	var buf bytes.Buffer
	w := ar.NewWriter(&buf)
	if err := w.WriteGlobalHeader(); err != nil {
		return nil, err
	}
	for _, m := range []struct {
		name string
		body []byte
	}{
		{"debian-binary", []byte("2.0\n")},
		{"control.tar" + ext, ctlTar},
		{"data.tar" + ext, dataTar},
	} {
		if err := w.WriteHeader(&ar.Header{Name: m.name, ModTime: epoch, Mode: 0o644, Size: int64(len(m.body))}); err != nil {
			return nil, err
		}
		if _, err := w.Write(m.body); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

func tarball(files []File, compression string) ([]byte, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, ModTime: epoch, Mode: f.Mode, Typeflag: tar.TypeReg, Size: int64(len(f.Body)), Format: tar.FormatGNU}
		switch {
		case f.Link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.Link, 0
		case f.HardLink != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, f.HardLink, 0
		case len(f.Name) > 0 && f.Name[len(f.Name)-1] == '/':
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Size > 0 {
			if _, err := tw.Write(f.Body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	switch compression {
	case "":
		return raw.Bytes(), nil
	case "gz":
		zw := gzip.NewWriter(&out)
		zw.Write(raw.Bytes())
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case "xz":
		zw, err := xz.NewWriter(&out)
		if err != nil {
			return nil, err
		}
		zw.Write(raw.Bytes())
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case "xz-mt":
		return XZBlocks(raw.Bytes(), 4096)
	case "zst":
		zw, err := zstd.NewWriter(&out)
		if err != nil {
			return nil, err
		}
		zw.Write(raw.Bytes())
		if err := zw.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("debtest: unknown compression %q", compression)
	}
	return out.Bytes(), nil
}

// RawDataDeb returns a .deb with the given control file text whose data.tar
// member is data, uncompressed and taken as it is (not necessarily a valid
// tar stream), so that a fuzzer's mutations reach the tar reader directly.
// The ar framing is written by hand: any byte string is a valid body.
func RawDataDeb(control string, data []byte) ([]byte, error) {
	var ctl bytes.Buffer
	tw := tar.NewWriter(&ctl)
	if err := tw.WriteHeader(&tar.Header{Name: "./control", Mode: 0o644, Size: int64(len(control)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(control)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := []byte("!<arch>\n")
	b = append(b, arMember("debian-binary", []byte("2.0\n"))...)
	b = append(b, arMember("control.tar", ctl.Bytes())...)
	return append(b, arMember("data.tar", data)...), nil
}

// arMember returns one ar member: its 60-byte header, body and padding.
func arMember(name string, body []byte) []byte {
	h := fmt.Sprintf("%-16s%-12d%-6d%-6d%-8o%-10d`\n", name, epoch.Unix(), 0, 0, 0o644, len(body))
	b := append([]byte(h), body...)
	if len(body)%2 == 1 {
		b = append(b, '\n')
	}
	return b
}
