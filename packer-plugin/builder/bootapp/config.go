//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config,HealthCheckConfig

package bootapp

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/bytesize"
	"github.com/bootapp/bootapp/internal/qemu"
)

// Config is the configuration of a `source "bootapp" "NAME"` block. Every
// option maps onto one field of builder.Spec, so a Packer build produces
// exactly what the library and the mkbootapp CLI produce for the same
// settings.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// The application to boot: an executable (static, or dynamically linked:
	// its loader and libraries come from `sysroot`), or a directory holding
	// the app (then `entrypoint` names the executable inside it). Required.
	AppPath string `mapstructure:"app_path" required:"true"`
	// The executable to start, relative to `app_path` when that is a
	// directory. Required for a directory of a native app, not allowed for
	// a file. For a Node.js app, the script node runs (default: what `npm
	// start` runs, else package.json "main", else index.js).
	Entrypoint string `mapstructure:"entrypoint"`
	// What runs the app: "auto" (the default: "java" for a .jar or with
	// `main_class`, "node" for a directory with a package.json, else
	// "native"), "native", "java" or "node". The Java and Node.js
	// runtimes come from the Debian packages `mkbootapp fetch --runtime
	// java,node` puts in `cache_dir`, or from `runtime_path`.
	Runtime string `mapstructure:"runtime"`
	// A JDK, JRE or Node.js distribution (a directory or a tar archive)
	// to use instead of the cached Debian packages; its libraries come
	// from `sysroot`.
	RuntimePath string `mapstructure:"runtime_path"`
	// Java: the class to start when `app_path` is a directory of classes
	// and jars (the classpath is /app, /app/* and /app/lib/*).
	MainClass string `mapstructure:"main_class"`
	// Java: the modules of the runtime jlink makes for the app. Defaults
	// to what jdeps finds the app uses; ["all"] takes every module.
	JavaModules []string `mapstructure:"java_modules"`
	// Arguments passed to the entrypoint.
	Args []string `mapstructure:"args"`
	// Environment variables of the app, as a map of name to value.
	Env map[string]string `mapstructure:"env"`
	// Working directory of the app (absolute path in the guest). Defaults
	// to the data volume's mount point.
	WorkDir string `mapstructure:"work_dir"`
	// TCP ports the app listens on.
	Ports []int `mapstructure:"ports"`
	// How long the app gets between SIGTERM and SIGKILL at shutdown, as a
	// duration string ("10s"). Defaults to 10s.
	StopTimeout time.Duration `mapstructure:"stop_timeout"`
	// Restart policy: "no" (the VM powers off when the app exits, the
	// default), "on-failure" or "always".
	Restart string `mapstructure:"restart"`
	// Restarts allowed within `restart_window`; one more and the guest
	// powers off with a fatal error. Defaults to 5; -1 removes the bound.
	RestartLimit int `mapstructure:"restart_limit"`
	// The period `restart_limit` counts in, as a duration string. Defaults
	// to 60s.
	RestartWindow time.Duration `mapstructure:"restart_window"`
	// Fixed address of the guest's first NIC instead of DHCP:
	// "ADDRESS/PREFIX[,GATEWAY[,DNS...]]", e.g. "10.0.0.5/24,10.0.0.1".
	NetworkStatic string `mapstructure:"network_static"`
	// SNTP servers the guest keeps its clock in sync with. Defaults to the
	// cloud's time service when the guest recognises the cloud (AWS, GCP).
	NTPServers []string `mapstructure:"ntp_servers"`
	// Copy the executable unchanged. By default its DWARF debug sections
	// are stripped (stack traces keep file:line), which makes the image
	// about a third smaller for a typical Go binary.
	KeepDebug bool `mapstructure:"keep_debug"`
	// Root directory the loader and libraries of a dynamically linked app
	// are taken from, found as glibc's ld.so finds them. Defaults to "/",
	// the build host.
	Sysroot string `mapstructure:"sysroot"`
	// Files, directories or glob patterns inside `sysroot` copied into the
	// image at the same paths (plugins the app loads with dlopen, more
	// gconv modules); ELF objects among them get their libraries too.
	ExtraFiles []string `mapstructure:"extra_files"`
	// PEM file of the CA certificates the image trusts
	// (/etc/ssl/certs/ca-certificates.crt and its usual other names), or
	// "none". Defaults to the Mozilla roots of Debian's ca-certificates
	// package in `cache_dir`/debs.
	CACertificates string `mapstructure:"ca_certificates"`
	// Time zones copied into /usr/share/zoneinfo from Debian's tzdata
	// package in `cache_dir`/debs, e.g. ["Europe/Berlin", "UTC"], or
	// ["all"]. Defaults to none (the machine's time is UTC either way).
	Timezones []string `mapstructure:"timezones"`

	// Base name of the output files: NAME.raw, NAME-data.raw. Defaults to
	// the name of the app file or directory.
	ImageName string `mapstructure:"image_name"`

	// Path of a Debian linux-image-*.deb. Conflicts with `kernel_url`.
	// Defaults to the newest linux-image-*-cloud-amd64 .deb in
	// `cache_dir`/debs.
	KernelPath string `mapstructure:"kernel_path"`
	// URL of a Debian kernel .deb, downloaded once into Packer's cache
	// (PACKER_CACHE_DIR) exactly as ISOs are. Requires `kernel_checksum`.
	KernelURL string `mapstructure:"kernel_url"`
	// Checksum of the file at `kernel_url`: "sha256:HEX" (also md5, sha1,
	// sha512), bare hex, or "file:URL" of a checksum file.
	KernelChecksum string `mapstructure:"kernel_checksum"`

	// Path of the UEFI boot loader: a systemd-boot-efi .deb or a
	// systemd-bootx64.efi file. Conflicts with `bootloader_url`. Defaults
	// to the newest systemd-boot-efi .deb in `cache_dir`/debs.
	BootloaderPath string `mapstructure:"bootloader_path"`
	// URL of a systemd-boot-efi .deb (or a systemd-bootx64.efi), downloaded
	// into Packer's cache. Requires `bootloader_checksum`.
	BootloaderURL string `mapstructure:"bootloader_url"`
	// Checksum of the file at `bootloader_url`, in the same forms as
	// `kernel_checksum`.
	BootloaderChecksum string `mapstructure:"bootloader_checksum"`

	// bootapp's own cache of packages and unpacked kernels. Defaults to
	// $BOOTAPP_CACHE, else $XDG_CACHE_HOME/bootapp, else ~/.cache/bootapp.
	CacheDir string `mapstructure:"cache_dir"`

	// Directory receiving the images and bootapp's manifest. Defaults to
	// "output-BUILDNAME". It must not exist unless `packer build -force` is
	// used, which deletes it first.
	OutputDir string `mapstructure:"output_directory"`

	// Size of the boot disk: a number of MiB, or a number with a binary
	// unit (B, K, M, G, T, also KiB, MiB, ...; "512M", "1.5G"). Decimal
	// units (MB, GB) are refused. Defaults to what the contents need, at
	// least 66 MiB.
	DiskSize string `mapstructure:"disk_size"`
	// Formats of the boot disk: "raw", "vmdk", "vmdk-stream", "qcow2",
	// "vhd", "gce". Defaults to ["raw"].
	Formats []string `mapstructure:"formats"`
	// Virtual hardware the image carries drivers for: "all" (default:
	// QEMU/KVM virtio, AWS ENA and NVMe, GCP gVNIC, Azure Hyper-V, Xen,
	// VMware PVSCSI and vmxnet3, and e1000/AHCI when the kernel has them),
	// "qemu", "aws", "gcp", "azure", "vmware" or "pc" (emulated
	// e1000/AHCI hardware; needs Debian's generic kernel linux-image-amd64).
	// The guest loads only the drivers of the devices it finds.
	Platform string `mapstructure:"platform"`
	// Compression of the initramfs: "none" (default: boots fastest;
	// compressed disk formats compress it anyway), "zstd", "xz" or "gzip".
	Compression string `mapstructure:"compression"`
	// Extra kernel command line arguments.
	Cmdline string `mapstructure:"cmdline"`
	// Keep kernel module loading open in the guest after boot. By default
	// the guest init closes it (kernel.modules_disabled=1) once it has
	// loaded the drivers the hardware needs, before the app starts.
	AllowModuleLoading bool `mapstructure:"allow_module_loading"`

	// Size of the data volume, in the same form as `disk_size`. Defaults
	// to 1 GiB.
	DataVolumeSize string `mapstructure:"data_volume_size"`
	// Filesystem label the guest looks for. Defaults to "bootapp-data".
	// At most 16 bytes.
	DataVolumeLabel string `mapstructure:"data_volume_label"`
	// Mount point of the data volume in the guest. Defaults to "/data".
	DataVolumeMountPoint string `mapstructure:"data_volume_mount_point"`
	// Formats of the data volume, as in `formats`. Defaults to ["raw"].
	DataVolumeFormats []string `mapstructure:"data_volume_formats"`
	// Build no data volume. Without `data_volume_uuid` or
	// `data_volume_serial` the guest then has none either (/data is a
	// tmpfs); with one of them it mounts that volume, made elsewhere.
	SkipDataVolume bool `mapstructure:"skip_data_volume"`
	// The guest's data volume is the ext4 file system with this UUID
	// (8-4-4-4-12 hex digits) rather than the one labelled
	// `data_volume_label`. Needs `skip_data_volume`.
	DataVolumeUUID string `mapstructure:"data_volume_uuid"`
	// The guest's data volume is the disk with this serial, such as an
	// EBS volume id ("vol-0123..."). A blank disk is formatted at first
	// boot. Needs `skip_data_volume`.
	DataVolumeSerial string `mapstructure:"data_volume_serial"`
	// Mount options of the data volume in the guest, from an allow-list
	// (noatime, relatime, lazytime, discard, commit=N, data=journal,
	// errors=remount-ro, ...). Defaults to ["noatime"]; nosuid and nodev
	// are always set.
	DataVolumeMountOptions []string `mapstructure:"data_volume_mount_options"`
	// Boot without the data volume when it is missing, with a tmpfs at
	// the mount point (lost at power-off) and a warning. By default a
	// missing volume fails the boot.
	DataVolumeOptional bool `mapstructure:"data_volume_optional"`

	// Health check of the booted app: an HTTP GET of `path` on `port`
	// answering 2xx, or a TCP connection to `port` when `path` is empty.
	HealthCheck *HealthCheckConfig `mapstructure:"health_check"`
	// Boot the built image in QEMU after the build (verify.Run) and
	// fail the build unless the app passes `health_check` (or, without
	// the block, accepts TCP connections on the first of `ports`) and the
	// VM powers off on ACPI shutdown. Needs qemu-system-x86_64 and OVMF on
	// the machine running Packer, and a raw, qcow2 or vmdk boot format.
	Verify bool `mapstructure:"verify"`

	ctx interpolate.Context
	// spec is the builder.Spec derived from the options by Prepare.
	spec builder.Spec
}

