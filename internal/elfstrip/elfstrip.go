// Package elfstrip removes DWARF debug sections from 64-bit little-endian ELF
// executables, like `objcopy --strip-debug`.
//
// It is hand-written because no maintained Go library rewrites ELF files
// (debug/elf only reads), and shelling out to binutils would make the
// builder depend on a host toolchain. The rewrite is deliberately narrow:
// only non-allocated sections named .debug_* or .zdebug_* are dropped; the
// loadable part of the file (everything any program header or allocated
// section covers) is copied byte for byte, so the program that runs is
// unchanged. The remaining non-allocated sections (.symtab, .strtab,
// .shstrtab ...) are moved down behind it and the section header table is
// rewritten with indices renumbered. Anything unexpected (sections
// interleaved with loadable data, 32-bit or big-endian files) leaves the
// input as it is.
package elfstrip

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed is wrapped when the input claims to be ELF but its headers
// point outside the file.
var ErrMalformed = errors.New("malformed ELF file")

const (
	ehdrSize = 64
	shdrSize = 64
)

type shdr struct {
	Name      uint32
	Type      uint32
	Flags     uint64
	Addr      uint64
	Offset    uint64
	Size      uint64
	Link      uint32
	Info      uint32
	Addralign uint64
	Entsize   uint64
}

