package kernel

import (
	"fmt"
	"slices"
	"strings"
)

// Platform is the kind of virtual machine an image is built for; it
// decides which drivers go into the initramfs. Whatever the platform, the
// guest init loads a driver only when a device present matches one of its
// aliases (see Kernel.Drivers), so carrying more drivers costs image size,
// not boot time.
type Platform string

// The known platforms. PlatformAll and PlatformQEMU are verified by
// booting in QEMU on virtio, NVMe, PVSCSI and vmxnet3 hardware; the cloud
// platforms list the drivers their virtual hardware is documented to need
// and are unverified on the clouds themselves.
const (
	// PlatformAll is every platform below at once (the default): one
	// image for every cloud's virtual hardware. The required drivers of
	// PlatformPC are included when the kernel has them (the Debian cloud
	// kernel has no e1000 or ahci), its IDE driver is not.
	PlatformAll Platform = "all"
	// PlatformQEMU is a QEMU/KVM machine with virtio devices: virtio-blk
	// or virtio-scsi disks (NVMe is built into the Debian cloud kernel), a
	// virtio-net NIC and virtio-rng.
	PlatformQEMU Platform = "qemu"
	// PlatformAWS is an EC2 instance: ENA NIC and NVMe disks on Nitro
	// (nvme is built into the Debian cloud kernel), Xen block and network
	// front ends on the older Xen instance types.
	PlatformAWS Platform = "aws"
	// PlatformGCP is a Compute Engine VM: gVNIC or virtio-net, and
	// virtio-scsi or NVMe disks.
	PlatformGCP Platform = "gcp"
	// PlatformAzure is a Hyper-V (Azure) VM: VMBus, storvsc disks, netvsc
	// NIC, and hv_utils (heartbeat, time sync and the host's shutdown
	// request).
	PlatformAzure Platform = "azure"
	// PlatformVMware is a vSphere/Workstation VM with vmxnet3 and PVSCSI
	// (and, when the kernel has them, E1000/E1000E NICs, LSI Logic SCSI and
	// AHCI disks).
	PlatformVMware Platform = "vmware"
	// PlatformPC is a PC with emulated hardware, as QEMU's and
	// VirtualBox's defaults: e1000/e1000e NICs and AHCI (SATA) or IDE
	// disks. The Debian cloud kernel lacks e1000, e1000e and ahci: use
	// Debian's generic kernel, linux-image-amd64.
	PlatformPC Platform = "pc"
)

// DefaultPlatform is the platform of an empty Platform value.
const DefaultPlatform = PlatformAll

// alwaysModules are loaded at every boot, whatever the hardware: button
// turns the ACPI power button into an input event and evdev exposes it as
// /dev/input/event*, which PID 1 watches to shut down on
// `system_powerdown` or a cloud "stop"; ext4 mounts the data volume. The
// power button's input device appears only once button is loaded, ext4
// drives no device, and none costs a measurable time, so they are not
// matched against devices. ext4 and crc32c_generic are built into the
// Debian cloud kernel (builtins need no loading); the generic kernel has
// them as modules, and ext4's softdep names crc32c by an alias
// ("crypto-crc32c") that Closure does not resolve, hence the explicit
// crc32c_generic, carried when the kernel has it.
var (
	alwaysModules  = []string{"button", "evdev", "ext4"}
	alwaysOptional = []string{"crc32c_generic"}
)

