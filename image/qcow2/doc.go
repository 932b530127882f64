// Package qcow2 encodes a raw disk image as a QEMU qcow2 (version 3) image
// for QEMU, libvirt and OpenStack, streaming from the raw image without
// reading its holes.
//
// Write makes two passes over the data extents of the raw image. The first
// finds the 64 KiB clusters that hold data; from that it computes a fixed
// layout: the header cluster, the L1 table, the refcount table and refcount
// blocks, the L2 tables that are needed, then the data clusters in guest
// order. The second pass writes that layout strictly forward, so any
// io.Writer (a pipe, a hash, a network stream) can take the output. Every
// cluster has refcount 1 and carries the COPIED flag, no cluster leaks, and
// the image is writable by QEMU; `qemu-img check` finds it clean.
//
// The layout follows QEMU's docs/interop/qcow2.txt.
package qcow2
