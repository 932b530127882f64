package main

import (
	"fmt"
	"os"
	"time"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/builder/verify"
	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/bytesize"
	"github.com/spf13/cobra"
)

type buildFlags struct {
	config        string
	diskSize      string
	dataSize      string
	formats       []string
	dataFormats   []string
	noData        bool
	healthPort    int
	healthPath    string
	healthTimeout time.Duration
	verify        bool
	quiet         bool
}

func newBuildCmd() *cobra.Command {
	cmd, _ := newBuildCommand()
	return cmd
}

// buildOptions holds what the build command's flags are bound to.
type buildOptions struct {
	spec builder.Spec
	f    buildFlags
}

// Spec merges the config file and the flags set on cmd into a build spec.
func (o *buildOptions) Spec(cmd *cobra.Command) (builder.Spec, error) {
	return o.f.apply(cmd, o.spec)
}

// newBuildCommand returns the build command and the options its flags are
// bound to (tests parse flags without building).
func newBuildCommand() (*cobra.Command, *buildOptions) {
	o := &buildOptions{}
	spec, f := &o.spec, &o.f
	cmd := &cobra.Command{
		Use:   "build [flags]",
		Short: "Build a boot disk and a data volume for an app",
		Long: `Build a boot disk (GPT, ESP with systemd-boot, kernel and an initramfs holding
the guest init and the app) and a separate ext4 data volume that the guest
mounts at /data. An existing data volume in the output directory is kept.

Every flag sets one field of the build spec; --config reads the whole spec
from a JSON file first, and flags given on the command line override it.`,
		Example: `  mkbootapp fetch
  CGO_ENABLED=0 go build -o hello ./examples/hello
  mkbootapp build --app hello --port 8080 --health-path /healthz --verify

  mkbootapp fetch --runtime java,node
  mkbootapp build --app build/app.jar --port 8080            # java: a runtime jlinked to what the jar uses
  mkbootapp build --app examples/node --port 8080            # node: the directory with package.json and node_modules
  mkbootapp build --app app.tar.gz --entrypoint bin/server   # an app directory as a tar archive`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.Spec(cmd)
			if err != nil {
				return err
			}
			if s.SourceDateEpoch, err = builder.SourceDateEpochFromEnv(); err != nil {
				return err
			}
			if !f.quiet {
				s.Progress = cmd.ErrOrStderr()
			}
			res, err := builder.Build(cmd.Context(), s)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, file := range res.Files {
				sum := file.SHA256
				switch {
				case file.Reused:
					sum = "(kept, live data)"
				case file.BlockSHA256 != "":
					sum = "blocks:" + file.BlockSHA256[:9]
				case len(sum) > 16:
					sum = sum[:16]
				}
				fmt.Fprintf(out, "%-4s %-11s %s  %-17s  %s\n", file.Role, file.Format, humanBytes(file.Size), sum, file.Path)
			}
			if res.SBOM != "" {
				fmt.Fprintf(out, "sbom %-11s %10s  %-17s  %s\n", "spdx-json", "", "", res.SBOM)
			}
			if f.verify {
				rep, err := verify.Run(cmd.Context(), res, verify.Options{Console: verboseWriter(cmd, f.quiet)})
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "verified: healthy %v after boot start (%s)\n", rep.BootToHealthy.Round(time.Millisecond), rep.Accel)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "read the build spec from this JSON file (flags override it; durations as \"10s\", sizes as \"1G\")")
	fl.StringVar(&spec.App.Path, "app", "", "the app: a linux/amd64 executable (static, or dynamically linked: its libraries come from --sysroot), a directory holding one (with --entrypoint), an executable jar, a Node.js app directory (package.json), or a tar archive of a directory")
	fl.StringVar(&spec.App.Runtime, "runtime", "", "what runs the app: auto (default: java for a .jar or with --main-class, node for a directory with package.json, else native), native, java or node; java and node come from the cache (mkbootapp fetch --runtime java,node)")
	fl.StringVar(&spec.App.RuntimePath, "runtime-path", "", "a JDK, JRE or Node.js distribution (directory or tar archive) to use instead of the cached Debian packages; its libraries come from --sysroot")
	fl.StringVar(&spec.App.MainClass, "main-class", "", "Java: the class to start when --app is a directory of classes and jars (classpath /app:/app/*:/app/lib/*)")
	fl.StringSliceVar(&spec.App.JavaModules, "java-modules", nil, "Java: the modules of the linked runtime (comma-separated; default: what jdeps finds the app uses; all: every module of the JDK)")
	fl.StringVar(&spec.App.Entrypoint, "entrypoint", "", "the executable inside the app directory")
	fl.StringArrayVar(&spec.App.Args, "arg", nil, "argument for the app (repeat for several)")
	fl.StringArrayVar(&spec.App.Env, "env", nil, "KEY=VALUE for the app's environment (repeat for several)")
	fl.StringVar(&spec.App.WorkDir, "workdir", "", "the app's working directory (default: the data volume's mount point)")
	fl.IntSliceVar(&spec.App.Ports, "port", nil, "TCP port the app listens on (repeat or comma-separate); \"mkbootapp run\" forwards them")
	fl.StringVar(&spec.App.Restart, "restart", "", "restart policy: no (power off when the app exits), on-failure, always")
	fl.DurationVar(&spec.App.StopTimeout, "stop-timeout", 0, "time between SIGTERM and SIGKILL at shutdown (default 10s)")
	fl.IntVar(&spec.App.RestartLimit, "restart-limit", 0, "restarts allowed within --restart-window before the guest powers off with a fatal error (default 5; -1: no limit)")
	fl.DurationVar(&spec.App.RestartWindow, "restart-window", 0, "the period --restart-limit counts in (default 1m)")
	fl.StringVar(&spec.Network.Static, "static-ip", "", "fixed address of the first NIC instead of DHCP: ADDRESS/PREFIX[,GATEWAY[,DNS...]]")
	fl.StringArrayVar(&spec.Network.NTP, "ntp", nil, "SNTP server to keep the guest clock in sync with (repeatable; default: the cloud's, if any)")
	fl.BoolVar(&spec.App.KeepDebug, "keep-debug", false, "copy the executable unchanged instead of stripping DWARF debug sections")
	fl.StringVar(&spec.App.Sysroot, "sysroot", "", "root directory the libraries of a dynamically linked app are taken from (default: /, this host)")
	fl.StringArrayVar(&spec.App.ExtraFiles, "extra-file", nil, "file, directory or glob inside the sysroot to copy into the image at the same path, e.g. plugins loaded with dlopen (repeatable)")
	fl.StringVar(&spec.System.CACertificates, "ca-certificates", "", "PEM file of the CA certificates the image trusts, or none (default: Mozilla's, from Debian's ca-certificates package in the cache)")
	fl.StringSliceVar(&spec.System.Timezones, "timezone", nil, "time zone to copy into /usr/share/zoneinfo, e.g. Europe/Berlin, or all (repeat or comma-separate; default none)")
	fl.StringVar(&spec.Name, "name", "", "base name of the output files (default: the app's name)")
	fl.StringVarP(&spec.OutputDir, "output", "o", "", "output directory (default \"output\")")
	fl.StringVar(&spec.Kernel.Deb, "kernel", "", "Debian kernel package linux-image-*.deb (default: newest in the cache)")
	fl.StringVar(&spec.Kernel.URL, "kernel-url", "", "download the kernel .deb from this URL (needs --kernel-checksum)")
	fl.StringVar(&spec.Kernel.Checksum, "kernel-checksum", "", "sha256:<hex> of the file at --kernel-url")
	fl.StringVar(&spec.Platform, "platform", "", "virtual hardware to carry drivers for: all (default), qemu, aws, gcp, azure, vmware, pc (pc needs the generic kernel linux-image-amd64)")
	fl.StringVar(&spec.Bootloader, "bootloader", "", "systemd-boot-efi .deb or systemd-bootx64.efi (default: newest in the cache)")
	fl.StringVar(&spec.CacheDir, "cache", "", "cache directory (default $BOOTAPP_CACHE or ~/.cache/bootapp)")
	fl.StringVar(&spec.Compression, "compression", "", "initramfs compression: none (default, boots fastest), zstd, xz, gzip")
	fl.StringVar(&spec.Cmdline, "cmdline", "", "extra kernel command line arguments")
	fl.BoolVar(&spec.AllowModuleLoading, "allow-module-loading", false, "keep kernel module loading open in the guest after boot (closed by default)")
	fl.StringVar(&f.diskSize, "disk-size", "", "boot disk size: bytes, or with a binary unit K, M, G, T, e.g. 128M (default: just large enough)")
	fl.StringSliceVar(&f.formats, "format", nil, "boot disk formats: raw, vmdk, vmdk-stream, qcow2, vhd, gce, ova (repeat or comma-separate; default raw)")
	fl.StringVar(&f.dataSize, "data-size", "", "data volume size: bytes, or with a binary unit K, M, G, T, e.g. 1.5G (default 1G)")
	fl.StringSliceVar(&f.dataFormats, "data-format", nil, "data volume formats (default raw)")
	fl.StringVar(&spec.DataVolume.Label, "data-label", "", "data volume filesystem label (default bootapp-data)")
	fl.BoolVar(&f.noData, "no-data", false, "build no data volume (with --data-uuid or --data-serial the guest still mounts that one)")
	fl.StringVar(&spec.DataVolume.UUID, "data-uuid", "", "the guest's data volume is the ext4 file system with this UUID (a volume made elsewhere: needs --no-data)")
	fl.StringVar(&spec.DataVolume.Serial, "data-serial", "", "the guest's data volume is the disk with this serial, e.g. an EBS volume id vol-0123... (needs --no-data)")
	fl.StringSliceVar(&spec.DataVolume.MountOptions, "data-mount-option", nil, "data volume mount options, e.g. noatime,discard,commit=30 (default noatime; nosuid,nodev always)")
	fl.BoolVar(&spec.DataVolume.Optional, "data-optional", false, "boot without the data volume when it is missing: /data is then a tmpfs, lost at power-off")
	fl.IntVar(&f.healthPort, "health-port", 0, "health check port (default: the first --port)")
	fl.StringVar(&f.healthPath, "health-path", "", "health check HTTP path expecting 2xx (empty: TCP connect)")
	fl.DurationVar(&f.healthTimeout, "health-timeout", 0, "how long --verify waits for health (default 2m)")
	fl.BoolVar(&f.verify, "verify", false, "boot the new image in QEMU with a scratch data volume and wait for the health check")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress output")
	return cmd, o
}

