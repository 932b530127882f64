package image

import (
	"bytes"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/bootapp/bootapp/image/internal/sparsetest"
	"github.com/bootapp/bootapp/internal/testutil"
)

// needTool returns the path of an external tool from the Debian package
// pkg; when it is not installed the test fails with BOOTAPP_E2E=1 and
// skips otherwise, saying how to install it (testutil.NeedCommand).
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	return testutil.NeedCommand(t, name, "apt-get install -y "+pkg+" (or make deps)")
}

// run runs a command and returns its combined output and exit code.
func run(t testing.TB, name string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("run %s %v: %v", name, args, err)
	}
	return string(out), 0
}

// allocated returns the bytes a file occupies on disk (the test is
// skipped where the platform cannot tell).
func allocated(t testing.TB, path string) int64 {
	t.Helper()
	return sparsetest.Allocated(t, path)
}

// randBytes returns n deterministic pseudo-random bytes starting with
// prefix.
func randBytes(seed uint64, n int, prefix string) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	copy(b, prefix)
	return b
}

// fakeBootFiles returns small synthetic boot files: PE-looking loader and
// kernel, random initramfs.
func fakeBootFiles() *BootFiles {
	return &BootFiles{
		Loader:  randBytes(1, 120<<10, "MZ"),
		Kernel:  randBytes(2, 3<<20+123, "MZ"),
		Initrd:  randBytes(3, 1<<20+7, ""),
		Cmdline: "console=ttyS0 panic=-1 bootapp.test=1",
		Title:   "bootapp: test",
	}
}

// readESPFile copies one file out of the ESP of a boot disk with mtools.
func readESPFile(t testing.TB, disk, p string) []byte {
	t.Helper()
	mcopy := needTool(t, "mcopy", "mtools")
	cmd := exec.Command(mcopy, "-n", "-i", disk+"@@1M", "::"+p, "-")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("mcopy %s from %s: %v: %s", p, disk, err, errb.String())
	}
	return out.Bytes()
}
