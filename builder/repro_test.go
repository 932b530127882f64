package builder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/testutil"
)

// TestReproducibleBuild builds examples/hello in every boot format twice,
// into two different output directories, and checks that every boot-disk
// output and the SBOM are bit-identical. A third build with another
// SOURCE_DATE_EPOCH shows that only the SBOM's creation time (and the
// namespace derived from the document) changes: no image byte depends on
// it. The data volume is the one output that differs between builds, on
// purpose; the test names the bytes.
//
// The VMDK descriptor names its extent by the output file's base name,
// which is the same in both directories because the build name is.
func TestReproducibleBuild(t *testing.T) {
	cache, kernelDeb, loaderDeb := testInputs(t)
	app := buildGoApp(t, "../examples/hello")
	formats := image.Formats()
	build := func(dir string, epoch int64) *Result {
		t.Helper()
		res, err := Build(context.Background(), Spec{
			Name:            "hello",
			App:             App{Path: app, Ports: []int{8080}},
			Kernel:          KernelSource{Deb: kernelDeb},
			Bootloader:      loaderDeb,
			CacheDir:        cache,
			OutputDir:       dir,
			BootDisk:        Disk{Formats: formats},
			DataVolume:      DataVolume{Size: minDataVolumeSize},
			SourceDateEpoch: epoch,
		})
		if err != nil {
			t.Fatalf("build into %s: %v", dir, err)
		}
		return res
	}
	const epoch = 1700000000
	a := build(filepath.Join(t.TempDir(), "one"), epoch)
	b := build(filepath.Join(t.TempDir(), "two", "deeper"), epoch)
	c := build(filepath.Join(t.TempDir(), "three"), epoch+86400)

	for _, f := range formats {
		fa, fb, fc := fileByRole(t, a, RoleBoot, f), fileByRole(t, b, RoleBoot, f), fileByRole(t, c, RoleBoot, f)
		t.Logf("boot %-11s sha256 %s  %s", f, fa.SHA256, filepath.Base(fa.Path))
		if fa.SHA256 == "" || fa.SHA256 != testutil.FileSHA256(t, fa.Path) {
			t.Errorf("%s: recorded sha256 %q is not the file's", fa.Path, fa.SHA256)
		}
		if fa.SHA256 != fb.SHA256 {
			t.Errorf("boot disk %s differs between two builds into different directories: %s vs %s", f, fa.SHA256, fb.SHA256)
		}
		if fa.SHA256 != fc.SHA256 {
			t.Errorf("boot disk %s depends on SOURCE_DATE_EPOCH: %s vs %s", f, fa.SHA256, fc.SHA256)
		}
	}

	// The cache's compressed grains and chunks (image/memo; a filled
	// them, b and c read them) change no byte: a's raw boot disk encoded
	// without them gives the same files.
	rawBoot := fileByRole(t, a, RoleBoot, image.Raw)
	for _, f := range []image.Format{image.VMDKStream, image.GCE, image.OVA} {
		built := fileByRole(t, a, RoleBoot, f)
		p := filepath.Join(t.TempDir(), filepath.Base(built.Path)) // the name is in the output
		if err := image.Encode(context.Background(), f, p, rawBoot.Path); err != nil {
			t.Fatal(err)
		}
		if got := testutil.FileSHA256(t, p); got != built.SHA256 {
			t.Errorf("%s encoded without the cache's grains: sha256 %s, the build's %s", f, got, built.SHA256)
		}
	}
	if entries, _ := filepath.Glob(filepath.Join(cache, "encoded", "*", "*")); len(entries) == 0 {
		t.Errorf("the builds kept no compressed grains in %s", filepath.Join(cache, "encoded"))
	}

	sa, sb, sc := readFile(t, a.SBOM), readFile(t, b.SBOM), readFile(t, c.SBOM)
	if !bytes.Equal(sa, sb) {
		t.Errorf("SBOMs of two builds with the same inputs differ:\n%s", lineDiff(sa, sb))
	}
	// Another epoch changes exactly the creation time and the namespace
	// (a hash of the rest of the document).
	if d := lineDiff(sa, sc); len(strings.Split(strings.TrimSpace(d), "\n")) != 4 ||
		!strings.Contains(d, `"created": "2023-11-14T22:13:20Z"`) || !strings.Contains(d, `"created": "2023-11-15T22:13:20Z"`) ||
		strings.Count(d, `"documentNamespace"`) != 2 {
		t.Errorf("with another SOURCE_DATE_EPOCH the SBOM should change in its created time and namespace only:\n%s", d)
	}
	if a.SourceDateEpoch != epoch {
		t.Errorf("Result.SourceDateEpoch = %d, want %d", a.SourceDateEpoch, epoch)
	}

	// The data volume: image/ext4 gives each new file system a random
	// UUID (two volumes attached to one machine must not collide) and a
	// random directory hash seed, and stamps it with the time of the build.
	// Everything else is the same, which the test checks by the byte
	// ranges that differ: all inside superblocks and group descriptors.
	da, db := fileByRole(t, a, RoleData, image.Raw), fileByRole(t, b, RoleData, image.Raw)
	if da.BlockSHA256 == "" || da.BlockSHA256 == db.BlockSHA256 {
		t.Errorf("two data volumes have the same block digest %q: they would share one UUID", da.BlockSHA256)
	}
	ua, ub := readExt4UUID(t, da.Path), readExt4UUID(t, db.Path)
	if ua == ub {
		t.Errorf("two data volumes share the UUID %x", ua)
	}
	ranges := diffRanges(t, da.Path, db.Path)
	t.Logf("data volumes: UUID %x vs %x; %d differing byte ranges: %s", ua, ub, len(ranges), strings.Join(ranges, " "))

	// The encodings are still valid: qemu-img reads each of them as the
	// same disk as the raw image.
	qemuImg := testutil.NeedCommand(t, "qemu-img", "apt-get install -y qemu-utils (or make deps)")
	raw := fileByRole(t, a, RoleBoot, image.Raw).Path
	for _, f := range formats {
		if f == image.Raw {
			continue
		}
		p, drv := fileByRole(t, a, RoleBoot, f).Path, qemuFormat(f)
		if f == image.GCE {
			dir := t.TempDir()
			if out, err := exec.Command("tar", "-xzSf", p, "-C", dir).CombinedOutput(); err != nil {
				t.Errorf("tar -xzSf %s: %v\n%s", p, err, out)
				continue
			}
			p, drv = filepath.Join(dir, "disk.raw"), "raw"
		}
		if f == image.OVA {
			// The OVA's disk is its streamOptimized VMDK entry.
			dir := t.TempDir()
			if out, err := exec.Command("tar", "-xf", p, "-C", dir).CombinedOutput(); err != nil {
				t.Errorf("tar -xf %s: %v\n%s", p, err, out)
				continue
			}
			m, _ := filepath.Glob(filepath.Join(dir, "*.vmdk"))
			if len(m) != 1 {
				t.Errorf("%s holds %d VMDKs", p, len(m))
				continue
			}
			p, drv = m[0], "vmdk"
		}
		out, err := exec.Command(qemuImg, "compare", "-f", "raw", "-F", drv, raw, p).CombinedOutput()
		if err != nil {
			t.Errorf("qemu-img compare -f raw -F %s %s %s: %v\n%s", drv, raw, p, err, out)
		} else {
			t.Logf("qemu-img compare raw %s: %s", f, strings.TrimSpace(string(out)))
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lineDiff lists the lines that differ between a and b, position by
// position (enough for documents of the same shape).
func lineDiff(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	var sb strings.Builder
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			fmt.Fprintf(&sb, "-%s\n+%s\n", strings.TrimSpace(x), strings.TrimSpace(y))
		}
	}
	return sb.String()
}

// readExt4UUID returns s_uuid of the ext4 file system in the raw image.
func readExt4UUID(t *testing.T, path string) [16]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var u [16]byte
	if _, err := f.ReadAt(u[:], 1024+0x68); err != nil {
		t.Fatal(err)
	}
	return u
}

// diffRanges returns the byte ranges ("off+len") where two files of the
// same size differ.
func diffRanges(t *testing.T, a, b string) []string {
	t.Helper()
	ba, bb := readFile(t, a), readFile(t, b)
	if len(ba) != len(bb) {
		t.Fatalf("%s and %s differ in size", a, b)
	}
	var out []string
	for i := 0; i < len(ba); {
		if ba[i] == bb[i] {
			i++
			continue
		}
		j := i
		for j < len(ba) && (ba[j] != bb[j] || (j+1 < len(ba) && ba[j+1] != bb[j+1])) {
			j++
		}
		out = append(out, fmt.Sprintf("%#x+%d", i, j-i))
		i = j
	}
	return out
}
