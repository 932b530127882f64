package image

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/diskfs/go-diskfs/backend"
)

// sparseFile is the go-diskfs storage backend our writers use. It wraps a
// freshly created image file and changes three things about how go-diskfs
// reaches the disk; each was measured (see the benchmarks):
//
//   - Small writes to consecutive offsets are combined in memory and issued
//     as one large pwrite. The FAT32 writer writes file data one 512-byte
//     cluster at a time, so a 14 MB kernel would otherwise cost ~28,000
//     system calls.
//   - A write of at least zeroRun bytes that is all zeros becomes a hole
//     (fallocate PUNCH_HOLE on Linux) instead of allocated zero blocks. The
//     ext4 writer zero-fills inode tables and the journal explicitly (64 MB
//     for 1 GiB, 450 MB for 10 GiB); punching keeps the image sparse and
//     skips the copy. Punching is exact: a range that held data reads back
//     as zeros afterwards, just as if the zeros had been written.
//   - Sys reports backend.ErrNotSuitable, so go-diskfs never fsyncs the
//     file in the middle of a build (ext4.Create and the GPT writer do when
//     they can reach the *os.File; each fsync of a fresh image costs tens of
//     milliseconds). Durability is the caller's decision once the image is
//     complete.
//
// It is hand-written because go-diskfs offers only the plain file backend;
// it is a few dozen lines over *os.File.
type sparseFile struct {
	f    *os.File
	path string

	// pending holds bytes not yet written, destined for pendingOff.
	pending    []byte
	pendingOff int64

	// noPunch is set once punching holes failed (e.g. a file system without
	// support); zero runs are then written as data.
	noPunch bool
}

const (
	// combineLimit is the largest run of combined writes held in memory.
	combineLimit = 4 << 20
	// zeroRun is the smallest all-zero write turned into a hole: one
	// file system block of the host.
	zeroRun = 4096
)

// Interface guards.
var (
	_ backend.Storage            = (*sparseFile)(nil)
	_ backend.WritableFile       = (*sparseFile)(nil)
	_ io.WriterAt                = (*sparseFile)(nil)
	_ interface{ Flush() error } = (*sparseFile)(nil)
)

// createSparse creates (or truncates) the file at path and sizes it to size
// bytes without allocating any blocks.
func createSparse(path string, size int64) (*sparseFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create image %s: %w", path, err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("size image %s to %d bytes (is there room on its file system?): %w", path, size, err)
	}
	return &sparseFile{f: f, path: path}, nil
}

// WriteAt implements io.WriterAt.
func (s *sparseFile) WriteAt(p []byte, off int64) (int, error) {
	if len(p) >= zeroRun && !s.noPunch && isZero(p) {
		if err := s.Flush(); err != nil {
			return 0, err
		}
		err := punchHole(s.f, off, int64(len(p)))
		if err == nil {
			return len(p), nil
		}
		s.noPunch = true // fall through: write the zeros as data
	}
	if len(s.pending) > 0 && off == s.pendingOff+int64(len(s.pending)) && len(s.pending)+len(p) <= combineLimit {
		s.pending = append(s.pending, p...)
		return len(p), nil
	}
	if err := s.Flush(); err != nil {
		return 0, err
	}
	if len(p) >= combineLimit {
		return s.f.WriteAt(p, off)
	}
	if s.pending == nil {
		s.pending = make([]byte, 0, combineLimit)
	}
	s.pending = append(s.pending, p...)
	s.pendingOff = off
	return len(p), nil
}

// Flush writes any combined bytes still held in memory.
func (s *sparseFile) Flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	_, err := s.f.WriteAt(s.pending, s.pendingOff)
	s.pending = s.pending[:0]
	if err != nil {
		return fmt.Errorf("write image %s: %w", s.path, err)
	}
	return nil
}

// ReadAt implements io.ReaderAt; it sees every byte written so far.
func (s *sparseFile) ReadAt(p []byte, off int64) (int, error) {
	if err := s.Flush(); err != nil {
		return 0, err
	}
	return s.f.ReadAt(p, off)
}

// Read implements io.Reader.
func (s *sparseFile) Read(p []byte) (int, error) {
	if err := s.Flush(); err != nil {
		return 0, err
	}
	return s.f.Read(p)
}

// Seek implements io.Seeker.
func (s *sparseFile) Seek(offset int64, whence int) (int64, error) {
	if err := s.Flush(); err != nil {
		return 0, err
	}
	return s.f.Seek(offset, whence)
}

// Stat implements fs.File.
func (s *sparseFile) Stat() (fs.FileInfo, error) { return s.f.Stat() }

// Close flushes and closes the file.
func (s *sparseFile) Close() error {
	ferr := s.Flush()
	cerr := s.f.Close()
	if ferr != nil {
		return ferr
	}
	if cerr != nil {
		return fmt.Errorf("close image %s: %w", s.path, cerr)
	}
	return nil
}

// Sys reports backend.ErrNotSuitable on purpose: see the type's comment.
func (s *sparseFile) Sys() (*os.File, error) { return nil, backend.ErrNotSuitable }

// Writable implements backend.Storage.
func (s *sparseFile) Writable() (backend.WritableFile, error) { return s, nil }

// Path implements backend.Storage.
func (s *sparseFile) Path() string { return s.path }

// isZero reports whether b holds only zero bytes.
func isZero(b []byte) bool {
	// Comparing against a zero block lets the runtime's vectorised memequal
	// do the work; a byte loop is several times slower.
	var zero [zeroRun]byte
	for len(b) > 0 {
		n := min(len(b), len(zero))
		if !bytes.Equal(b[:n], zero[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
