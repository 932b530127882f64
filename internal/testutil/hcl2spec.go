package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// HCL2SpecIsCurrent regenerates config.hcl2spec.go of the Packer component
// package in the working directory (package name pkg) with packer-sdc (the
// go.mod tool) for types ("Config,HealthCheckConfig") into a temporary
// directory, and fails when the committed file differs: run `go generate
// ./packer-plugin/...` after changing a config struct. In -short mode it
// skips, since it compiles packer-sdc.
func HCL2SpecIsCurrent(t *testing.T, pkg, types string) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping packer-sdc staleness check in -short mode: it compiles packer-sdc")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run packer-sdc: %v", err)
	}
	tmp := t.TempDir()
	cmd := exec.Command(goBin, "tool", "packer-sdc", "mapstructure-to-hcl2", "-type", types)
	// packer-sdc loads the package in the working directory and writes
	// GOFILE with its .go suffix replaced by .hcl2spec.go.
	cmd.Env = append(os.Environ(), "GOFILE="+filepath.Join(tmp, "config.go"), "GOPACKAGE="+pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go tool packer-sdc: %v\n%s", err, out)
	}
	fresh, err := os.ReadFile(filepath.Join(tmp, "config.hcl2spec.go"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("config.hcl2spec.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Errorf("config.hcl2spec.go is stale: run `go generate ./packer-plugin/...` and commit it")
	}
}
