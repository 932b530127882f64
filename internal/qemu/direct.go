package qemu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bootapp/bootapp/image"
)

// Direct kernel boot (Config.Direct): QEMU loads the kernel and initramfs
// itself (-kernel, -initrd, -append) and its built-in SeaBIOS jumps into
// them through fw_cfg, so neither UEFI firmware nor a boot loader runs.
// Everything the guest sees afterwards is as in a UEFI boot: the same q35
// machine and ACPI tables (the power button works), the same virtio-blk
// disks in the same order (the boot disk is attached, read-only, even
// though nothing boots from it) and the same virtio-net NIC and RNG.
//
// Measured under TCG (examples/hello, QEMU 7.2, on a shared 2-core host):
// q35 with SeaBIOS needs about half the CPU time of a UEFI boot to the
// first HTTP 200. The pc machine was no faster, neither were qboot
// (/usr/share/qemu/qboot.rom) nor a NIC without its option ROM. The
// microvm machine is not an option: under TCG the Debian cloud kernel
// hangs calibrating its timers there (no HPET, PIT or kvmclock
// reference), and its virtio-mmio transport is a module the initramfs
// does not carry.

// directLaunch is the direct-boot part of a launch: the kernel and
// initramfs Start wrote into its work directory, and the command line.
type directLaunch struct {
	kernel  string
	initrd  string // empty: no initramfs
	cmdline string
}

// checkDirect validates Config.Direct for resolve.
func checkDirect(c Config) error {
	switch {
	case c.Direct == nil:
		return nil
	case c.UEFI:
		return errors.New("qemu config: UEFI and Direct are both set: a direct kernel boot runs no UEFI firmware")
	case len(c.Direct.Kernel) == 0:
		return errors.New("qemu config: Direct has no kernel")
	}
	return nil
}

// writeDirect writes f's kernel and initramfs into work, where Start's
// cleanup removes them.
func writeDirect(work string, f *image.BootFiles) (*directLaunch, error) {
	d := &directLaunch{kernel: filepath.Join(work, "linux"), cmdline: f.Cmdline}
	if err := os.WriteFile(d.kernel, f.Kernel, 0o600); err != nil {
		return nil, fmt.Errorf("write kernel for direct boot: %w", err)
	}
	if len(f.Initrd) > 0 {
		d.initrd = filepath.Join(work, "initrd")
		if err := os.WriteFile(d.initrd, f.Initrd, 0o600); err != nil {
			os.Remove(d.kernel)
			return nil, fmt.Errorf("write initramfs for direct boot: %w", err)
		}
	}
	return d, nil
}

// remove deletes the files writeDirect wrote.
func (d *directLaunch) remove() {
	if d == nil {
		return
	}
	os.Remove(d.kernel)
	if d.initrd != "" {
		os.Remove(d.initrd)
	}
}

// args returns the -kernel, -initrd and -append arguments. QEMU reads the
// options' values verbatim: the command line needs no escaping.
func (d *directLaunch) args() []string {
	a := []string{"-kernel", d.kernel}
	if d.initrd != "" {
		a = append(a, "-initrd", d.initrd)
	}
	if d.cmdline != "" {
		a = append(a, "-append", d.cmdline)
	}
	return a
}
