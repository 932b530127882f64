package builder

import (
	"io"
	"time"

	"github.com/bootapp/bootapp/image"
)

// Spec is the complete, serialisable description of one build. The CLI flags,
// the Packer HCL configuration and any config file map onto it and nothing
// more. Zero values select documented defaults (see Spec.withDefaults).
type Spec struct {
	// Name is the base name of the output files ("hello" gives hello.raw
	// and hello-data.raw). Default: the app's file or directory name.
	Name string `json:"name,omitempty"`

	// App is the application to boot.
	App App `json:"app"`

	// Kernel selects the Linux kernel.
	Kernel KernelSource `json:"kernel"`

	// Platform selects the virtual hardware the image carries drivers
	// for: "all" (default: virtio, NVMe, ENA, gVNIC, Hyper-V, Xen, PVSCSI
	// and vmxnet3, plus e1000 and AHCI where the kernel has them), or one
	// of "qemu", "aws", "gcp", "azure", "vmware" and "pc" (emulated
	// e1000/AHCI hardware, which needs Debian's generic kernel). The guest
	// loads only the drivers of the devices it finds, so "all" costs image
	// size (about 1.8 MB more than "qemu"), not boot time. A driver of the
	// platform that the kernel lacks is an error naming the kernel
	// package that has it.
	Platform string `json:"platform,omitempty"`

	// Bootloader is the path of the UEFI boot loader: either a
	// systemd-boot-efi .deb or a systemd-bootx64.efi file. Default: the
	// newest systemd-boot-efi .deb in CacheDir/debs.
	Bootloader string `json:"bootloader,omitempty"`

	// CacheDir holds downloaded packages and unpacked kernels.
	// Default: $BOOTAPP_CACHE, else $XDG_CACHE_HOME/bootapp, else
	// ~/.cache/bootapp.
	CacheDir string `json:"cache_dir,omitempty"`

	// OutputDir receives the images and the manifest. It is created if
	// missing. Default: "output".
	OutputDir string `json:"output_dir,omitempty"`

	// BootDisk configures the boot disk.
	BootDisk Disk `json:"boot_disk"`

	// DataVolume configures the persistent data volume.
	DataVolume DataVolume `json:"data_volume"`

	// Network configures the guest's network beyond the default (DHCP on
	// every interface, no time service unless the cloud has one).
	Network Network `json:"network,omitzero"`

	// System configures the files programs expect of a machine besides
	// their own: the CA certificates and the time zones.
	System System `json:"system,omitzero"`

	// Compression of the initramfs: "none" (default), "zstd", "xz" or
	// "gzip". Uncompressed boots fastest: under emulation the kernel
	// spends about 0.4 s unpacking a zstd initramfs (xz: 1.4 s), while
	// the firmware reads the larger file in no measurable extra time.
	// Compressed disk formats (VMDK, GCE) compress it anyway; zstd makes
	// raw and qcow2 images about 6 MB smaller.
	Compression string `json:"compression,omitempty"`

	// Cmdline is appended to the kernel command line.
	Cmdline string `json:"cmdline,omitempty"`

	// AllowModuleLoading keeps kernel module loading possible in the guest
	// after the init has loaded the modules the hardware needs. By default
	// the init closes it (kernel.modules_disabled=1) before the app starts,
	// so that not even a process that became root can load code into the
	// kernel.
	AllowModuleLoading bool `json:"allow_module_loading,omitempty"`

	// Health is the health check used by Verify and `mkbootapp run`.
	Health *HealthCheck `json:"health,omitempty"`

	// Progress receives human-readable progress lines. Nil discards them.
	Progress io.Writer `json:"-"`

	// SourceDateEpoch is the build's time in seconds since 1970-01-01 UTC,
	// the SOURCE_DATE_EPOCH convention of reproducible builds: it is the
	// creation time of the SBOM and is recorded in the manifest
	// (Result.SourceDateEpoch). No byte of a disk image depends on it:
	// every timestamp in them is fixed. The engine does not read the
	// environment; the CLI and the Packer plugin fill it from
	// $SOURCE_DATE_EPOCH (SourceDateEpochFromEnv). Zero gives 1970-01-01,
	// so a build does not depend on when it ran.
	SourceDateEpoch int64 `json:"-"`
}

