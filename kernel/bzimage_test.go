package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseBzImageSynthetic(t *testing.T) {
	good := fakeBzImage("6.1.0-test-amd64 (x@y) #1 SMP", XLFKernel64|XLFCanBeLoadedAbove4G)
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	le := binary.LittleEndian
	elfArm := fakeKO(elf.EM_AARCH64)
	tests := []struct {
		name     string
		in       []byte
		wantErr  error
		wantText string
	}{
		{name: "valid", in: good},
		{name: "empty", in: nil, wantErr: ErrNotBzImage},
		{name: "garbage", in: bytes.Repeat([]byte("garbage!"), 200), wantErr: ErrNotBzImage},
		{name: "truncated-before-magic", in: good[:0x200], wantErr: ErrNotBzImage},
		{name: "truncated-in-header", in: good[:0x240], wantErr: ErrNotBzImage},
		{name: "wrong-magic", in: mod(func(b []byte) []byte { copy(b[offHeader:], "HdrX"); return b }), wantErr: ErrNotBzImage},
		{name: "bad-boot-flag", in: mod(func(b []byte) []byte { b[offBootFlag] = 0; return b }), wantErr: ErrNotBzImage},
		{name: "arm64-image", in: fakeArm64Image(), wantErr: ErrWrongArch, wantText: "wrong architecture: arm64 kernel, bootapp needs x86_64"},
		{name: "riscv-image", in: mod(func(b []byte) []byte { b = make([]byte, 4096); copy(b[0x38:], "RSC\x05"); return b }), wantErr: ErrWrongArch, wantText: "riscv64"},
		{name: "arm-zimage", in: mod(func(b []byte) []byte { b = make([]byte, 4096); le.PutUint32(b[0x24:], 0x016F2818); return b }), wantErr: ErrWrongArch, wantText: "arm kernel"},
		{name: "elf-aarch64-vmlinux", in: elfArm, wantErr: ErrWrongArch, wantText: "arm64"},
		{name: "i386-bzimage", in: mod(func(b []byte) []byte { le.PutUint16(b[offXLoadFlags:], 0); return b }), wantErr: ErrWrongArch, wantText: "i386"},
		{name: "old-protocol", in: mod(func(b []byte) []byte { le.PutUint16(b[offVersion:], 0x0206); return b }), wantErr: ErrWrongArch, wantText: "2.06"},
		{name: "version-pointer-outside-setup", in: mod(func(b []byte) []byte { le.PutUint16(b[offKernelVer:], 0x7000); return b }), wantErr: ErrNotBzImage},
		{name: "version-unterminated", in: mod(func(b []byte) []byte { return b[:0x500+5] }), wantErr: ErrNotBzImage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBzImage(bytes.NewReader(tc.in))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantText) {
					t.Fatalf("error %q does not say %q", err, tc.wantText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Version != "6.1.0-test-amd64 (x@y) #1 SMP" || b.Release() != "6.1.0-test-amd64" {
				t.Errorf("Version = %q, Release = %q", b.Version, b.Release())
			}
			if b.ProtocolString() != "2.15" || b.SetupSects != 3 || b.KernelOffset != 2048 {
				t.Errorf("protocol %s, setup sects %d, kernel offset %d", b.ProtocolString(), b.SetupSects, b.KernelOffset)
			}
			if b.PayloadOffset != 0x100 || b.PayloadLength != 0x40 || b.PayloadCompression != "zstd" {
				t.Errorf("payload %#x+%#x %s", b.PayloadOffset, b.PayloadLength, b.PayloadCompression)
			}
			if b.InitSize != 0x2000000 || b.PrefAddress != 0x1000000 || !b.Relocatable || b.KernelAlignment != 0x200000 || b.CmdlineSize != 2047 {
				t.Errorf("header fields %+v", b)
			}
			if got := b.XLoadFlags.String(); got != "XLF_KERNEL_64|XLF_CAN_BE_LOADED_ABOVE_4G" {
				t.Errorf("XLoadFlags = %s", got)
			}
		})
	}
}

// TestParseBzImageTruncations cuts a valid header at every length: each
// must give an error (never a panic), except lengths that keep the whole
// header and version string.
func TestParseBzImageTruncations(t *testing.T) {
	good := fakeBzImage("6.1.0-test-amd64 (x@y) #1 SMP", XLFKernel64)
	for n := 0; n < 0x600; n++ {
		_, err := ParseBzImage(bytes.NewReader(good[:n]))
		if err == nil && n < 0x500+len("6.1.0-test-amd64 (x@y) #1 SMP")+1 {
			t.Fatalf("cut at %d: no error", n)
		}
	}
}

// TestParseBzImageReal parses the bzImage of the newest cached kernel
// package and checks it against the package: the release in the header is
// the one in the boot/vmlinuz-<release> and lib/modules/<release> names
// and in the package name, and the version string names the package
// version.
func TestParseBzImageReal(t *testing.T) {
	k := realKernel(t)
	f, err := os.Open(k.ImagePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := ParseBzImage(f)
	if err != nil {
		t.Fatal(err)
	}
	if b.Release() != k.Release || filepath.Base(k.ModulesDir) != b.Release() || k.Package != "linux-image-"+b.Release() {
		t.Errorf("header release %q, file name release %q, modules dir %s, package %s: want one release", b.Release(), k.Release, k.ModulesDir, k.Package)
	}
	if !strings.Contains(b.Version, "Debian "+k.PackageVersion+" ") {
		t.Errorf("Version = %q, want it to name the package version %s", b.Version, k.PackageVersion)
	}
	if b.Protocol < 0x020F || b.XLoadFlags&XLFKernel64 == 0 || b.XLoadFlags&XLFEFIHandover64 == 0 {
		t.Errorf("protocol %s, xloadflags %v", b.ProtocolString(), b.XLoadFlags)
	}
	if b.PayloadCompression != "lz4" {
		t.Errorf("payload compression %q, want lz4", b.PayloadCompression)
	}
	fi, _ := f.Stat()
	if end := b.KernelOffset + int64(b.PayloadOffset) + int64(b.PayloadLength); end > fi.Size() || b.InitSize == 0 {
		t.Errorf("payload ends at %d beyond the %d-byte file, or init_size %d", end, fi.Size(), b.InitSize)
	}
	t.Logf("protocol %s, setup %d sectors, payload %s %d bytes at %#x, init_size %d MiB, pref_address %#x",
		b.ProtocolString(), b.SetupSects, b.PayloadCompression, b.PayloadLength, b.PayloadOffset, b.InitSize>>20, b.PrefAddress)
}

func FuzzParseBzImage(f *testing.F) {
	f.Add(fakeBzImage("6.1.0 #1", XLFKernel64))
	f.Add(fakeArm64Image())
	f.Add(fakeKO(elf.EM_RISCV))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseBzImage(bytes.NewReader(b))
	})
}
