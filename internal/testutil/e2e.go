package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// E2EVar is the environment variable that switches the slow tests on
// (QEMU boots, unpacking the real kernel); `make test` sets it to 1.
const E2EVar = "BOOTAPP_E2E"

// E2E reports whether the slow tests run: BOOTAPP_E2E=1.
func E2E() bool { return os.Getenv(E2EVar) == "1" }

// NeedE2E skips the test unless BOOTAPP_E2E=1, saying what makes it slow
// (why, e.g. "boots QEMU (about 15 s under TCG)") and how to run it.
func NeedE2E(t testing.TB, why string) {
	t.Helper()
	if !E2E() {
		t.Skipf("slow test: %s; set %s=1 to run it (make test does)", why, E2EVar)
	}
}

// Missing reports a missing prerequisite (what) together with the command
// that provides it (fix). With BOOTAPP_E2E=1, and always in a benchmark,
// it fails the test: a full run must not pass by skipping. Otherwise (the
// fast `go test ./...`) it skips with the same message.
func Missing(t testing.TB, what, fix string) {
	t.Helper()
	msg := fmt.Sprintf("missing prerequisite: %s; fix: %s", what, fix)
	if _, bench := t.(*testing.B); bench || E2E() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NeedCommand returns the path of the command name, or reports it Missing
// with fix, the command that installs it (e.g. "apt-get install -y
// qemu-utils" or "make deps").
func NeedCommand(t testing.TB, name, fix string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed", fix)
	}
	return p
}

// NeedFile reports path Missing with fix unless it exists.
func NeedFile(t testing.TB, path, fix string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, fmt.Sprintf("%s (%v)", path, err), fix)
	}
}
