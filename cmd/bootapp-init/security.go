package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
)

// kernelFiles reads and writes the kernel's tunables, the files below
// /proc/sys and /sys. Tests replace it.
type kernelFiles interface {
	ReadFile(name string) ([]byte, error)
	WriteFile(name string, data []byte) error
}

// osKernelFiles is kernelFiles on the real file system.
type osKernelFiles struct{}

func (osKernelFiles) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// WriteFile writes data to an existing file in a single write(2), as the
// kernel's sysctl handlers expect; it never creates the file.
func (osKernelFiles) WriteFile(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// tunable is one kernel setting the init writes at boot: a file below
// /proc/sys (a sysctl) or /sys, and the value to write.
type tunable struct {
	path, value string
}

// String names the tunable the way sysctl(8) does ("kernel.kptr_restrict=2"),
// or by its path outside /proc/sys; an empty value is shown as "".
func (t tunable) String() string {
	name := t.path
	if rest, ok := strings.CutPrefix(name, "/proc/sys/"); ok {
		name = strings.ReplaceAll(rest, "/", ".")
	}
	v := t.value
	if v == "" || strings.ContainsAny(v, " \t") {
		v = strconv.Quote(v)
	}
	return name + "=" + v
}

// sysctl returns the tunable for the sysctl name ("kernel.modprobe").
func sysctl(name, value string) tunable {
	return tunable{path.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")), value}
}

// bootTunables are written once /proc and /sys are mounted, before the
// modules are loaded. They cost nothing at run time.
//
// The first group closes the usermode helpers: programs the kernel starts
// by path as root with every capability (kernel.modprobe when a socket
// family or a file system is unknown, the hotplug helper on every uevent,
// poweroff_cmd on an orderly power-off). An empty path makes the kernel
// skip them, and the usermode helpers' capability sets are emptied in case
// one still runs. The helper paths the kernel hard-codes (/sbin/reboot,
// /sbin/request-key ...) stay closed because the root file system is
// read-only for the app (lockRoot).
//
// The rest is the usual hardening of a server kernel: kernel pointers and
// the kernel log hidden from unprivileged users, no unprivileged eBPF,
// perf events or user namespaces, no kexec, the protected_* link and file
// rules, no core dumps of processes that changed credentials, and ptrace
// limited to a process's descendants.
func bootTunables() []tunable {
	return []tunable{
		sysctl("kernel.modprobe", ""),
		sysctl("kernel.hotplug", ""),
		{"/sys/kernel/uevent_helper", ""},
		sysctl("kernel.poweroff_cmd", ""),
		sysctl("kernel.core_pattern", "core"),
		sysctl("kernel.usermodehelper.bset", "0 0"),
		sysctl("kernel.usermodehelper.inheritable", "0 0"),

		sysctl("kernel.kptr_restrict", "2"),
		sysctl("kernel.dmesg_restrict", "1"),
		sysctl("kernel.unprivileged_bpf_disabled", "1"),
		sysctl("kernel.perf_event_paranoid", "3"),
		sysctl("kernel.kexec_load_disabled", "1"),
		sysctl("kernel.unprivileged_userns_clone", "0"), // Debian's kernels only
		sysctl("user.max_user_namespaces", "0"),
		sysctl("kernel.yama.ptrace_scope", "1"),
		sysctl("vm.unprivileged_userfaultfd", "0"),
		sysctl("dev.tty.ldisc_autoload", "0"),
		sysctl("fs.protected_symlinks", "1"),
		sysctl("fs.protected_hardlinks", "1"),
		sysctl("fs.protected_fifos", "2"),
		sysctl("fs.protected_regular", "2"),
		sysctl("fs.suid_dumpable", "0"),
	}
}

// portTunable returns the sysctl that lets the unprivileged app bind ports
// from start up, when start is above zero (see
// guestconfig.Security.UnprivilegedPortStart).
func portTunable(start int) (tunable, bool) {
	if start <= 0 {
		return tunable{}, false
	}
	return sysctl("net.ipv4.ip_unprivileged_port_start", strconv.Itoa(start)), true
}

// modulesLock is written once the init has loaded its modules, unless the
// configuration keeps module loading open. It cannot be undone until the
// next boot.
var modulesLock = sysctl("kernel.modules_disabled", "1")

// applyTunables writes each tunable and returns one line for the log: what
// was set, what this kernel does not have (not an error: the setting is
// then moot or done another way), and what failed.
func applyTunables(k kernelFiles, ts []tunable) string {
	var set, absent, failed []string
	for _, t := range ts {
		err := k.WriteFile(t.path, []byte(t.value+"\n"))
		switch {
		case err == nil:
			set = append(set, t.String())
		case errors.Is(err, fs.ErrNotExist):
			absent = append(absent, t.String())
		default:
			failed = append(failed, fmt.Sprintf("%s: %v", t, err))
		}
	}
	line := "set " + strings.Join(set, " ")
	if len(set) == 0 {
		line = "set nothing"
	}
	if len(absent) > 0 {
		line += "; not in this kernel: " + strings.Join(absent, " ")
	}
	if len(failed) > 0 {
		line += "; FAILED: " + strings.Join(failed, "; ")
	}
	return line
}

// privOps are the system calls that limit what the app can gain when the
// init starts it. Each acts on every thread of the init, so that whichever
// thread forks the app passes the limits on. Tests replace it.
type privOps interface {
	// lastCap is the highest capability number the kernel knows.
	lastCap() (int, error)
	setNoNewPrivs() error
	// dropBounding removes capability c from the bounding set.
	dropBounding(c int) error
	clearAmbient() error
	clearInheritable() error
}

// restrictExec makes every program the init starts from now on (the app)
// unable to gain privileges: no_new_privs (exec honours no setuid or
// setgid bit and no file capability), an empty capability bounding set,
// and empty inheritable and ambient sets. The init keeps its own effective
// capabilities: the bounding set only limits what an exec can grant. It
// returns every failure joined.
func restrictExec(p privOps) error {
	var errs []error
	if err := p.setNoNewPrivs(); err != nil {
		errs = append(errs, fmt.Errorf("set no_new_privs: %w", err))
	}
	last, err := p.lastCap()
	if err != nil {
		errs = append(errs, fmt.Errorf("highest capability: %w; dropping 0..63", err))
		last = 63
	}
	for c := 0; c <= last; c++ {
		if err := p.dropBounding(c); err != nil {
			errs = append(errs, fmt.Errorf("drop capability %d from the bounding set: %w", c, err))
		}
	}
	if err := p.clearAmbient(); err != nil {
		errs = append(errs, fmt.Errorf("clear ambient capabilities: %w", err))
	}
	if err := p.clearInheritable(); err != nil {
		errs = append(errs, fmt.Errorf("clear inheritable capabilities: %w", err))
	}
	return errors.Join(errs...)
}

// resolvPath is where the init writes the resolver configuration;
// /etc/resolv.conf links to it, so that the root file system can be
// read-only while DHCP renewals still update it.
const resolvPath = "/run/bootapp/resolv.conf"

// linkResolvConf makes etc a symbolic link to run. A regular file at etc
// (one shipped in the image) is moved to run first, unless run exists.
func linkResolvConf(etc, run string) error {
	if target, err := os.Readlink(etc); err == nil && target == run {
		return nil
	}
	if err := os.MkdirAll(path.Dir(run), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", path.Dir(run), err)
	}
	if b, err := os.ReadFile(etc); err == nil {
		if _, err := os.Lstat(run); errors.Is(err, fs.ErrNotExist) {
			if err := os.WriteFile(run, b, 0o644); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(etc); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", etc, err)
	}
	if err := os.MkdirAll(path.Dir(etc), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", path.Dir(etc), err)
	}
	if err := os.Symlink(run, etc); err != nil {
		return fmt.Errorf("link %s to %s: %w", etc, run, err)
	}
	return nil
}
