package initbin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// InitPackage is the import path of the guest init's source.
const InitPackage = "github.com/bootapp/bootapp/cmd/bootapp-init"

// Toolchain is the Go release that builds the committed guest init. It is
// pinned (through GOTOOLCHAIN, which fetches that release from the Go
// module proxy when the local go command is another one) so that the
// binary, and the test that checks it is fresh, do not depend on which Go
// a developer or CI happens to have. Change it deliberately, then run
// go generate ./internal/initbin.
const Toolchain = "go1.26.8"

// BuildCommand returns the command that builds the guest init for the
// GOARCH arch into the file out, exactly as the committed binary was built:
// static (CGO_ENABLED=0), stripped (-s -w), with paths trimmed and no build
// ID or VCS stamp, so that the output depends only on the source, go.mod
// and the Go toolchain. The command must run inside this module (any
// directory of it). Environment variables that would change the output
// (GOFLAGS, GOAMD64, GOEXPERIMENT ...) are overridden or removed.
func BuildCommand(ctx context.Context, arch, out string) (*exec.Cmd, error) {
	if !slices.Contains(Arches(), arch) {
		return nil, fmt.Errorf("build guest init for %q: %w", arch, ErrUnsupportedArch)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, InitPackage)
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOFLAGS", "GOOS", "GOARCH", "CGO_ENABLED", "GOAMD64", "GOEXPERIMENT", "GODEBUG", "GOARM64", "GOTOOLCHAIN":
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOAMD64=v1", "GOFLAGS=",
		"GOTOOLCHAIN="+Toolchain)
	return cmd, nil
}
