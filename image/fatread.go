package image

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
	"unicode/utf16"
)

// fatFS reads files from a FAT32 file system, for ReadBootFiles. It is
// hand-written rather than go-diskfs's reader, whose v1.9.4 File.Read
// returns bytes past the end of a file when a read starts inside a
// cluster and ignores read errors, and whose ReadDir and Open disagree
// on path syntax. It only reads: it looks paths up (case-insensitively,
// by long or short name, as firmware does) and reads whole files.
type fatFS struct {
	r            io.ReaderAt // the file system, from its boot sector
	clusterBytes int64
	dataStart    int64  // byte offset of cluster 2
	clusters     uint32 // number of data clusters
	rootCluster  uint32
	fat          []byte // the first FAT
}

// maxFATBytes bounds the FAT read into memory: 16 MiB covers 4 million
// clusters, far more than any ESP.
const maxFATBytes = 16 << 20

// openFAT32 reads the boot sector and the first FAT of the FAT32 file
// system at the start of r.
func openFAT32(r io.ReaderAt) (*fatFS, error) {
	bs := make([]byte, 512)
	if _, err := r.ReadAt(bs, 0); err != nil {
		return nil, fmt.Errorf("read FAT boot sector: %w", err)
	}
	var (
		bps      = int64(binary.LittleEndian.Uint16(bs[11:13]))
		spc      = int64(bs[13])
		reserved = int64(binary.LittleEndian.Uint16(bs[14:16]))
		numFATs  = int64(bs[16])
		rootEnts = binary.LittleEndian.Uint16(bs[17:19])
		total    = int64(binary.LittleEndian.Uint32(bs[32:36]))
		spf      = int64(binary.LittleEndian.Uint32(bs[36:40]))
		root     = binary.LittleEndian.Uint32(bs[44:48])
	)
	switch {
	case bs[510] != 0x55 || bs[511] != 0xaa:
		return nil, errors.New("no FAT boot sector signature")
	case bps != 512 && bps != 1024 && bps != 2048 && bps != 4096,
		spc == 0 || spc&(spc-1) != 0, numFATs == 0, reserved == 0:
		return nil, errors.New("the FAT boot sector's layout is invalid")
	case rootEnts != 0 || spf == 0 || total == 0:
		return nil, errors.New("not FAT32 (FAT12 or FAT16?)")
	case spf*bps > maxFATBytes:
		return nil, fmt.Errorf("FAT of %d bytes is larger than an ESP needs", spf*bps)
	}
	f := &fatFS{
		r:            r,
		clusterBytes: bps * spc,
		dataStart:    (reserved + numFATs*spf) * bps,
		rootCluster:  root,
	}
	n := (total - reserved - numFATs*spf) / spc
	if n <= 0 || n > spf*bps/4-2 {
		return nil, fmt.Errorf("FAT32 with %d sectors per FAT cannot hold %d clusters", spf, n)
	}
	f.clusters = uint32(n)
	f.fat = make([]byte, spf*bps)
	if _, err := r.ReadAt(f.fat, reserved*bps); err != nil {
		return nil, fmt.Errorf("read FAT: %w", err)
	}
	if !f.valid(root) {
		return nil, fmt.Errorf("root directory at invalid cluster %d", root)
	}
	return f, nil
}

func (f *fatFS) valid(c uint32) bool { return c >= 2 && c < f.clusters+2 }

// firstFree returns the first cluster the FAT marks free, or 0 when none is.
func (f *fatFS) firstFree() uint32 {
	for c := uint32(2); c < f.clusters+2; c++ {
		if binary.LittleEndian.Uint32(f.fat[4*c:])&0x0fffffff == 0 {
			return c
		}
	}
	return 0
}

// chain returns the clusters of the chain starting at first.
func (f *fatFS) chain(first uint32) ([]uint32, error) {
	var out []uint32
	for c := first; ; {
		if !f.valid(c) {
			return nil, fmt.Errorf("cluster chain from %d reaches invalid cluster %d", first, c)
		}
		if len(out) >= int(f.clusters) {
			return nil, fmt.Errorf("cluster chain from %d loops", first)
		}
		out = append(out, c)
		next := binary.LittleEndian.Uint32(f.fat[4*c:]) & 0x0fffffff
		if next >= 0x0ffffff8 {
			return out, nil
		}
		c = next
	}
}

// read returns the first size bytes of the chain from first (all of it
// when size < 0), reading runs of consecutive clusters at once.
func (f *fatFS) read(first uint32, size int64) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	cl, err := f.chain(first)
	if err != nil {
		return nil, err
	}
	have := int64(len(cl)) * f.clusterBytes
	if size < 0 {
		size = have
	}
	if have < size {
		return nil, fmt.Errorf("cluster chain from %d holds %d bytes, less than the file's %d", first, have, size)
	}
	b := make([]byte, size)
	for i, off := 0, int64(0); off < size; {
		j := i + 1
		for j < len(cl) && cl[j] == cl[j-1]+1 {
			j++
		}
		n := min(int64(j-i)*f.clusterBytes, size-off)
		if _, err := f.r.ReadAt(b[off:off+n], f.dataStart+int64(cl[i]-2)*f.clusterBytes); err != nil {
			return nil, fmt.Errorf("read clusters %d-%d: %w", cl[i], cl[j-1], err)
		}
		i, off = j, off+n
	}
	return b, nil
}

