package kernel

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
)

// DriverSet is what an image carries for a platform, in the form the guest
// init uses it: the modules it loads at every boot, and the drivers it
// loads only when a device present matches one of their aliases.
type DriverSet struct {
	// Platform is the platform the set was computed for (never empty).
	Platform Platform
	// Always are the modules loaded at every boot (the ACPI power button,
	// evdev, and ext4 where it is no builtin), in load order, dependencies
	// first.
	Always []Module
	// Drivers are the modules loaded only for matching hardware, in an
	// order in which every entry comes after the entries it Needs.
	// Modules that are only dependencies (virtio, scsi_mod) are entries
	// too, usually without aliases.
	Drivers []Driver
	// Bytes is the total size of the module files.
	Bytes int64
}

// Driver is a module the guest loads only when a device needs it.
type Driver struct {
	Module
	// Aliases are the module's alias= patterns that name devices:
	// fnmatch(3) globs such as "pci:v00001AF4d*sv*sd*bc*sc*i*", matched
	// against the modalias of each device in /sys. Aliases without a
	// "bus:" prefix ("xenblk", "block-major-202-*") name no device and
	// are left out.
	Aliases []string
	// Needs are the names of the modules to load before this one, in load
	// order: its depends= and softdep "pre:" closure, without the modules
	// of Always. Each is an entry of Drivers.
	Needs []string
	// Then are the names of drivers to load right after this one, even
	// before a device asks for them: its softdep "post:" modules, and the
	// drivers of devices that appear asynchronously once this one runs
	// (SCSI disks after a host adapter's background scan, the VMBus
	// devices after hv_vmbus), which a rescan could miss. Each is an
	// entry of Drivers.
	Then []string
}

// Modules returns every module of the set in load order: Always, then the
// Drivers.
func (s *DriverSet) Modules() []Module {
	out := slices.Clone(s.Always)
	for _, d := range s.Drivers {
		out = append(out, d.Module)
	}
	return out
}

// MissingDriverError reports a driver that a platform requires and the
// kernel lacks. It matches ErrUnknownModule.
type MissingDriverError struct {
	// Platform is the platform asked for; For is the one whose hardware
	// needs the driver (the same, except for PlatformAll).
	Platform, For Platform
	// Module is the missing driver's name.
	Module string
	// Release is the kernel's release.
	Release string
}

func (e *MissingDriverError) Error() string {
	need := string(e.Platform)
	if e.For != e.Platform {
		need += " (" + string(e.For) + ")"
	}
	msg := fmt.Sprintf("platform %s needs driver %s, which kernel %s has neither as a module nor built in", need, e.Module, e.Release)
	if genericOnly[e.Module] {
		return msg + "; Debian's generic kernel package linux-image-amd64 has it (the cloud kernel does not), or choose a platform that does not need it"
	}
	return msg + "; Debian's kernel packages linux-image-cloud-amd64 and linux-image-amd64 have it, or choose a platform that does not need it"
}

// Unwrap makes the error match ErrUnknownModule.
func (e *MissingDriverError) Unwrap() error { return ErrUnknownModule }

// Drivers returns the driver set of platform p on this kernel (the empty
// Platform means DefaultPlatform): the platform's drivers that the kernel
// has as modules (builtins need no loading), their dependencies, and the
// modules loaded at every boot. A required driver the kernel lacks gives
// a *MissingDriverError; an optional one is left out.
//
// Each driver's aliases are read from the .modinfo of its file in the
// cache, so the guest does no ELF parsing at boot.
func (k *Kernel) Drivers(p Platform) (*DriverSet, error) {
	if p == "" {
		p = DefaultPlatform
	}
	required, optional, ok := platformLists(p)
	if !ok {
		_, err := ParsePlatform(string(p))
		return nil, err
	}
	roots := slices.Clone(alwaysModules)
	for _, n := range alwaysOptional {
		if k.Has(n) {
			roots = append(roots, n)
		}
	}
	for _, n := range required {
		if !k.Has(n) {
			return nil, &MissingDriverError{Platform: p, For: neededBy(p, n), Module: n, Release: k.Release}
		}
		roots = append(roots, n)
	}
	for _, n := range optional {
		if k.Has(n) {
			roots = append(roots, n)
		}
	}
	mods, err := k.Closure(roots...)
	if err != nil {
		return nil, err
	}
	set, err := k.DriverSetOf(mods)
	if err != nil {
		return nil, err
	}
	set.Platform = p
	return set, nil
}