// HealthCheckConfig is the `health_check { ... }` block.
type HealthCheckConfig struct {
	// TCP port of the app to check. Required in the block.
	Port int `mapstructure:"port"`
	// HTTP path to GET, starting with "/". Empty checks only that the
	// port accepts connections.
	Path string `mapstructure:"path"`
	// How long to wait for the app to become healthy, as a duration
	// string ("60s").
	Timeout time.Duration `mapstructure:"timeout"`
}

// ErrInvalidConfig is wrapped by every error Prepare returns for a bad
// option, so callers can tell configuration errors from other failures.
var ErrInvalidConfig = errors.New("invalid bootapp configuration")

// fieldError is a validation error naming the offending option.
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// Is makes every fieldError match ErrInvalidConfig.
func (e *fieldError) Is(target error) bool { return target == ErrInvalidConfig }

// validationErrors lists every invalid option in Packer's usual format and
// lets errors.Is and errors.As see each of them.
type validationErrors struct{ *packersdk.MultiError }

// Unwrap returns the individual field errors.
func (e *validationErrors) Unwrap() []error { return e.Errors }

// validator collects field errors and warnings.
type validator struct {
	errs     *packersdk.MultiError
	warnings []string
}

func (v *validator) fail(field, format string, args ...any) {
	v.errs = packersdk.MultiErrorAppend(v.errs, &fieldError{field: field, msg: fmt.Sprintf(format, args...)})
}