// fatEntry is one directory entry.
type fatEntry struct {
	name    string // the long name, else the short name as NAME.EXT
	short   string
	dir     bool
	cluster uint32
	size    int64
}

// list parses the directory whose chain starts at cluster, skipping
// deleted entries, the volume label, "." and "..".
func (f *fatFS) list(cluster uint32) ([]fatEntry, error) {
	b, err := f.read(cluster, -1)
	if err != nil {
		return nil, err
	}
	var out []fatEntry
	var lfn []uint16 // long-name pieces collected so far, in order
	var lfnSum byte
	for i := 0; i+32 <= len(b) && b[i] != 0; i += 32 {
		e := b[i : i+32]
		attr := e[11]
		switch {
		case e[0] == 0xe5:
			lfn = nil
			continue
		case attr&0x3f == 0x0f: // long-name slot: 13 UTF-16 units
			var u [13]uint16
			for k, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				u[k] = binary.LittleEndian.Uint16(e[o:])
			}
			if e[0]&0x40 != 0 { // the last piece comes first
				lfn, lfnSum = nil, e[13]
			}
			lfn = append(u[:], lfn...)
			continue
		case attr&0x08 != 0: // volume label
			lfn = nil
			continue
		}
		short := shortName(e[:11], e[12])
		name := short
		if lfn != nil && lfnSum == shortSum(e[:11]) {
			name = decodeLFN(lfn)
		}
		lfn = nil
		if short == "." || short == ".." {
			continue
		}
		out = append(out, fatEntry{
			name:    name,
			short:   short,
			dir:     attr&0x10 != 0,
			cluster: uint32(binary.LittleEndian.Uint16(e[20:22]))<<16 | uint32(binary.LittleEndian.Uint16(e[26:28])),
			size:    int64(binary.LittleEndian.Uint32(e[28:32])),
		})
	}
	return out, nil
}

// shortName formats an 8.3 name, lower-casing the parts the NT flags
// (byte 12: 0x08 name, 0x10 extension) mark as lower case.
func shortName(b []byte, nt byte) string {
	base := strings.TrimRight(string(b[:8]), " ")
	ext := strings.TrimRight(string(b[8:11]), " ")
	if base != "" && base[0] == 0x05 {
		base = "\xe5" + base[1:]
	}
	if nt&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if nt&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

// shortSum is the checksum of an 8.3 name that its long-name slots carry.
func shortSum(b []byte) byte {
	var s byte
	for _, c := range b {
		s = (s&1)<<7 + s>>1 + c
	}
	return s
}

// decodeLFN decodes long-name UTF-16 units up to the NUL terminator.
func decodeLFN(u []uint16) string {
	for i, c := range u {
		if c == 0 {
			u = u[:i]
			break
		}
	}
	return string(utf16.Decode(u))
}

// lookup returns the entry at the absolute path p.
func (f *fatFS) lookup(p string) (fatEntry, error) {
	e := fatEntry{name: "/", dir: true, cluster: f.rootCluster}
	for _, part := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if part == "" {
			continue
		}
		if !e.dir {
			return fatEntry{}, fmt.Errorf("%s: %s is not a directory", p, e.name)
		}
		list, err := f.list(e.cluster)
		if err != nil {
			return fatEntry{}, fmt.Errorf("%s: %w", p, err)
		}
		found := false
		for _, c := range list {
			if strings.EqualFold(c.name, part) || strings.EqualFold(c.short, part) {
				e, found = c, true
				break
			}
		}
		if !found {
			return fatEntry{}, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
		}
	}
	return e, nil
}

// ReadFile returns the contents of the file at the absolute path name.
func (f *fatFS) ReadFile(name string) ([]byte, error) {
	e, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if e.dir {
		return nil, fmt.Errorf("%s is a directory", name)
	}
	if e.size > 0 && !f.valid(e.cluster) {
		return nil, fmt.Errorf("%s starts at invalid cluster %d", name, e.cluster)
	}
	b, err := f.read(e.cluster, e.size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// ReadDir lists the directory at the absolute path name.
func (f *fatFS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if !e.dir {
		return nil, fmt.Errorf("%s is not a directory", name)
	}
	list, err := f.list(e.cluster)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := make([]fs.DirEntry, len(list))
	for i, c := range list {
		out[i] = fatDirEntry(c)
	}
	return out, nil
}

// fatDirEntry is a fatEntry as an fs.DirEntry and fs.FileInfo.
type fatDirEntry fatEntry

func (e fatDirEntry) Name() string               { return e.name }
func (e fatDirEntry) IsDir() bool                { return e.dir }
func (e fatDirEntry) Type() fs.FileMode          { return e.Mode().Type() }
func (e fatDirEntry) Info() (fs.FileInfo, error) { return e, nil }
func (e fatDirEntry) Size() int64                { return e.size }
func (e fatDirEntry) ModTime() time.Time         { return time.Time{} }
func (e fatDirEntry) Sys() any                   { return nil }
func (e fatDirEntry) Mode() fs.FileMode {
	if e.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
