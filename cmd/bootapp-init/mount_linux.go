package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// earlyMount is one of the pseudo filesystems mounted before anything else.
type earlyMount struct {
	fstype, target string
	flags          uintptr
	data           string
}

// earlyMounts lists what mountEarly mounts, in order: /dev precedes
// /dev/pts and /dev/shm.
func earlyMounts() []earlyMount {
	return []earlyMount{
		{"proc", "/proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=0755"},
		{"devpts", "/dev/pts", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=0620,ptmxmode=0666"},
		{"tmpfs", "/dev/shm", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "/run", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"tmpfs", "/tmp", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	}
}

// mountEarly mounts the pseudo filesystems and adds the /dev symlinks that
// devtmpfs lacks. It returns every failure joined; a target that is already
// mounted (EBUSY) is not a failure.
func mountEarly() error {
	var errs []error
	for _, m := range earlyMounts() {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("create mount point %s: %w", m.target, err))
			continue
		}
		if err := unix.Mount(m.fstype, m.target, m.fstype, m.flags, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}
	for link, target := range map[string]string{
		"/dev/fd":     "/proc/self/fd",
		"/dev/stdin":  "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1",
		"/dev/stderr": "/proc/self/fd/2",
		"/dev/ptmx":   "pts/ptmx",
	} {
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(target, link); err != nil {
			errs = append(errs, fmt.Errorf("symlink %s: %w", link, err))
		}
	}
	return errors.Join(errs...)
}

// setupConsole makes /dev/console the init's stdin, stdout and stderr. The
// kernel opens it before starting /init only when the initramfs has the
// device node, so the init does it again once devtmpfs is mounted.
func setupConsole() error {
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/console: %w", err)
	}
	for _, to := range []int{0, 1, 2} {
		if fd == to {
			continue
		}
		if err := unix.Dup3(fd, to, 0); err != nil {
			unix.Close(fd)
			return fmt.Errorf("dup /dev/console to fd %d: %w", to, err)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
	return nil
}
