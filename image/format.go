package image

import (
	"fmt"
	"strings"
)

// Format is an on-disk image format that a raw disk can be encoded into.
type Format string

// The supported formats.
const (
	// Raw is a plain sparse disk image (.raw).
	Raw Format = "raw"
	// VMDKStream is a streamOptimized VMDK (.vmdk) for vSphere and OVA.
	// It is compressed and read-only for hypervisors. (AWS takes the raw
	// boot disk through the EBS direct APIs: builder/publish/aws.)
	VMDKStream Format = "vmdk-stream"
	// VMDKSparse is a monolithicSparse VMDK (.vmdk) for VirtualBox and QEMU,
	// which can write into it.
	VMDKSparse Format = "vmdk"
	// QCOW2 is a qcow2 version 3 image (.qcow2) for QEMU and OpenStack.
	QCOW2 Format = "qcow2"
	// VHD is a fixed VHD (.vhd) as Azure requires: size rounded up to 1 MiB.
	VHD Format = "vhd"
	// GCE is a gzip-compressed GNU tar holding disk.raw (.tar.gz), the
	// layout Google Compute Engine image import expects.
	GCE Format = "gce"
	// OVA is an OVF package in one tar file (.ova) for vSphere: the OVF
	// descriptor (UEFI, PVSCSI, vmxnet3), the disk as a streamOptimized
	// VMDK, and a SHA-256 manifest.
	OVA Format = "ova"
)

// Formats lists every supported format in a stable order.
func Formats() []Format {
	return []Format{Raw, VMDKStream, VMDKSparse, QCOW2, VHD, GCE, OVA}
}

// ParseFormat returns the Format named s (case-insensitive). It also accepts
// the aliases "vmdk-sparse", "streamoptimized", "vhd-fixed" and "tar.gz".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "raw", "img":
		return Raw, nil
	case "vmdk-stream", "streamoptimized", "vmdk-streamoptimized":
		return VMDKStream, nil
	case "vmdk", "vmdk-sparse", "monolithicsparse":
		return VMDKSparse, nil
	case "qcow2":
		return QCOW2, nil
	case "vhd", "vhd-fixed":
		return VHD, nil
	case "gce", "tar.gz":
		return GCE, nil
	case "ova":
		return OVA, nil
	}
	names := make([]string, 0, 7)
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return "", fmt.Errorf("unknown image format %q (want one of %s)", s, strings.Join(names, ", "))
}

// Ext returns the file name extension of the format, with its leading dot.
// Both VMDK flavours use ".vmdk"; the builder keeps them apart in file names
// when both are requested.
func (f Format) Ext() string {
	switch f {
	case Raw:
		return ".raw"
	case VMDKStream, VMDKSparse:
		return ".vmdk"
	case QCOW2:
		return ".qcow2"
	case VHD:
		return ".vhd"
	case GCE:
		return ".tar.gz"
	case OVA:
		return ".ova"
	}
	return "." + string(f)
}

// Compressed reports whether the format's encoder deflates the image (the
// grains of VMDKStream and OVA, the chunks of GCE's archive), which is
// what EncodeOptions.Memo can save the next encoding of.
func (f Format) Compressed() bool {
	switch f {
	case VMDKStream, OVA, GCE:
		return true
	}
	return false
}

// String returns the format's name.
func (f Format) String() string { return string(f) }
