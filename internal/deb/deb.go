package deb

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Sentinel errors; test for them with errors.Is.
var (
	// ErrNotDeb reports input that is not a Debian binary package: no ar
	// magic, or a first member other than "debian-binary" version 2.x.
	ErrNotDeb = errors.New("not a Debian package")
	// ErrTruncated reports input that ends before the archive does.
	ErrTruncated = errors.New("truncated Debian package")
	// ErrNoMember reports a control.tar without a control file, or members
	// in an order a stream cannot follow (data.tar before control.tar).
	ErrNoMember = errors.New("Debian package member missing")
	// ErrUnsupportedCompression reports a member compressed with something
	// other than gzip, xz or zstd (for example bzip2 or lzma).
	ErrUnsupportedCompression = errors.New("unsupported compression")
	// ErrFileNotFound reports that ExtractFile found no such file.
	ErrFileNotFound = errors.New("file not found in Debian package")
)

// arMagic starts every ar archive.
const arMagic = "!<arch>\n"

// maxControlSize bounds the control file; real ones are a few KiB.
const maxControlSize = 1 << 20

// maxZstdWindow bounds the memory a zstd frame can ask for (128 MiB), so
// that hostile input cannot exhaust memory. dpkg uses at most 8 MiB.
const maxZstdWindow = 1 << 27

// Control holds the fields of a package's control file.
type Control struct {
	// Package is the package name, e.g. "linux-image-6.1.0-56-cloud-amd64".
	Package string
	// Version is the package version, e.g. "6.1.192-2".
	Version string
	// Architecture is the Debian architecture, e.g. "amd64" or "all".
	Architecture string
	// Fields holds every field by its name as written (e.g. "Depends"),
	// continuation lines joined with newlines.
	Fields map[string]string
}

// Reader reads a .deb from a stream. Call Control (optional) and then Data
// once; Close releases decompressor resources.
type Reader struct {
	r       io.Reader
	cur     *memberReader // data of the current ar member
	pad     bool          // the current member is followed by a padding byte
	control *Control
	closer  io.Closer
	// dataStream is the decompressed data member, for Finish.
	dataStream io.Reader
	data       bool
}

// NewReader checks that r holds a Debian binary package (ar magic and a
// "debian-binary" member of version 2.x) and returns a Reader positioned
// before the control member. Errors match ErrNotDeb or ErrTruncated.
func NewReader(r io.Reader) (*Reader, error) {
	var magic [len(arMagic)]byte
	if n, err := io.ReadFull(r, magic[:]); err != nil {
		if n == 0 || string(magic[:n]) != arMagic[:n] {
			return nil, fmt.Errorf("%w: no ar archive magic", ErrNotDeb)
		}
		return nil, fmt.Errorf("%w: ar magic cut short", ErrTruncated)
	}
	if string(magic[:]) != arMagic {
		return nil, fmt.Errorf("%w: no ar archive magic", ErrNotDeb)
	}
	// The decompressors issue many small reads (xz reads single bytes);
	// buffer unless the input is already in memory or buffered.
	switch r.(type) {
	case *bytes.Reader, *bytes.Buffer, *strings.Reader, *bufio.Reader:
	default:
		r = bufio.NewReaderSize(r, 1<<16)
	}
	rd := &Reader{r: r}
	name, size, err := rd.next()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty ar archive", ErrNotDeb)
	}
	if err != nil {
		return nil, err
	}
	if name != "debian-binary" {
		return nil, fmt.Errorf("%w: first member is %q, want debian-binary", ErrNotDeb, name)
	}
	if size > 64 {
		return nil, fmt.Errorf("%w: debian-binary is %d bytes long", ErrNotDeb, size)
	}
	ver, err := io.ReadAll(rd.cur)
	if err != nil {
		return nil, fmt.Errorf("read debian-binary: %w", err)
	}
	if !bytes.HasPrefix(ver, []byte("2.")) {
		return nil, fmt.Errorf("%w: format version %q, want 2.x", ErrNotDeb, strings.TrimSpace(string(ver)))
	}
	return rd, nil
}