// App describes the application and how it is started.
type App struct {
	// Path is the app: an executable (static, or dynamically linked
	// against the libraries of Sysroot), an executable jar, a directory
	// holding the app (a Node.js app with package.json and node_modules,
	// Java classes and jars, any program with its files), or a tar
	// archive (.tar, .tar.gz, .tar.xz, .tar.zst) of such a directory,
	// unpacked as /app with its modes, symbolic and hard links.
	Path string `json:"path"`
	// Entrypoint is the executable to start, relative to Path when Path
	// is a directory. Ignored when Path is a file. For a Node.js app it
	// is the script node runs; default: the file `npm start` would run
	// (package.json scripts.start "node FILE"), else its "main", else
	// index.js.
	Entrypoint string `json:"entrypoint,omitempty"`
	// Args are passed to the entrypoint.
	Args []string `json:"args,omitempty"`
	// Env holds KEY=VALUE pairs for the app's environment.
	Env []string `json:"env,omitempty"`
	// WorkDir is the working directory. Default: the data volume's mount
	// point (/data).
	WorkDir string `json:"work_dir,omitempty"`
	// Ports are the TCP ports the app listens on; `mkbootapp run` and
	// Verify forward them to loopback.
	Ports []int `json:"ports,omitempty"`
	// StopTimeout is how long the app gets between SIGTERM and SIGKILL
	// on shutdown. Default: 10s.
	StopTimeout time.Duration `json:"stop_timeout,omitempty"`
	// Restart is the restart policy: "no" (default: the VM powers off
	// when the app exits), "on-failure" or "always".
	Restart string `json:"restart,omitempty"`
	// RestartLimit bounds the restarts: when the app would be restarted
	// more than RestartLimit times within RestartWindow, the guest reports
	// a fatal error and powers off. Default: 5; -1 removes the bound.
	RestartLimit int `json:"restart_limit,omitempty"`
	// RestartWindow is the period RestartLimit counts in. Default: 60s.
	RestartWindow time.Duration `json:"restart_window,omitempty"`
	// Sysroot is the directory that stands for the guest's "/" when the
	// libraries of a dynamically linked app are looked up: the dynamic
	// loader (PT_INTERP), the DT_NEEDED libraries found as glibc's ld.so
	// finds them (RPATH, RUNPATH, /etc/ld.so.conf, the default
	// directories) and glibc's NSS and gconv modules are copied into the
	// image at the same paths, symbolic links kept. Default: "/", the
	// build host; give the root of another system (a debootstrap or
	// container image tree) to build for it. Static apps need none.
	Sysroot string `json:"sysroot,omitempty"`
	// ExtraFiles lists more files, directories (copied whole) or glob
	// patterns, paths inside Sysroot, copied into the image at the same
	// paths: plugins the app loads with dlopen, more gconv modules,
	// configuration it reads from /etc or /usr/share. ELF objects among
	// them get their libraries too.
	ExtraFiles []string `json:"extra_files,omitempty"`
	// Runtime says what runs the app: "native" (an x86_64 Linux
	// executable, static or dynamically linked), "java" (an executable
	// jar, or a directory of classes and jars with MainClass) or "node"
	// (a Node.js app directory with a package.json). Default ("" or
	// "auto"): "java" for a .jar or when MainClass is set, "node" for a
	// directory with a package.json, else "native". The Java and Node.js
	// runtimes come from the Debian packages `mkbootapp fetch --runtime
	// java,node` puts in CacheDir (their libraries from the same
	// packages, never from the build host), or from RuntimePath.
	Runtime string `json:"runtime,omitempty"`
	// RuntimePath is a JDK or JRE (a directory with bin/java; a JDK with
	// jmods gets a jlinked runtime) or a Node.js distribution (bin/node),
	// as a directory or a tar archive, used instead of the cached Debian
	// packages. Its libraries come from Sysroot.
	RuntimePath string `json:"runtime_path,omitempty"`
	// MainClass is the class a Java app starts from when Path is a
	// directory: the JVM runs it with /app, /app/* and /app/lib/* as the
	// classpath. Ignored for a jar, which names its own Main-Class.
	MainClass string `json:"main_class,omitempty"`
	// JavaModules are the Java modules of the runtime jlink makes for
	// the app. Default: the modules jdeps finds the app uses, with
	// jdk.crypto.ec (TLS) and jdk.localedata; for a Spring Boot jar, whose
	// nested jars jdeps cannot see, java.se and the common jdk modules.
	// ["all"] copies the whole runtime image instead.
	JavaModules []string `json:"java_modules,omitempty"`
	// KeepDebug copies the executable unchanged. By default DWARF debug
	// sections are stripped from it (stack traces keep file:line, which
	// Go stores in .gopclntab), which makes images about a third smaller.
	KeepDebug bool `json:"keep_debug,omitempty"`
}

