package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// powerButtonWait bounds the search for the power button's input device
// after the button and evdev modules are loaded.
const powerButtonWait = 5 * time.Second

// watchPowerButton finds the input devices named "Power Button" and asks
// for a shutdown when one reports a press of KEY_POWER (an ACPI power button
// event: QEMU's system_powerdown, a cloud's "stop"). It keeps looking for
// devices until powerButtonWait has passed since it started, since ACPI
// may register more than one. It closes ready once the first device is
// open, or when it gives up.
func (in *initProc) watchPowerButton(ctx context.Context, ready chan<- struct{}) {
	deadline := time.Now().Add(powerButtonWait)
	opened := map[string]bool{}
	signalled := false
	signal := func() {
		if !signalled {
			signalled = true
			close(ready)
		}
	}
	defer signal()
	for {
		paths, _ := filepath.Glob("/sys/class/input/event*/device/name")
		for _, p := range paths {
			ev := filepath.Base(filepath.Dir(filepath.Dir(p)))
			if opened[ev] {
				continue
			}
			name, err := os.ReadFile(p)
			if err != nil || strings.TrimSpace(string(name)) != powerButtonName {
				continue
			}
			f, err := os.Open("/dev/input/" + ev)
			if err != nil {
				continue // devtmpfs may not have the node yet
			}
			opened[ev] = true
			in.log.Printf("power: listening on /dev/input/%s (%s)", ev, powerButtonName)
			in.goSafe("power button "+ev, func() { in.readPowerButton(f) })
			signal()
		}
		if time.Now().After(deadline) {
			if len(opened) == 0 {
				in.log.Printf("power: no %q input device (are button.ko and evdev.ko in the module list?); only SIGTERM stops the VM cleanly", powerButtonName)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readPowerButton reads input events from f until it fails, and requests a
// shutdown on a power key press.
func (in *initProc) readPowerButton(f *os.File) {
	defer f.Close()
	buf := make([]byte, inputEventSize*32)
	for {
		n, err := f.Read(buf)
		for _, e := range parseInputEvents(buf[:n]) {
			if e.isPowerPress() {
				in.requestShutdown("power button pressed")
			}
		}
		if err != nil {
			in.log.Printf("power: read %s: %v", f.Name(), err)
			return
		}
	}
}
