package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKernelDebNewest fills a cache with packages of several releases
// and checks that the newest one is picked, as a build picks it.
func TestKernelDebNewest(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BOOTAPP_CACHE", dir)
	debs := filepath.Join(dir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{
		"linux-image-6.1.0-9-cloud-amd64_6.1.27-1_amd64.deb",
		"linux-image-6.1.0-10-cloud-amd64_6.1.38-1_amd64.deb",
		"systemd-boot-efi_252.38-1~deb12u1_amd64.deb",
		"systemd-boot-efi_252.39-1~deb12u2_amd64.deb",
	} {
		if err := os.WriteFile(filepath.Join(debs, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if CacheDir() != dir || DebsDir() != debs {
		t.Errorf("CacheDir %s, DebsDir %s with BOOTAPP_CACHE=%s", CacheDir(), DebsDir(), dir)
	}
	if got := filepath.Base(KernelDeb(t)); got != "linux-image-6.1.0-10-cloud-amd64_6.1.38-1_amd64.deb" {
		t.Errorf("KernelDeb = %s", got)
	}
	if got := filepath.Base(LoaderDeb(t)); got != "systemd-boot-efi_252.39-1~deb12u2_amd64.deb" {
		t.Errorf("LoaderDeb = %s", got)
	}
}

// TestMissing runs itself in a child process with an empty cache, with
// and without BOOTAPP_E2E=1: there it asks for the kernel package, which
// must fail the full run and skip the fast one, both naming `mkbootapp
// fetch`.
func TestMissing(t *testing.T) {
	if os.Getenv("TESTUTIL_HELPER") == "1" {
		KernelDeb(t)
		t.Error("KernelDeb returned with an empty cache")
		return
	}
	tests := []struct {
		e2e      string
		wantFail bool
		want     string
	}{
		{"1", true, "--- FAIL: TestMissing"},
		{"", false, "--- SKIP: TestMissing"},
	}
	for _, tt := range tests {
		t.Run("BOOTAPP_E2E="+tt.e2e, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
			cmd.Env = append(os.Environ(), "TESTUTIL_HELPER=1", "BOOTAPP_CACHE="+t.TempDir(), E2EVar+"="+tt.e2e)
			out, err := cmd.CombinedOutput()
			if (err != nil) != tt.wantFail || !strings.Contains(string(out), tt.want) ||
				!strings.Contains(string(out), "mkbootapp fetch") {
				t.Errorf("child: %v, want failure %v and %q naming mkbootapp fetch:\n%s", err, tt.wantFail, tt.want, out)
			}
		})
	}
}
