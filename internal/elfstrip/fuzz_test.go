package elfstrip

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"strings"
	"testing"
)

// tinyELF builds a small x86-64 executable as the Go linker lays one out:
// one PT_LOAD segment (header and .text), then the non-allocated sections
// .debug_info, .symtab (a symbol in .text), .strtab and .shstrtab, then
// the section header table. debug is the body of .debug_info.
func tinyELF(debug []byte) []byte {
	le := binary.LittleEndian
	text := []byte{0x48, 0x31, 0xff, 0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05} // exit(0)
	shstr := []byte("\x00.text\x00.debug_info\x00.symtab\x00.strtab\x00.shstrtab\x00")
	strtab := []byte("\x00main.main\x00")
	sym := make([]byte, 48) // the null symbol, then main.main in section 1
	le.PutUint32(sym[24:], 1)
	sym[24+4] = byte(elf.STB_GLOBAL)<<4 | byte(elf.STT_FUNC)
	le.PutUint16(sym[24+6:], 1)
	le.PutUint64(sym[24+8:], 0x400078)

	const textOff = 64 + 56
	var b bytes.Buffer
	b.Write(make([]byte, textOff))
	b.Write(text)
	loadEnd := b.Len()
	debugOff := b.Len()
	b.Write(debug)
	for b.Len()%8 != 0 {
		b.WriteByte(0)
	}
	symOff := b.Len()
	b.Write(sym)
	strOff := b.Len()
	b.Write(strtab)
	shstrOff := b.Len()
	b.Write(shstr)
	for b.Len()%8 != 0 {
		b.WriteByte(0)
	}
	shOff := b.Len()
	secs := []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC | elf.SHF_EXECINSTR), Addr: 0x400000 + textOff, Off: textOff, Size: uint64(len(text)), Addralign: 1},
		{Name: 7, Type: uint32(elf.SHT_PROGBITS), Off: uint64(debugOff), Size: uint64(len(debug)), Addralign: 1},
		{Name: 19, Type: uint32(elf.SHT_SYMTAB), Off: uint64(symOff), Size: uint64(len(sym)), Link: 4, Info: 1, Addralign: 8, Entsize: 24},
		{Name: 27, Type: uint32(elf.SHT_STRTAB), Off: uint64(strOff), Size: uint64(len(strtab)), Addralign: 1},
		{Name: 35, Type: uint32(elf.SHT_STRTAB), Off: uint64(shstrOff), Size: uint64(len(shstr)), Addralign: 1},
	}
	for i := range secs {
		binary.Write(&b, le, &secs[i])
	}
	out := b.Bytes()
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Entry: 0x400000 + textOff, Phoff: 64, Shoff: uint64(shOff), Ehsize: 64,
		Phentsize: 56, Phnum: 1, Shentsize: 64, Shnum: uint16(len(secs)), Shstrndx: 5,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var h bytes.Buffer
	binary.Write(&h, le, &hdr)
	binary.Write(&h, le, &elf.Prog64{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Vaddr: 0x400000, Paddr: 0x400000,
		Filesz: uint64(loadEnd), Memsz: uint64(loadEnd), Align: 0x1000,
	})
	copy(out, h.Bytes())
	return out
}

// sectionsOf returns the section names of an ELF file and, by symbol
// name, the name of each symbol's section.
func sectionsOf(b []byte) (names []string, symSec map[string]string, err error) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	for _, s := range f.Sections {
		names = append(names, s.Name)
	}
	syms, _ := f.Symbols()
	symSec = map[string]string{}
	for _, s := range syms {
		if int(s.Section) < len(f.Sections) {
			symSec[s.Name] = f.Sections[s.Section].Name
		}
	}
	return names, symSec, nil
}

func TestTinyELF(t *testing.T) {
	in := tinyELF([]byte("DWARF"))
	out, ok, err := StripDebug(in)
	if err != nil || !ok {
		t.Fatalf("StripDebug of the tiny executable: ok %v, %v", ok, err)
	}
	names, syms, err := sectionsOf(out)
	if err != nil || strings.Join(names, " ") != " .text .symtab .strtab .shstrtab" || syms["main.main"] != ".text" {
		t.Fatalf("stripped: sections %q, symbols %v, %v", names, syms, err)
	}
}

// FuzzStripELF mutates a small executable with debug sections. StripDebug
// must fail with an error or keep the input, or return an ELF file without
// debug sections that has the input's other sections, in order, the
// loadable bytes unchanged (but for the ELF header), every symbol in the section it was in, and
// nothing left to strip.
func FuzzStripELF(f *testing.F) {
	f.Add(tinyELF([]byte("DWARF")))
	f.Add(tinyELF(bytes.Repeat([]byte{0xde, 0xad}, 300)))
	f.Add(tinyELF(nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := append([]byte(nil), in...)
		out, ok, err := StripDebug(in)
		if !bytes.Equal(in, orig) {
			t.Fatal("StripDebug modified its input")
		}
		if err != nil || !ok {
			if err == nil && !bytes.Equal(out, in) {
				t.Fatal("ok is false but the output differs from the input")
			}
			return
		}
		inNames, inSyms, err := sectionsOf(in)
		if err != nil {
			return // debug/elf is stricter than StripDebug needs to be
		}
		outNames, outSyms, err := sectionsOf(out)
		if err != nil {
			t.Fatalf("stripped output is not ELF: %v", err)
		}
		var want []string
		for _, n := range inNames {
			if !strings.HasPrefix(n, ".debug_") && !strings.HasPrefix(n, ".zdebug_") {
				want = append(want, n)
			}
		}
		if strings.Join(outNames, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("sections %q, want %q", outNames, want)
		}
		if len(out) > len(in) {
			t.Fatalf("output %d bytes, input %d", len(out), len(in))
		}
		for name, sec := range inSyms {
			if strings.HasPrefix(sec, ".debug_") || strings.HasPrefix(sec, ".zdebug_") {
				continue
			}
			if got, ok := outSyms[name]; ok && got != sec {
				t.Fatalf("symbol %q moved from %s to %s", name, sec, got)
			}
		}
		fin, _ := elf.NewFile(bytes.NewReader(in))
		for _, p := range fin.Progs {
			start := max(p.Off, ehdrSize) // the ELF header's section fields change
			if end := p.Off + p.Filesz; start < end && end <= uint64(len(out)) && !bytes.Equal(out[start:end], in[start:end]) {
				t.Fatalf("segment at %#x changed", p.Off)
			}
		}
		if again, ok, err := StripDebug(out); ok || err != nil || !bytes.Equal(again, out) {
			t.Fatalf("stripping the output again: ok %v, %v", ok, err)
		}
	})
}

// TestHugeAlignment is the input FuzzStripELF found in CI: a kept section
// whose alignment is not a small power of two made Strip allocate its
// padding (makeslice: len out of range). Such a file is left alone now.
func TestHugeAlignment(t *testing.T) {
	for _, align := range []uint64{1 << 63, 3, 1 << 20} {
		in := tinyELF([]byte("DWARF"))
		f, err := elf.NewFile(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		shoff := binary.LittleEndian.Uint64(in[0x28:])
		for i, s := range f.Sections {
			if s.Name == ".symtab" {
				binary.LittleEndian.PutUint64(in[shoff+uint64(i)*64+48:], align)
			}
		}
		f.Close()
		out, ok, err := StripDebug(in)
		if err != nil || ok || !bytes.Equal(out, in) {
			t.Errorf("alignment %d: ok %v, err %v, output changed %v; want the input kept as it is", align, ok, err, !bytes.Equal(out, in))
		}
	}
}
