package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bootapp/bootapp/internal/guestconfig"
)

// maxScans bounds the device scans of one coldplug run: each scan after
// the first follows a scan that loaded drivers, which may have added
// devices (virtio_pci adds the virtio devices, a SCSI host its disks). No
// chain of buses in a virtual machine is longer than three.
const maxScans = 8

// driverTable is the checked guestconfig.DriverTable.
type driverTable struct {
	platform string
	drivers  []guestconfig.Driver
	byName   map[string]int
	byPath   map[string]bool
}

// readDriverTable reads the driver table at path; an image without one
// (nil, nil) has every module loaded at boot.
func readDriverTable(path string) (*driverTable, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t, err := guestconfig.UnmarshalDrivers(b)
	if err != nil {
		return nil, err
	}
	dt, err := newDriverTable(t.Drivers)
	if err != nil {
		return nil, err
	}
	dt.platform = t.Platform
	return dt, nil
}

// matchedOnly reports whether the module at path is loaded only for
// matching hardware.
func (t *driverTable) matchedOnly(path string) bool { return t != nil && t.byPath[path] }

// newDriverTable checks that every driver has a name and an absolute path
// and that Needs and Then name drivers of the table.
func newDriverTable(ds []guestconfig.Driver) (*driverTable, error) {
	t := &driverTable{drivers: ds, byName: make(map[string]int, len(ds)), byPath: make(map[string]bool, len(ds))}
	for i, d := range ds {
		if d.Name == "" || !path.IsAbs(d.Path) {
			return nil, fmt.Errorf("%w: driver %d: name %q, path %q: want a name and an absolute path", errBadConfig, i+1, d.Name, d.Path)
		}
		if _, dup := t.byName[d.Name]; dup {
			return nil, fmt.Errorf("%w: driver %s listed twice", errBadConfig, d.Name)
		}
		t.byName[d.Name] = i
		t.byPath[d.Path] = true
	}
	for _, d := range ds {
		for _, n := range append(append([]string(nil), d.Needs...), d.Then...) {
			if _, ok := t.byName[n]; !ok {
				return nil, fmt.Errorf("%w: driver %s refers to %s, which is not a listed driver", errBadConfig, d.Name, n)
			}
		}
	}
	return t, nil
}

// device is a device in sysfs that has a modalias.
type device struct {
	path     string // below /sys/devices, e.g. "pci0000:00/0000:00:02.0"
	modalias string // e.g. "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00"
}

// deviceLister lists the devices present with their modaliases.
type deviceLister interface {
	devices() ([]device, error)
}

// sysfsDevices lists the devices of a sysfs tree (/sys) with a modalias:
// each /sys/bus/*/devices/* is a symbolic link to a device directory below
// /sys/devices, which holds its modalias file. Every device with a
// modalias sits on a bus, so this finds what udev's coldplug walk of
// /sys/devices finds while reading a few hundred entries instead of the
// tens of thousands of attribute files that walk visits (175 ms a walk
// under QEMU TCG).
type sysfsDevices struct {
	root string
	// bus, when set, selects the buses to read. A device's modalias
	// starts with its bus's name and a colon ("pci:", "virtio:",
	// "scsi:", "acpi:", "vmbus:", "xen:"), so buses no alias can match
	// are skipped (cpu, memory, clocksource ...).
	bus func(name string) bool
	// known remembers the devices read by earlier scans, by link path: a
	// device's modalias never changes, so rescans read only new links.
	known map[string]device
}