// KernelSource selects the kernel: a local Debian kernel package, or a URL
// with a checksum that is downloaded once into the cache.
type KernelSource struct {
	// Deb is the path of a linux-image-*.deb. Default: the newest
	// linux-image-*-cloud-amd64 .deb in CacheDir/debs.
	Deb string `json:"deb,omitempty"`
	// URL of a kernel .deb; requires Checksum.
	URL string `json:"url,omitempty"`
	// Checksum of the file at URL, as "sha256:<hex>" or "<hex>".
	Checksum string `json:"checksum,omitempty"`
}

// Disk configures the boot disk.
type Disk struct {
	// Size of the disk in bytes. Default: large enough for its contents,
	// and at least 66 MiB (the ESP must be FAT32, >= 64 MiB).
	Size int64 `json:"size,omitempty"`
	// Formats to write. Default: raw.
	Formats []image.Format `json:"formats,omitempty"`
}

// DataVolume configures the persistent data volume: ext4 on the whole disk,
// without a partition table.
type DataVolume struct {
	// Size in bytes. Default: 1 GiB. Zero with Disabled set writes none.
	Size int64 `json:"size,omitempty"`
	// Label is the filesystem label the guest looks for. Default:
	// "bootapp-data".
	Label string `json:"label,omitempty"`
	// MountPoint in the guest. Default: /data.
	MountPoint string `json:"mount_point,omitempty"`
	// Formats to write. Default: raw.
	Formats []image.Format `json:"formats,omitempty"`
	// Disabled writes no data volume. Without UUID or Serial the guest
	// then has none either: /data is a tmpfs. With one of them the guest
	// still looks for that volume, made outside the build.
	Disabled bool `json:"disabled,omitempty"`
	// UUID selects the guest's volume by ext4 UUID instead of the label
	// (canonical form, 8-4-4-4-12 hex digits). The volume the build
	// writes has a random UUID, so UUID needs Disabled: it names a
	// volume made elsewhere, or the one the guest formats when it finds
	// a blank disk.
	UUID string `json:"uuid,omitempty"`
	// Serial selects the guest's volume by the device serial of its disk,
	// such as an EBS volume id ("vol-0123...", with or without the dash).
	// Like UUID it needs Disabled.
	Serial string `json:"serial,omitempty"`
	// MountOptions for the volume in the guest, from an allow-list
	// (guestconfig.CheckMountOption: noatime, relatime, lazytime, discard,
	// commit=N, data=journal, errors=remount-ro, ...); nosuid and nodev are
	// always set. Default: noatime.
	MountOptions []string `json:"mount_options,omitempty"`
	// Optional lets the guest boot without its volume: the app then
	// runs with a tmpfs at MountPoint (lost at power-off) and the init
	// logs a warning. Default: a missing volume is a fatal boot error.
	Optional bool `json:"optional,omitempty"`
}

// Network configures the guest's network.
type Network struct {
	// Static gives the first Ethernet interface a fixed address instead
	// of DHCP: "ADDRESS/PREFIX[,GATEWAY[,DNS...]]", e.g.
	// "10.0.0.5/24,10.0.0.1,10.0.0.2". Other interfaces keep DHCP.
	Static string `json:"static,omitempty"`
	// NTP lists SNTP servers (names or addresses, optionally with
	// ":port") the guest keeps its clock in sync with. Default: the
	// cloud's time service when the guest recognises the cloud (AWS
	// 169.254.169.123, GCP metadata.google.internal), else none.
	NTP []string `json:"ntp,omitempty"`
}

