package memo

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Key names one step's output: a SHA-256 of the step and its inputs.
type Key [sha256.Size]byte

// NewKey returns the key of a step: its name (which should name the
// encoder and its version, e.g. "vmdk-grain/deflate-3"), its parameters
// (level, flags) and its input, given in parts that are hashed as if
// concatenated after their lengths.
func NewKey(step string, params uint64, input ...[]byte) Key {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(len(step)))
	h.Write(b[:])
	h.Write([]byte(step))
	binary.LittleEndian.PutUint64(b[:], params)
	h.Write(b[:])
	for _, p := range input {
		binary.LittleEndian.PutUint64(b[:], uint64(len(p)))
		h.Write(b[:])
		h.Write(p)
	}
	var k Key
	h.Sum(k[:0])
	return k
}

// magic starts every entry; the format is magic, CRC-32C of the value,
// the value's length (both little-endian uint32) and the value.
const magic = "bootapp-memo-1\n\x00"

const headerSize = len(magic) + 8

// maxValue bounds what Get reads of an entry: a larger file is not one.
const maxValue = 256 << 20

// tmpPrefix starts the names of entries being written.
const tmpPrefix = ".tmp-"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Store is a directory of entries. Its methods are safe for concurrent
// use, also by several processes sharing the directory.
type Store struct {
	dir     string
	written atomic.Int64 // bytes Put wrote since Open
}

// Open returns the Store in dir, creating dir when it is missing.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &Store{dir: dir}, nil
}

// Dir returns the Store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(k Key) string {
	x := hex.EncodeToString(k[:])
	return filepath.Join(s.dir, x[:2], x[2:])
}

// Get appends the value stored under k to dst and reports whether there
// was one, whole and with a matching checksum.
func (s *Store) Get(k Key, dst []byte) ([]byte, bool) {
	if s == nil {
		return dst, false
	}
	p := s.path(k)
	f, err := os.Open(p)
	if err != nil {
		return dst, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < int64(headerSize) || fi.Size() > int64(headerSize+maxValue) {
		return dst, false
	}
	var hdr [headerSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:len(magic)]) != magic {
		return dst, false
	}
	sum := binary.LittleEndian.Uint32(hdr[len(magic):])
	n := int(binary.LittleEndian.Uint32(hdr[len(magic)+4:]))
	if int64(n) != fi.Size()-int64(headerSize) {
		return dst, false
	}
	// The value is read straight into dst's spare capacity.
	out := slices.Grow(dst, n)
	v := out[len(dst) : len(dst)+n]
	if _, err := io.ReadFull(f, v); err != nil || crc32.Checksum(v, castagnoli) != sum {
		return dst, false
	}
	// The modification time is the last use, which Prune keeps the
	// newest of; an hour's precision is enough for that.
	if time.Since(fi.ModTime()) > time.Hour {
		now := time.Now()
		os.Chtimes(p, now, now)
	}
	return out[:len(dst)+n], true
}

// Put stores v (at most 256 MiB) under k, replacing what was there. It is
// best effort: an error leaves the Store as it was.
func (s *Store) Put(k Key, v []byte) {
	if s == nil || len(v) > maxValue {
		return
	}
	p := s.path(k)
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return
	}
	hdr := make([]byte, headerSize, headerSize+len(v))
	copy(hdr, magic)
	binary.LittleEndian.PutUint32(hdr[len(magic):], crc32.Checksum(v, castagnoli))
	binary.LittleEndian.PutUint32(hdr[len(magic)+4:], uint32(len(v)))
	_, werr := f.Write(append(hdr, v...))
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), p) != nil {
		os.Remove(f.Name())
		return
	}
	s.written.Add(int64(headerSize + len(v)))
}

// Written returns how many bytes Put has stored since Open: a caller can
// skip Prune when it is zero.
func (s *Store) Written() int64 {
	if s == nil {
		return 0
	}
	return s.written.Load()
}

// Prune removes the least recently used entries until the directory holds
// at most max bytes of entries, and temporary files older than an hour
// (left by a process that was killed). It returns how many entries it
// removed.
func (s *Store) Prune(max int64) (int, error) {
	if s == nil {
		return 0, nil
	}
	type entry struct {
		path string
		size int64
		mod  time.Time
	}
	var entries []entry
	var total int64
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == s.dir {
				return err
			}
			return nil // a directory that went away meanwhile
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if strings.HasPrefix(d.Name(), tmpPrefix) {
			if time.Since(fi.ModTime()) > time.Hour {
				os.Remove(p)
			}
			return nil
		}
		entries = append(entries, entry{p, fi.Size(), fi.ModTime()})
		total += fi.Size()
		return nil
	})
	if err != nil {
		return 0, err
	}
	if total <= max {
		return 0, nil
	}
	slices.SortFunc(entries, func(a, b entry) int { return a.mod.Compare(b.mod) })
	removed := 0
	for _, e := range entries {
		if total <= max {
			break
		}
		if os.Remove(e.path) == nil {
			total -= e.size
			removed++
		}
	}
	return removed, nil
}
