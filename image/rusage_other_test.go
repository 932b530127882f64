//go:build !unix

package image

import (
	"os"
	"time"
)

// childUsage reports ok false: this platform has no getrusage.
func childUsage(*os.ProcessState) (rss int64, user, sys time.Duration, ok bool) {
	return 0, 0, 0, false
}

// selfCPU returns 0: this platform has no getrusage.
func selfCPU() time.Duration { return 0 }