// System configures the system files of the image. Every image has
// /etc/nsswitch.conf (files and dns), /etc/passwd and /etc/group with root
// and nobody (the guest adds the app's user), and, unless CACertificates
// is "none", a CA bundle at /etc/ssl/certs/ca-certificates.crt where Go,
// OpenSSL, GnuTLS, curl and Python look for it, also named
// /etc/pki/tls/certs/ca-bundle.crt, /etc/ssl/cert.pem and OpenSSL's
// /usr/lib/ssl/cert.pem, each certificate also in OpenSSL's CApath form
// (/etc/ssl/certs/HASH.0).
type System struct {
	// CACertificates is a PEM file of the CA certificates the image
	// trusts, or "none". Default: the Mozilla roots of the newest
	// Debian ca-certificates package in CacheDir/debs (`mkbootapp
	// fetch` downloads it), concatenated as update-ca-certificates does:
	// the same image from the same cache on any build host.
	CACertificates string `json:"ca_certificates,omitempty"`
	// Timezones lists the IANA time zones ("Europe/Berlin", "UTC")
	// copied into /usr/share/zoneinfo from the newest Debian tzdata
	// package in CacheDir/debs, or is ["all"] for all of them (1.4 MB).
	// Default: none; the machine's local time is UTC either way, and the
	// app chooses a zone with TZ or by name.
	Timezones []string `json:"timezones,omitempty"`
}

