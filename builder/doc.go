// Package builder turns an application into a bootable VM image: the one
// engine behind the Go API, the mkbootapp CLI and the Packer plugin.
//
// A build is described completely by a Spec and runs in these steps:
//
//  1. resolve inputs: the kernel .deb and the systemd-boot loader (from the
//     Spec or the cache directory), and the app (a static x86_64 ELF
//     executable or a directory holding one);
//  2. kernel.Open unpacks the kernel once into the cache and computes the
//     module closure for the target machine;
//  3. the initramfs is written as two concatenated compressed cpio
//     segments: a base segment (guest init and kernel modules, identical for
//     every app, so it is cached) and an app segment (the app and its guest
//     configuration, compressed per build);
//  4. image.WriteBootDisk writes a GPT disk whose ESP holds systemd-boot,
//     the kernel and the initramfs; image.WriteDataVolume writes the ext4
//     data volume (an existing one in the output directory is kept: it holds
//     the app's state);
//  5. each requested format is encoded from the raw images, files are
//     hashed, renamed from temporary names into place, and a manifest
//     (NAME.manifest.json, the JSON form of Result) is written beside them.
//
// Nothing is left behind on error or cancellation: every output is written
// under a temporary name and renamed only when the whole build succeeded,
// and an output directory created by the build is removed again.
//
// Verify boots a built image in QEMU and waits for its health check.
package builder
