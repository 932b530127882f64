package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// supervise starts the app and runs PID 1's loop: reap zombies, forward
// SIGINT and SIGHUP to the app, restart it by policy, and shut down on
// request. It never returns.
func (in *initProc) supervise(sigs <-chan os.Signal) {
	in.log.Printf("app: starting %s as %d:%d in %s (restart %s)", in.cfg.appPath, in.cfg.uid, in.cfg.gid, in.cfg.appDir, in.cfg.restart)
	var restartC <-chan time.Time
	if err := in.startApp(); err != nil {
		restartC = in.appEnded(err, 0)
	}
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case unix.SIGCHLD:
				exits, _ := in.reap()
				for _, ws := range exits {
					if r := in.appEnded(nil, ws); r != nil {
						restartC = r
					}
				}
			case unix.SIGINT, unix.SIGHUP:
				if pid := in.appPID.Load(); pid != 0 {
					in.log.Printf("forwarding %v to the app", sig)
					unix.Kill(-int(pid), sig.(syscall.Signal))
				}
			default: // SIGTERM, SIGUSR2, SIGPWR
				in.shutdown(fmt.Sprintf("received %v", sig))
			}
		case reason := <-in.shutdownC:
			in.shutdown(reason)
		case <-restartC:
			restartC = nil
			if err := in.startApp(); err != nil {
				restartC = in.appEnded(err, 0)
			}
		}
	}
}

// appEnded handles the end of the app: startErr when it could not be
// started, else its wait status. It returns a timer channel for a restart,
// or nil; when the policy does not restart, it shuts down.
func (in *initProc) appEnded(startErr error, ws syscall.WaitStatus) <-chan time.Time {
	ran := time.Since(in.appStarted)
	failed := true
	if startErr != nil {
		in.log.Printf("app: %v", startErr)
		ran = 0
	} else {
		failed = exitFailed(ws)
		in.log.Printf("app: %s after %s", describeExit(ws), ran.Round(time.Millisecond))
	}
	if !in.cfg.restart.shouldRestart(failed) {
		in.shutdown(fmt.Sprintf("app ended and restart policy is %q", in.cfg.restart))
	}
	if !in.restarts.allow(time.Now()) {
		in.fatal(fmt.Errorf("app: it ended %d times within %s: restart limit reached (App.RestartLimit, App.RestartWindow)",
			in.restarts.limit+1, in.restarts.window))
	}
	in.backoff = nextBackoff(in.backoff, ran)
	in.log.Printf("app: restarting in %s (restart %s)", in.backoff, in.cfg.restart)
	return time.After(in.backoff)
}

// startApp starts the app in a session of its own, as its user, with its
// output copied to the console line by line.
func (in *initProc) startApp() error {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("%w: %v", errAppStart, err)
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%w: %v", errAppStart, err)
	}
	attr := &syscall.ProcAttr{
		Dir:   in.cfg.appDir,
		Env:   in.cfg.appEnv,
		Files: []uintptr{devnull.Fd(), w.Fd(), w.Fd()},
		Sys: &syscall.SysProcAttr{
			Setsid:     true,
			Credential: &syscall.Credential{Uid: uint32(in.cfg.uid), Gid: uint32(in.cfg.gid), Groups: []uint32{}},
		},
	}
	argv := append([]string{in.cfg.appPath}, in.cfg.appArgs...)
	// syscall.ForkExec rather than os/exec: PID 1 reaps every child with
	// wait4(-1), which would race with exec.Cmd.Wait.
	pid, err := syscall.ForkExec(in.cfg.appPath, argv, attr)
	w.Close()
	if err != nil {
		r.Close()
		return fmt.Errorf("%w %s in %s: %v; check App.Path, App.Dir and that the file is executable by %d:%d",
			errAppStart, in.cfg.appPath, in.cfg.appDir, err, in.cfg.uid, in.cfg.gid)
	}
	in.appPID.Store(int64(pid))
	in.appStarted = time.Now()
	in.log.Printf("app: started, pid %d", pid)
	in.goSafe("app output", func() { defer r.Close(); in.log.copyLines(appPrefix, r) })
	return nil
}

// reap collects every exited child without blocking. It returns the wait
// status of the app if it was among them, and whether any child is left.
func (in *initProc) reap() (app []syscall.WaitStatus, left bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			// ECHILD: no child at all; pid 0: children still running.
			return app, !errors.Is(err, syscall.ECHILD)
		}
		if int64(pid) == in.appPID.Load() {
			in.appPID.Store(0)
			app = append(app, ws)
		}
	}
}

// reapUntil reaps children until none is left or the deadline passes, and
// reports whether some are left.
func (in *initProc) reapUntil(deadline time.Time) bool {
	for {
		if _, left := in.reap(); !left {
			return false
		}
		if !time.Now().Before(deadline) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// shutdown stops the app and powers off. It never returns.
func (in *initProc) shutdown(reason string) {
	in.log.Printf("shutdown: %s", reason)
	in.powerOff(unix.LINUX_REBOOT_CMD_POWER_OFF, "power off")
}

// stopApp sends SIGTERM to the app's process group, waits up to the stop
// timeout for the app to exit, then sends SIGKILL.
func (in *initProc) stopApp() {
	pid := int(in.appPID.Load())
	if pid == 0 {
		return
	}
	in.log.Printf("stop: SIGTERM to the app (pid %d), waiting up to %s", pid, in.cfg.stopTimeout)
	start := time.Now()
	unix.Kill(-pid, unix.SIGTERM)
	if in.waitApp(time.Now().Add(in.cfg.stopTimeout)) {
		in.log.Printf("stop: app exited after %s", time.Since(start).Round(time.Millisecond))
		return
	}
	in.log.Printf("stop: app still running after %s: SIGKILL", in.cfg.stopTimeout)
	unix.Kill(-pid, unix.SIGKILL)
	in.waitApp(time.Now().Add(2 * time.Second))
}

// waitApp reaps children until the app has exited or the deadline passes,
// and reports whether it exited.
func (in *initProc) waitApp(deadline time.Time) bool {
	for {
		if in.reap(); in.appPID.Load() == 0 {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// describeExit says how a process ended.
func describeExit(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by %v", ws.Signal())
	}
	return fmt.Sprintf("ended (wait status %#x)", uint32(ws))
}
