// Command bootapp-init is the guest init: the static program that the kernel
// runs as /init (PID 1) from the initramfs of every bootapp image.
//
// # Data flow
//
// The builder writes an initramfs holding this binary at /init, the guest
// configuration at /etc/bootapp/init.json (internal/guestconfig), the kernel
// modules listed in Config.Modules and the app. At boot the init:
//
//  1. mounts /proc, /sys, /dev (devtmpfs), /dev/pts, /dev/shm, /run and /tmp,
//     and makes /dev/console its stdout and stderr;
//  2. reads the configuration (a broken one is fatal);
//  3. closes the kernel's usermode helpers (kernel.modprobe, hotplug,
//     uevent_helper, poweroff_cmd emptied) and writes the hardening
//     sysctls (security.go), then loads the modules in the configured
//     order: finit_module(2) for plain .ko files, init_module(2) after
//     decompressing .ko.xz, .ko.zst and .ko.gz in user space. Modules in
//     the driver table (/etc/bootapp/drivers.json) are loaded only when a
//     device in /sys/bus/*/devices has a modalias matching one of their
//     aliases, after their dependencies, rescanning while that adds devices
//     (coldplug.go); a "drivers: <device> <modalias> -> <driver>" line says
//     which device brought in which driver. A module that fails is logged
//     and skipped. Then module loading is disabled
//     (kernel.modules_disabled=1) unless Config.Security allows it;
//  4. concurrently brings up the network (lo, then the first Ethernet
//     interface with DHCPv4: address, default route, /etc/resolv.conf,
//     hostname) and the data volume (the block device whose ext4 label is
//     Config.Data.Label, mounted noatime at Config.Data.MountPoint and owned
//     by the app's user; a tmpfs stands in when it is absent and not
//     required), and watches the ACPI "Power Button" input device;
//  5. writes /etc/passwd and /etc/group entries for the app's UID and GID
//     when missing; makes / mode 0755 root and remounts it read-only,
//     nosuid and nodev (what the init writes later, /etc/resolv.conf
//     included, lives in /run); sets no_new_privs and empties the
//     capability bounding, inheritable and ambient sets; and starts the app
//     as its user in its own session;
//  6. acts as PID 1: reaps every zombie (the app's orphans become its
//     children), forwards SIGINT and SIGHUP to the app's process group, and
//     applies the restart policy ("no", "on-failure", "always"; restarts
//     back off from 100 ms, doubling up to 30 s, reset after a 10 s run);
//  7. shuts down on the power button, on SIGTERM, SIGUSR2 or SIGPWR sent to
//     PID 1, or when the app exits and is not restarted: SIGTERM to the app,
//     SIGKILL after Config.StopTimeoutSeconds (default 10), then every other
//     process, sync, unmount the data volume (lazily only as a last resort)
//     and power off.
//
// PID 1 never exits, since the kernel would panic: a fatal error is logged,
// the disks are synced and the machine powers off. Adding "bootapp.fatal=halt"
// to the kernel command line halts instead, which keeps the serial console
// around for debugging.
//
// # Logging
//
// Every line the init writes goes to the console (console=ttyS0 on the serial
// port) as "bootapp-init: [  1.234567] message", the timestamp being the time
// since boot as the kernel's own log shows it. The app's stdout and stderr
// lines are passed to the console prefixed with "app: ", so the two are easy
// to tell apart; a line longer than 64 KiB is split.
//
// # Portability
//
// Everything that touches the kernel lives in *_linux.go files. The rest
// (configuration defaults, the ext4 superblock reader, the input event
// decoder, the passwd editor, the restart policy, decompression) is plain Go
// with table-driven tests that run on any host. On other systems main only
// reports that it needs Linux.
//
// # Building
//
// The builder does not compile this program: internal/initbin embeds a
// prebuilt, reproducible linux/amd64 binary built with
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags="-s -w -buildid=" ./cmd/bootapp-init
//
// Run "go generate ./internal/initbin" after changing anything here.
package main
