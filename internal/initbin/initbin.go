package initbin

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
)

//go:generate go run ./gen -arch amd64 -o bootapp-init-linux-amd64

// initAMD64 is the guest init for linux/amd64. It is never modified: Init
// returns copies.
//
//go:embed bootapp-init-linux-amd64
var initAMD64 []byte

// ErrUnsupportedArch is returned by Init and BuildCommand for an
// architecture that has no prebuilt init.
var ErrUnsupportedArch = errors.New("no prebuilt bootapp-init for this architecture")

// Arches lists the GOARCH values that have a prebuilt init.
func Arches() []string { return []string{"amd64"} }

// Init returns the guest init (cmd/bootapp-init) for the GOARCH arch, a
// static Linux executable to be written as /init into the initramfs with
// mode 0755. The slice is the caller's to keep or modify. Only "amd64" is
// supported for now; other values return an error wrapping
// ErrUnsupportedArch.
func Init(arch string) ([]byte, error) {
	switch arch {
	case "amd64":
		return slices.Clone(initAMD64), nil
	}
	return nil, fmt.Errorf("guest init for %q: %w (have %v): build one with GOARCH=%s and add it to internal/initbin", arch, ErrUnsupportedArch, Arches(), arch)
}