func (v *validator) warn(field, format string, args ...any) {
	v.warnings = append(v.warnings, field+": "+fmt.Sprintf(format, args...))
}

// Prepare decodes raws into c, fills in defaults and validates every option.
// Each error names the option it is about. It returns warnings that do not
// stop the build.
func (c *Config) Prepare(raws ...interface{}) ([]string, error) {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{Exclude: []string{}},
	}, raws...)
	if err != nil {
		return nil, fmt.Errorf("decode bootapp configuration: %w", err)
	}

	if c.OutputDir == "" {
		name := c.PackerBuildName
		if name == "" {
			name = "bootapp"
		}
		c.OutputDir = "output-" + name
	}

	v := &validator{}
	c.spec = builder.Spec{
		Name:        c.ImageName,
		CacheDir:    c.CacheDir,
		OutputDir:   c.OutputDir,
		Bootloader:  c.BootloaderPath,
		Compression: c.Compression,
		Cmdline:     c.Cmdline,
		Platform:    c.Platform,

		AllowModuleLoading: c.AllowModuleLoading,
		Kernel:             builder.KernelSource{Deb: c.KernelPath},
	}
	c.prepareApp(v)
	c.prepareSources(v)
	c.prepareDisks(v)
	c.prepareMisc(v)
	if v.errs == nil {
		c.checkWithEngine(v)
	}

	if v.errs != nil && len(v.errs.Errors) > 0 {
		return v.warnings, &validationErrors{v.errs}
	}
	return v.warnings, nil
}

