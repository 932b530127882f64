package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bootapp/bootapp/internal/guestconfig"
	"golang.org/x/sys/unix"
)

// initProc is the state of PID 1. The supervision loop (supervise) owns the
// app fields; other goroutines talk to it through shutdownC.
type initProc struct {
	log         *logger
	cfg         *settings
	onFatal     fatalAction
	dataMounted bool // an ext4 volume (not a tmpfs) is mounted at cfg.mountPoint
	// drivers is the driver table (guestconfig.DriversPath): the modules
	// loaded only for the devices present. Nil: load every module.
	drivers *driverTable

	shutdownC chan string // reasons to shut down, from any goroutine
	stopOnce  sync.Mutex  // held by the one goroutine that powers off

	// appPID is the app's process ID, 0 when it is not running. It is
	// atomic because a fatal error in any goroutine stops the app.
	appPID atomic.Int64
	// Owned by supervise.
	appStarted time.Time
	backoff    time.Duration
	restarts   restartBudget

	net   *netState // shared by the network goroutines
	cloud cloud     // the cloud the DMI strings name, if any
}

func main() {
	// The DHCP library draws transaction IDs from u-root's rand, which
	// spins on getrandom(GRND_NONBLOCK) until the kernel's CRNG is ready:
	// on a VM without RDRAND or virtio-rng (QEMU TCG) that takes minutes.
	// This variable makes it read /dev/urandom instead, which at worst
	// waits for the kernel's jitter entropy (requestLease avoids even that
	// at boot; lease renewals still use it). The app does not inherit it.
	os.Setenv("UROOT_NOHWRNG", "1")
	in := &initProc{
		log:       newLogger(os.Stderr, sinceBoot),
		shutdownC: make(chan string, 1),
		net:       newNetState(),
	}
	in.run()
}

// sinceBoot returns the time since boot on the monotonic clock, the time
// base of the kernel's log.
func sinceBoot() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// run boots the system and supervises the app. It never returns: PID 1
// exiting panics the kernel.
func (in *initProc) run() {
	defer func() {
		if r := recover(); r != nil {
			in.fatal(fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
		}
	}()
	if os.Getpid() != 1 {
		in.log.Printf("warning: running as pid %d, not as PID 1", os.Getpid())
	}
	mountErr := mountEarly()
	if err := setupConsole(); err != nil {
		in.log.Printf("console: %v", err)
	}
	in.log.Printf("starting")
	if mountErr != nil {
		in.log.Printf("mount: %v", mountErr)
	}
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		in.onFatal = parseCmdline(string(b))
	}
	// Take signals before anything can send them: SIGCHLD to reap,
	// the rest to stop or to forward.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT, unix.SIGUSR2, unix.SIGPWR, unix.SIGHUP)

	raw, err := os.ReadFile(guestconfig.Path)
	if err != nil {
		in.fatal(fmt.Errorf("read %s: %w; the initramfs was not built by bootapp", guestconfig.Path, err))
	}
	c, err := guestconfig.Unmarshal(raw)
	if err != nil {
		in.fatal(fmt.Errorf("%s: %w", guestconfig.Path, err))
	}
	if in.cfg, err = newSettings(c); err != nil {
		in.fatal(fmt.Errorf("%s: %w", guestconfig.Path, err))
	}
	if in.drivers, err = readDriverTable(guestconfig.DriversPath); err != nil {
		in.fatal(fmt.Errorf("%s: %w", guestconfig.DriversPath, err))
	}
	in.restarts = restartBudget{limit: in.cfg.restartLimit, window: in.cfg.restartWindow}

	in.hardenKernel()
	in.loadModules()
	in.lockModules()
	in.logClock()
	if in.cloud = detectCloud(readDMI(dmiDir)); in.cloud != cloudNone {
		in.log.Printf("cloud: %s (from the DMI strings)", in.cloud)
	}
	ctx := context.Background()
	buttonReady := make(chan struct{})
	in.goSafe("power button", func() { in.watchPowerButton(ctx, buttonReady) })

	var wg sync.WaitGroup
	var dataErr error
	wg.Add(2)
	in.goSafe("network", func() { defer wg.Done(); in.setupNetwork(ctx) })
	in.goSafe("data volume", func() { defer wg.Done(); dataErr = in.setupData(ctx) })
	wg.Wait()
	if dataErr != nil {
		in.fatal(fmt.Errorf("data volume: %w", dataErr))
	}
	in.startTimeSync(ctx)
	in.applyRunConfig(ctx)
	if err := in.ensureAccounts(); err != nil {
		in.log.Printf("accounts: %v", err)
	}
	in.lockDown()
	// Start the app only once a power button press can be seen: a
	// health-checked deploy may stop the VM as soon as the app answers.
	// The device is normally open long before this point; the bound only
	// matters on a machine without one.
	select {
	case <-buttonReady:
	case <-time.After(time.Second):
	}
	in.supervise(sigs)
}

