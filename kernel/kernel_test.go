package kernel

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/deb/debtest"
	"github.com/bootapp/bootapp/internal/testutil"
)

func TestNormalizeName(t *testing.T) {
	tests := map[string]string{
		"virtio-rng": "virtio_rng",
		"virtio_rng": "virtio_rng",
		"kernel/drivers/char/hw_random/virtio-rng.ko": "virtio_rng",
		"kernel/fs/ext4/ext4.ko":                      "ext4",
		"foo.ko.xz":                                   "foo",
		"foo.ko.zst":                                  "foo",
		"foo.kobj":                                    "foo.kobj",
		"":                                            "",
	}
	for in, want := range tests {
		if got := NormalizeName(in); got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSoftdep(t *testing.T) {
	tests := []struct {
		in        string
		pre, post []string
	}{
		{"pre: crc32c", []string{"crc32c"}, nil},
		{"pre: a b-c post: d", []string{"a", "b_c"}, []string{"d"}},
		{"post: mpls_gso", nil, []string{"mpls_gso"}},
		{"sha512", nil, nil}, // no pre:/post:, ignored as kmod does
		{"", nil, nil},
	}
	for _, tc := range tests {
		pre, post := parseSoftdep(tc.in)
		if !reflect.DeepEqual(pre, tc.pre) || !reflect.DeepEqual(post, tc.post) {
			t.Errorf("parseSoftdep(%q) = %q, %q; want %q, %q", tc.in, pre, post, tc.pre, tc.post)
		}
	}
}

func TestReadModInfo(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    *ModInfo
		wantErr error
	}{
		{
			name: "full",
			in:   fakeKO(elf.EM_X86_64, "license=GPL", "name=virtio_net", "depends=virtio_ring,virtio,net-failover", "softdep=pre: a post: b", "alias=virtio:d00000001v*", "vermagic=6.1.0 SMP"),
			want: &ModInfo{Name: "virtio_net", Depends: []string{"virtio_ring", "virtio", "net_failover"}, SoftPre: []string{"a"}, SoftPost: []string{"b"}, Aliases: []string{"virtio:d00000001v*"}},
		},
		{name: "empty-depends", in: fakeKO(elf.EM_X86_64, "name=evdev", "depends="), want: &ModInfo{Name: "evdev"}},
		{name: "arm64", in: fakeKO(elf.EM_AARCH64, "name=x"), wantErr: ErrWrongArch},
		{name: "garbage", in: []byte("not an ELF file at all"), wantErr: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadModInfo(bytes.NewReader(tc.in))
			if tc.want == nil {
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("no-modinfo", func(t *testing.T) {
		// An ELF file whose only section is not .modinfo.
		b := fakeKO(elf.EM_X86_64, "name=x")
		i := bytes.Index(b, []byte(".modinfo"))
		copy(b[i:], ".notinfo")
		if _, err := ReadModInfo(bytes.NewReader(b)); !errors.Is(err, ErrNoModInfo) {
			t.Fatalf("error = %v, want ErrNoModInfo", err)
		}
	})
	t.Run("real-virtio_net", func(t *testing.T) {
		k := realKernel(t)
		f, err := os.Open(filepath.Join(k.ModulesDir, "kernel/drivers/net/virtio_net.ko"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		mi, err := ReadModInfo(f)
		if err != nil {
			t.Fatal(err)
		}
		// The virtio NIC driver sits on the virtio core and on
		// net_failover, whatever else a kernel release adds.
		for _, d := range []string{"virtio_ring", "virtio", "net_failover"} {
			if !slices.Contains(mi.Depends, d) {
				t.Errorf("depends %q lacks %s", mi.Depends, d)
			}
		}
		if mi.Name != "virtio_net" || len(mi.Aliases) == 0 {
			t.Fatalf("got %+v", mi)
		}
	})
}

// openFake opens a synthetic kernel package in a fresh cache.
func openFake(t *testing.T) (*Kernel, string, string) {
	t.Helper()
	dir := t.TempDir()
	debPath := fakeKernelDeb(t, dir)
	cache := filepath.Join(dir, "cache")
	k, err := Open(context.Background(), debPath, Options{CacheDir: cache})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return k, debPath, cache
}

func names(mods []Module) []string {
	out := make([]string, len(mods))
	for i, m := range mods {
		out[i] = m.Name
	}
	return out
}

func TestClosure(t *testing.T) {
	k, _, _ := openFake(t)
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr error
	}{
		{name: "leaf", in: []string{"leaf"}, want: []string{"leaf"}},
		{
			// pre_mod before mid_a, leaf before mid_a, post_mod right
			// after mid_a; the missing softdep is skipped; builtin_mod
			// needs no loading; mid-b is found as mid_b.
			name: "graph", in: []string{"top"},
			want: []string{"pre_mod", "leaf", "mid_a", "post_mod", "mid_b", "top"},
		},
		{name: "dash-alias-and-dedup", in: []string{"mid-b", "mid_b", "leaf"}, want: []string{"leaf", "mid_b"}},
		{name: "builtin-only", in: []string{"ext4", "builtin-mod"}, want: []string{}},
		{name: "no-name-field-uses-file-name", in: []string{"noname-driver"}, want: []string{"leaf", "noname_driver"}},
		{name: "unknown", in: []string{"leaf", "nosuchmod"}, wantErr: ErrUnknownModule},
		{name: "unknown-dependency", in: []string{"broken"}, wantErr: ErrUnknownModule},
		{name: "hard-cycle", in: []string{"cyc1"}, wantErr: ErrDependencyCycle},
		{name: "soft-cycle-breaks", in: []string{"soft1"}, want: []string{"soft2", "soft1"}},
		{name: "soft-cycle-other-way", in: []string{"soft2"}, want: []string{"soft1", "soft2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mods, err := k.Closure(tc.in...)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(mods); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("order = %q, want %q", got, tc.want)
			}
			for _, m := range mods {
				if _, err := os.Stat(m.File); err != nil || !strings.HasSuffix(m.File, filepath.FromSlash(m.Path)) {
					t.Errorf("module %s: file %s (path %s): %v", m.Name, m.File, m.Path, err)
				}
			}
		})
	}
	mods, _ := k.Closure("mid-b")
	if want := []string{"leaf", "builtin_mod"}; len(mods) != 2 || !reflect.DeepEqual(mods[1].Depends, want) || mods[1].Path != "kernel/drivers/mid-b.ko" {
		t.Errorf("mid_b = %+v, want depends %q and path kernel/drivers/mid-b.ko", mods[len(mods)-1], want)
	}
	if _, err := k.Closure("mid"); err == nil || !strings.Contains(err.Error(), "similar modules: mid_a, mid_b") {
		t.Errorf("unknown module error %v does not suggest similar names", err)
	}
	if _, err := k.Closure("broken"); err == nil || !strings.Contains(err.Error(), "needed by broken") {
		t.Errorf("unknown dependency error %v does not name the module needing it", err)
	}
}

func TestOpenSynthetic(t *testing.T) {
	k, debPath, cache := openFake(t)
	if k.Release != fakeRelease || k.Header.Release() != fakeRelease || !strings.HasPrefix(k.Version, fakeRelease+" (test@example)") {
		t.Errorf("release %q, version %q", k.Release, k.Version)
	}
	if k.Package != "linux-image-"+fakeRelease || k.PackageVersion != "6.1.1-1" || len(k.SHA256) != 64 {
		t.Errorf("package %q %q sha %q", k.Package, k.PackageVersion, k.SHA256)
	}
	img, err := os.ReadFile(k.ImagePath)
	if err != nil || !bytes.Equal(img[offHeader:offHeader+4], []byte("HdrS")) {
		t.Fatalf("ImagePath %s: %v", k.ImagePath, err)
	}
	if !k.Builtin("ext4") || k.Builtin("leaf") || k.Has("virtio_rng") || !k.Has("leaf") || !k.Has("mid-b") || len(k.Modules()) != len(fakeModules) {
		t.Errorf("builtin ext4 %v, has leaf %v, %d modules", k.Builtin("ext4"), k.Has("leaf"), len(k.Modules()))
	}
	if _, err := os.Stat(filepath.Join(k.ModulesDir, "modules.builtin")); err != nil {
		t.Errorf("modules.builtin not in the cache: %v", err)
	}
	wantDir := filepath.Join(cache, kernelsDir, k.SHA256[:keyLen])
	if filepath.Dir(k.ImagePath) != wantDir {
		t.Errorf("kernel unpacked in %s, want %s", filepath.Dir(k.ImagePath), wantDir)
	}

	// Warm: served from the index, without unpacking again.
	marker := filepath.Join(wantDir, "marker")
	os.WriteFile(marker, nil, 0o644)
	k2, err := Open(context.Background(), debPath, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil || k2.ImagePath != k.ImagePath || !reflect.DeepEqual(k2.Modules(), k.Modules()) {
		t.Fatalf("second Open unpacked again or differs: %v", err)
	}

	// Same bytes at another path: found by hash, not unpacked again.
	other := filepath.Join(t.TempDir(), "copy.deb")
	b, _ := os.ReadFile(debPath)
	os.WriteFile(other, b, 0o644)
	k3, err := Open(context.Background(), other, Options{CacheDir: cache})
	if err != nil || k3.ImagePath != k.ImagePath {
		t.Fatalf("copy: %v, image %s", err, k3.ImagePath)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("a copy of the package was unpacked again")
	}

	// Replaced content at the same path (same size and mtime): the stat
	// key must notice, and the new package is unpacked.
	fi, _ := os.Stat(debPath)
	newDeb := writeDeb(t, t.TempDir(), "n.deb", debtest.Package{Compression: "gz", Files: fakeKernelFiles(fakeBzImage("6.1.0-test-amd64 (rebuilt) #2", XLFKernel64), elf.EM_X86_64)})
	nb, _ := os.ReadFile(newDeb)
	if err := os.WriteFile(debPath+".new", nb, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(debPath+".new", fi.ModTime(), fi.ModTime())
	if err := os.Rename(debPath+".new", debPath); err != nil {
		t.Fatal(err)
	}
	k4, err := Open(context.Background(), debPath, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if k4.SHA256 == k.SHA256 || !strings.Contains(k4.Version, "rebuilt") {
		t.Fatalf("replaced package not noticed: version %q", k4.Version)
	}

	// Cache entry deleted behind our back: Open unpacks again.
	os.RemoveAll(filepath.Dir(k4.ImagePath))
	if k5, err := Open(context.Background(), debPath, Options{CacheDir: cache}); err != nil || k5.SHA256 != k4.SHA256 {
		t.Fatalf("after removing the cache entry: %v", err)
	}
	assertNoTemp(t, cache)
}

// assertNoTemp fails if a temporary directory was left in the cache.
func assertNoTemp(t *testing.T, cache string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(cache, kernelsDir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary %s left in the cache", e.Name())
		}
	}
}

func TestOpenRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	stale := filepath.Join(cache, kernelsDir, ".tmp-0123456789abcdef-1")
	fresh := filepath.Join(cache, kernelsDir, ".tmp-0123456789abcdef-2")
	for _, d := range []string{stale, fresh} {
		if err := os.MkdirAll(filepath.Join(d, "lib"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleAfter)
	os.Chtimes(stale, old, old)
	if _, err := Open(context.Background(), fakeKernelDeb(t, dir), Options{CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary directory not removed: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh temporary directory (maybe another process's unpack) was removed: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good, _ := debtest.Build(debtest.Package{Compression: "xz", Files: fakeKernelFiles(fakeBzImage("6.1.0 #1", XLFKernel64), elf.EM_X86_64)})
	tests := []struct {
		name     string
		path     func() string
		wantErr  error
		wantText string
	}{
		{name: "missing", path: func() string { return filepath.Join(dir, "nope.deb") }, wantErr: fs.ErrNotExist, wantText: "run `mkbootapp fetch` or pass --kernel"},
		{name: "directory", path: func() string { return dir }, wantText: "not a regular file"},
		{name: "not-a-deb", path: func() string {
			p := filepath.Join(dir, "x.deb")
			os.WriteFile(p, []byte("hello, not a package"), 0o644)
			return p
		}, wantErr: ErrNotDeb},
		{name: "no-kernel", path: func() string {
			return writeDeb(t, dir, "meta.deb", debtest.Package{Files: []debtest.File{{Name: "./usr/share/doc/x", Body: []byte("x")}}})
		}, wantErr: ErrNotKernel},
		{name: "truncated", path: func() string {
			p := filepath.Join(dir, "trunc.deb")
			os.WriteFile(p, good[:len(good)*2/3], 0o644)
			return p
		}, wantErr: ErrTruncated},
		{name: "truncated-at-end", path: func() string {
			p := filepath.Join(dir, "trunc2.deb")
			os.WriteFile(p, good[:len(good)-30], 0o644)
			return p
		}, wantErr: ErrTruncated},
		{name: "arm64-kernel", path: func() string {
			return writeDeb(t, dir, "arm.deb", debtest.Package{Files: fakeKernelFiles(fakeArm64Image(), elf.EM_AARCH64)})
		}, wantErr: ErrWrongArch, wantText: "arm64 kernel, bootapp needs x86_64"},
		{name: "arm64-modules", path: func() string {
			return writeDeb(t, dir, "armmod.deb", debtest.Package{Files: fakeKernelFiles(fakeBzImage("6.1.0 #1", XLFKernel64), elf.EM_AARCH64)})
		}, wantErr: ErrWrongArch, wantText: "EM_AARCH64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "cache")
			_, err := Open(context.Background(), tc.path(), Options{CacheDir: cache})
			if err == nil {
				t.Fatal("Open succeeded, want an error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("error %q does not say %q", err, tc.wantText)
			}
			// Nothing may be left in the cache but empty directories.
			filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					t.Errorf("file %s left in the cache after a failed Open", p)
				}
				return nil
			})
		})
	}
	if _, err := Open(context.Background(), "x.deb", Options{}); err == nil {
		t.Error("Open without CacheDir succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := filepath.Join(dir, "good.deb")
	os.WriteFile(p, good, 0o644)
	if _, err := Open(ctx, p, Options{CacheDir: t.TempDir()}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Open: %v, want context.Canceled", err)
	}
}

// TestOpenNotKernel opens packages that carry no kernel image: the real
// systemd-boot-efi package from the cache and a meta-package shaped like
// linux-image-cloud-amd64 (control fields, a Depends, only docs). Both
// must give ErrNotKernel naming the package.
func TestOpenNotKernel(t *testing.T) {
	tests := []struct {
		name, pkg string
		deb       func(t *testing.T) string
	}{
		{"meta-package", "linux-image-cloud-amd64", func(t *testing.T) string {
			return writeDeb(t, t.TempDir(), "linux-image-cloud-amd64_1_amd64.deb", debtest.Package{
				Control: "Package: linux-image-cloud-amd64\nVersion: 1\nArchitecture: amd64\nDepends: linux-image-" + fakeRelease + "\n",
				Files:   []debtest.File{{Name: "./"}, {Name: "./usr/share/doc/linux-image-cloud-amd64/copyright", Body: []byte("GPL-2\n")}},
			})
		}},
		{"real-systemd-boot-efi", "systemd-boot-efi", func(t *testing.T) string { return testutil.LoaderDeb(t) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), tc.deb(t), Options{CacheDir: t.TempDir()})
			if !errors.Is(err, ErrNotKernel) || !strings.Contains(err.Error(), tc.pkg) {
				t.Fatalf("error = %v, want ErrNotKernel naming %s", err, tc.pkg)
			}
		})
	}
}

// TestOpenConcurrent opens one package from several goroutines into one
// empty cache: all must succeed with the same kernel and leave no
// temporary directories.
func TestOpenConcurrent(t *testing.T) {
	dir := t.TempDir()
	debPath := fakeKernelDeb(t, dir)
	cache := filepath.Join(dir, "cache")
	var wg sync.WaitGroup
	paths := make([]string, 6)
	errs := make([]error, 6)
	for i := range paths {
		wg.Go(func() {
			k, err := Open(context.Background(), debPath, Options{CacheDir: cache})
			errs[i] = err
			if err == nil {
				paths[i] = k.ImagePath
			}
		})
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("Open %d: %v, image %s (first: %s)", i, errs[i], paths[i], paths[0])
		}
	}
	assertNoTemp(t, cache)
}

func TestPlatformModules(t *testing.T) {
	if got := PlatformModules(""); !reflect.DeepEqual(got, PlatformModules(PlatformAll)) {
		t.Errorf("default platform gives %q", got)
	}
	want := []string{"button", "evdev", "ext4", "virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "virtio_net", "crc32c_generic", "virtio_rng", "qemu_fw_cfg"}
	if got := PlatformModules(PlatformQEMU); !reflect.DeepEqual(got, want) {
		t.Errorf("qemu: %q, want %q", got, want)
	}
	all := PlatformModules(PlatformAll)
	for _, p := range Platforms() {
		for _, n := range PlatformModules(p) {
			if !slices.Contains(all, n) && !(p == PlatformPC && n == "ata_piix") {
				t.Errorf("platform all lacks %s of platform %s", n, p)
			}
		}
	}
	if PlatformModules("amiga") != nil {
		t.Error("unknown platform gave modules")
	}
	for _, p := range Platforms() {
		if q, err := ParsePlatform(strings.ToUpper(string(p))); err != nil || q != p || len(PlatformModules(p)) == 0 {
			t.Errorf("ParsePlatform(%q) = %q, %v", p, q, err)
		}
		if p.Verified() != (p == PlatformQEMU || p == PlatformAll) {
			t.Errorf("%s verified = %v", p, p.Verified())
		}
	}
	if q, err := ParsePlatform(""); q != PlatformAll || err != nil {
		t.Errorf(`ParsePlatform("") = %q, %v, want all`, q, err)
	}
	if _, err := ParsePlatform("amiga"); err == nil || !strings.Contains(err.Error(), "qemu") {
		t.Errorf("ParsePlatform(amiga) error %v does not list the platforms", err)
	}
}

// TestRealKernel unpacks the real Debian cloud kernel (several seconds
// cold), opens it again from the cache and checks the qemu closure.
func TestRealKernel(t *testing.T) {
	testutil.NeedE2E(t, "unpacks the real 27 MB kernel package into an empty cache (several seconds)")
	realDeb := testutil.KernelDeb(t)
	cache := t.TempDir()
	start := time.Now()
	k, err := Open(context.Background(), realDeb, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	cold := time.Since(start)
	// The fastest of a few warm Opens, so that a busy machine does not
	// make the test flaky.
	var k2 *Kernel
	warm := time.Hour
	for range 5 {
		start = time.Now()
		k2, err = Open(context.Background(), realDeb, Options{CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		warm = min(warm, time.Since(start))
	}
	t.Logf("cold Open %v, warm Open %v, %d modules, %d builtins", cold, warm, len(k.Modules()), len(k.builtin))
	if warm > 50*time.Millisecond {
		t.Errorf("warm Open took %v, want well under 50ms", warm)
	}
	if k.Release != k.Header.Release() || k2.Release != k.Release || k.Package != "linux-image-"+k.Release || k.Header.PayloadCompression != "lz4" {
		t.Errorf("release %q (header %q, warm %q), package %s, payload %s: want one release and an LZ4 payload",
			k.Release, k.Header.Release(), k2.Release, k.Package, k.Header.PayloadCompression)
	}
	if n := len(k.Modules()); n < 1000 {
		t.Errorf("only %d modules indexed", n)
	}
	if !k.Builtin("ext4") || !k.Builtin("nvme") || k.Builtin("virtio_blk") {
		t.Error("builtin set wrong: want ext4 and nvme builtin, virtio_blk not")
	}
	mods, err := k2.PlatformClosure(PlatformQEMU)
	if err != nil {
		t.Fatal(err)
	}
	got := names(mods)
	t.Logf("qemu closure: %s", strings.Join(got, " "))
	want := []string{"button", "evdev", "virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio", "virtio_pci",
		"virtio_blk", "scsi_common", "scsi_mod", "virtio_scsi", "sd_mod", "failover", "net_failover", "virtio_net", "virtio_rng", "qemu_fw_cfg"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("qemu closure = %q, want %q", got, want)
	}
	for _, m := range mods {
		if _, err := os.Stat(m.File); err != nil {
			t.Errorf("%s: %v", m.Name, err)
		}
	}
	for _, m := range mods {
		if m.Name == "virtio_rng" && m.Path != "kernel/drivers/char/hw_random/virtio-rng.ko" {
			t.Errorf("virtio_rng path %q", m.Path)
		}
	}
	t.Run("matches-depmod", func(t *testing.T) { compareDepmod(t, k) })
	// Every platform must at least resolve on this kernel, except pc,
	// whose e1000 and ahci the cloud kernel lacks.
	for _, p := range Platforms() {
		_, err := k.PlatformClosure(p)
		var missing *MissingDriverError
		switch {
		case p == PlatformPC && !k.Has("e1000"):
			if !errors.As(err, &missing) {
				t.Errorf("platform pc on a kernel without e1000: %v, want a MissingDriverError", err)
			}
		case err != nil:
			t.Errorf("platform %s: %v", p, err)
		}
	}
}

// compareDepmod runs kmod's depmod on the unpacked kernel (into a
// separate output directory) and checks, for every module, that the
// dependencies depmod computes from symbols are exactly the transitive
// depends= we index, and that Closure puts each of them first.
func compareDepmod(t *testing.T, k *Kernel) {
	depmod, err := exec.LookPath("depmod")
	if err != nil {
		testutil.Missing(t, "depmod is not installed, so the module graph cannot be cross-checked", "apt-get install -y kmod (or make deps)")
	}
	// -n prints the files instead of writing into the cache; modules.dep
	// comes first, up to the first comment line.
	base := filepath.Dir(filepath.Dir(filepath.Dir(k.ModulesDir)))
	dep, err := exec.Command(depmod, "-n", "-b", base, k.Release).Output()
	if err != nil {
		t.Fatalf("depmod: %v", err)
	}
	dep, _, _ = bytes.Cut(dep, []byte("\n#"))
	lines := strings.Split(strings.TrimSpace(string(dep)), "\n")
	if len(lines) != len(k.Modules()) {
		t.Errorf("depmod lists %d modules, we index %d", len(lines), len(k.Modules()))
	}
	for _, line := range lines {
		mod, deps, _ := strings.Cut(line, ":")
		name := NormalizeName(mod)
		want := map[string]bool{name: true}
		for _, d := range strings.Fields(deps) {
			want[NormalizeName(d)] = true
		}
		// Transitive depends= from our index.
		got := map[string]bool{}
		var walk func(string)
		walk = func(n string) {
			if got[n] || k.builtin[n] {
				return
			}
			got[n] = true
			for _, d := range k.modules[n].Depends {
				walk(d)
			}
		}
		walk(name)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: our dependencies %v, depmod's %v", name, got, want)
			continue
		}
		mods, err := k.Closure(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		pos := map[string]int{}
		for i, m := range mods {
			pos[m.Name] = i
		}
		for d := range want {
			if i, ok := pos[d]; !ok || i > pos[name] {
				t.Errorf("%s: dependency %s not loaded before it (order %q)", name, d, names(mods))
			}
		}
	}
	t.Logf("%d modules cross-checked against depmod", len(lines))
}

func BenchmarkOpenWarm(b *testing.B) {
	realDeb := testutil.KernelDeb(b)
	cache := b.TempDir()
	if _, err := Open(context.Background(), realDeb, Options{CacheDir: cache}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Open(context.Background(), realDeb, Options{CacheDir: cache}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenCold(b *testing.B) {
	realDeb := testutil.KernelDeb(b)
	fi, _ := os.Stat(realDeb)
	for b.Loop() {
		cache := b.TempDir()
		if _, err := Open(context.Background(), realDeb, Options{CacheDir: cache}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(fi.Size())
}

func BenchmarkClosureQEMU(b *testing.B) {
	dir := b.TempDir()
	k, err := Open(context.Background(), fakeKernelDeb(b, dir), Options{CacheDir: filepath.Join(dir, "c")})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := k.Closure("top", "soft1"); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzReadModInfo(f *testing.F) {
	f.Add(fakeKO(elf.EM_X86_64, "name=a", "depends=b,c", "softdep=pre: d post: e"))
	f.Add(fakeKO(elf.EM_AARCH64, "name=a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mi, err := ReadModInfo(bytes.NewReader(b))
		if err == nil && mi == nil {
			t.Fatal("nil ModInfo without an error")
		}
	})
}