// Spec returns the builder.Spec that Prepare derived from the options. The
// kernel and boot loader paths of downloaded files are filled in by the
// build's steps, not here.
func (c *Config) Spec() builder.Spec { return c.spec }

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *Config) prepareApp(v *validator) {
	app := builder.App{
		Path:        c.AppPath,
		Entrypoint:  c.Entrypoint,
		Args:        c.Args,
		WorkDir:     c.WorkDir,
		Ports:       c.Ports,
		StopTimeout: c.StopTimeout,
		Restart:     c.Restart,
		KeepDebug:   c.KeepDebug,
		Sysroot:     c.Sysroot,
		ExtraFiles:  c.ExtraFiles,
		Runtime:     c.Runtime,
		RuntimePath: c.RuntimePath,
		MainClass:   c.MainClass,
		JavaModules: c.JavaModules,
	}
	switch fi, err := os.Stat(c.AppPath); {
	case c.AppPath == "":
		v.fail("app_path", "is required: set it to the app's executable or directory")
	case err != nil:
		v.fail("app_path", "cannot use %s: %v", c.AppPath, err)
	case fi.IsDir():
		if c.Entrypoint == "" {
			_, perr := os.Stat(filepath.Join(c.AppPath, "package.json"))
			native := c.Runtime == "native" || (c.Runtime == "" || c.Runtime == "auto") && c.MainClass == "" && perr != nil
			if native {
				v.fail("entrypoint", "is required when app_path %s is a directory (of a native app; a Node.js app has a package.json, a Java one a main_class)", c.AppPath)
			}
		} else if !filepath.IsLocal(c.Entrypoint) {
			v.fail("entrypoint", "%q must be a relative path inside app_path", c.Entrypoint)
		} else if ei, err := os.Stat(filepath.Join(c.AppPath, c.Entrypoint)); err != nil {
			v.fail("entrypoint", "cannot use %s inside %s: %v", c.Entrypoint, c.AppPath, err)
		} else if !ei.Mode().IsRegular() {
			v.fail("entrypoint", "%s inside %s is not a regular file", c.Entrypoint, c.AppPath)
		}
	case !fi.Mode().IsRegular():
		v.fail("app_path", "%s is neither a regular file nor a directory", c.AppPath)
	case c.Entrypoint != "":
		v.fail("entrypoint", "is only allowed when app_path is a directory (%s is a file)", c.AppPath)
	}

	names := make([]string, 0, len(c.Env))
	for k := range c.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		val := c.Env[k]
		if !envName.MatchString(k) {
			v.fail("env", "variable name %q must match %s", k, envName)
			continue
		}
		if strings.ContainsRune(val, 0) {
			v.fail("env", "value of %s contains a NUL byte", k)
			continue
		}
		app.Env = append(app.Env, k+"="+val)
	}

	if c.WorkDir != "" && !path.IsAbs(c.WorkDir) {
		v.fail("work_dir", "%q must be an absolute path in the guest", c.WorkDir)
	}
	seen := map[int]bool{}
	for _, p := range c.Ports {
		if p < 1 || p > 65535 {
			v.fail("ports", "port %d is out of range 1-65535", p)
		} else if seen[p] {
			v.fail("ports", "port %d is listed twice", p)
		}
		seen[p] = true
	}
	if c.StopTimeout < 0 {
		v.fail("stop_timeout", "%s must not be negative", c.StopTimeout)
	}
	switch c.Restart {
	case "", "no", "on-failure", "always":
	default:
		v.fail("restart", "%q is not one of \"no\", \"on-failure\", \"always\"", c.Restart)
	}
	app.RestartLimit, app.RestartWindow = c.RestartLimit, c.RestartWindow
	c.spec.App = app
	c.spec.Network = builder.Network{Static: c.NetworkStatic, NTP: c.NTPServers}
	c.spec.System = builder.System{CACertificates: c.CACertificates, Timezones: c.Timezones}
}

