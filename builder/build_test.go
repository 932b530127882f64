package builder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/bootapp/bootapp/kernel"
)

// TestBuildBadInput checks that every kind of bad input gives a clear error
// naming the problem and leaves no output directory behind.
func TestBuildBadInput(t *testing.T) {
	cache, kdeb, ldeb := testInputs(t)
	tmp := t.TempDir()
	app := buildGoApp(t, "../examples/hello")
	armApp := buildGoApp(t, "../examples/hello", "GOARCH=arm64")
	truncated := filepath.Join(tmp, "truncated.deb")
	kb, err := os.ReadFile(kdeb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, kb[:len(kb)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	notDeb := filepath.Join(tmp, "garbage.deb")
	if err := os.WriteFile(notDeb, []byte("this is not a Debian package\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dynApp := "/bin/ls" // dynamically linked on every Debian host

	tests := []struct {
		name    string
		field   string // the Spec field the *FieldError names
		mod     func(*Spec)
		wantIs  error
		wantMsg []string
	}{
		{"missing kernel", "kernel.deb", func(s *Spec) { s.Kernel.Deb = filepath.Join(tmp, "nope.deb") }, ErrNotFound, []string{"nope.deb", "linux-image"}},
		{"deb that is not a kernel", "kernel.deb", func(s *Spec) { s.Kernel.Deb = ldeb }, kernel.ErrNotKernel, []string{"systemd-boot-efi"}},
		{"truncated kernel deb", "kernel.deb", func(s *Spec) { s.Kernel.Deb = truncated }, nil, []string{"truncated.deb"}},
		{"garbage kernel deb", "kernel.deb", func(s *Spec) { s.Kernel.Deb = notDeb }, nil, []string{"garbage.deb"}},
		{"app does not exist", "app.path", func(s *Spec) { s.App.Path = filepath.Join(tmp, "no-such-app") }, ErrNotFound, []string{"no-such-app"}},
		{"app built for arm64", "app.path", func(s *Spec) { s.App.Path = armApp }, ErrBadApp, []string{"AARCH64", "GOARCH=amd64"}},
		{"dynamically linked app, libraries missing", "app.sysroot", func(s *Spec) { s.App.Path, s.App.Sysroot = dynApp, tmp }, ErrNotFound, []string{"ld-linux-x86-64.so.2", "needed by /app/ls", tmp}},
		{"no CA certificates cached", "system.ca_certificates", func(s *Spec) { s.CacheDir = tmp }, ErrNotCached, []string{"ca-certificates", tmp}},
		{"app directory without entrypoint", "app.entrypoint", func(s *Spec) { s.App.Path = tmp }, ErrInvalidSpec, []string{"entrypoint"}},
		{"boot disk too small", "boot_disk.size", func(s *Spec) { s.BootDisk.Size = 8 << 20 }, image.ErrTooSmall, []string{"boot_disk.size", "at least"}},
		{"data volume too small", "data_volume.size", func(s *Spec) { s.DataVolume.Size = 1 << 20 }, ErrInvalidSpec, []string{"data_volume.size"}},
		{"negative disk size", "boot_disk.size", func(s *Spec) { s.BootDisk.Size = -1 }, ErrInvalidSpec, []string{"boot_disk.size"}},
		{"unknown format", "boot_disk.formats", func(s *Spec) { s.BootDisk.Formats = []image.Format{"iso"} }, ErrInvalidSpec, []string{"iso"}},
		{"bad kernel checksum", "kernel.checksum", func(s *Spec) { s.Kernel = KernelSource{URL: "http://127.0.0.1:1/k.deb", Checksum: "md5:abc"} }, ErrInvalidSpec, []string{"kernel.checksum"}},
		{"label too long", "data_volume.label", func(s *Spec) { s.DataVolume.Label = strings.Repeat("x", 17) }, ErrInvalidSpec, []string{"data_volume.label"}},
		{"nothing cached", "kernel.deb", func(s *Spec) { s.Kernel.Deb, s.CacheDir = "", tmp }, ErrNotCached, []string{"no kernel package", tmp}},
		{"no loader cached", "bootloader", func(s *Spec) { s.Bootloader, s.CacheDir = "", tmp }, ErrNotCached, []string{"systemd-boot-efi", tmp}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			s := Spec{
				App:        App{Path: app},
				Kernel:     KernelSource{Deb: kdeb},
				Bootloader: ldeb,
				CacheDir:   cache,
				OutputDir:  out,
				DataVolume: DataVolume{Size: 64 << 20},
			}
			tc.mod(&s)
			res, err := Build(context.Background(), s)
			if err == nil {
				t.Fatalf("Build succeeded: %+v", res)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tc.wantIs)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("error %q is not a FieldError for %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "--") || strings.Contains(err.Error(), "mkbootapp") {
				t.Errorf("engine error %q names a front door's option", err)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("output directory %s left behind after error", out)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	s, err := Spec{App: App{Path: "/srv/web-app", Ports: []int{8080}}, Health: &HealthCheck{Path: "/healthz"}}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "web-app" || s.OutputDir != DefaultOutputDir || s.DataVolume.Size != DefaultDataVolumeSize ||
		s.DataVolume.Label != DefaultDataLabel || s.App.WorkDir != "/data" || s.Health.Port != 8080 ||
		len(s.BootDisk.Formats) != 1 || s.BootDisk.Formats[0] != image.Raw || s.Compression != "none" {
		t.Errorf("defaults not applied: %+v", s)
	}
	if _, err := (Spec{}).WithDefaults(); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "app.path") {
		t.Errorf("empty spec: %v", err)
	}
	s, err = Spec{App: App{Path: "x"}, BootDisk: Disk{Formats: []image.Format{"streamOptimized", "qcow2"}}}.WithDefaults()
	if err != nil || s.BootDisk.Formats[0] != image.VMDKStream {
		t.Errorf("format aliases not normalised: %v %v", s.BootDisk.Formats, err)
	}
}

func TestReadLoader(t *testing.T) {
	ldeb := testutil.LoaderDeb(t)
	cache := t.TempDir()
	first, err := readLoader(context.Background(), cache, ldeb)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) < 1024 || string(first[:2]) != "MZ" {
		t.Fatalf("extracted loader is not a PE file (%d bytes)", len(first))
	}
	if m, _ := filepath.Glob(filepath.Join(cache, "*.efi")); len(m) != 1 {
		t.Fatalf("loader not cached: %v", m)
	}
	second, err := readLoader(context.Background(), cache, ldeb)
	if err != nil || string(second) != string(first) {
		t.Fatalf("cached loader differs: %v", err)
	}
	efi := filepath.Join(t.TempDir(), "x.efi")
	os.WriteFile(efi, []byte("not a PE file"), 0o644)
	if _, err := readLoader(context.Background(), cache, efi); err == nil || !strings.Contains(err.Error(), "not a PE/EFI") {
		t.Errorf("bad .efi accepted: %v", err)
	}
}