// next skips the rest of the current member and its padding byte, reads
// the next ar member header and returns the member's name (GNU "/" suffix
// removed) and size; rd.cur then reads its data. It returns io.EOF at a
// clean end of archive.
//
// The ar format is hand-read rather than with github.com/blakesmith/ar:
// that package panics on a malformed mode field, reports a member cut short
// as a clean end of archive and does not check the magic, and a .deb
// reader must fail cleanly on any input. The format is 60-byte headers of
// fixed-width ASCII fields, so the code is short.
func (rd *Reader) next() (string, int64, error) {
	if rd.cur != nil {
		if _, err := io.Copy(io.Discard, rd.cur); err != nil {
			return "", 0, err
		}
		if rd.pad {
			// A missing final padding byte is tolerated, as ar(1) does.
			var b [1]byte
			if _, err := io.ReadFull(rd.r, b[:]); err == io.EOF {
				return "", 0, io.EOF
			} else if err != nil {
				return "", 0, fmt.Errorf("read ar padding: %w", err)
			}
		}
	}
	var h [60]byte
	n, err := io.ReadFull(rd.r, h[:])
	if err == io.EOF {
		return "", 0, io.EOF
	}
	if err != nil {
		if n > 0 && errors.Is(err, io.ErrUnexpectedEOF) {
			return "", 0, fmt.Errorf("%w: ar member header cut short after %d bytes", ErrTruncated, n)
		}
		return "", 0, fmt.Errorf("read ar header: %w", err)
	}
	if h[58] != '`' || h[59] != '\n' {
		return "", 0, fmt.Errorf("%w: bad ar member header", ErrNotDeb)
	}
	name := strings.TrimSuffix(strings.TrimRight(string(h[0:16]), " "), "/")
	size, err := strconv.ParseInt(strings.TrimRight(string(h[48:58]), " "), 10, 64)
	if err != nil || size < 0 {
		return "", 0, fmt.Errorf("%w: ar member %q has invalid size %q", ErrNotDeb, name, h[48:58])
	}
	rd.cur = &memberReader{r: rd.r, left: size}
	rd.pad = size%2 == 1
	return name, size, nil
}

// Control returns the package's control fields. It reads up to the
// control.tar member on first use and caches the result.
func (rd *Reader) Control() (Control, error) {
	if rd.control != nil {
		return *rd.control, nil
	}
	if rd.data {
		return Control{}, fmt.Errorf("%w: control.tar not seen before data.tar", ErrNoMember)
	}
	for {
		name, size, err := rd.next()
		if err == io.EOF {
			return Control{}, fmt.Errorf("%w: archive ends without a control.tar member", ErrTruncated)
		}
		if err != nil {
			return Control{}, err
		}
		if strings.HasPrefix(name, "data.tar") {
			return Control{}, fmt.Errorf("%w: data.tar comes before control.tar", ErrNoMember)
		}
		if !strings.HasPrefix(name, "control.tar") {
			continue // unknown members (e.g. _gpgbuilder signatures) are skipped, as dpkg does
		}
		c, err := rd.readControl(name, size)
		if err != nil {
			return Control{}, err
		}
		rd.control = &c
		return c, nil
	}
}

func (rd *Reader) readControl(name string, size int64) (Control, error) {
	z, err := decompress(name, rd.cur)
	if err != nil {
		return Control{}, err
	}
	defer z.Close()
	tr := tar.NewReader(z)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return Control{}, fmt.Errorf("%w: %s has no control file", ErrNoMember, name)
		}
		if err != nil {
			return Control{}, fmt.Errorf("read %s: %w", name, truncated(err))
		}
		if strings.TrimPrefix(h.Name, "./") != "control" {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxControlSize+1))
		if err != nil {
			return Control{}, fmt.Errorf("read %s/control: %w", name, truncated(err))
		}
		if len(b) > maxControlSize {
			return Control{}, fmt.Errorf("%s/control is larger than %d bytes", name, maxControlSize)
		}
		return parseControl(b), nil
	}
}

