package initbin

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/testutil"
)

// staleMsg is what a developer sees when the committed init no longer
// matches its source.
const staleMsg = "internal/initbin/bootapp-init-linux-amd64 is stale: run go generate ./internal/initbin"

func TestInit(t *testing.T) {
	tests := []struct {
		arch    string
		wantErr error
	}{
		{"amd64", nil},
		{"arm64", ErrUnsupportedArch},
		{"", ErrUnsupportedArch},
	}
	for _, tt := range tests {
		t.Run(tt.arch, func(t *testing.T) {
			b, err := Init(tt.arch)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Init(%q) err = %v, want %v", tt.arch, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			f, err := elf.NewFile(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("Init(%q) is not ELF: %v", tt.arch, err)
			}
			if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
				t.Errorf("machine %v type %v, want EM_X86_64 ET_EXEC", f.Machine, f.Type)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("init has an ELF interpreter: it must be static")
				}
			}
			if n := len(b); n > 5<<20 {
				t.Errorf("init is %d bytes, over the 5 MiB budget", n)
			}
			b[0] = 0 // the caller owns the copy
			if again, _ := Init(tt.arch); again[0] != 0x7f {
				t.Error("modifying Init's result changed the embedded init")
			}
		})
	}
}

func TestBuildCommandUnsupported(t *testing.T) {
	if _, err := BuildCommand(context.Background(), "riscv64", "x"); !errors.Is(err, ErrUnsupportedArch) {
		t.Errorf("err = %v, want ErrUnsupportedArch", err)
	}
}

// TestEmbeddedInitIsFresh rebuilds the init from source and compares it with
// the committed binary. With a warm build cache this takes a few seconds;
// -short skips it.
func TestEmbeddedInitIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not rebuilding cmd/bootapp-init to check the committed binary")
	}
	if v := goVersion(initAMD64); v != Toolchain {
		t.Fatalf("%s: it was built with %s, but Toolchain pins %s", staleMsg, v, Toolchain)
	}
	readInputs(t)
	got := build(t, filepath.Join(t.TempDir(), "init"), nil)
	if !bytes.Equal(got, initAMD64) {
		t.Errorf("%s (rebuilt %d bytes with %s, committed %d bytes; the local go command is %s)",
			staleMsg, len(got), Toolchain, len(initAMD64), runtime.Version())
	}
}

// TestBuildReproducible builds the init twice, the second time with an
// empty build cache and from another output directory, and expects the
// same bytes. It compiles everything from scratch, so it runs only with
// BOOTAPP_E2E=1.
func TestBuildReproducible(t *testing.T) {
	testutil.NeedE2E(t, "rebuilds the init with a cold build cache (about a minute)")
	a := build(t, filepath.Join(t.TempDir(), "a", "init"), nil)
	b := build(t, filepath.Join(t.TempDir(), "b", "bootapp-init"), []string{"GOCACHE=" + t.TempDir()})
	if !bytes.Equal(a, b) {
		t.Fatalf("two builds differ (%d and %d bytes): the build is not reproducible", len(a), len(b))
	}
	t.Logf("two builds gave the same %d bytes", len(a))
}

// build runs BuildCommand into out, with extra environment variables, and
// returns the binary.
func build(t *testing.T, out string, env []string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd, err := BuildCommand(ctx, "amd64", out)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(cmd.Env, env...)
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, b)
	}
	t.Logf("built the init in %s", time.Since(start).Round(time.Millisecond))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readInputs reads every source file of this module that the init is built
// from, plus go.mod and go.sum. The go command caches test results keyed on
// the files a test opens, and it cannot see inside the "go build" that the
// test runs: without this, editing cmd/bootapp-init would not invalidate a
// cached pass.
func readInputs(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "github.com/bootapp/bootapp"}}{{.Dir}}{{end}}{{end}}`, InitPackage).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", InitPackage, err)
	}
	dirs := strings.Fields(string(out))
	if len(dirs) == 0 {
		t.Fatalf("go list found no source directories for %s", InitPackage)
	}
	root := filepath.Dir(filepath.Dir(dirs[len(dirs)-1])) // .../cmd/bootapp-init -> module root
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".go") {
				files = append(files, filepath.Join(d, e.Name()))
			}
		}
	}
	for _, f := range files {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
}

// goVersion says which Go toolchain built a binary.
func goVersion(b []byte) string {
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return "an unknown Go version"
	}
	return bi.GoVersion
}

// BenchmarkInit reports the size of the embedded init, which goes into every
// image, and how fast Init copies it.
func BenchmarkInit(b *testing.B) {
	b.SetBytes(int64(len(initAMD64)))
	for b.Loop() {
		if _, err := Init("amd64"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(initAMD64)), "init-bytes")
}
