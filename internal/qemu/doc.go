// Package qemu starts and controls a local QEMU virtual machine that boots a
// bootapp disk image. It is the one place that knows QEMU's command line, so
// the end-to-end tests, `mkbootapp run` and verify.Run all boot images the
// same way.
//
// Data flow: a Config lists the disks (the first one boots), the firmware
// (UEFI through OVMF by default, found with FindOVMF), memory, CPUs, the TCP
// ports to forward from loopback into the guest and where the serial console
// goes. Start turns the Config into a command line (see Args), copies the
// OVMF variable store into a work directory, starts qemu-system-x86_64 in its
// own process group (so a terminal's Ctrl-C reaches only the caller) and
// waits until QEMU's QMP monitor answers, which proves the machine is up.
// With Accel "auto" it uses KVM when /dev/kvm opens and its virtual CPU has
// the x86-64-v2 features every hardware-virtualised CPU has (a nested or
// emulated KVM without them starts QEMU and then runs the guest thousands
// of times slower than TCG: kvm_linux.go), and falls back to TCG when QEMU
// cannot start with KVM (where nested KVM aborts); that failure is
// remembered for the rest of the process. VM.WhyNotKVM says why TCG.
//
// With Config.Direct (a direct kernel boot, `mkbootapp run --direct`)
// Start writes the given kernel and initramfs into the work directory and
// QEMU boots them itself (-kernel, -initrd, -append) through SeaBIOS:
// no OVMF, no boot loader, the same machine and disks otherwise (see
// direct.go).
//
// DriveFormatOf is the one mapping from an image.Format to QEMU's block
// driver and whether QEMU can write it; a Disk names its image.Format and
// Start picks the driver. BootFormats is the order in which a built disk
// is picked to boot. GuestFatal reads bootapp-init's fatal error off the
// console. Start works on Linux only; elsewhere it returns an error
// wrapping ErrUnsupportedHost.
//
// The serial console is read from QEMU's stdout and copied to Config.Console
// and into a bounded in-memory tail (VM.ConsoleTail) for error messages.
// VM.Powerdown presses the ACPI power button through QMP; VM.Stop does that
// and kills QEMU when the guest does not power off within a grace period;
// cancelling the context given to Start kills QEMU. Every path ends with the
// work directory removed and the process reaped.
//
// WaitHTTP and WaitTCP poll a forwarded port until the app answers.
package qemu
