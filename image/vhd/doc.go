// Package vhd encodes a raw disk image as a fixed Virtual Hard Disk (VHD),
// the format Azure imports.
//
// A fixed VHD is the raw disk followed by a 512-byte footer ("conectix")
// that records the size, a CHS geometry, the disk type (2, fixed), a
// unique ID and a checksum. Azure requires the virtual size to be a
// multiple of 1 MiB, so WriteFixed pads the disk with zeros up to the next
// MiB. Data flows in one forward pass: the non-zero blocks of the raw image
// are copied to their offsets; when the destination can seek (an *os.File)
// the zero regions are skipped by seeking, so the output stays as sparse as
// the input; otherwise zeros are written. The unique ID is derived from a
// SHA-256 of the content computed on the way, and the timestamp is fixed,
// so the same input always gives the same bytes.
//
// The layout follows Microsoft's "Virtual Hard Disk Image Format
// Specification" (version 1.0).
package vhd
