package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Sentinel errors; test for them with errors.Is.
var (
	// ErrNotBzImage reports a file that is no Linux kernel image at all.
	ErrNotBzImage = errors.New("not an x86 bzImage")
	// ErrWrongArch reports a kernel or module for another architecture
	// than x86_64 (for example an arm64 Image or a 32-bit x86 kernel).
	ErrWrongArch = errors.New("wrong architecture")
)

// XLoadFlags are the bits of the boot header's xloadflags field (boot
// protocol 2.12 and later).
type XLoadFlags uint16

// The xloadflags bits, as named in Documentation/arch/x86/boot.rst.
const (
	// XLFKernel64 says the kernel has the legacy 64-bit entry point at
	// 0x200: it is an x86_64 kernel.
	XLFKernel64 XLoadFlags = 1 << 0
	// XLFCanBeLoadedAbove4G says the kernel, boot_params, command line
	// and initrd may live above 4 GiB.
	XLFCanBeLoadedAbove4G XLoadFlags = 1 << 1
	// XLFEFIHandover32 says the kernel has a 32-bit EFI handover entry.
	XLFEFIHandover32 XLoadFlags = 1 << 2
	// XLFEFIHandover64 says the kernel has a 64-bit EFI handover entry.
	XLFEFIHandover64 XLoadFlags = 1 << 3
	// XLFEFIKexec says the kernel supports kexec EFI boot with EFI
	// runtime services.
	XLFEFIKexec XLoadFlags = 1 << 4
)

var xlfNames = []string{"XLF_KERNEL_64", "XLF_CAN_BE_LOADED_ABOVE_4G", "XLF_EFI_HANDOVER_32", "XLF_EFI_HANDOVER_64", "XLF_EFI_KEXEC"}

