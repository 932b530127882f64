//go:build !linux

package image

import (
	"errors"
	"os"
)

// punchHole is only implemented on Linux; elsewhere zero runs are written as
// data (correct, but the image is less sparse).
func punchHole(*os.File, int64, int64) error {
	return errors.New("punching holes is not supported on this platform")
}
