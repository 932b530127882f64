package kernel

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/deb/debtest"
	"github.com/bootapp/bootapp/internal/testutil"
)

// realKernel opens the newest kernel package in the bootapp cache (what
// `mkbootapp fetch` downloads), unpacked into that cache as a build would
// do. Without the package the test fails when BOOTAPP_E2E=1 and skips
// otherwise, naming the fix.
func realKernel(t testing.TB) *Kernel {
	t.Helper()
	deb := testutil.KernelDeb(t)
	k, err := Open(context.Background(), deb, Options{CacheDir: testutil.CacheDir()})
	if err != nil {
		t.Fatalf("open %s: %v", deb, err)
	}
	return k
}

// fakeKO builds a minimal ELF64 relocatable file with a .modinfo section
// holding the given key=value strings, as a kernel module has.
func fakeKO(machine elf.Machine, modinfo ...string) []byte {
	info := []byte(strings.Join(modinfo, "\x00") + "\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	infoOff := uint64(ehsize)
	strOff := infoOff + uint64(len(info))
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7
	var b bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Shoff: shOff, Ehsize: ehsize, Shentsize: shentsize, Shnum: 3, Shstrndx: 2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	binary.Write(&b, binary.LittleEndian, &hdr)
	b.Write(info)
	b.Write(shstr)
	b.Write(make([]byte, shOff-uint64(b.Len())))
	secs := []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC), Off: infoOff, Size: uint64(len(info)), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(shstr)), Addralign: 1},
	}
	for i := range secs {
		binary.Write(&b, binary.LittleEndian, &secs[i])
	}
	return b.Bytes()
}

// fakeBzImage builds a bzImage header with 3 setup sectors, protocol 2.15,
// the given xloadflags and version string, and a zstd-magic payload.
func fakeBzImage(version string, xlf XLoadFlags) []byte {
	const setupSects = 3
	b := make([]byte, (setupSects+1)*512+0x200)
	le := binary.LittleEndian
	b[offSetupSects] = setupSects
	le.PutUint16(b[offBootFlag:], 0xAA55)
	copy(b[offHeader:], "HdrS")
	le.PutUint16(b[offVersion:], 0x020F)
	le.PutUint16(b[offKernelVer:], 0x300)
	copy(b[0x500:], version+"\x00")
	b[offLoadFlags] = 1
	le.PutUint32(b[offKernelAlign:], 0x200000)
	b[offRelocatable] = 1
	le.PutUint16(b[offXLoadFlags:], uint16(xlf))
	le.PutUint32(b[offCmdlineSize:], 2047)
	le.PutUint32(b[offPayloadOff:], 0x100)
	le.PutUint32(b[offPayloadLen:], 0x40)
	le.PutUint64(b[offPrefAddress:], 0x1000000)
	le.PutUint32(b[offInitSize:], 0x2000000)
	copy(b[(setupSects+1)*512+0x100:], []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0})
	return b
}

// fakeArm64Image builds the first bytes of an arm64 Image.
func fakeArm64Image() []byte {
	b := make([]byte, 4096)
	copy(b, "MZ")
	copy(b[0x38:], "ARM\x64")
	return b
}

const fakeRelease = "6.1.0-test-amd64"

// fakeModules is a small module graph:
//
//	top -> mid_a (softdep pre: pre_mod, post: post_mod), mid-b (dash in name)
//	mid_a -> leaf ; mid_b -> leaf, builtin_mod
var fakeModules = map[string][]string{
	"kernel/drivers/top.ko":            {"name=top", "depends=mid_a,mid-b", "alias=pci:v1234d*"},
	"kernel/drivers/mid_a.ko":          {"name=mid_a", "depends=leaf", "softdep=pre: pre_mod missing_soft post: post_mod"},
	"kernel/drivers/mid-b.ko":          {"name=mid_b", "depends=leaf,builtin_mod"},
	"kernel/lib/leaf.ko":               {"name=leaf", "depends="},
	"kernel/lib/pre_mod.ko":            {"name=pre_mod", "depends="},
	"kernel/lib/post_mod.ko":           {"name=post_mod", "depends=leaf"},
	"kernel/lib/cyc1.ko":               {"name=cyc1", "depends=cyc2"},
	"kernel/lib/cyc2.ko":               {"name=cyc2", "depends=cyc1"},
	"kernel/lib/soft1.ko":              {"name=soft1", "softdep=pre: soft2"},
	"kernel/lib/soft2.ko":              {"name=soft2", "softdep=pre: soft1"},
	"kernel/lib/broken.ko":             {"name=broken", "depends=nowhere"},
	"kernel/drivers/noname-driver.ko":  {"depends=leaf"},
	"kernel/drivers/zz_last_module.ko": {"name=zz_last_module"},
}

// fakeKernelFiles returns the data entries of a synthetic kernel package.
func fakeKernelFiles(vmlinuz []byte, machine elf.Machine) []debtest.File {
	files := []debtest.File{
		{Name: "./"},
		{Name: "./boot/"},
		{Name: "./boot/vmlinuz-" + fakeRelease, Body: vmlinuz},
		{Name: "./boot/config-" + fakeRelease, Body: []byte("CONFIG_X=y\n")},
		{Name: "./lib/modules/" + fakeRelease + "/"},
		{Name: "./lib/modules/" + fakeRelease + "/modules.builtin", Body: []byte("kernel/fs/ext4/ext4.ko\nkernel/lib/builtin-mod.ko\n")},
		{Name: "./lib/modules/" + fakeRelease + "/modules.order", Body: []byte("kernel/lib/leaf.ko\n")},
	}
	for _, p := range slices.Sorted(maps.Keys(fakeModules)) {
		files = append(files, debtest.File{Name: "./lib/modules/" + fakeRelease + "/" + p, Body: fakeKO(machine, fakeModules[p]...)})
	}
	return files
}

// writeDeb builds a package and writes it into dir.
func writeDeb(t testing.TB, dir, name string, p debtest.Package) string {
	t.Helper()
	b, err := debtest.Build(p)
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeKernelDeb writes a valid synthetic kernel package.
func fakeKernelDeb(t testing.TB, dir string) string {
	t.Helper()
	return writeDeb(t, dir, "linux-image-test.deb", debtest.Package{
		Control:     "Package: linux-image-" + fakeRelease + "\nVersion: 6.1.1-1\nArchitecture: amd64\n",
		Compression: "xz",
		Files:       fakeKernelFiles(fakeBzImage(fakeRelease+" (test@example) #1 SMP", XLFKernel64|XLFEFIHandover64), elf.EM_X86_64),
	})
}
