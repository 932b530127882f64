// Package kernel loads a stock Debian Linux kernel package in pure Go and
// computes which modules a bootable app's initramfs must carry.
//
// The data flow:
//
//	linux-image-*.deb --Open--> cache dir (vmlinuz, modules, index.json) --> *Kernel
//	*Kernel + Platform --Drivers--> DriverSet (Always + Drivers with aliases) --> initramfs + driver table
//
// Open unpacks the package once into Options.CacheDir/kernels/<sha256
// prefix>/: the bzImage (vmlinuz), modules.builtin and every .ko below
// lib/modules/<release>/, plus index.json holding the release and each
// module's path, depends= and softdep= read from its ELF .modinfo section
// (the Debian package ships no modules.dep). Later Opens of the same file
// read only a small lookup file and the index, in about a millisecond.
//
// ParseBzImage reads the x86 boot protocol header (Documentation/arch/x86/
// boot.rst) and refuses kernels for other architectures with ErrWrongArch;
// ReadModInfo does the same for modules (EM_X86_64 only).
//
// Kernel.Closure orders modules so each comes after its dependencies and
// its softdep "pre:" modules, skipping builtins. PlatformModules names the
// drivers of each Platform's virtual hardware; Kernel.Drivers turns them
// into a DriverSet: the modules loaded at every boot, and the drivers the
// guest loads only when a device's modalias matches one of their alias=
// patterns (read from .modinfo), each with the modules it needs first and
// those to load after it. PlatformAll (the default) and PlatformQEMU are
// verified by booting in QEMU; the cloud platforms are unverified on their
// clouds.
package kernel
