package builder

import (
	"bytes"
	"encoding/binary"
	"path"
	"sort"
)

// ldsoCachePath is where glibc's dynamic loader reads its cache.
const ldsoCachePath = "/etc/ld.so.cache"

// ldsoCache encodes an ld.so.cache in glibc's format ("glibc-ld.so.cache"
// version 1.1, the only one glibc 2.32 and later write) for the libraries
// at the guest paths libs, keyed by their file names: what ldconfig would
// write for them. The loader finds libraries in directories that only
// /etc/ld.so.conf names through it. Entries are sorted as ldconfig sorts
// them (descending by _dl_cache_libcmp, which compares digit runs as
// numbers), because the loader looks names up by binary search.
func ldsoCache(libs []string) []byte {
	type ent struct{ key, value string }
	var ents []ent
	seen := map[string]bool{}
	for _, l := range libs {
		if k := path.Base(l); !seen[k] {
			seen[k] = true
			ents = append(ents, ent{k, l})
		}
	}
	sort.SliceStable(ents, func(i, j int) bool { return dlCacheLibcmp(ents[i].key, ents[j].key) > 0 })
	const (
		headerSize = 48
		entrySize  = 24
		// FLAG_ELF_LIBC6 | FLAG_X8664_LIB64: x86_64 glibc libraries.
		flagsX8664 = 0x0303
		// cache_file_new_flags_endian_little.
		endianLittle = 2
	)
	strOff := headerSize + entrySize*len(ents)
	var strs bytes.Buffer
	var entries bytes.Buffer
	for _, e := range ents {
		key := strOff + strs.Len()
		strs.WriteString(e.key)
		strs.WriteByte(0)
		value := strOff + strs.Len()
		strs.WriteString(e.value)
		strs.WriteByte(0)
		var b [entrySize]byte
		binary.LittleEndian.PutUint32(b[0:], flagsX8664)
		binary.LittleEndian.PutUint32(b[4:], uint32(key))
		binary.LittleEndian.PutUint32(b[8:], uint32(value))
		// osversion (unused) and hwcap stay zero.
		entries.Write(b[:])
	}
	var out bytes.Buffer
	out.WriteString("glibc-ld.so.cache1.1")
	var h [28]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(ents)))
	binary.LittleEndian.PutUint32(h[4:], uint32(strs.Len()))
	h[8] = endianLittle
	// padding, extension_offset (none) and unused stay zero.
	out.Write(h[:])
	out.Write(entries.Bytes())
	out.Write(strs.Bytes())
	return out.Bytes()
}

// dlCacheLibcmp is glibc's _dl_cache_libcmp: strings compared byte by
// byte, except that runs of digits compare as numbers and a digit sorts
// after any other byte.
func dlCacheLibcmp(p1, p2 string) int {
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	i, j := 0, 0
	for i < len(p1) {
		var c2 byte
		if j < len(p2) {
			c2 = p2[j]
		}
		c1 := p1[i]
		switch {
		case isDigit(c1):
			if !isDigit(c2) {
				return 1
			}
			v1, v2 := 0, 0
			for i < len(p1) && isDigit(p1[i]) {
				v1 = v1*10 + int(p1[i]-'0')
				i++
			}
			for j < len(p2) && isDigit(p2[j]) {
				v2 = v2*10 + int(p2[j]-'0')
				j++
			}
			if v1 != v2 {
				return v1 - v2
			}
		case isDigit(c2):
			return -1
		case c1 != c2:
			return int(c1) - int(c2)
		default:
			i++
			j++
		}
	}
	if j < len(p2) {
		return -int(p2[j])
	}
	return 0
}
