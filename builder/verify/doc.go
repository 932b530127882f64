// Package verify boots a freshly built bootapp image in QEMU and checks that
// it works: the app becomes healthy, and the VM powers off cleanly on the
// ACPI power button. It is the `--verify` of `mkbootapp build` and the
// `verify` option of the Packer builder.
//
// It is a package of its own so that the engine does not carry the QEMU
// harness: importing package builder (to build images) links no QEMU code;
// only the importers of verify do.
//
// Data flow: Run takes the *builder.Result of builder.Build (or of
// builder.ReadManifest). It picks the boot disk and the data volume in the
// format QEMU boots best (qemu.BootFormats: raw, then qcow2, then
// monolithicSparse VMDK), attaches the boot disk read-only and a scratch
// copy of the data volume (the built one stays pristine), forwards the
// health check's port to loopback and boots the VM. It then polls the
// health check (HTTP GET for a 2xx, or a TCP connect when no path is
// set), presses the ACPI power button and waits for QEMU to exit. The
// Report has the timings and the console; a failure wraps ErrUnhealthy,
// ErrNoShutdown or ErrNoBootDisk and quotes the last ConsoleLines lines of
// the serial console.
package verify
