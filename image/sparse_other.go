//go:build !linux || bootapp_portable

package image

import (
	"errors"
	"os"
)

// holePunching is true where punchHole can make holes.
const holePunching = false

// punchHole is only implemented on Linux (the bootapp_portable build tag
// forces this path there, for tests); elsewhere zero runs are written as
// data (correct, but the image is less sparse).
func punchHole(*os.File, int64, int64) error {
	return errors.New("punching holes is not supported on this platform")
}
