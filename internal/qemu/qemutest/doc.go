// Package qemutest builds small bootable UEFI disks for tests that need a
// real guest: a GPT disk whose FAT32 ESP holds systemd-boot, the Debian cloud
// kernel and an initramfs whose /init is the tiny test guest in ./guest. It
// lets the qemu package and `mkbootapp run` be tested without the builder.
//
// Data flow: the guest program is compiled statically with the go tool, put
// into a gzip newc cpio together with the kernel modules it needs (network
// and ACPI power button), and written with the kernel and systemd-boot into
// the ESP of a sparse raw disk with go-diskfs.
package qemutest
