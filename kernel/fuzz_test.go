package kernel

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/deb/debtest"
)

// kernelDebWithData returns a kernel .deb whose data.tar member
// (uncompressed, so that mutations reach the tar reader) is data.
func kernelDebWithData(t testing.TB, data []byte) []byte {
	t.Helper()
	b, err := debtest.RawDataDeb("Package: linux-image-"+fakeRelease+"\nVersion: 6.1.1-1\nArchitecture: amd64\n", data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dataTar is the uncompressed tar stream of files.
func dataTar(t testing.TB, files []debtest.File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(f.Body)), ModTime: time.Unix(1700000000, 0), Format: tar.FormatGNU}
		if strings.HasSuffix(f.Name, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.Body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sparseVmlinuz is a tar stream whose boot/vmlinuz is a PAX sparse entry
// of 4 GiB, all hole, in 3 KiB: before the fix Open read it whole.
func sparseVmlinuz() []byte {
	pax := func(k, v string) string {
		rec := " " + k + "=" + v + "\n"
		n := len(rec)
		for len(fmt.Sprint(n)+rec) != n {
			n = len(fmt.Sprint(n) + rec)
		}
		return fmt.Sprint(n) + rec
	}
	hdr := func(name string, typ byte, size int) []byte {
		h := make([]byte, 512)
		copy(h, name)
		copy(h[100:], "0000644\x00")
		copy(h[124:], fmt.Sprintf("%011o\x00", size))
		copy(h[136:], "15260274400\x00")
		h[156] = typ
		copy(h[257:], "ustar\x0000")
		copy(h[148:], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
		return h
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }
	recs := pax("GNU.sparse.major", "1") + pax("GNU.sparse.minor", "0") +
		pax("GNU.sparse.name", "./boot/vmlinuz-"+fakeRelease) + pax("GNU.sparse.realsize", fmt.Sprint(int64(4<<30)))
	smap := pad([]byte("1\n0\n0\n"))
	var b []byte
	b = append(b, hdr("PaxHeaders/vmlinuz", tar.TypeXHeader, len(recs))...)
	b = append(b, pad([]byte(recs))...)
	b = append(b, hdr("GNUSparseFile/vmlinuz", tar.TypeReg, len(smap))...)
	b = append(b, smap...)
	return append(b, make([]byte, 1024)...)
}

// TestOpenSparseEntry: a sparse entry in a kernel package is refused, not
// expanded into memory.
func TestOpenSparseEntry(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sparse.deb")
	if err := os.WriteFile(p, kernelDebWithData(t, sparseVmlinuz()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), p, Options{CacheDir: filepath.Join(dir, "cache")}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Open of a package with a sparse vmlinuz: %v, want errors.ErrUnsupported", err)
	}
}

// FuzzOpenPackage unpacks kernel packages with arbitrary data archives.
// Open must fail cleanly, leaving no temporary directory, or return a
// kernel whose module files all lie below its ModulesDir and whose module
// closure can be computed.
func FuzzOpenPackage(f *testing.F) {
	vmlinuz := fakeBzImage(fakeRelease+" (test@example) #1 SMP", XLFKernel64|XLFEFIHandover64)
	files := fakeKernelFiles(vmlinuz, elf.EM_X86_64)
	f.Add(dataTar(f, files))
	f.Add(dataTar(f, files[:3]))
	f.Add(dataTar(f, append(files[:3:3], debtest.File{Name: "./usr/lib/modules/" + fakeRelease + "/kernel/a.ko", Body: fakeKO(elf.EM_X86_64, "name=a", "depends=b")},
		debtest.File{Name: "./lib/modules/" + fakeRelease + "/../../../../etc/x.ko", Body: fakeKO(elf.EM_X86_64, "name=x")})))
	f.Add(dataTar(f, []debtest.File{{Name: "./boot/vmlinuz-" + fakeRelease, Body: vmlinuz}, {Name: "./boot/vmlinuz-other", Body: vmlinuz}}))
	f.Add(sparseVmlinuz())
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "k.deb")
		if err := os.WriteFile(p, kernelDebWithData(t, data), 0o644); err != nil {
			t.Fatal(err)
		}
		cache := filepath.Join(dir, "cache")
		k, err := Open(context.Background(), p, Options{CacheDir: cache})
		if err != nil {
			entries, _ := os.ReadDir(filepath.Join(cache, kernelsDir))
			for _, e := range entries {
				if e.Name() != lookupDir {
					t.Fatalf("Open failed (%v) but left %s in the cache", err, e.Name())
				}
			}
			return
		}
		if k.Release == "" || k.Header == nil {
			t.Fatalf("kernel without release or header: %+v", k)
		}
		names := k.Modules()
		for _, n := range names {
			if !k.Has(n) {
				t.Fatalf("Modules lists %q but Has says no", n)
			}
		}
		mods, err := k.Closure(names...)
		if err != nil {
			return // cycles and missing dependencies are the package's
		}
		for _, m := range mods {
			rel, err := filepath.Rel(k.ModulesDir, m.File)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("module %s file %s is outside %s", m.Name, m.File, k.ModulesDir)
			}
		}
	})
}

// FuzzModInfoFields puts arbitrary .modinfo contents into a well-formed
// module: ReadModInfo must return what parseModInfo makes of them, with
// every name normalised (no '-', NormalizeName a no-op on it).
func FuzzModInfoFields(f *testing.F) {
	f.Add("name=virtio-net\x00depends=virtio,net_failover\x00alias=virtio:d00000001v*\x00vermagic=6.1.0 SMP mod_unload modversions \x00")
	f.Add("softdep=pre: crc32c post: a-b\x00softdep=pre:\x00name=\x00depends=,,\x00")
	f.Add("license=GPL\x00\x00\x00=\x00name==x")
	f.Fuzz(func(t *testing.T, info string) {
		mi, err := ReadModInfo(bytes.NewReader(fakeKO(elf.EM_X86_64, info)))
		if err != nil {
			t.Fatalf("ReadModInfo of a valid module: %v", err)
		}
		if want := parseModInfo([]byte(info + "\x00")); !reflect.DeepEqual(mi, want) {
			t.Fatalf("ReadModInfo = %+v, parseModInfo = %+v", mi, want)
		}
		for _, names := range [][]string{{mi.Name}, mi.Depends, mi.SoftPre, mi.SoftPost} {
			for _, n := range names {
				if strings.Contains(n, "-") || NormalizeName(n) != n {
					t.Fatalf("name %q is not normalised", n)
				}
			}
		}
		for _, d := range mi.Depends {
			if d == "" || d != strings.TrimSpace(d) {
				t.Fatalf("dependency %q", d)
			}
		}
		for _, n := range parseBuiltin([]byte(info)) {
			if n == "" || NormalizeName(n) != n {
				t.Fatalf("modules.builtin entry %q", n)
			}
		}
	})
}
