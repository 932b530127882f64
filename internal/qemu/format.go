package qemu

import (
	"errors"
	"fmt"

	"github.com/bootapp/bootapp/image"
)

// DriveFormat says how QEMU attaches the images of one image.Format.
type DriveFormat struct {
	// Driver is QEMU's block driver name, as in `-drive format=` and
	// `qemu-img info -f`: "raw", "qcow2", "vmdk" or "vpc".
	Driver string
	// Writable reports whether QEMU can write into such an image. A
	// format that is not writable can only be attached read-only (a boot
	// disk), never as a data volume.
	Writable bool
}

// ErrNotAttachable reports an image format that QEMU cannot attach as a
// disk at all, such as the GCE tar.gz archive.
var ErrNotAttachable = errors.New("QEMU cannot attach this image format")

// ErrReadOnlyFormat reports a disk attached read-write in a format QEMU
// can only read.
var ErrReadOnlyFormat = errors.New("QEMU can only read this image format")

// driveFormats is the one table of how QEMU attaches each format. Checked
// with `qemu-img info` on files written by image.Encode (see
// TestDriveFormatsMatchQemuImg): a streamOptimized VMDK is QEMU's "vmdk"
// driver with create type streamOptimized, which QEMU reads but cannot
// rewrite (its grains are compressed); a fixed VHD is QEMU's "vpc" (QEMU's
// format probe says "raw" for it, since the VHD footer is only at the end:
// the driver must be named).
var driveFormats = map[image.Format]DriveFormat{
	image.Raw:        {Driver: "raw", Writable: true},
	image.QCOW2:      {Driver: "qcow2", Writable: true},
	image.VMDKSparse: {Driver: "vmdk", Writable: true},
	image.VMDKStream: {Driver: "vmdk", Writable: false},
	image.VHD:        {Driver: "vpc", Writable: true},
}

// DriveFormatOf returns how QEMU attaches images of format f. The GCE
// format (a tar.gz holding a raw disk), the OVA (a tar holding a VMDK) and
// unknown formats yield an error wrapping ErrNotAttachable.
func DriveFormatOf(f image.Format) (DriveFormat, error) {
	if f == "" {
		f = image.Raw
	}
	d, ok := driveFormats[f]
	if !ok {
		return DriveFormat{}, fmt.Errorf("format %q: %w (want raw, qcow2, vmdk, vmdk-stream or vhd)", f, ErrNotAttachable)
	}
	return d, nil
}

// BootFormats lists the formats `mkbootapp run` and verification pick a
// built disk in, most preferred first: raw (no translation layer), then
// qcow2, then monolithicSparse VMDK. The streamOptimized VMDK, VHD and GCE
// outputs are for clouds; a build that only has those is not run locally.
func BootFormats() []image.Format {
	return []image.Format{image.Raw, image.QCOW2, image.VMDKSparse}
}
