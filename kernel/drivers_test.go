package kernel

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestDeviceAliases(t *testing.T) {
	got := DeviceAliases([]string{"xenblk", "xen:vbd", "block-major-202-*", "pci:v00001AF4d*sv*sd*bc*sc*i*",
		"acpi*:VMBUS:*", "devname:fuse", "char-major-10-229", "crypto-crc32c", "fs-ext4", "scsi:t-0x00*"})
	want := []string{"xen:vbd", "pci:v00001AF4d*sv*sd*bc*sc*i*", "acpi*:VMBUS:*", "scsi:t-0x00*"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DeviceAliases = %q, want %q", got, want)
	}
}

// TestDriversRealKernel checks the default platform's driver set on the
// cached Debian cloud kernel: the always-loaded modules, the drivers of
// every cloud with their real aliases, Needs before each driver, and the
// Then links for asynchronous buses; and that the pc platform is refused
// with the driver and the kernel that has it.
func TestDriversRealKernel(t *testing.T) {
	k := realKernel(t)
	ds, err := k.Drivers("")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Platform != PlatformAll {
		t.Errorf("platform %q, want all", ds.Platform)
	}
	var always []string
	for _, m := range ds.Always {
		always = append(always, m.Name)
	}
	if want := []string{"button", "evdev"}; !reflect.DeepEqual(always, want) {
		t.Errorf("always = %q, want %q (ext4 is built in)", always, want)
	}
	byName := map[string]Driver{}
	pos := map[string]int{}
	for i, d := range ds.Drivers {
		byName[d.Name] = d
		pos[d.Name] = i
	}
	for _, n := range []string{"virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "virtio_net", "virtio_rng", "ena", "gve",
		"hv_vmbus", "hv_storvsc", "hv_netvsc", "hv_utils", "xen_blkfront", "xen_netfront", "vmw_pvscsi", "vmxnet3"} {
		d, ok := byName[n]
		if !ok {
			t.Errorf("driver %s missing", n)
			continue
		}
		if len(d.Aliases) == 0 {
			t.Errorf("driver %s has no device aliases", n)
		}
		for _, need := range d.Needs {
			if p, ok := pos[need]; !ok || p > pos[n] {
				t.Errorf("%s needs %s, which is not listed before it", n, need)
			}
		}
	}
	for n, want := range map[string][]string{
		"virtio_pci":  {"virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio"},
		"vmw_pvscsi":  {"scsi_common", "scsi_mod"},
		"virtio_scsi": {"scsi_common", "scsi_mod", "virtio_ring", "virtio"},
	} {
		if got := byName[n].Needs; !reflect.DeepEqual(got, want) {
			t.Errorf("%s needs %q, want %q", n, got, want)
		}
	}
	for n, want := range map[string][]string{
		"virtio_scsi": {"sd_mod"}, "vmw_pvscsi": {"sd_mod"}, "hv_storvsc": {"sd_mod"},
		"hv_vmbus": {"hv_storvsc", "hv_netvsc", "hv_utils"}, "virtio_blk": nil,
	} {
		if got := byName[n].Then; !reflect.DeepEqual(got, want) {
			t.Errorf("%s then %q, want %q", n, got, want)
		}
	}
	if got := byName["xen_blkfront"].Aliases; !reflect.DeepEqual(got, []string{"xen:vbd"}) {
		t.Errorf("xen_blkfront aliases %q, want only the device one", got)
	}
	if _, ok := byName["ata_piix"]; ok {
		t.Error("platform all carries ata_piix (IDE), which only pc should")
	}
	if ds.Bytes < 1<<20 || ds.Bytes > 8<<20 {
		t.Errorf("driver set of %d bytes, want a few MiB", ds.Bytes)
	}
	t.Logf("platform all: %d modules, %.1f MiB", len(ds.Modules()), float64(ds.Bytes)/(1<<20))

	// A smaller platform is a subset.
	aws, err := k.Drivers(PlatformAWS)
	if err != nil {
		t.Fatal(err)
	}
	var awsNames []string
	for _, d := range aws.Drivers {
		awsNames = append(awsNames, d.Name)
	}
	if want := []string{"ena", "xen_blkfront", "xen_netfront"}; !reflect.DeepEqual(awsNames, want) {
		t.Errorf("aws drivers %q, want %q (nvme is built in)", awsNames, want)
	}

	// DriverSetOf sorts any closure the same way.
	mods, _ := k.Closure("button", "virtio_blk")
	set, err := k.DriverSetOf(mods)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Always) != 1 || set.Always[0].Name != "button" || !slices.ContainsFunc(set.Drivers, func(d Driver) bool { return d.Name == "virtio_blk" }) {
		t.Errorf("DriverSetOf(button, virtio_blk) = always %v, drivers %v", set.Always, set.Drivers)
	}

	if k.Has("e1000") {
		t.Skip("this kernel has e1000: the missing-driver case needs the cloud kernel")
	}
	_, err = k.Drivers(PlatformPC)
	var missing *MissingDriverError
	if !errors.As(err, &missing) || !errors.Is(err, ErrUnknownModule) || missing.Module != "e1000" ||
		!strings.Contains(err.Error(), "linux-image-amd64") || !strings.Contains(err.Error(), k.Release) {
		t.Errorf("Drivers(pc) = %v, want a MissingDriverError for e1000 naming linux-image-amd64", err)
	}
	if _, err := k.Drivers("amiga"); err == nil {
		t.Error("Drivers(amiga) gave no error")
	}
}