// DriverSetOf sorts mods, a load-ordered module list such as Closure
// returns, into a DriverSet: the modules loaded at every boot (the ACPI
// power button, evdev and ext4, with their dependencies) go to Always in
// their order, every other module becomes a Driver, with its Needs and Then
// limited to mods. Platform is left empty.
func (k *Kernel) DriverSetOf(mods []Module) (*DriverSet, error) {
	alwaysNames := slices.Clone(alwaysModules)
	for _, n := range alwaysOptional {
		if k.Has(n) {
			alwaysNames = append(alwaysNames, n)
		}
	}
	always, err := k.Closure(alwaysNames...)
	if err != nil {
		return nil, err
	}
	inAlways := map[string]bool{}
	for _, m := range always {
		inAlways[m.Name] = true
	}
	set := &DriverSet{}
	inSet := map[string]bool{}
	for _, m := range mods {
		if inAlways[m.Name] {
			set.Always = append(set.Always, m)
		} else {
			inSet[m.Name] = true
		}
	}
	for _, m := range mods {
		if !inSet[m.Name] {
			continue
		}
		d, err := k.driver(m, inSet)
		if err != nil {
			return nil, err
		}
		set.Drivers = append(set.Drivers, d)
	}
	for _, m := range mods {
		fi, err := os.Stat(m.File)
		if err != nil {
			return nil, fmt.Errorf("kernel module %s: %w", m.Name, err)
		}
		set.Bytes += fi.Size()
	}
	return set, nil
}

// driver returns the Driver entry of m, whose Needs and Then are limited to
// the modules of inSet.
func (k *Kernel) driver(m Module, inSet map[string]bool) (Driver, error) {
	d := Driver{Module: m}
	closure, err := k.Closure(m.Name)
	if err != nil {
		return d, err
	}
	for _, c := range closure {
		if c.Name == m.Name {
			break
		}
		if inSet[c.Name] {
			d.Needs = append(d.Needs, c.Name)
		}
	}
	for _, n := range slices.Concat(k.modules[m.Name].SoftPost, busFollowers[m.Name]) {
		if inSet[n] && !slices.Contains(d.Then, n) {
			d.Then = append(d.Then, n)
		}
	}
	data, err := os.ReadFile(m.File)
	if err != nil {
		return d, fmt.Errorf("read kernel module %s: %w", m.File, err)
	}
	raw, err := decompressModule(m.File, data)
	if err != nil {
		return d, err
	}
	mi, err := ReadModInfo(bytes.NewReader(raw))
	if err != nil {
		return d, fmt.Errorf("kernel module %s: %w", m.File, err)
	}
	d.Aliases = DeviceAliases(mi.Aliases)
	return d, nil
}

// DeviceAliases returns the aliases that can match a device's modalias:
// those with a "bus:" prefix, such as "pci:v00001AF4d*sv*sd*bc*sc*i*" or
// "acpi*:PNP0C0C:*". Module names ("xenblk"), request keys
// ("block-major-202-*", "crypto-crc32c", "fs-ext4") and device node names
// ("devname:fuse") are dropped.
func DeviceAliases(aliases []string) []string {
	var out []string
	for _, a := range aliases {
		if i := strings.IndexByte(a, ':'); i > 0 && !strings.ContainsRune(a[:i], '-') && a[:i] != "devname" {
			out = append(out, a)
		}
	}
	return out
}

// neededBy returns the platform whose required drivers include name: p
// itself, or for PlatformAll the first platform that requires it.
func neededBy(p Platform, name string) Platform {
	if p != PlatformAll {
		return p
	}
	for _, q := range Platforms() {
		if slices.Contains(platformModules[q].required, name) {
			return q
		}
	}
	return p
}