// goSafe runs f in a goroutine; a panic in it is a fatal error instead of
// a crash of PID 1.
func (in *initProc) goSafe(name string, f func()) {
	go func() {
		defer func() {
			if r := recover(); r != nil {
				in.fatal(fmt.Errorf("panic in %s: %v\n%s", name, r, debug.Stack()))
			}
		}()
		f()
	}()
}

// requestShutdown asks the supervision loop to shut down. It never blocks.
func (in *initProc) requestShutdown(reason string) {
	select {
	case in.shutdownC <- reason:
	default: // a shutdown is already pending
	}
}

// ensureAccounts adds /etc/passwd and /etc/group entries for the app's UID
// and GID when they are missing, so that user-name lookups in the app work.
func (in *initProc) ensureAccounts() error {
	var errs []error
	passwd, _ := os.ReadFile("/etc/passwd")
	if p, changed := ensurePasswd(string(passwd), in.cfg.uid, in.cfg.gid, in.cfg.appDir); changed {
		if err := os.WriteFile("/etc/passwd", []byte(p), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	group, _ := os.ReadFile("/etc/group")
	if g, changed := ensureGroup(string(group), in.cfg.gid); changed {
		if err := os.WriteFile("/etc/group", []byte(g), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fatal logs err and takes the machine down. It never returns.
func (in *initProc) fatal(err error) {
	in.log.Printf("fatal: %v", err)
	cmd, what := unix.LINUX_REBOOT_CMD_POWER_OFF, "power off"
	if in.onFatal == fatalHalt {
		cmd, what = unix.LINUX_REBOOT_CMD_HALT, "halt"
	}
	in.powerOff(cmd, what)
}

// powerOff stops every process, syncs, unmounts the data volume and calls
// reboot(2) with cmd. Only the first caller proceeds; it never returns.
func (in *initProc) powerOff(cmd int, what string) {
	in.stopOnce.Lock() // never unlocked: later callers wait for the end
	if in.appPID.Load() != 0 {
		in.stopApp()
	}
	in.killAll()
	unix.Sync()
	in.unmountData()
	unix.Sync()
	in.log.Printf("%s", what)
	err := unix.Reboot(cmd)
	in.log.Printf("reboot(2) failed: %v; halting here", err)
	for {
		time.Sleep(time.Hour)
	}
}

// killAll sends SIGTERM, then SIGKILL, to every process left, and reaps
// them.
func (in *initProc) killAll() {
	if !in.reapUntil(time.Now()) {
		return // no children left
	}
	in.log.Printf("stop: SIGTERM to remaining processes: %s", strings.Join(processes(), ", "))
	unix.Kill(-1, unix.SIGTERM)
	if !in.reapUntil(time.Now().Add(2 * time.Second)) {
		return
	}
	in.log.Printf("stop: sending SIGKILL to remaining processes")
	unix.Kill(-1, unix.SIGKILL)
	in.reapUntil(time.Now().Add(time.Second))
}

// unmountData unmounts the data volume: cleanly if it can within a second,
// else lazily, so that the filesystem is at least synced.
func (in *initProc) unmountData() {
	if !in.dataMounted {
		return
	}
	mp := in.cfg.mountPoint
	var err error
	for i := 0; i < 10; i++ {
		if err = unix.Unmount(mp, 0); err == nil {
			in.log.Printf("stop: unmounted %s", mp)
			in.dataMounted = false
			return
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	in.log.Printf("stop: unmount %s: %v; detaching it lazily", mp, err)
	if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
		in.log.Printf("stop: lazy unmount %s: %v", mp, err)
	}
	in.dataMounted = false
}

// errAppStart marks an app that could not be started at all.
var errAppStart = errors.New("start app")

// exitFailed reports whether a wait status is a failure: a non-zero exit
// status or death by a signal.
func exitFailed(ws syscall.WaitStatus) bool {
	return !ws.Exited() || ws.ExitStatus() != 0
}

// processes lists the children of PID 1 as "name[pid]" (with " zombie"
// for those that exited), for the log.
func processes() []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Format: pid (comm) state ppid ...; comm may hold spaces.
		s := string(stat)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) < 2 || f[1] != "1" {
			continue
		}
		name := fmt.Sprintf("%s[%d]", s[i+1:j], pid)
		if f[0] == "Z" {
			name += " zombie"
		}
		out = append(out, name)
	}
	return out
}
