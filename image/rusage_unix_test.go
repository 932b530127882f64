//go:build unix

package image

import (
	"os"
	"runtime"
	"syscall"
	"time"
)

// childUsage returns the peak RSS in bytes and the CPU times of a finished
// child process; ok is false where the platform does not report them.
func childUsage(ps *os.ProcessState) (rss int64, user, sys time.Duration, ok bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0, 0, false
	}
	rss = int64(ru.Maxrss)
	if runtime.GOOS != "darwin" {
		rss <<= 10 // KiB everywhere but macOS, which reports bytes
	}
	return rss, time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), true
}

// selfCPU returns the CPU time (user and system) this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
