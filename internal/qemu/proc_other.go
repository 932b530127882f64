//go:build !linux

package qemu

import (
	"fmt"
	"runtime"
	"syscall"
)

// hostSupported reports why Start cannot run QEMU here: the harness relies
// on Linux (a parent-death signal so that QEMU never outlives its caller,
// KVM, the OVMF paths of Linux distributions).
func hostSupported() error {
	return fmt.Errorf("%w: this is %s/%s", ErrUnsupportedHost, runtime.GOOS, runtime.GOARCH)
}

// procAttr is never used: Start fails in hostSupported first.
func procAttr() *syscall.SysProcAttr { return nil }
