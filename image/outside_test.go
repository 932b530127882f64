package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// outsideModule is a module of its own (its own go.mod, outside this
// module's ./...) that uses only the exported API of the encoders; its test
// encodes a sparse image in every format and checks each with qemu-img.
const outsideModule = "../examples/encode"

// TestOutsideModule runs the tests of outsideModule, so that `go test ./...`
// proves the public API complete: that module cannot import internal
// packages. It runs with -mod=mod on a copy of the module's go.mod and
// go.sum, so the files in the tree are never rewritten.
func TestOutsideModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests another module; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH: cannot test the outside module")
	}
	dir, err := filepath.Abs(outsideModule)
	if err != nil {
		t.Fatal(err)
	}
	// Read every file of the module: go test then reruns this test when
	// one of them changes instead of reusing a cached result.
	tmp := t.TempDir()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no outside module at %s: %v", dir, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if name := filepath.Base(p); name == "go.mod" || name == "go.sum" {
			if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := exec.Command(goTool, "env", "GOFLAGS").Output()
	if err != nil {
		t.Fatalf("go env GOFLAGS: %v", err)
	}
	flags := strings.TrimSpace(string(out) + " -mod=mod")
	cmd := exec.Command(goTool, "test", "-count=1", "-modfile="+filepath.Join(tmp, "go.mod"), "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS="+flags, "GOWORK=off")
	b, err := cmd.CombinedOutput()
	t.Logf("go test in %s:\n%s", outsideModule, b)
	if err != nil {
		t.Fatalf("go test in %s: %v", outsideModule, err)
	}
}