// apply merges the config file and the flags that were set into a spec.
func (f *buildFlags) apply(cmd *cobra.Command, flags builder.Spec) (builder.Spec, error) {
	var s builder.Spec
	if f.config != "" {
		b, err := os.ReadFile(f.config)
		if err != nil {
			return s, fmt.Errorf("read config: %w", err)
		}
		if s, err = builder.ParseSpec(b); err != nil {
			return s, fmt.Errorf("config %s: %w", f.config, err)
		}
	}
	set := cmd.Flags().Changed
	over := func(name string, apply func()) {
		if set(name) {
			apply()
		}
	}
	over("app", func() { s.App.Path = flags.App.Path })
	over("entrypoint", func() { s.App.Entrypoint = flags.App.Entrypoint })
	over("runtime", func() { s.App.Runtime = flags.App.Runtime })
	over("runtime-path", func() { s.App.RuntimePath = flags.App.RuntimePath })
	over("main-class", func() { s.App.MainClass = flags.App.MainClass })
	over("java-modules", func() { s.App.JavaModules = flags.App.JavaModules })
	over("arg", func() { s.App.Args = flags.App.Args })
	over("env", func() { s.App.Env = flags.App.Env })
	over("workdir", func() { s.App.WorkDir = flags.App.WorkDir })
	over("port", func() { s.App.Ports = flags.App.Ports })
	over("restart", func() { s.App.Restart = flags.App.Restart })
	over("stop-timeout", func() { s.App.StopTimeout = flags.App.StopTimeout })
	over("restart-limit", func() { s.App.RestartLimit = flags.App.RestartLimit })
	over("restart-window", func() { s.App.RestartWindow = flags.App.RestartWindow })
	over("static-ip", func() { s.Network.Static = flags.Network.Static })
	over("ntp", func() { s.Network.NTP = flags.Network.NTP })
	over("keep-debug", func() { s.App.KeepDebug = flags.App.KeepDebug })
	over("sysroot", func() { s.App.Sysroot = flags.App.Sysroot })
	over("extra-file", func() { s.App.ExtraFiles = flags.App.ExtraFiles })
	over("ca-certificates", func() { s.System.CACertificates = flags.System.CACertificates })
	over("timezone", func() { s.System.Timezones = flags.System.Timezones })
	over("name", func() { s.Name = flags.Name })
	over("output", func() { s.OutputDir = flags.OutputDir })
	over("kernel", func() { s.Kernel.Deb = flags.Kernel.Deb })
	over("kernel-url", func() { s.Kernel.URL = flags.Kernel.URL })
	over("kernel-checksum", func() { s.Kernel.Checksum = flags.Kernel.Checksum })
	over("platform", func() { s.Platform = flags.Platform })
	over("bootloader", func() { s.Bootloader = flags.Bootloader })
	over("cache", func() { s.CacheDir = flags.CacheDir })
	over("compression", func() { s.Compression = flags.Compression })
	over("cmdline", func() { s.Cmdline = flags.Cmdline })
	over("allow-module-loading", func() { s.AllowModuleLoading = flags.AllowModuleLoading })
	over("data-label", func() { s.DataVolume.Label = flags.DataVolume.Label })
	over("no-data", func() { s.DataVolume.Disabled = f.noData })
	over("data-uuid", func() { s.DataVolume.UUID = flags.DataVolume.UUID })
	over("data-serial", func() { s.DataVolume.Serial = flags.DataVolume.Serial })
	over("data-mount-option", func() { s.DataVolume.MountOptions = flags.DataVolume.MountOptions })
	over("data-optional", func() { s.DataVolume.Optional = flags.DataVolume.Optional })
	var err error
	if set("disk-size") {
		if s.BootDisk.Size, err = parseSizeFlag("disk-size", f.diskSize, "omit --disk-size for a disk just large enough"); err != nil {
			return s, err
		}
	}
	if set("data-size") {
		if s.DataVolume.Size, err = parseSizeFlag("data-size", f.dataSize, "omit --data-size for the default 1G, or pass --no-data for no data volume"); err != nil {
			return s, err
		}
	}
	if set("format") {
		if s.BootDisk.Formats, err = parseFormats(f.formats); err != nil {
			return s, fmt.Errorf("--format: %w", err)
		}
	}
	if set("data-format") {
		if s.DataVolume.Formats, err = parseFormats(f.dataFormats); err != nil {
			return s, fmt.Errorf("--data-format: %w", err)
		}
	}
	if set("health-port") || set("health-path") || set("health-timeout") || (f.verify && s.Health == nil) {
		h := builder.HealthCheck{}
		if s.Health != nil {
			h = *s.Health
		}
		over("health-port", func() { h.Port = f.healthPort })
		over("health-path", func() { h.Path = f.healthPath })
		over("health-timeout", func() { h.Timeout = f.healthTimeout })
		s.Health = &h
	}
	if f.verify && s.Health.Port == 0 && len(s.App.Ports) == 0 {
		return s, fmt.Errorf("--verify needs a health check port: pass --port or --health-port")
	}
	return s, nil
}

func parseFormats(names []string) ([]image.Format, error) {
	out := make([]image.Format, 0, len(names))
	for _, n := range names {
		f, err := image.ParseFormat(n)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// parseSizeFlag reads the value of the size flag --name. A bare number is
// bytes; units are binary (the rules of internal/bytesize). Zero is refused,
// with zeroHint saying what to do instead: a zero size in the spec selects
// the default, which the user did not ask for.
func parseSizeFlag(name, value, zeroHint string) (int64, error) {
	n, err := bytesize.Parse(value, bytesize.Byte)
	if err != nil {
		return 0, fmt.Errorf("--%s: %w", name, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("--%s: %q must be positive; %s", name, value, zeroHint)
	}
	return n, nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%6.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%6.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%6.1f KiB", float64(n)/(1<<10))
	}
}