// prepareSources validates the kernel and boot loader options.
func (c *Config) prepareSources(v *validator) {
	checkSource(v, "kernel", c.KernelPath, c.KernelURL, c.KernelChecksum)
	checkSource(v, "bootloader", c.BootloaderPath, c.BootloaderURL, c.BootloaderChecksum)
	if c.CacheDir != "" {
		if fi, err := os.Stat(c.CacheDir); err == nil && !fi.IsDir() {
			v.fail("cache_dir", "%s is not a directory", c.CacheDir)
		}
	}
}

// checkSource validates one "PREFIX_path" / "PREFIX_url" + "PREFIX_checksum"
// triple.
func checkSource(v *validator, prefix, localPath, rawURL, checksum string) {
	pathField, urlField, sumField := prefix+"_path", prefix+"_url", prefix+"_checksum"
	if localPath != "" && rawURL != "" {
		v.fail(pathField, "conflicts with %s: set only one of them", urlField)
		return
	}
	if localPath != "" {
		if fi, err := os.Stat(localPath); err != nil {
			v.fail(pathField, "cannot use %s: %v", localPath, err)
		} else if !fi.Mode().IsRegular() {
			v.fail(pathField, "%s is not a regular file", localPath)
		}
		if checksum != "" {
			v.fail(sumField, "is only used with %s; remove it or use %s", urlField, urlField)
		}
		return
	}
	if rawURL == "" {
		if checksum != "" {
			v.fail(sumField, "is set but %s is not", urlField)
		}
		return
	}
	if _, err := url.Parse(rawURL); err != nil {
		v.fail(urlField, "%q is not a valid URL: %v", rawURL, err)
	}
	if checksum == "" {
		v.fail(sumField, "is required with %s (for example \"sha256:<64 hex digits>\")", urlField)
		return
	}
	if err := validChecksum(checksum); err != nil {
		v.fail(sumField, "%v", err)
	}
}

