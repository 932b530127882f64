package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildOptions adjust StaticBinary.
type BuildOptions struct {
	// Out is the binary's path; default: a file named after pkg in a
	// fresh t.TempDir().
	Out string
	// Dir is go build's working directory; default: the test's package
	// directory.
	Dir string
	// Flags are extra go build flags, e.g. "-trimpath".
	Flags []string
	// Env is added after the static linux/amd64 defaults and so may
	// override them (e.g. "GOARCH=arm64").
	Env []string
}

// StaticBinary builds the Go main package pkg (an import path, a ./dir
// relative to o.Dir, or a .go file) as a static linux/amd64 executable
// (CGO_ENABLED=0) and returns its path, failing the test when it does
// not build.
func StaticBinary(t testing.TB, pkg string, o BuildOptions) string {
	t.Helper()
	if o.Out == "" {
		o.Out = filepath.Join(t.TempDir(), filepath.Base(strings.TrimSuffix(pkg, ".go")))
	}
	args := append([]string{"build", "-o", o.Out}, o.Flags...)
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = o.Dir
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"), o.Env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return o.Out
}
