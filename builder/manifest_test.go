package builder

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/sbom/sbomtest"
	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/bootapp/bootapp/kernel"
)

// TestManifestInputsMatchInitramfs checks that what the manifest records of
// the guest files is what the initramfs holds: it assembles the initramfs
// as Build does (uncompressed, so it can be read back), lists every entry,
// and compares each recorded path, mode, size and sha256, for a single
// executable and for an app directory.
func TestManifestInputsMatchInitramfs(t *testing.T) {
	cache, kernelDeb, loaderDeb := testInputs(t)
	exe := buildGoApp(t, "../examples/hello")
	dir := t.TempDir()
	copyFile(t, exe, filepath.Join(dir, "bin", "hello"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "bin", "config.txt"), []byte("x=1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("bin/hello", filepath.Join(dir, "run")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		app  App
	}{
		{"executable", App{Path: exe}},
		{"executable with debug information", App{Path: exe, KeepDebug: true}},
		{"directory", App{Path: dir, Entrypoint: "run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Spec{App: tt.app, Kernel: KernelSource{Deb: kernelDeb}, Bootloader: loaderDeb, CacheDir: cache, Compression: "none"}.WithDefaults()
			if err != nil {
				t.Fatal(err)
			}
			app, err := resolveApp(s.App)
			if err != nil {
				t.Fatal(err)
			}
			if app.system, err = resolveSystem(ctx, &s); err != nil {
				t.Fatal(err)
			}
			k, err := kernel.Open(ctx, kernelDeb, kernel.Options{CacheDir: cache})
			if err != nil {
				t.Fatal(err)
			}
			mods, err := k.PlatformClosure(kernel.PlatformQEMU)
			if err != nil {
				t.Fatal(err)
			}
			staged := filepath.Join(t.TempDir(), "initrd")
			st, err := assembleInitramfs(ctx, &s, k, mods, app, staged, func(string, ...any) {})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			initrd := initrdBytes(t, st)
			d, err := recordInputs(ctx, &s, k, kernelDeb, loaderDeb, mods, app, st, "console=ttyS0")
			if err != nil {
				t.Fatal(err)
			}
			inImage := map[string]GuestFile{}
			for _, seg := range splitSegments(t, initrd) {
				files, err := readNewc(bytes.NewReader(seg), func(string) bool { return true })
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range files {
					inImage[f.Path] = f
				}
			}
			in := d.inputs
			recorded := append([]GuestFile{in.Init, in.Config}, in.Modules...)
			recorded = append(recorded, in.App.Files...)
			for _, f := range recorded {
				g, ok := inImage[f.Path]
				g.HostSHA256 = f.HostSHA256
				if !ok || g != f {
					t.Errorf("manifest records %+v\n  the initramfs holds %+v", f, g)
				}
			}
			var appEntries []string
			for p := range inImage {
				if p == appInstallDir || strings.HasPrefix(p, appInstallDir+"/") {
					appEntries = append(appEntries, p)
				}
			}
			recordedApp := 0
			for _, f := range in.App.Files {
				if f.Path == appInstallDir || strings.HasPrefix(f.Path, appInstallDir+"/") {
					recordedApp++
				}
			}
			if len(appEntries) != recordedApp {
				t.Errorf("the image has %d entries below /app, the manifest lists %d", len(appEntries), recordedApp)
			}
			if len(in.Modules) != len(mods) || len(mods) == 0 {
				t.Errorf("%d modules recorded, %d in the closure", len(in.Modules), len(mods))
			}
			if in.Kernel.SHA256 != testutil.FileSHA256(t, kernelDeb) || in.Bootloader.SHA256 != testutil.FileSHA256(t, loaderDeb) {
				t.Errorf("package sha256s %s %s are not the files'", in.Kernel.SHA256, in.Bootloader.SHA256)
			}
			if !strings.HasPrefix(in.Kernel.Name, "linux-image-") || in.Kernel.Version == "" || in.Kernel.Arch != "amd64" ||
				in.Bootloader.Name != "systemd-boot-efi" || in.Bootloader.Version == "" {
				t.Errorf("package fields: kernel %+v, loader %+v", in.Kernel, in.Bootloader)
			}
			if len(in.System) == 0 || in.System[0].Name != "ca-certificates" || in.System[0].SHA256 == "" {
				t.Errorf("system packages %+v: want the ca-certificates package the CA bundle came from", in.System)
			}
			if !app.isDir {
				var f GuestFile
				for _, g := range in.App.Files {
					if g.Path == app.guestPath {
						f = g
					}
				}
				if f.Path != app.guestPath || f.HostSHA256 != testutil.FileSHA256(t, exe) {
					t.Errorf("entrypoint %+v: want %s with the host file's sha256", f, app.guestPath)
				}
				if stripped := f.SHA256 != f.HostSHA256; stripped == tt.app.KeepDebug {
					t.Errorf("keep_debug %v, but image sha256 %s vs host %s", tt.app.KeepDebug, f.SHA256, f.HostSHA256)
				}
			}
			if d.initBI == nil || d.initBI.Path != "github.com/bootapp/bootapp/cmd/bootapp-init" || d.appBI == nil {
				t.Errorf("build information: init %v, app %v", d.initBI, d.appBI)
			}
		})
	}
}

// splitSegments splits concatenated uncompressed cpio archives.
func splitSegments(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var segs [][]byte
	for len(b) > 0 {
		i := bytes.Index(b, []byte("TRAILER!!!\x00"))
		if i < 0 {
			t.Fatalf("no cpio trailer in %d bytes", len(b))
		}
		end := i + len("TRAILER!!!\x00")
		segs = append(segs, b[:end+(-end&3)])
		b = bytes.TrimLeft(b[end:], "\x00")
	}
	return segs
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// TestManifestAndSBOM builds once and checks the manifest and the SBOM on
// disk: the SBOM is valid SPDX 2.3 (the official JSON schema) and lists
// the packages with their package URLs, and ReadManifest reads both back.
func TestManifestAndSBOM(t *testing.T) {
	cache, kernelDeb, loaderDeb := testInputs(t)
	exe := buildGoApp(t, "../examples/hello")
	out := filepath.Join(t.TempDir(), "out")
	res, err := Build(context.Background(), Spec{Name: "hello", App: App{Path: exe}, Kernel: KernelSource{Deb: kernelDeb},
		Bootloader: loaderDeb, CacheDir: cache, OutputDir: out, DataVolume: DataVolume{Disabled: true}, SourceDateEpoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.SBOM != filepath.Join(out, "hello.spdx.json") {
		t.Errorf("SBOM path %q", res.SBOM)
	}
	if err := sbomtest.ValidateFile(res.SBOM); err != nil {
		t.Error(err)
	}
	bom := string(readFile(t, res.SBOM))
	in := res.Inputs
	for _, want := range []string{
		`"pkg:deb/debian/` + in.Kernel.Name + `@` + in.Kernel.Version + `?arch=amd64"`,
		`"pkg:deb/debian/systemd-boot-efi@` + in.Bootloader.Version + `?arch=amd64"`,
		`"pkg:golang/github.com/insomniacslk/dhcp@`, // a module of the guest init
		`"pkg:golang/stdlib@`,
		`"checksumValue": "` + in.Kernel.SHA256 + `"`,
		`"checksumValue": "` + res.Files[0].SHA256 + `"`,
		`"created": "1970-01-01T00:00:01Z"`,
	} {
		if !strings.Contains(bom, want) {
			t.Errorf("SBOM lacks %s", want)
		}
	}
	if strings.Contains(bom, out) || strings.Contains(bom, cache) {
		t.Error("the SBOM holds a host path")
	}
	if !strings.Contains(in.Cmdline, baseCmdline) {
		t.Errorf("cmdline %q lacks the base command line", in.Cmdline)
	}

	raw := readFile(t, res.Manifest)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["sbom"] != "hello.spdx.json" {
		t.Errorf("manifest sbom = %v, want the file name", m["sbom"])
	}
	got, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.SBOM != res.SBOM || !reflect.DeepEqual(got.Inputs, res.Inputs) || got.SourceDateEpoch != 1 {
		t.Errorf("ReadManifest: sbom %q, epoch %d, inputs equal %v", got.SBOM, got.SourceDateEpoch, reflect.DeepEqual(got.Inputs, res.Inputs))
	}
}

// TestReadOldManifest reads a manifest of the version before inputs and
// the SBOM were recorded.
func TestReadOldManifest(t *testing.T) {
	dir := t.TempDir()
	old := `{"files":[{"path":"hello.raw","role":"boot","format":"raw","size":69206016,"sha256":"ab"}],` +
		`"manifest":"hello.manifest.json","kernel_release":"9.9.9-1-test-amd64","spec":{"name":"hello","app":{"path":"hello"},` +
		`"kernel":{},"boot_disk":{},"data_volume":{}},"duration":1}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "hello.manifest.json"), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Inputs != nil || r.SBOM != "" || r.Files[0].Path != filepath.Join(dir, "hello.raw") || r.KernelRelease != "9.9.9-1-test-amd64" {
		t.Errorf("old manifest read as %+v", r)
	}
}

func TestSourceDateEpochFromEnv(t *testing.T) {
	tests := []struct {
		env     string
		want    int64
		wantErr bool
	}{
		{"", 0, false},
		{"0", 0, false},
		{"1700000000", 1700000000, false},
		{" 42 ", 42, false},
		{"-1", 0, true},
		{"1.5", 0, true},
		{"yesterday", 0, true},
		{"253402300800", 0, true},
	}
	for _, tt := range tests {
		t.Setenv(SourceDateEpochEnv, tt.env)
		got, err := SourceDateEpochFromEnv()
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("SOURCE_DATE_EPOCH=%q: %d, %v", tt.env, got, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("SOURCE_DATE_EPOCH=%q: %v does not wrap ErrInvalidSpec", tt.env, err)
		}
	}
}

// readNewc reads a newc (independently of the writer's Record hook) cpio archive from r and describes the entries
// whose absolute name keep accepts, hashing the content of regular files.
func readNewc(r io.Reader, keep func(name string) bool) ([]GuestFile, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var out []GuestFile
	var hdr [110]byte
	var off int64
	skip := func(n int64) error {
		_, err := io.CopyN(io.Discard, br, n)
		off += n
		return err
	}
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, fmt.Errorf("cpio header at %d: %w", off, err)
		}
		off += int64(len(hdr))
		if string(hdr[:6]) != "070701" {
			return nil, fmt.Errorf("cpio header at %d: bad magic %q", off-int64(len(hdr)), hdr[:6])
		}
		field := func(i int) (int64, error) {
			return strconv.ParseInt(string(hdr[6+8*i:14+8*i]), 16, 64)
		}
		mode, err1 := field(1)
		size, err2 := field(6)
		nameSize, err3 := field(11)
		if err := errors.Join(err1, err2, err3); err != nil || nameSize < 1 || nameSize > 4096 {
			return nil, fmt.Errorf("cpio header at %d: bad field", off-int64(len(hdr)))
		}
		nb := make([]byte, nameSize)
		if _, err := io.ReadFull(br, nb); err != nil {
			return nil, fmt.Errorf("cpio name at %d: %w", off, err)
		}
		off += nameSize
		if err := skip(-off & 3); err != nil {
			return nil, err
		}
		name := string(bytes.TrimRight(nb, "\x00"))
		if name == "TRAILER!!!" {
			return out, nil
		}
		abs := "/" + name
		if !keep(abs) {
			if err := skip(size + (-(off + size) & 3)); err != nil {
				return nil, err
			}
			continue
		}
		g := GuestFile{Path: abs, Mode: fmt.Sprintf("%04o", mode&0o7777)}
		switch mode & 0o170000 {
		case 0o040000:
			g.Type = GuestDir
		case 0o120000:
			g.Type = GuestSymlink
			t := make([]byte, size)
			if _, err := io.ReadFull(br, t); err != nil {
				return nil, fmt.Errorf("cpio %s: %w", abs, err)
			}
			g.Target, g.Size = string(t), size
		default:
			g.Type = GuestRegular
			h := sha256.New()
			if _, err := io.CopyN(h, br, size); err != nil {
				return nil, fmt.Errorf("cpio %s: %w", abs, err)
			}
			g.Size, g.SHA256 = size, hex.EncodeToString(h.Sum(nil))
		}
		off += size
		if err := skip(-off & 3); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
}