// checksumLengths maps the checksum types the Packer downloader (go-getter)
// verifies to the length of their hex digest.
var checksumLengths = map[string]int{"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}

// validChecksum accepts the forms Packer's ISO checksums take, except
// "none": a downloaded kernel must be verified.
func validChecksum(s string) error {
	typ, digest, found := strings.Cut(s, ":")
	if !found {
		typ, digest = "", s
	}
	typ = strings.ToLower(typ)
	if typ == "file" {
		if digest == "" {
			return fmt.Errorf("%q names no checksum file", s)
		}
		return nil
	}
	if typ == "" {
		for _, n := range checksumLengths {
			if len(digest) == n && isHex(digest) {
				return nil
			}
		}
		return fmt.Errorf("%q is not a checksum: want \"sha256:<64 hex digits>\", bare hex of an md5/sha1/sha256/sha512 digest, or \"file:<url>\"", s)
	}
	n, ok := checksumLengths[typ]
	if !ok {
		return fmt.Errorf("%q has unknown checksum type %q: want md5, sha1, sha256, sha512 or file", s, typ)
	}
	if len(digest) != n || !isHex(digest) {
		return fmt.Errorf("%q is not a %s checksum: want %d hex digits", s, typ, n)
	}
	return nil
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return s != ""
}

// minBootDisk is the smallest boot disk the builder can write: the ESP must
// be FAT32 of at least 64 MiB, plus the GPT.
const minBootDisk = 66 << 20

func (c *Config) prepareDisks(v *validator) {
	if c.DiskSize != "" {
		n, err := bytesize.Parse(c.DiskSize, bytesize.MiB)
		switch {
		case err != nil:
			v.fail("disk_size", "%v", err)
		case n < minBootDisk:
			v.fail("disk_size", "%q is smaller than the minimum of 66M (the ESP must be FAT32 of at least 64 MiB)", c.DiskSize)
		}
		c.spec.BootDisk.Size = n
	}
	c.spec.BootDisk.Formats = parseFormats(v, "formats", c.Formats)

	c.spec.DataVolume.UUID = c.DataVolumeUUID
	c.spec.DataVolume.Serial = c.DataVolumeSerial
	c.spec.DataVolume.MountOptions = c.DataVolumeMountOptions
	c.spec.DataVolume.Optional = c.DataVolumeOptional
	if c.SkipDataVolume {
		for _, o := range []struct {
			field string
			set   bool
		}{
			{"data_volume_size", c.DataVolumeSize != ""},
			{"data_volume_label", c.DataVolumeLabel != ""},
			{"data_volume_mount_point", c.DataVolumeMountPoint != ""},
			{"data_volume_formats", len(c.DataVolumeFormats) > 0},
		} {
			if o.set {
				v.fail(o.field, "is set but skip_data_volume is true")
			}
		}
		c.spec.DataVolume.Disabled = true
		return
	}
	if c.DataVolumeSize != "" {
		n, err := bytesize.Parse(c.DataVolumeSize, bytesize.MiB)
		switch {
		case err != nil:
			v.fail("data_volume_size", "%v", err)
		case n == 0:
			v.fail("data_volume_size", "must be positive; set skip_data_volume = true for no data volume")
		}
		c.spec.DataVolume.Size = n
	}
	if len(c.DataVolumeLabel) > 16 {
		v.fail("data_volume_label", "%q is longer than the 16 bytes an ext4 label holds", c.DataVolumeLabel)
	}
	if mp := c.DataVolumeMountPoint; mp != "" && (!path.IsAbs(mp) || path.Clean(mp) == "/") {
		v.fail("data_volume_mount_point", "%q must be an absolute path other than /", mp)
	}
	c.spec.DataVolume.Label = c.DataVolumeLabel
	c.spec.DataVolume.MountPoint = c.DataVolumeMountPoint
	c.spec.DataVolume.Formats = parseFormats(v, "data_volume_formats", c.DataVolumeFormats)
}

func parseFormats(v *validator, field string, names []string) []image.Format {
	var out []image.Format
	seen := map[image.Format]bool{}
	for _, s := range names {
		f, err := image.ParseFormat(s)
		if err != nil {
			v.fail(field, "%v", err)
			continue
		}
		if seen[f] {
			v.fail(field, "format %q is listed twice", s)
			continue
		}
		seen[f] = true
		out = append(out, f)
	}
	return out
}

func (c *Config) prepareMisc(v *validator) {
	if n := c.ImageName; n != "" && (n == "." || n == ".." || strings.ContainsAny(n, `/\`) || strings.ContainsRune(n, 0)) {
		v.fail("image_name", "%q must be a plain file name without slashes", n)
	}
	switch c.Compression {
	case "", "zstd", "xz", "gzip", "none":
	default:
		v.fail("compression", "%q is not one of \"zstd\", \"xz\", \"gzip\", \"none\"", c.Compression)
	}
	if strings.ContainsAny(c.Cmdline, "\n\r\x00") {
		v.fail("cmdline", "must be a single line")
	}

	c.checkVerify(v)
	h := c.HealthCheck
	if h == nil {
		return
	}
	if h.Port == 0 && len(c.Ports) == 0 {
		v.fail("health_check.port", "is required when ports is empty")
	} else if h.Port < 0 || h.Port > 65535 {
		v.fail("health_check.port", "%d is out of range 1-65535", h.Port)
	}
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		v.fail("health_check.path", "%q must start with /", h.Path)
	}
	if h.Timeout < 0 {
		v.fail("health_check.timeout", "%s must not be negative", h.Timeout)
	}
	c.spec.Health = &builder.HealthCheck{Port: h.Port, Path: h.Path, Timeout: h.Timeout}
}

// checkVerify makes sure Verify has something to check and a disk it can
// boot.
func (c *Config) checkVerify(v *validator) {
	if !c.Verify {
		return
	}
	if c.HealthCheck == nil && len(c.Ports) == 0 {
		v.fail("verify", "needs a health_check block or at least one of ports to know when the app is up")
	}
	bootable := len(c.spec.BootDisk.Formats) == 0 // the default is raw
	for _, f := range c.spec.BootDisk.Formats {
		if slices.Contains(qemu.BootFormats(), f) {
			bootable = true
		}
	}
	if !bootable {
		v.fail("verify", "needs a boot disk format QEMU can boot: add \"raw\", \"qcow2\" or \"vmdk\" to formats")
	}
}

// specFields maps builder.Spec field names, as builder errors spell them, to
// the options of this builder.
var specFields = map[string]string{
	"name":                      "image_name",
	"app.path":                  "app_path",
	"app.entrypoint":            "entrypoint",
	"app.args":                  "args",
	"app.env":                   "env",
	"app.work_dir":              "work_dir",
	"app.ports":                 "ports",
	"app.stop_timeout":          "stop_timeout",
	"app.restart":               "restart",
	"app.restart_limit":         "restart_limit",
	"app.restart_window":        "restart_window",
	"network.static":            "network_static",
	"network.ntp":               "ntp_servers",
	"app.keep_debug":            "keep_debug",
	"app.sysroot":               "sysroot",
	"app.runtime":               "runtime",
	"app.runtime_path":          "runtime_path",
	"app.main_class":            "main_class",
	"app.java_modules":          "java_modules",
	"app.extra_files":           "extra_files",
	"system.ca_certificates":    "ca_certificates",
	"system.timezones":          "timezones",
	"kernel.deb":                "kernel_path",
	"kernel.url":                "kernel_url",
	"kernel.checksum":           "kernel_checksum",
	"bootloader":                "bootloader_path",
	"cache_dir":                 "cache_dir",
	"output_dir":                "output_directory",
	"boot_disk.size":            "disk_size",
	"boot_disk.formats":         "formats",
	"platform":                  "platform",
	"compression":               "compression",
	"cmdline":                   "cmdline",
	"allow_module_loading":      "allow_module_loading",
	"data_volume.size":          "data_volume_size",
	"data_volume.label":         "data_volume_label",
	"data_volume.mount_point":   "data_volume_mount_point",
	"data_volume.formats":       "data_volume_formats",
	"data_volume.disabled":      "skip_data_volume",
	"data_volume.uuid":          "data_volume_uuid",
	"data_volume.serial":        "data_volume_serial",
	"data_volume.mount_options": "data_volume_mount_options",
	"data_volume.optional":      "data_volume_optional",
	"health.port":               "health_check.port",
	"health.path":               "health_check.path",
	"health.timeout":            "health_check.timeout",
}

// checkWithEngine runs the engine's own Spec checks (builder.Spec.WithDefaults)
// so Packer accepts exactly what the library and the CLI accept, and reports
// a rejection under this builder's option name.
func (c *Config) checkWithEngine(v *validator) {
	_, err := c.spec.WithDefaults()
	if err == nil {
		return
	}
	var ee *engineError
	if errors.As(renderEngineError(err), &ee) {
		v.fail(ee.field, "%s", ee.msg)
		return
	}
	v.fail("(spec)", "%s", err)
}
