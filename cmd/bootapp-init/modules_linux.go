package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// loadModules loads the configured modules in order, then the drivers of
// the hardware present (loadDrivers). A module that fails is logged and
// skipped: the app may not need it.
func (in *initProc) loadModules() {
	defer in.loadDrivers()
	if len(in.cfg.modules) == 0 {
		return
	}
	start := time.Now()
	loaded, present, matched := 0, 0, 0
	var slowest string
	var slowestTook time.Duration
	for _, path := range in.cfg.modules {
		if in.drivers.matchedOnly(path) {
			matched++ // loaded by loadDrivers if a device needs it
			continue
		}
		t := time.Now()
		err := loadModule(path)
		if took := time.Since(t); took > slowestTook {
			slowest, slowestTook = moduleName(path), took
		}
		switch {
		case err == nil:
			loaded++
		case errors.Is(err, unix.EEXIST):
			present++
		default:
			name := moduleName(path)
			in.log.Printf("module %s: %v; continuing without it", name, err)
			if isStorageModule(name) && in.cfg.dataLabel != "" {
				in.log.Printf("module %s drives storage: the data volume %q may not appear", name, in.cfg.dataLabel)
			}
		}
	}
	in.log.Printf("modules: %d loaded, %d already present, %d failed in %s (slowest %s, %s)",
		loaded, present, len(in.cfg.modules)-matched-loaded-present, time.Since(start).Round(time.Millisecond),
		slowest, slowestTook.Round(time.Millisecond))
}

// loadDrivers loads the drivers of the devices present: each device's
// modalias in /sys is matched against the drivers' aliases, and /sys is
// scanned again while that loads drivers (see coldplug). One line per
// driver says which device brought it in.
func (in *initProc) loadDrivers() {
	if in.drivers == nil || len(in.drivers.drivers) == 0 {
		return
	}
	start := time.Now()
	c := newColdplug(in.drivers, &sysfsDevices{root: "/sys", bus: in.drivers.busFilter()}, func(path string) error {
		if err := loadModule(path); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		return nil
	}, in.log.Printf)
	c.run()
	in.log.Printf("drivers: %d of %d (platform %s) loaded for %d devices, %d failed, in %s (%d scans of /sys: %s)",
		len(c.loaded), len(in.drivers.drivers), in.drivers.platform, len(c.seen), c.failed,
		time.Since(start).Round(time.Millisecond), c.scans, c.scanTime.Round(time.Millisecond))
	if c.failed > 0 && in.cfg.dataLabel != "" {
		for name, ok := range c.state {
			if !ok && isStorageModule(name) {
				in.log.Printf("driver %s drives storage: the data volume %q may not appear", name, in.cfg.dataLabel)
			}
		}
	}
}

// loadModule inserts the module file at path into the kernel. It returns an
// error wrapping unix.EEXIST when the module is already loaded.
func loadModule(path string) error {
	c, err := compressionOf(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open module: %w", err)
	}
	defer f.Close()
	if c == modPlain {
		if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil {
			return fmt.Errorf("finit_module %s: %w", path, err)
		}
		return nil
	}
	img, err := decompressModule(c, f)
	if err != nil {
		return fmt.Errorf("read module %s: %w", path, err)
	}
	if err := unix.InitModule(img, ""); err != nil {
		return fmt.Errorf("init_module %s: %w", path, err)
	}
	return nil
}
