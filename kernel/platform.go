package kernel

import (
	"fmt"
	"strings"
)

// Platform is the kind of virtual machine an image is built for; it
// decides which drivers go into the initramfs.
type Platform string

// The known platforms. Only PlatformQEMU is verified by booting; the
// others list the drivers their virtual hardware is documented to need
// and are unverified.
const (
	// PlatformQEMU is a QEMU/KVM machine with virtio devices (the
	// default): virtio-blk disks, virtio-net NIC, virtio-rng, and the
	// ACPI power button. Verified by booting under qemu-system-x86_64.
	PlatformQEMU Platform = "qemu"
	// PlatformAWS is an EC2 Nitro instance: ENA NIC and NVMe disks (nvme
	// is built into the Debian cloud kernel). Unverified.
	PlatformAWS Platform = "aws"
	// PlatformGCP is a Compute Engine VM: gVNIC or virtio-net, and
	// virtio-scsi or NVMe disks. Unverified.
	PlatformGCP Platform = "gcp"
	// PlatformAzure is a Hyper-V (Azure) VM: VMBus, storvsc disks,
	// netvsc NIC, and hv_utils for the host's shutdown request.
	// Unverified.
	PlatformAzure Platform = "azure"
	// PlatformVMware is a vSphere/Workstation VM with vmxnet3 and PVSCSI.
	// Unverified.
	PlatformVMware Platform = "vmware"
)

// platformModules lists, per platform, the modules required and the ones
// loaded only when the kernel has them.
//
// What is left out on purpose: vfat and the nls_* code pages (the guest
// never mounts the ESP: the boot loader and firmware read it), ext4 and
// nvme (built into the Debian cloud kernel; Closure skips builtins, so
// listing them is harmless where another kernel has them as modules), and
// virtio_console (the console is the 8250 serial port, built in).
var platformModules = map[Platform]struct{ required, optional []string }{
	// button turns the ACPI power button into an input event and evdev
	// exposes it as /dev/input/event*, which PID 1 watches to shut down
	// on `system_powerdown` or a cloud "stop". virtio_rng feeds the
	// kernel's entropy pool early (Debian builds it as virtio-rng.ko).
	PlatformQEMU: {
		required: []string{"virtio_pci", "virtio_blk", "virtio_net", "button", "evdev"},
		optional: []string{"virtio_rng"},
	},
	PlatformAWS: {
		required: []string{"ena", "nvme", "button", "evdev"},
	},
	PlatformGCP: {
		required: []string{"virtio_pci", "virtio_scsi", "sd_mod", "virtio_net", "nvme", "button", "evdev"},
		optional: []string{"gve", "virtio_rng"},
	},
	PlatformAzure: {
		required: []string{"hv_vmbus", "hv_storvsc", "sd_mod", "hv_netvsc", "hv_utils"},
		optional: []string{"hyperv_keyboard"},
	},
	PlatformVMware: {
		required: []string{"vmxnet3", "vmw_pvscsi", "sd_mod", "button", "evdev"},
		optional: []string{"ata_piix"},
	},
}

// Platforms lists the known platforms, the default first.
func Platforms() []Platform {
	return []Platform{PlatformQEMU, PlatformAWS, PlatformGCP, PlatformAzure, PlatformVMware}
}

// ParsePlatform returns the platform named s (case-insensitive); the
// empty string selects PlatformQEMU.
func ParsePlatform(s string) (Platform, error) {
	p := Platform(strings.ToLower(strings.TrimSpace(s)))
	if p == "" {
		return PlatformQEMU, nil
	}
	if _, ok := platformModules[p]; ok {
		return p, nil
	}
	names := make([]string, 0, len(platformModules))
	for _, q := range Platforms() {
		names = append(names, string(q))
	}
	return "", fmt.Errorf("unknown platform %q (want one of %s)", s, strings.Join(names, ", "))
}

// Verified reports whether images for p have been booted and checked.
// Only PlatformQEMU is, so far.
func (p Platform) Verified() bool { return p == PlatformQEMU || p == "" }

// String returns the platform's name.
func (p Platform) String() string { return string(p) }

// PlatformModules returns the module names a machine of platform p needs
// (the empty Platform means PlatformQEMU), required ones first, then
// those to load only if the kernel has them (see Kernel.PlatformClosure).
// It returns nil for an unknown platform.
func PlatformModules(p Platform) []string {
	if p == "" {
		p = PlatformQEMU
	}
	m, ok := platformModules[p]
	if !ok {
		return nil
	}
	return append(append([]string(nil), m.required...), m.optional...)
}

// PlatformClosure returns the load-ordered module closure for platform p
// on this kernel: like Closure(PlatformModules(p)...), except that the
// platform's optional modules are skipped when this kernel has neither a
// module nor a builtin of that name.
func (k *Kernel) PlatformClosure(p Platform) ([]Module, error) {
	if p == "" {
		p = PlatformQEMU
	}
	m, ok := platformModules[p]
	if !ok {
		_, err := ParsePlatform(string(p))
		return nil, err
	}
	names := append([]string(nil), m.required...)
	for _, n := range m.optional {
		if k.Has(n) {
			names = append(names, n)
		}
	}
	return k.Closure(names...)
}
