package qemu

import "syscall"

// hostSupported reports whether Start can run QEMU on this host: on Linux
// it can.
func hostSupported() error { return nil }

// procAttr returns how QEMU is started.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		// Own process group: a Ctrl-C in the terminal goes to the caller,
		// which powers the guest off cleanly, not straight to QEMU.
		Setpgid: true,
		// QEMU dies with the process that started it: no orphans.
		Pdeathsig: syscall.SIGKILL,
	}
}
