package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hardenKernel writes bootTunables (and the lowest port the app may bind,
// when the app declared ports below 1024) and logs the result in one line.
func (in *initProc) hardenKernel() {
	ts := bootTunables()
	if t, ok := portTunable(in.cfg.portStart); ok {
		ts = append(ts, t)
	}
	in.log.Printf("security: %s", applyTunables(osKernelFiles{}, ts))
}

// lockModules disables module loading for the rest of the boot once the
// init has loaded its modules, unless the configuration keeps it open.
func (in *initProc) lockModules() {
	if in.cfg.allowModules {
		in.log.Printf("security: module loading stays enabled (Security.AllowModuleLoading)")
		return
	}
	in.log.Printf("security: %s", applyTunables(osKernelFiles{}, []tunable{modulesLock}))
}

// lockDown runs after the init has written everything it writes to the
// root file system and before the app starts: it makes / owned by root and
// mode 0755 (an initramfs without a "." entry leaves it 1777), remounts it
// read-only, nosuid and nodev, and makes every later exec unable to gain
// privileges. Failures are logged; the app still starts.
func (in *initProc) lockDown() {
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		in.log.Printf("security: stat /: %v", err)
	} else if st.Uid != 0 || st.Gid != 0 || st.Mode&0o7777 != 0o755 {
		err1 := unix.Chown("/", 0, 0)
		err2 := unix.Chmod("/", 0o755)
		in.log.Printf("security: / was mode %04o owned by %d:%d; made 0755 root:root (chown: %v, chmod: %v)",
			st.Mode&0o7777, st.Uid, st.Gid, err1, err2)
	}
	if err := lockRoot(); err != nil {
		in.log.Printf("security: %v", err)
	}
	if err := restrictExec(linuxPriv{}); err != nil {
		in.log.Printf("security: %v", err)
	}
	in.log.Printf("security: / is read-only and nosuid; the app runs with no_new_privs and no capabilities")
}

// lockRoot remounts the root file system read-only, nosuid and nodev. It
// changes the flags of the mount (a bind remount), which works for the
// initramfs's rootfs too; the init's own later writes go to /run.
func lockRoot() error {
	const flags = unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV
	if err := unix.Mount("", "/", "", flags, ""); err != nil {
		return fmt.Errorf("remount / read-only: %w", err)
	}
	return nil
}

// linuxPriv is privOps with prctl(2) and capset(2) on every thread
// (syscall.AllThreadsSyscall; the init is built without cgo).
type linuxPriv struct{}

func allThreads(trap, a1, a2, a3 uintptr) error {
	if _, _, errno := syscall.AllThreadsSyscall(trap, a1, a2, a3); errno != 0 {
		return errno
	}
	return nil
}

func (linuxPriv) lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("cap_last_cap %q: not a capability number", strings.TrimSpace(string(b)))
	}
	return n, nil
}

func (linuxPriv) setNoNewPrivs() error {
	return allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0)
}

func (linuxPriv) dropBounding(c int) error {
	return allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0)
}

func (linuxPriv) clearAmbient() error {
	return allThreads(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0)
}

// clearInheritable empties the inheritable set and keeps the permitted and
// effective sets as they are.
func (linuxPriv) clearInheritable() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	if data[0].Inheritable == 0 && data[1].Inheritable == 0 {
		return nil
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	return allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
}
