package ami

import (
	"testing"

	"github.com/bootapp/bootapp/internal/testutil"
)

// TestHCL2SpecIsCurrent fails when config.hcl2spec.go does not match
// Config: run `go generate ./packer-plugin/...` after changing it.
func TestHCL2SpecIsCurrent(t *testing.T) { testutil.HCL2SpecIsCurrent(t, "ami", "Config") }
