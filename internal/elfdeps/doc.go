// Package elfdeps computes the files a dynamically linked Linux program
// needs at run time, the way glibc's dynamic loader (ld.so) would find
// them, without running the loader: the closure of a program built for
// another machine, or found in a sysroot, is computed the same way as one
// of the build host.
//
// Resolve reads the program's ELF headers (debug/elf) and follows, breadth
// first as ld.so loads them:
//
//   - PT_INTERP, the dynamic loader the kernel starts;
//   - DT_NEEDED of every object, each name looked up in order in the
//     DT_RPATH of the requesting object and of the objects that loaded it
//     up to the executable (only while the object has no DT_RUNPATH:
//     RUNPATH cancels RPATH), then the requesting object's own DT_RUNPATH
//     (RUNPATH applies to direct dependencies only), then the directories
//     of /etc/ld.so.conf (include lines with globs, as ldconfig reads
//     them; ld.so reads them through ld.so.cache) unless the object is
//     linked with -z nodeflib, then the default directories
//     (/lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib64,
//     /usr/lib64, /lib, /usr/lib);
//   - $ORIGIN, $LIB and $PLATFORM (also as ${...}) expanded as ld.so
//     expands them: $ORIGIN is the directory of the executable's real
//     path, or of the path a library was found at;
//   - names already loaded (a DT_SONAME, a name that loaded an object, the
//     same file under another name) are not looked up again.
//
// Candidates of another ELF class, byte order or machine than the
// executable, and files that are no ELF objects, are skipped as ld.so
// skips them. A name found nowhere is a *MissingError naming the library
// and the object that needs it.
//
// Every path is resolved inside the root (Options.Root, "/" by default, or
// a sysroot) and never leaves it: an absolute symbolic link is resolved
// from the root, ".." stops at it. Each symbolic link met on the way, of a
// directory or of the file, is part of the closure as a link (File.Link),
// so that copying the closure into an image at the same paths reproduces
// what the loader sees. Options.Mounts places host files or directories at
// other guest paths (the builder puts the app at /app).
//
// When the closure holds glibc (libc.so.6), Resolve adds what glibc loads
// with dlopen at run time: the NSS modules for the files and dns sources
// (in glibc 2.34 and later, Debian bookworm's 2.36 included, both are
// built into libc and the modules are small stubs, kept for programs that
// name them), and iconv's gconv configuration (gconv-modules,
// gconv-modules.cache, gconv-modules.d) with the modules of the common
// Unicode and Western European encodings (UTF-7, UTF-16, UTF-32, UNICODE,
// ISO-8859-1, ISO-8859-15, CP1252): about 220 KB, where all of gconv is
// 8 MB. UTF-8, ASCII and UCS-2/4 conversions are built into libc. A
// program that needs other encodings names their modules in
// Options.Extra, which adds files and globs (relative to the root) and
// resolves the ELF objects among them too.
//
// What Resolve does not do: glibc-hwcaps and legacy hwcap subdirectories
// (x86-64-v3, tls, x86_64) are not searched, LD_LIBRARY_PATH and
// LD_PRELOAD are not read, and ld.so.cache is not read (its directories
// come from ld.so.conf, which ldconfig built it from). Closure.LibraryPath
// lists the directories of libraries found only through ld.so.conf (or in
// a default directory that is not in Debian's loader's own search path,
// such as /lib64): an image without the sysroot's ld.so.cache must list
// them in one of its own, or pass them in LD_LIBRARY_PATH.
package elfdeps
