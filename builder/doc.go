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
//  5. each requested format is encoded from the raw images and every output
//     is hashed, all in a staging directory inside the output directory;
//     the manifest (NAME.manifest.json, the JSON form of Result) is staged
//     last, and only then is everything synced and renamed into place.
//
// A build is a transaction: on error or cancellation the output directory
// holds exactly what it held before (one the build created is removed),
// and no goroutine of the build outlives Build.
//
// Errors about a Spec field are *FieldError values that carry the field's
// JSON path, so that each front door can name its own option; sentinel
// errors (ErrInvalidSpec, ErrNotFound, ErrNotCached, ErrBadApp,
// ErrOutputConflict) say what kind of problem it is.
//
// Booting a result (package builder/verify) and filling the cache (package
// builder/fetch) live in packages of their own, so that a program that only
// builds links neither QEMU's harness nor apt.
package builder