// String lists the set flags, e.g. "XLF_KERNEL_64|XLF_EFI_HANDOVER_64".
func (f XLoadFlags) String() string {
	var parts []string
	for i, n := range xlfNames {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if rest := f &^ (1<<len(xlfNames) - 1); rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint16(rest)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// BzImage is the x86 Linux boot protocol header of a bzImage (vmlinuz),
// as described in Documentation/arch/x86/boot.rst. Offsets in comments
// are file offsets.
type BzImage struct {
	// Protocol is the boot protocol version (0x206), e.g. 0x020F for 2.15.
	Protocol uint16
	// SetupSects is the number of 512-byte setup sectors after the boot
	// sector (0x1F1; a stored 0 means 4).
	SetupSects int
	// LoadFlags is the loadflags byte (0x211).
	LoadFlags uint8
	// XLoadFlags is the xloadflags field (0x236).
	XLoadFlags XLoadFlags
	// Version is the kernel_version string the header points to (0x20E),
	// e.g. "6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP ...".
	Version string
	// KernelOffset is the file offset of the protected-mode kernel:
	// (SetupSects+1)*512.
	KernelOffset int64
	// PayloadOffset is the offset of the compressed kernel payload,
	// relative to KernelOffset (0x248).
	PayloadOffset uint32
	// PayloadLength is the length of the compressed payload (0x24C).
	PayloadLength uint32
	// PayloadCompression names the payload's compression, detected from
	// its magic: "gzip", "bzip2", "lzma", "xz", "lzo", "lz4", "zstd" or
	// "unknown".
	PayloadCompression string
	// InitSize is the amount of linear memory the kernel needs during
	// initialisation (0x260).
	InitSize uint32
	// PrefAddress is the preferred load address (0x258).
	PrefAddress uint64
	// KernelAlignment is the physical alignment the kernel needs (0x230).
	KernelAlignment uint32
	// Relocatable reports whether the kernel may be loaded anywhere
	// aligned to KernelAlignment (0x234).
	Relocatable bool
	// CmdlineSize is the maximum command line length without the NUL
	// terminator (0x238).
	CmdlineSize uint32
}

// ProtocolString formats Protocol as "major.minor", e.g. "2.15".
func (b *BzImage) ProtocolString() string {
	return fmt.Sprintf("%d.%02d", b.Protocol>>8, b.Protocol&0xff)
}

// Release returns the first word of Version, which is the kernel release
// (uname -r), e.g. "6.1.0-56-cloud-amd64".
func (b *BzImage) Release() string {
	release, _, _ := strings.Cut(b.Version, " ")
	return release
}

// Boot header field offsets (file offsets).
const (
	offSetupSects   = 0x1F1
	offBootFlag     = 0x1FE
	offHeader       = 0x202
	offVersion      = 0x206
	offKernelVer    = 0x20E
	offLoadFlags    = 0x211
	offKernelAlign  = 0x230
	offRelocatable  = 0x234
	offXLoadFlags   = 0x236
	offCmdlineSize  = 0x238
	offPayloadOff   = 0x248
	offPayloadLen   = 0x24C
	offPrefAddress  = 0x258
	offInitSize     = 0x260
	headerReadSize  = 0x270
	minProtocol64   = 0x020C // xloadflags appeared in 2.12 (Linux 3.8)
	maxVersionBytes = 256
)

// ParseBzImage reads the x86 boot protocol header of a Linux bzImage. It
// checks the "HdrS" magic and that the kernel is 64-bit (XLF_KERNEL_64).
// Non-x86 kernels (arm64 and RISC-V Images, ARM zImages, EFI zboot images,
// ELF vmlinux files) give an error matching ErrWrongArch that names the
// architecture; anything else matches ErrNotBzImage.
func ParseBzImage(r io.ReaderAt) (*BzImage, error) {
	hdr := make([]byte, headerReadSize)
	n, err := r.ReadAt(hdr, 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read kernel header: %w", err)
	}
	hdr = hdr[:n]
	if n < offHeader+4 || string(hdr[offHeader:offHeader+4]) != "HdrS" {
		if arch := foreignArch(r, hdr); arch != "" {
			return nil, fmt.Errorf("%w: %s kernel, bootapp needs x86_64", ErrWrongArch, arch)
		}
		return nil, fmt.Errorf("%w: no \"HdrS\" boot header magic at 0x202", ErrNotBzImage)
	}
	if n < headerReadSize {
		return nil, fmt.Errorf("%w: boot header cut short at %d bytes", ErrNotBzImage, n)
	}
	le := binary.LittleEndian
	b := &BzImage{
		Protocol:   le.Uint16(hdr[offVersion:]),
		SetupSects: int(hdr[offSetupSects]),
		LoadFlags:  hdr[offLoadFlags],
	}
	if b.SetupSects == 0 {
		b.SetupSects = 4
	}
	b.KernelOffset = int64(b.SetupSects+1) * 512
	if b.Protocol < minProtocol64 {
		return nil, fmt.Errorf("%w: boot protocol %s has no xloadflags, so this is a 32-bit or pre-3.8 x86 kernel; bootapp needs x86_64", ErrWrongArch, b.ProtocolString())
	}
	if le.Uint16(hdr[offBootFlag:]) != 0xAA55 {
		return nil, fmt.Errorf("%w: boot flag is 0x%04x, want 0xAA55", ErrNotBzImage, le.Uint16(hdr[offBootFlag:]))
	}
	b.XLoadFlags = XLoadFlags(le.Uint16(hdr[offXLoadFlags:]))
	if b.XLoadFlags&XLFKernel64 == 0 {
		return nil, fmt.Errorf("%w: i386 kernel (xloadflags %v lack XLF_KERNEL_64), bootapp needs x86_64", ErrWrongArch, b.XLoadFlags)
	}
	b.KernelAlignment = le.Uint32(hdr[offKernelAlign:])
	b.Relocatable = hdr[offRelocatable] != 0
	b.CmdlineSize = le.Uint32(hdr[offCmdlineSize:])
	b.PayloadOffset = le.Uint32(hdr[offPayloadOff:])
	b.PayloadLength = le.Uint32(hdr[offPayloadLen:])
	b.PrefAddress = le.Uint64(hdr[offPrefAddress:])
	b.InitSize = le.Uint32(hdr[offInitSize:])

	// kernel_version points into the setup code, 0x200 bytes before its
	// file offset; 0 means the kernel has no version string.
	if p := le.Uint16(hdr[offKernelVer:]); p != 0 {
		off := int64(p) + 0x200
		if off >= b.KernelOffset {
			return nil, fmt.Errorf("%w: kernel_version pointer 0x%x lies outside the %d setup sectors", ErrNotBzImage, p, b.SetupSects)
		}
		buf := make([]byte, maxVersionBytes)
		m, err := r.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read kernel_version string: %w", err)
		}
		buf = buf[:m]
		end := bytes.IndexByte(buf, 0)
		if end < 0 {
			return nil, fmt.Errorf("%w: kernel_version string at 0x%x is not NUL-terminated", ErrNotBzImage, off)
		}
		b.Version = string(buf[:end])
	}

	b.PayloadCompression = "unknown"
	if b.PayloadLength > 0 {
		magic := make([]byte, 6)
		if m, _ := r.ReadAt(magic, b.KernelOffset+int64(b.PayloadOffset)); m == len(magic) {
			b.PayloadCompression = compressionOf(magic)
		}
	}
	return b, nil
}

// compressionOf names a kernel payload's compression from its magic bytes
// (the formats the x86 decompressor supports).
func compressionOf(m []byte) string {
	switch {
	case bytes.HasPrefix(m, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(m, []byte("BZh")):
		return "bzip2"
	case bytes.HasPrefix(m, []byte{0x5d, 0x00, 0x00}):
		return "lzma"
	case bytes.HasPrefix(m, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return "xz"
	case bytes.HasPrefix(m, []byte{0x89, 'L', 'Z', 'O'}):
		return "lzo"
	case bytes.HasPrefix(m, []byte{0x02, 0x21, 0x4c, 0x18}):
		return "lz4"
	case bytes.HasPrefix(m, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	}
	return "unknown"
}

// foreignArch recognises kernel images of other architectures from their
// first bytes and returns the architecture's name, or "" if hdr is none.
func foreignArch(r io.ReaderAt, hdr []byte) string {
	le := binary.LittleEndian
	switch {
	case len(hdr) >= 0x3C && string(hdr[0x38:0x3C]) == "ARM\x64":
		return "arm64"
	case len(hdr) >= 0x3C && string(hdr[0x38:0x3C]) == "RSC\x05":
		return "riscv64"
	case len(hdr) >= 0x28 && le.Uint32(hdr[0x24:]) == 0x016F2818:
		return "arm"
	case len(hdr) >= 4 && string(hdr[:4]) == "\x7fELF":
		if f, err := elf.NewFile(r); err == nil {
			if f.Machine == elf.EM_X86_64 {
				return "" // an x86_64 vmlinux: not a bzImage, but the right arch
			}
			return archName(f.Machine)
		}
		return "non-x86 ELF"
	case len(hdr) >= 0x40 && string(hdr[:2]) == "MZ":
		// A PE image without the x86 boot header: an EFI zboot image
		// ("zimg" at 4) or a bare EFI stub kernel of another arch.
		peOff := int64(le.Uint32(hdr[0x3C:]))
		var pe [6]byte
		if n, _ := r.ReadAt(pe[:], peOff); n == len(pe) && string(pe[:4]) == "PE\x00\x00" {
			if m := le.Uint16(pe[4:]); m != 0x8664 {
				return peArch(m)
			}
			return ""
		}
		if string(hdr[4:8]) == "zimg" {
			return "EFI zboot (non-x86)"
		}
	}
	return ""
}

// archName maps an ELF machine to the architecture name users know.
func archName(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "x86_64"
	case elf.EM_386:
		return "i386"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_RISCV:
		return "riscv64"
	case elf.EM_PPC64:
		return "ppc64"
	case elf.EM_S390:
		return "s390x"
	}
	return m.String()
}

// peArch maps a PE/COFF machine type to an architecture name.
func peArch(m uint16) string {
	switch m {
	case 0x014c:
		return "i386"
	case 0xaa64:
		return "arm64"
	case 0x01c2, 0x01c4:
		return "arm"
	case 0x5064:
		return "riscv64"
	case 0x6264:
		return "loongarch64"
	}
	return fmt.Sprintf("PE machine 0x%04x", m)
}