// parseControl parses an RFC 822 style control file. It never fails: lines
// that are not "Field: value" or continuations are ignored, as dpkg-deb -f
// tolerates them.
func parseControl(b []byte) Control {
	c := Control{Fields: map[string]string{}}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxControlSize+1)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != "" {
				c.Fields[last] += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = strings.TrimSpace(k)
		c.Fields[last] = strings.TrimSpace(v)
	}
	c.Package = c.Fields["Package"]
	c.Version = c.Fields["Version"]
	c.Architecture = c.Fields["Architecture"]
	return c
}

// Data advances to the data.tar member and returns it as a tar stream.
// It can be called once; errors from the returned reader that stem from a
// short input match both ErrTruncated and io.ErrUnexpectedEOF (archive/tar
// reports some of them as plain io.ErrUnexpectedEOF).
func (rd *Reader) Data() (*tar.Reader, error) {
	if rd.data {
		return nil, errors.New("deb: Data called twice")
	}
	rd.data = true
	for {
		name, size, err := rd.next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: archive ends without a data.tar member", ErrTruncated)
		}
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(name, "control.tar") && rd.control == nil {
			c, err := rd.readControl(name, size)
			if err != nil {
				return nil, err
			}
			rd.control = &c
			continue
		}
		if !strings.HasPrefix(name, "data.tar") {
			continue
		}
		z, err := decompress(name, rd.cur)
		if err != nil {
			return nil, err
		}
		rd.closer = z
		rd.dataStream = z
		return tar.NewReader(z), nil
	}
}

// Finish checks that the package is complete after the caller has read
// the data archive up to io.EOF: it reads what follows the tar stream's
// end-of-archive marker (record padding, the compressor's index and
// checksums) and the rest of the ar member, and returns ErrTruncated or a
// decompressor error if the package was cut short or is damaged. A caller
// that stops early does not need it.
func (rd *Reader) Finish() error {
	if rd.dataStream == nil {
		return errors.New("deb: Finish called before Data")
	}
	if _, err := io.Copy(io.Discard, rd.dataStream); err != nil {
		return fmt.Errorf("read the end of data.tar: %w", truncated(err))
	}
	if _, err := io.Copy(io.Discard, rd.cur); err != nil {
		return fmt.Errorf("read the end of data.tar: %w", err)
	}
	return nil
}

// Close releases the decompressor of the data member. It does not close
// the underlying reader.
func (rd *Reader) Close() error {
	if rd.closer != nil {
		err := rd.closer.Close()
		rd.closer = nil
		return err
	}
	return nil
}

// decompress picks the decompressor from the member name's suffix.
func decompress(name string, r io.Reader) (io.ReadCloser, error) {
	ext := name[strings.Index(name, ".tar")+len(".tar"):]
	switch ext {
	case "":
		return io.NopCloser(r), nil
	case ".gz":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", name, truncated(err))
		}
		return z, nil
	case ".xz":
		z, err := newXZReader(r)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", name, truncated(err))
		}
		return z, nil
	case ".zst":
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", name, truncated(err))
		}
		return zstdCloser{z}, nil
	}
	return nil, fmt.Errorf("member %s: %w %q (want none, .gz, .xz or .zst)", name, ErrUnsupportedCompression, ext)
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error { z.Decoder.Close(); return nil }

// truncated makes an io.ErrUnexpectedEOF from a decompressor or
// archive/tar also match ErrTruncated.
func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrTruncated) {
		return truncErr{err}
	}
	return err
}

// truncErr matches both ErrTruncated and io.ErrUnexpectedEOF, so that
// archive/tar and the decompressors pass it on as a read error while
// callers can still test for ErrTruncated.
type truncErr struct{ err error }

func (e truncErr) Error() string { return ErrTruncated.Error() + ": " + e.err.Error() }
func (e truncErr) Unwrap() []error {
	return []error{ErrTruncated, e.err}
}

// memberReader reads one ar member and turns an early end into ErrTruncated.
type memberReader struct {
	r    io.Reader
	left int64
}

func (m *memberReader) Read(p []byte) (int, error) {
	if m.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > m.left {
		p = p[:m.left]
	}
	n, err := m.r.Read(p)
	m.left -= int64(n)
	if err == io.EOF && m.left > 0 {
		err = truncErr{io.ErrUnexpectedEOF}
	} else if err == io.EOF {
		err = nil
		if n == 0 {
			err = io.EOF
		}
	}
	return n, err
}