// StripDebug returns data without its DWARF sections. ok is false, and data
// is returned unchanged, when there is nothing to strip or the file is not a
// 64-bit little-endian ELF file this package can rewrite safely.
func StripDebug(data []byte) (out []byte, ok bool, err error) {
	if len(data) < ehdrSize || !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		return data, false, nil
	}
	if elf.Class(data[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(data[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return data, false, nil
	}
	le := binary.LittleEndian
	phoff := le.Uint64(data[0x20:])
	shoff := le.Uint64(data[0x28:])
	phentsize := uint64(le.Uint16(data[0x36:]))
	phnum := uint64(le.Uint16(data[0x38:]))
	shentsize := uint64(le.Uint16(data[0x3a:]))
	shnum := uint64(le.Uint16(data[0x3c:]))
	shstrndx := uint64(le.Uint16(data[0x3e:]))
	size := uint64(len(data))
	if shoff == 0 || shnum == 0 {
		return data, false, nil
	}
	if shentsize != shdrSize || shoff > size || shnum*shdrSize > size-shoff || shstrndx >= shnum {
		return nil, false, fmt.Errorf("%w: section header table out of range", ErrMalformed)
	}
	if phnum > 0 && (phentsize < 56 || phoff > size || phnum*phentsize > size-phoff) {
		return nil, false, fmt.Errorf("%w: program header table out of range", ErrMalformed)
	}

	secs := make([]shdr, shnum)
	for i := range secs {
		if _, err := binary.Decode(data[shoff+uint64(i)*shdrSize:], le, &secs[i]); err != nil {
			return nil, false, fmt.Errorf("%w: section %d: %v", ErrMalformed, i, err)
		}
		s := secs[i]
		if s.Type != uint32(elf.SHT_NOBITS) && (s.Offset > size || s.Size > size-s.Offset) {
			return nil, false, fmt.Errorf("%w: section %d lies outside the file", ErrMalformed, i)
		}
	}
	strtab := secs[shstrndx]
	names := data[strtab.Offset : strtab.Offset+strtab.Size]
	name := func(off uint32) string {
		if uint64(off) >= uint64(len(names)) {
			return ""
		}
		n := names[off:]
		if i := bytes.IndexByte(n, 0); i >= 0 {
			n = n[:i]
		}
		return string(n)
	}

	// The loadable image ends where the last program header or allocated
	// section ends; it is copied unchanged.
	var base uint64 = ehdrSize
	if phnum > 0 {
		base = max(base, phoff+phnum*phentsize)
	}
	for i := uint64(0); i < phnum; i++ {
		p := data[phoff+i*phentsize:]
		off, filesz := le.Uint64(p[8:]), le.Uint64(p[32:])
		if off > size || filesz > size-off {
			return nil, false, fmt.Errorf("%w: segment %d lies outside the file", ErrMalformed, i)
		}
		base = max(base, off+filesz)
	}
	drop := make([]bool, shnum)
	dropped := 0
	for i, s := range secs {
		if i == 0 {
			continue
		}
		if s.Flags&uint64(elf.SHF_ALLOC) != 0 {
			if s.Type != uint32(elf.SHT_NOBITS) {
				base = max(base, s.Offset+s.Size)
			}
			continue
		}
		n := name(s.Name)
		if strings.HasPrefix(n, ".debug_") || strings.HasPrefix(n, ".zdebug_") {
			drop[i] = true
			dropped++
		}
	}
	if dropped == 0 {
		return data, false, nil
	}
	// Every non-allocated section must lie behind the loadable image, or
	// moving it could corrupt the program: leave such files alone.
	for i, s := range secs {
		if i == 0 || s.Flags&uint64(elf.SHF_ALLOC) != 0 || s.Type == uint32(elf.SHT_NOBITS) || s.Size == 0 {
			continue
		}
		if s.Offset < base {
			return data, false, nil
		}
	}

	// New indices for the kept sections.
	newIdx := make([]uint32, shnum)
	var kept uint32
	for i := range secs {
		if drop[i] {
			continue
		}
		newIdx[i] = kept
		kept++
	}
	remap := func(i uint32) (uint32, bool) {
		if uint64(i) >= shnum || drop[i] {
			return 0, false
		}
		return newIdx[i], true
	}

	out = make([]byte, base, size)
	copy(out, data[:base])
	newSecs := make([]shdr, 0, kept)
	for i, s := range secs {
		if drop[i] {
			continue
		}
		ns := s
		if i != 0 && s.Flags&uint64(elf.SHF_ALLOC) == 0 && s.Type != uint32(elf.SHT_NOBITS) {
			if a := s.Addralign; a > 1 {
				for uint64(len(out))%a != 0 {
					out = append(out, 0)
				}
			}
			ns.Offset = uint64(len(out))
			body := data[s.Offset : s.Offset+s.Size]
			if s.Type == uint32(elf.SHT_SYMTAB) {
				var err error
				if body, err = remapSymbols(body, s.Entsize, remap); err != nil {
					return data, false, nil
				}
			}
			out = append(out, body...)
		}
		if s.Link != 0 {
			l, ok := remap(s.Link)
			if !ok {
				return data, false, nil // a kept section refers to a dropped one
			}
			ns.Link = l
		}
		if s.Info != 0 && (s.Flags&uint64(elf.SHF_INFO_LINK) != 0 || s.Type == uint32(elf.SHT_REL) || s.Type == uint32(elf.SHT_RELA)) {
			l, ok := remap(s.Info)
			if !ok {
				return data, false, nil
			}
			ns.Info = l
		}
		newSecs = append(newSecs, ns)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	newShoff := uint64(len(out))
	for _, s := range newSecs {
		out, _ = binary.Append(out, le, s)
	}
	le.PutUint64(out[0x28:], newShoff)
	le.PutUint16(out[0x3c:], uint16(kept))
	ni, _ := remap(uint32(shstrndx))
	le.PutUint16(out[0x3e:], uint16(ni))
	return out, true, nil
}

// remapSymbols rewrites the section index of every symbol. A symbol defined
// in a dropped section makes the rewrite unsafe.
func remapSymbols(body []byte, entsize uint64, remap func(uint32) (uint32, bool)) ([]byte, error) {
	const symSize = 24
	if entsize != symSize || uint64(len(body))%symSize != 0 {
		return nil, errors.New("unexpected symbol size")
	}
	out := append([]byte(nil), body...)
	for off := 0; off < len(out); off += symSize {
		shndx := binary.LittleEndian.Uint16(out[off+6:])
		if shndx == uint16(elf.SHN_UNDEF) || shndx >= uint16(elf.SHN_LORESERVE) {
			continue
		}
		n, ok := remap(uint32(shndx))
		if !ok {
			return nil, errors.New("symbol in a dropped section")
		}
		binary.LittleEndian.PutUint16(out[off+6:], uint16(n))
	}
	return out, nil
}