// platformModules lists, per platform, the drivers required (a kernel
// without one of them cannot build an image for the platform) and the ones
// carried only when the kernel has them. Their dependencies come from the
// kernel's .modinfo.
//
// What is left out on purpose: vfat and the nls_* code pages (the guest
// never mounts the ESP: the boot loader and firmware read it), ext4 and
// nvme (built into the Debian cloud kernel; builtins are skipped, so
// listing nvme is harmless where another kernel has it as a module), and
// virtio_console (the console is the 8250 serial port, built in).
var platformModules = map[Platform]struct{ required, optional []string }{
	// virtio_rng feeds the kernel's entropy pool early (Debian builds it
	// as virtio-rng.ko); qemu_fw_cfg exposes QEMU's firmware configuration
	// (the ACPI device QEMU0002), through which `mkbootapp run --env`
	// passes a run-time configuration.
	PlatformQEMU: {
		required: []string{"virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "virtio_net"},
		optional: []string{"virtio_rng", "qemu_fw_cfg"},
	},
	PlatformAWS: {
		required: []string{"ena", "nvme"},
		optional: []string{"xen_blkfront", "xen_netfront"},
	},
	PlatformGCP: {
		required: []string{"virtio_pci", "virtio_scsi", "sd_mod", "virtio_net", "nvme", "gve"},
		optional: []string{"virtio_rng"},
	},
	PlatformAzure: {
		required: []string{"hv_vmbus", "hv_storvsc", "sd_mod", "hv_netvsc", "hv_utils"},
		optional: []string{"hyperv_keyboard"},
	},
	PlatformVMware: {
		required: []string{"vmxnet3", "vmw_pvscsi", "sd_mod"},
		optional: []string{"e1000", "e1000e", "mptspi", "ahci"},
	},
	PlatformPC: {
		required: []string{"e1000", "e1000e", "ahci", "sd_mod"},
		optional: []string{"ata_piix"},
	},
}

// allOptional are the platforms whose required drivers PlatformAll
// carries only when the kernel has them, and whose optional ones it leaves
// out (ata_piix and libata would add 0.8 MB for IDE disks, which every
// cloud also offers through its own driver).
var allOptional = []Platform{PlatformPC}

// busFollowers lists, per driver, the drivers to load right after it when
// it is loaded for a device, because the devices they drive appear
// asynchronously: a SCSI host scans its bus in the background (CONFIG_
// SCSI_SCAN_ASYNC) and Hyper-V offers its VMBus channels after hv_vmbus
// connects, so a rescan cannot tell when they are complete. Synchronous
// buses (virtio devices appear while virtio_pci loads) need no entry: the
// guest's rescans find their devices.
var busFollowers = map[string][]string{
	"virtio_scsi": {"sd_mod"},
	"vmw_pvscsi":  {"sd_mod"},
	"hv_storvsc":  {"sd_mod"},
	"mptspi":      {"sd_mod"},
	"ahci":        {"sd_mod"},
	"ata_piix":    {"sd_mod"},
	"hv_vmbus":    {"hv_storvsc", "hv_netvsc", "hv_utils"},
}

// genericOnly names drivers that Debian's generic kernel has and its cloud
// kernel does not, so that a missing one can name the kernel to use.
var genericOnly = map[string]bool{"e1000": true, "e1000e": true, "ahci": true, "mptspi": true}

// Platforms lists the known platforms, the default first.
func Platforms() []Platform {
	return []Platform{PlatformAll, PlatformQEMU, PlatformAWS, PlatformGCP, PlatformAzure, PlatformVMware, PlatformPC}
}

// ParsePlatform returns the platform named s (case-insensitive); the
// empty string selects DefaultPlatform.
func ParsePlatform(s string) (Platform, error) {
	p := Platform(strings.ToLower(strings.TrimSpace(s)))
	if p == "" {
		return DefaultPlatform, nil
	}
	if slices.Contains(Platforms(), p) {
		return p, nil
	}
	names := make([]string, 0, len(platformModules)+1)
	for _, q := range Platforms() {
		names = append(names, string(q))
	}
	return "", fmt.Errorf("unknown platform %q (want one of %s)", s, strings.Join(names, ", "))
}

// Verified reports whether images for p have been booted and checked:
// PlatformAll and PlatformQEMU in QEMU (virtio-blk, virtio-scsi, NVMe and
// PVSCSI disks, virtio-net and vmxnet3 NICs). The cloud platforms have not
// been booted on their clouds.
func (p Platform) Verified() bool { return p == PlatformQEMU || p == PlatformAll || p == "" }

// String returns the platform's name.
func (p Platform) String() string { return string(p) }

// platformLists returns the required and optional driver names of p, the
// modules loaded at every boot not included, in a deterministic order
// without duplicates; ok is false for an unknown platform.
func platformLists(p Platform) (required, optional []string, ok bool) {
	if p == "" {
		p = DefaultPlatform
	}
	add := func(list *[]string, names []string) {
		for _, n := range names {
			if !slices.Contains(required, n) && !slices.Contains(optional, n) {
				*list = append(*list, n)
			}
		}
	}
	if p != PlatformAll {
		m, ok := platformModules[p]
		if !ok {
			return nil, nil, false
		}
		add(&required, m.required)
		add(&optional, m.optional)
		return required, optional, true
	}
	for _, q := range Platforms() {
		m, ok := platformModules[q]
		if !ok || slices.Contains(allOptional, q) {
			continue
		}
		add(&required, m.required)
	}
	for _, q := range Platforms() {
		m := platformModules[q]
		if slices.Contains(allOptional, q) {
			add(&optional, m.required)
		} else {
			add(&optional, m.optional)
		}
	}
	return required, optional, true
}

// PlatformModules returns the module names an image for platform p
// carries (the empty Platform means DefaultPlatform): the modules loaded
// at every boot, the platform's required drivers, then those carried only
// if the kernel has them (see Kernel.Drivers). It returns nil for an
// unknown platform.
func PlatformModules(p Platform) []string {
	required, optional, ok := platformLists(p)
	if !ok {
		return nil
	}
	return slices.Concat(alwaysModules, required, alwaysOptional, optional)
}

// PlatformClosure returns the load-ordered closure of every module an
// image for platform p carries on this kernel: Drivers(p).Modules().
func (k *Kernel) PlatformClosure(p Platform) ([]Module, error) {
	ds, err := k.Drivers(p)
	if err != nil {
		return nil, err
	}
	return ds.Modules(), nil
}
