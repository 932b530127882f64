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
//
// Strip works on an io.ReaderAt and streams: it reads the headers, the
// section name table and the symbol table (in bounded chunks) to plan the
// output, and the returned Stripped copies the kept parts of the input as
// they are read, so stripping a file never holds it in memory. StripDebug
// is the same rewrite on a byte slice.
package elfstrip

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrMalformed is wrapped when the input claims to be ELF but its headers
// point outside the file.
var ErrMalformed = errors.New("malformed ELF file")

const (
	ehdrSize = 64
	shdrSize = 64
	symSize  = 24      // an Elf64_Sym
	chunk    = 1 << 20 // bytes of symbol table read at a time (a multiple of symSize below)
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

// Stripped is the plan of a stripped file: what to copy from the input, in
// which order, and the headers that change. Read it with NewReader or
// WriteTo; the input must stay readable, and unchanged, until then.
type Stripped struct {
	r      io.ReaderAt
	pieces []piece
	size   int64
}

// piece is one stretch of the output: literal bytes, a range of the input,
// or a range of the input holding a symbol table whose section indices are
// renumbered on the way.
type piece struct {
	lit    []byte
	off, n int64
	remap  []uint32 // non-nil for a symbol table: new index of each section
}

// Size returns the size of the stripped file in bytes.
func (s *Stripped) Size() int64 { return s.size }

// NewReader returns a reader of the stripped file's bytes. Each call starts
// from the beginning.
func (s *Stripped) NewReader() io.Reader {
	rs := make([]io.Reader, 0, len(s.pieces))
	for _, p := range s.pieces {
		switch {
		case p.lit != nil:
			rs = append(rs, bytes.NewReader(p.lit))
		case p.remap != nil:
			rs = append(rs, &symReader{r: io.NewSectionReader(s.r, p.off, p.n), remap: p.remap})
		default:
			rs = append(rs, io.NewSectionReader(s.r, p.off, p.n))
		}
	}
	return io.MultiReader(rs...)
}

// WriteTo writes the stripped file to w.
func (s *Stripped) WriteTo(w io.Writer) (int64, error) {
	return io.CopyBuffer(w, s.NewReader(), make([]byte, 256<<10))
}

// StripDebug returns data without its DWARF sections. ok is false, and data
// is returned unchanged, when there is nothing to strip or the file is not a
// 64-bit little-endian ELF file this package can rewrite safely.
func StripDebug(data []byte) (out []byte, ok bool, err error) {
	s, ok, err := Strip(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return data, false, nil
	}
	var b bytes.Buffer
	b.Grow(int(s.Size()))
	if _, err := s.WriteTo(&b); err != nil {
		return nil, false, err
	}
	return b.Bytes(), true, nil
}

// maxAlign is the largest section alignment Strip pads for.
const maxAlign = 4096

// Strip plans the removal of the DWARF sections of the size-byte ELF file
// r. ok is false, with a nil Stripped, when there is nothing to strip or the
// file is not a 64-bit little-endian ELF file this package can rewrite
// safely: copy the input unchanged then. Errors wrap ErrMalformed, or are
// read errors.
func Strip(r io.ReaderAt, size int64) (s *Stripped, ok bool, err error) {
	if size < ehdrSize {
		return nil, false, nil
	}
	ehdr := make([]byte, ehdrSize)
	if err := readAt(r, ehdr, 0); err != nil {
		return nil, false, fmt.Errorf("read ELF header: %w", err)
	}
	if !bytes.HasPrefix(ehdr, []byte(elf.ELFMAG)) {
		return nil, false, nil
	}
	if elf.Class(ehdr[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(ehdr[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return nil, false, nil
	}
	le := binary.LittleEndian
	phoff := le.Uint64(ehdr[0x20:])
	shoff := le.Uint64(ehdr[0x28:])
	phentsize := uint64(le.Uint16(ehdr[0x36:]))
	phnum := uint64(le.Uint16(ehdr[0x38:]))
	shentsize := uint64(le.Uint16(ehdr[0x3a:]))
	shnum := uint64(le.Uint16(ehdr[0x3c:]))
	shstrndx := uint64(le.Uint16(ehdr[0x3e:]))
	usize := uint64(size)
	if shoff == 0 || shnum == 0 {
		return nil, false, nil
	}
	if shentsize != shdrSize || shoff > usize || shnum*shdrSize > usize-shoff || shstrndx >= shnum {
		return nil, false, fmt.Errorf("%w: section header table out of range", ErrMalformed)
	}
	if phnum > 0 && (phentsize < 56 || phoff > usize || phnum*phentsize > usize-phoff) {
		return nil, false, fmt.Errorf("%w: program header table out of range", ErrMalformed)
	}

	shtab := make([]byte, shnum*shdrSize)
	if err := readAt(r, shtab, int64(shoff)); err != nil {
		return nil, false, fmt.Errorf("read section headers: %w", err)
	}
	secs := make([]shdr, shnum)
	for i := range secs {
		if _, err := binary.Decode(shtab[uint64(i)*shdrSize:], le, &secs[i]); err != nil {
			return nil, false, fmt.Errorf("%w: section %d: %v", ErrMalformed, i, err)
		}
		s := secs[i]
		if s.Type != uint32(elf.SHT_NOBITS) && (s.Offset > usize || s.Size > usize-s.Offset) {
			return nil, false, fmt.Errorf("%w: section %d lies outside the file", ErrMalformed, i)
		}
	}
	strtab := secs[shstrndx]
	names := make([]byte, strtab.Size)
	if strtab.Type == uint32(elf.SHT_NOBITS) {
		names = nil
	} else if err := readAt(r, names, int64(strtab.Offset)); err != nil {
		return nil, false, fmt.Errorf("read section names: %w", err)
	}
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
		phtab := make([]byte, phnum*phentsize)
		if err := readAt(r, phtab, int64(phoff)); err != nil {
			return nil, false, fmt.Errorf("read program headers: %w", err)
		}
		for i := uint64(0); i < phnum; i++ {
			p := phtab[i*phentsize:]
			off, filesz := le.Uint64(p[8:]), le.Uint64(p[32:])
			if off > usize || filesz > usize-off {
				return nil, false, fmt.Errorf("%w: segment %d lies outside the file", ErrMalformed, i)
			}
			base = max(base, off+filesz)
		}
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
		return nil, false, nil
	}
	// Every non-allocated section must lie behind the loadable image, or
	// moving it could corrupt the program, and its alignment must be a
	// power of two no larger than a page (linkers write 1 to 64), or the
	// padding before it could be anything: leave such files alone.
	for i, s := range secs {
		if i == 0 || s.Flags&uint64(elf.SHF_ALLOC) != 0 || s.Type == uint32(elf.SHT_NOBITS) {
			continue
		}
		if s.Addralign > maxAlign || s.Addralign&(s.Addralign-1) != 0 {
			return nil, false, nil
		}
		if s.Size != 0 && s.Offset < base {
			return nil, false, nil
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
	// The symbol tables' new section indices, checked before any output:
	// a symbol defined in a dropped section makes the rewrite unsafe.
	symRemap := make([]uint32, shnum)
	for i := range symRemap {
		symRemap[i] = noSection
		if !drop[i] {
			symRemap[i] = newIdx[i]
		}
	}

	st := &Stripped{r: r}
	out := uint64(base) // the output size so far
	add := func(p piece) {
		st.pieces = append(st.pieces, p)
		if p.lit != nil {
			out += uint64(len(p.lit))
		} else {
			out += uint64(p.n)
		}
	}
	// The ELF header, patched below, then the rest of the loadable image.
	st.pieces = append(st.pieces, piece{lit: ehdr}, piece{off: ehdrSize, n: int64(base - ehdrSize)})
	newSecs := make([]shdr, 0, kept)
	for i, s := range secs {
		if drop[i] {
			continue
		}
		ns := s
		if i != 0 && s.Flags&uint64(elf.SHF_ALLOC) == 0 && s.Type != uint32(elf.SHT_NOBITS) {
			if a := s.Addralign; a > 1 && out%a != 0 {
				add(piece{lit: make([]byte, a-out%a)})
			}
			ns.Offset = out
			p := piece{off: int64(s.Offset), n: int64(s.Size)}
			if s.Type == uint32(elf.SHT_SYMTAB) {
				ok, err := checkSymbols(r, s, symRemap)
				if err != nil {
					return nil, false, err
				}
				if !ok {
					return nil, false, nil
				}
				p.remap = symRemap
			}
			add(p)
		}
		if s.Link != 0 {
			l, ok := remap(s.Link)
			if !ok {
				return nil, false, nil // a kept section refers to a dropped one
			}
			ns.Link = l
		}
		if s.Info != 0 && (s.Flags&uint64(elf.SHF_INFO_LINK) != 0 || s.Type == uint32(elf.SHT_REL) || s.Type == uint32(elf.SHT_RELA)) {
			l, ok := remap(s.Info)
			if !ok {
				return nil, false, nil
			}
			ns.Info = l
		}
		newSecs = append(newSecs, ns)
	}
	if out%8 != 0 {
		add(piece{lit: make([]byte, 8-out%8)})
	}
	newShoff := out
	var tab []byte
	for _, s := range newSecs {
		tab, _ = binary.Append(tab, le, s)
	}
	add(piece{lit: tab})
	le.PutUint64(ehdr[0x28:], newShoff)
	le.PutUint16(ehdr[0x3c:], uint16(kept))
	ni, _ := remap(uint32(shstrndx))
	le.PutUint16(ehdr[0x3e:], uint16(ni))
	st.size = int64(out)
	return st, true, nil
}

// noSection marks a dropped section in a symbol-index map.
const noSection = ^uint32(0)

// checkSymbols reports whether every symbol of the symbol table s can be
// renumbered with remap: its entries have the expected size, and none is
// defined in a dropped section. It reads the table in bounded chunks.
func checkSymbols(r io.ReaderAt, s shdr, remap []uint32) (bool, error) {
	if s.Entsize != symSize || s.Size%symSize != 0 {
		return false, nil
	}
	sr := io.NewSectionReader(r, int64(s.Offset), int64(s.Size))
	buf := make([]byte, chunk/symSize*symSize)
	for {
		n, err := io.ReadFull(sr, buf)
		for off := 0; off+symSize <= n; off += symSize {
			shndx := binary.LittleEndian.Uint16(buf[off+6:])
			if shndx == uint16(elf.SHN_UNDEF) || shndx >= uint16(elf.SHN_LORESERVE) {
				continue
			}
			if int(shndx) >= len(remap) || remap[shndx] == noSection {
				return false, nil
			}
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return true, nil
		default:
			return false, fmt.Errorf("read symbol table: %w", err)
		}
	}
}

// symReader reads a symbol table, whose size is a multiple of symSize, and
// renumbers the section index of every symbol defined in a section
// (checkSymbols has checked them all).
type symReader struct {
	r     io.Reader
	remap []uint32
	buf   []byte
	pend  []byte // rewritten bytes not yet returned
	err   error  // the error after pend
}

func (s *symReader) Read(p []byte) (int, error) {
	if len(s.pend) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.buf == nil {
			s.buf = make([]byte, 64<<10/symSize*symSize)
		}
		n, err := io.ReadFull(s.r, s.buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		s.err = err
		for off := 0; off+symSize <= n; off += symSize {
			shndx := binary.LittleEndian.Uint16(s.buf[off+6:])
			if shndx == uint16(elf.SHN_UNDEF) || shndx >= uint16(elf.SHN_LORESERVE) || int(shndx) >= len(s.remap) {
				continue
			}
			binary.LittleEndian.PutUint16(s.buf[off+6:], uint16(s.remap[shndx]))
		}
		s.pend = s.buf[:n]
		if n == 0 {
			return 0, s.err
		}
	}
	n := copy(p, s.pend)
	s.pend = s.pend[n:]
	return n, nil
}

// readAt fills b from r at off.
func readAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