// HealthCheck tells when a booted app is healthy: an HTTP GET of Path on
// Port answering 2xx, or, with Path empty, a TCP connection to Port.
type HealthCheck struct {
	Port    int           `json:"port"`
	Path    string        `json:"path,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
}

// Role says what an output file is for.
type Role string

// The roles of output files.
const (
	RoleBoot Role = "boot"
	RoleData Role = "data"
)

// File is one output file.
type File struct {
	Path   string       `json:"path"`
	Role   Role         `json:"role"`
	Format image.Format `json:"format"`
	// Size is the file's length in bytes (for sparse raw images, the
	// virtual size; Allocated says what it occupies).
	Size      int64 `json:"size"`
	Allocated int64 `json:"allocated,omitempty"`
	// SHA256 is the hex SHA-256 of the whole file (`sha256sum` gives
	// it), for every output except a new data volume's raw and VHD files.
	SHA256 string `json:"sha256,omitempty"`
	// BlockSHA256 is recorded instead of SHA256 for a new data volume's
	// raw and VHD files, whose virtual size may be a TiB while they hold a
	// few MiB: the SHA-256 of their canonical sparse form (every 4 KiB
	// block that is not all zeros, with its index; see Result.Check and
	// `mkbootapp check`), which costs time in proportion to the data.
	BlockSHA256 string `json:"block_sha256,omitempty"`
	// Reused is set for a data volume that existed in the output
	// directory and was kept as it was. A reused volume holds live state,
	// so it has no checksum.
	Reused bool `json:"reused,omitempty"`
}

// Result describes a finished build.
type Result struct {
	// Files lists the outputs: boot disk formats first, then the data
	// volume's.
	Files []File `json:"files"`
	// Manifest is the path of the JSON manifest written beside the images.
	Manifest string `json:"manifest"`
	// SBOM is the path of the SPDX 2.3 JSON software bill of materials
	// written beside the manifest (NAME.spdx.json). Empty in manifests of
	// older versions.
	SBOM string `json:"sbom,omitempty"`
	// KernelRelease is the kernel's release string (uname -r).
	KernelRelease string `json:"kernel_release"`
	// Spec is the spec as built, defaults filled in.
	Spec Spec `json:"spec"`
	// SourceDateEpoch is Spec.SourceDateEpoch, the build's time (Spec
	// does not serialise it: it comes from the environment).
	SourceDateEpoch int64 `json:"source_date_epoch,omitempty"`
	// Inputs lists every input of the boot disk with its SHA-256. Nil in
	// manifests of older versions.
	Inputs *Inputs `json:"inputs,omitempty"`
	// RootFSBytes is the size of the guest's root file system once the
	// kernel has unpacked the initramfs into RAM, where it stays.
	RootFSBytes int64 `json:"rootfs_bytes,omitempty"`
	// MemoryMiB is the guest memory `mkbootapp run` and Verify give the
	// VM unless told otherwise: room for the root file system (twice
	// its size while the firmware and the kernel load it) and for the
	// runtime (512 MiB at least; a JVM gets 768 MiB more). Give a cloud
	// instance at least as much.
	MemoryMiB int `json:"memory_mib,omitempty"`
	// Duration of the build.
	Duration time.Duration `json:"duration"`
}

// Inputs lists what went into the boot disk, each file with its SHA-256,
// so that a user can check an image against the files it was built from.
type Inputs struct {
	// Kernel is the Debian kernel package.
	Kernel InputPackage `json:"kernel"`
	// Bootloader is the systemd-boot-efi package, or the .efi file given
	// (then Name and Version are empty).
	Bootloader InputPackage `json:"bootloader"`
	// Fsck is the e2fsck-static package whose e2fsck the image carries as
	// /sbin/e2fsck; nil when the cache had none.
	Fsck *InputPackage `json:"fsck,omitempty"`
	// System lists the packages whose files the image carries as the
	// machine's system files: ca-certificates (the CA bundle) and tzdata
	// (time zones), when the build used them.
	System []InputPackage `json:"system,omitempty"`
	// Runtime lists the packages of the app's runtime the image takes
	// files from (the JDK or Node.js packages and those of the libraries
	// they need), or the RuntimePath given; nil for a native app.
	Runtime []InputPackage `json:"runtime,omitempty"`
	// Init is the guest init, /init in the initramfs.
	Init GuestFile `json:"init"`
	// Config is the guest configuration, /etc/bootapp/init.json.
	Config GuestFile `json:"config"`
	// App is the application and every file of it in the image.
	App AppInput `json:"app"`
	// Modules are the kernel modules in the initramfs, in load order.
	Modules []GuestFile `json:"modules"`
	// Cmdline is the complete kernel command line of the boot entry.
	Cmdline string `json:"cmdline"`
}

// InputPackage is an input file on the build host, usually a Debian
// package.
type InputPackage struct {
	// Path is the file on the build host.
	Path string `json:"path"`
	// Name, Version and Arch are the package's control fields (Package,
	// Version, Architecture); empty for a file that is no package.
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Arch    string `json:"arch,omitempty"`
	// Size is the file's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the file (what sha256sum prints).
	SHA256 string `json:"sha256"`
}

// AppInput describes the app as it went into the image.
type AppInput struct {
	// Path is the app on the build host (Spec.App.Path).
	Path string `json:"path"`
	// Entrypoint is the guest path of the executable the init starts.
	Entrypoint string `json:"entrypoint"`
	// Files lists every entry of the app in the image: those of the app
	// segment in archive order (/app itself with the app's directories,
	// files and symbolic links, then the system files: CA bundle, /etc
	// files, time zones, Java's trust store), then those of the
	// libraries segment, which precedes it in the initramfs (the runtime
	// and the libraries of the app's ELF objects, with their links).
	Files []GuestFile `json:"files"`
}

// The types of GuestFile entries.
const (
	GuestRegular = "file"
	GuestDir     = "dir"
	GuestSymlink = "symlink"
	// GuestHardLink is a later name of a regular file (a hard link):
	// Target is the name that holds the data, with its size and sha256.
	GuestHardLink = "hardlink"
)

// GuestFile is one entry of the initramfs as the guest sees it.
type GuestFile struct {
	// Path is the absolute guest path.
	Path string `json:"path"`
	// Type is GuestRegular, GuestDir or GuestSymlink.
	Type string `json:"type"`
	// Mode is the permission bits in octal, e.g. "0755".
	Mode string `json:"mode"`
	// Size is the length of a file's content (a symbolic link's target).
	Size int64 `json:"size,omitempty"`
	// SHA256 is the hex SHA-256 of a file's content in the image.
	SHA256 string `json:"sha256,omitempty"`
	// Target is a symbolic link's target, or the first name of a hard
	// link's file.
	Target string `json:"target,omitempty"`
	// HostSHA256 is set for a single-executable app: the SHA-256 of the
	// host file, which differs from SHA256 when DWARF debug sections were
	// stripped on the way in (the default, see App.KeepDebug).
	HostSHA256 string `json:"host_sha256,omitempty"`
}