func (s *sysfsDevices) devices() ([]device, error) {
	buses, err := os.ReadDir(filepath.Join(s.root, "bus"))
	if err != nil {
		return nil, err
	}
	if s.known == nil {
		s.known = map[string]device{}
	}
	var out []device
	for _, b := range buses {
		if s.bus != nil && !s.bus(b.Name()) {
			continue
		}
		dir := filepath.Join(s.root, "bus", b.Name(), "devices")
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue // a bus without devices directory
		}
		for _, e := range ents {
			link := filepath.Join(dir, e.Name())
			if d, ok := s.known[link]; ok {
				if d.modalias != "" {
					out = append(out, d)
				}
				continue
			}
			d := readDevice(link, e.Name())
			s.known[link] = d
			if d.modalias != "" {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// readDevice reads the device behind a bus's device link; its modalias is
// empty when it has none.
func readDevice(link, name string) device {
	raw, err := os.ReadFile(filepath.Join(link, "modalias"))
	if err != nil {
		return device{path: name}
	}
	d := device{path: name, modalias: strings.TrimSpace(string(raw))}
	if target, err := os.Readlink(link); err == nil {
		// "../../../devices/pci0000:00/0000:00:02.0"
		if _, rest, ok := strings.Cut(filepath.ToSlash(target), "devices/"); ok {
			d.path = rest
		}
	}
	return d
}

// busFilter returns whether a bus can hold a device that one of the
// drivers' aliases matches: the alias's part before the first colon
// ("pci", "acpi*") matches the bus's name.
func (t *driverTable) busFilter() func(bus string) bool {
	var prefixes []string
	for _, d := range t.drivers {
		for _, a := range d.Aliases {
			if p, _, ok := strings.Cut(a, ":"); ok && !slices.Contains(prefixes, p) {
				prefixes = append(prefixes, p)
			}
		}
	}
	return func(bus string) bool {
		for _, p := range prefixes {
			if matchAlias(p, bus) {
				return true
			}
		}
		return false
	}
}

// coldplug loads the drivers of the devices present: it lists the devices,
// loads every driver with an alias that matches a new device's modalias
// (Needs first, Then after), and lists again while that loaded something,
// because a bus driver adds the devices of its bus.
type coldplug struct {
	table *driverTable
	list  deviceLister
	// load inserts a module file; a module already in the kernel is no
	// error.
	load func(path string) error
	logf func(format string, args ...any)

	state map[string]bool // driver name -> loaded (true) or failed (false)
	seen  map[device]bool
	// Loaded lists the drivers loaded, in order.
	loaded []string
	failed int
	scans  int
	// scanTime is the time spent listing devices.
	scanTime time.Duration
}

func newColdplug(t *driverTable, list deviceLister, load func(string) error, logf func(string, ...any)) *coldplug {
	return &coldplug{table: t, list: list, load: load, logf: logf, state: map[string]bool{}, seen: map[device]bool{}}
}

// run scans until a scan loads nothing new, at most maxScans times, and
// logs one line per driver a device brought in:
//
//	drivers: pci0000:00/0000:00:03.0 pci:v00001AF4d00001042... -> virtio_pci (+virtio_ring virtio)
func (c *coldplug) run() {
	for c.scans < maxScans {
		c.scans++
		t := time.Now()
		devs, err := c.list.devices()
		c.scanTime += time.Since(t)
		if err != nil {
			c.logf("drivers: list devices: %v", err)
		}
		n := 0
		for _, d := range devs {
			if c.seen[d] {
				continue
			}
			c.seen[d] = true
			for _, drv := range c.table.drivers {
				if _, done := c.state[drv.Name]; done || !matchesAny(drv.Aliases, d.modalias) {
					continue
				}
				got := c.loadDriver(drv.Name)
				n += len(got)
				line := fmt.Sprintf("drivers: %s %s -> %s", d.path, d.modalias, drv.Name)
				if others := remove(got, drv.Name); len(others) > 0 {
					line += " (+" + strings.Join(others, " ") + ")"
				}
				if !c.state[drv.Name] {
					line += ": failed"
				}
				c.logf("%s", line)
			}
		}
		if n == 0 {
			return
		}
	}
	c.logf("drivers: stopped after %d scans, the last one still loaded drivers", c.scans)
}

// loadDriver loads name after its Needs and before its Then, skipping
// modules already loaded or failed, and returns the names it loaded.
func (c *coldplug) loadDriver(name string) []string {
	if _, done := c.state[name]; done {
		return nil
	}
	drv := c.table.drivers[c.table.byName[name]]
	var got []string
	for _, n := range drv.Needs {
		got = append(got, c.loadOne(n)...)
	}
	got = append(got, c.loadOne(name)...)
	if c.state[name] {
		for _, n := range drv.Then {
			got = append(got, c.loadDriver(n)...)
		}
	}
	return got
}

// loadOne loads the module of one driver, without its Needs.
func (c *coldplug) loadOne(name string) []string {
	if _, done := c.state[name]; done {
		return nil
	}
	drv := c.table.drivers[c.table.byName[name]]
	if err := c.load(drv.Path); err != nil {
		c.state[name] = false
		c.failed++
		c.logf("drivers: module %s: %v; continuing without it", name, err)
		return nil
	}
	c.state[name] = true
	c.loaded = append(c.loaded, name)
	return []string{name}
}

// matchesAny reports whether modalias matches one of the patterns.
func matchesAny(patterns []string, modalias string) bool {
	for _, p := range patterns {
		if matchAlias(p, modalias) {
			return true
		}
	}
	return false
}

// remove returns list without name.
func remove(list []string, name string) []string {
	var out []string
	for _, s := range list {
		if s != name {
			out = append(out, s)
		}
	}
	return out
}
