package verify

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBuilderDoesNotLinkQEMU checks the reason this package exists: the
// engine (package builder and what it imports) does not pull in the QEMU
// harness, only verification does.
func TestBuilderDoesNotLinkQEMU(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("go command not found: %v", err)
	}
	tests := []struct {
		pkg      string
		wantQEMU bool
	}{
		{pkg: "github.com/bootapp/bootapp/builder", wantQEMU: false},
		{pkg: "github.com/bootapp/bootapp/builder/verify", wantQEMU: true}, // the check itself works
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-e", "-deps", tt.pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", tt.pkg, err)
			}
			got := false
			for _, p := range strings.Fields(string(out)) {
				if p == "github.com/bootapp/bootapp/internal/qemu" {
					got = true
				}
			}
			if got != tt.wantQEMU {
				t.Errorf("go list -deps %s: internal/qemu listed = %v, want %v", tt.pkg, got, tt.wantQEMU)
			}
		})
	}
}
