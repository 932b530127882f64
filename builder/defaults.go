package builder

import (
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/guestconfig"
	"github.com/bootapp/bootapp/internal/jlink"
	"github.com/bootapp/bootapp/kernel"
)

// Defaults applied by Build for zero Spec fields.
const (
	DefaultDataVolumeSize  = 1 << 30
	DefaultDataLabel       = "bootapp-data"
	DefaultDataMountPoint  = "/data"
	DefaultOutputDir       = "output"
	DefaultStopTimeout     = 10 * time.Second
	DefaultHealthTimeout   = 2 * time.Minute
	DefaultCompression     = "none"
	DefaultRestartLimit    = 5
	DefaultRestartWindow   = time.Minute
	defaultAppUID          = 1000
	maxLabelLen            = 16
	minDataVolumeSize      = 16 << 20
	appInstallDir          = "/app"
	dataVolumeWaitSeconds  = 10
	dhcpTimeoutSeconds     = 10
	guestHostnameMaxLength = 63
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// tzRE matches IANA time zone names (Europe/Berlin, Etc/GMT+5, UTC).
// javaClassRE is a binary class name ("com.example.Main", "a.B$C").
var javaClassRE = regexp.MustCompile(`^[\p{L}_$][\p{L}\p{N}_$]*(\.[\p{L}_$][\p{L}\p{N}_$]*)*$`)

var tzRE = regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`)

// DefaultCacheDir returns the cache directory used when Spec.CacheDir is
// empty: $BOOTAPP_CACHE, else $XDG_CACHE_HOME/bootapp, else
// ~/.cache/bootapp.
func DefaultCacheDir() string { return cache.DefaultDir() }

// WithDefaults returns a copy of s with every zero field set to its default,
// and checks the fields that can be checked without touching the file
// system. Errors wrap ErrInvalidSpec and name the field.
func (s Spec) WithDefaults() (Spec, error) {
	if s.App.Path == "" {
		return s, specErr("app.path", "no app given: pass the app's executable or its directory")
	}
	if s.Name == "" {
		base := filepath.Base(filepath.Clean(s.App.Path))
		for _, ext := range []string{".gz", ".xz", ".zst", ".zstd"} {
			if b, ok := strings.CutSuffix(base, ext); ok && strings.HasSuffix(b, ".tar") {
				base = b
			}
		}
		s.Name = strings.TrimSuffix(base, filepath.Ext(base))
		if !nameRE.MatchString(s.Name) {
			s.Name = "app"
		}
	}
	if !nameRE.MatchString(s.Name) {
		return s, specErr("name", "%q may only hold letters, digits, '.', '_' and '-'", s.Name)
	}
	if s.CacheDir == "" {
		s.CacheDir = DefaultCacheDir()
	}
	switch s.App.Runtime {
	case "":
		s.App.Runtime = RuntimeAuto
	case RuntimeAuto, RuntimeNative, RuntimeJava, RuntimeNode:
	default:
		return s, specErr("app.runtime", "unknown runtime %q: want auto, native, java or node", s.App.Runtime)
	}
	if s.App.RuntimePath != "" && s.App.Runtime != RuntimeJava && s.App.Runtime != RuntimeNode && s.App.Runtime != RuntimeAuto {
		return s, specErr("app.runtime_path", "a runtime path is for the java and node runtimes, not %s", s.App.Runtime)
	}
	if c := s.App.MainClass; c != "" && !javaClassRE.MatchString(c) {
		return s, specErr("app.main_class", "%q is not a Java class name (such as com.example.Main)", c)
	}
	for _, m := range s.App.JavaModules {
		if m != "all" && !jlink.ValidModule(m) || m == "all" && len(s.App.JavaModules) > 1 {
			return s, specErr("app.java_modules", "%q is not a module name (such as java.sql), and \"all\" stands alone", m)
		}
	}
	if s.OutputDir == "" {
		s.OutputDir = DefaultOutputDir
	}
	if s.Compression == "" {
		s.Compression = DefaultCompression
	}
	if _, err := initramfs.ParseCompression(s.Compression); err != nil {
		return s, specErr("compression", "%v", err)
	}
	platform, perr := kernel.ParsePlatform(s.Platform)
	if perr != nil {
		return s, specErr("platform", "%v", perr)
	}
	s.Platform = string(platform)
	if s.Kernel.URL != "" && s.Kernel.Checksum == "" {
		return s, specErr("kernel.checksum", "a kernel URL needs a checksum (sha256:<hex>)")
	}
	if s.Kernel.Checksum != "" {
		if _, err := parseChecksum(s.Kernel.Checksum); err != nil {
			return s, specErr("kernel.checksum", "%v", err)
		}
	}
	if s.BootDisk.Size < 0 {
		return s, specErr("boot_disk.size", "negative size %d", s.BootDisk.Size)
	}
	if len(s.BootDisk.Formats) == 0 {
		s.BootDisk.Formats = []image.Format{image.Raw}
	}
	var err error
	if s.BootDisk.Formats, err = checkFormats("boot_disk.formats", s.BootDisk.Formats); err != nil {
		return s, err
	}
	dv := &s.DataVolume
	if !dv.Disabled {
		if dv.Size < 0 {
			return s, specErr("data_volume.size", "negative size %d", dv.Size)
		}
		if dv.Size == 0 {
			dv.Size = DefaultDataVolumeSize
		}
		if dv.Size < minDataVolumeSize {
			return s, specErr("data_volume.size", "%d bytes is too small: ext4 needs at least %d MiB", dv.Size, minDataVolumeSize>>20)
		}
		if len(dv.Formats) == 0 {
			dv.Formats = []image.Format{image.Raw}
		}
		if dv.Formats, err = checkFormats("data_volume.formats", dv.Formats); err != nil {
			return s, err
		}
	}
	if dv.Label == "" {
		dv.Label = DefaultDataLabel
	}
	if len(dv.Label) > maxLabelLen {
		return s, specErr("data_volume.label", "%q is longer than %d bytes", dv.Label, maxLabelLen)
	}
	if dv.UUID != "" {
		if _, err := guestconfig.ParseUUID(dv.UUID); err != nil {
			return s, specErr("data_volume.uuid", "%v", err)
		}
		if !dv.Disabled {
			return s, specErr("data_volume.uuid", "the volume the build writes has a random UUID: a UUID selects a volume made elsewhere, so also disable the build's volume")
		}
	}
	if dv.Serial != "" && !dv.Disabled {
		return s, specErr("data_volume.serial", "a serial selects a volume made elsewhere (an EBS volume id), so also disable the build's volume")
	}
	for _, o := range dv.MountOptions {
		if err := guestconfig.CheckMountOption(o); err != nil {
			return s, specErr("data_volume.mount_options", "%v", err)
		}
	}
	if dv.MountPoint == "" {
		dv.MountPoint = DefaultDataMountPoint
	}
	if !strings.HasPrefix(dv.MountPoint, "/") || strings.Contains(dv.MountPoint, "..") {
		return s, specErr("data_volume.mount_point", "%q must be an absolute path without '..'", dv.MountPoint)
	}
	if s.App.WorkDir == "" {
		s.App.WorkDir = dv.MountPoint
	}
	if s.App.StopTimeout < 0 {
		return s, specErr("app.stop_timeout", "negative duration %v", s.App.StopTimeout)
	}
	if s.App.StopTimeout == 0 {
		s.App.StopTimeout = DefaultStopTimeout
	}
	if s.App.RestartLimit < -1 {
		return s, specErr("app.restart_limit", "%d: want a number of restarts, or -1 for no limit", s.App.RestartLimit)
	}
	if s.App.RestartLimit == 0 {
		s.App.RestartLimit = DefaultRestartLimit
	}
	if s.App.RestartWindow < 0 {
		return s, specErr("app.restart_window", "negative duration %v", s.App.RestartWindow)
	}
	if s.App.RestartWindow == 0 {
		s.App.RestartWindow = DefaultRestartWindow
	}
	if s.Network.Static != "" {
		if _, err := ParseStatic(s.Network.Static); err != nil {
			return s, specErr("network.static", "%v", err)
		}
	}
	for _, n := range s.Network.NTP {
		if n == "" || strings.ContainsAny(n, " \t\n/\x00") {
			return s, specErr("network.ntp", "%q is not a host name or address", n)
		}
	}
	for _, p := range s.App.ExtraFiles {
		if _, err := path.Match(p, ""); err != nil || p == "" || strings.ContainsRune(p, 0) {
			return s, specErr("app.extra_files", "%q is not a path or glob pattern inside the sysroot", p)
		}
	}
	for _, z := range s.System.Timezones {
		if z == TimezonesAll && len(s.System.Timezones) == 1 {
			continue
		}
		if !tzRE.MatchString(z) || strings.Contains(z, "..") {
			return s, specErr("system.timezones", "%q is not a time zone name such as Europe/Berlin or UTC (or %q alone for every zone)", z, TimezonesAll)
		}
	}
	switch s.App.Restart {
	case "":
		s.App.Restart = "no"
	case "no", "on-failure", "always":
	default:
		return s, specErr("app.restart", "%q is not one of no, on-failure, always", s.App.Restart)
	}
	for i, e := range s.App.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return s, specErr("app.env", "%q is not KEY=VALUE", e)
		}
		if strings.ContainsRune(e, 0) {
			return s, specErr("app.env", "variable %d (%q) holds a NUL byte, which the guest cannot pass to the app (execve ends strings at NUL): remove it", i+1, e)
		}
	}
	for i, a := range s.App.Args {
		if strings.ContainsRune(a, 0) {
			return s, specErr("app.args", "argument %d (%q) holds a NUL byte, which the guest cannot pass to the app (execve ends strings at NUL): remove it", i+1, a)
		}
	}
	for _, f := range []struct{ field, v string }{
		{"app.entrypoint", s.App.Entrypoint}, {"app.work_dir", s.App.WorkDir}, {"cmdline", s.Cmdline},
	} {
		if strings.ContainsRune(f.v, 0) {
			return s, specErr(f.field, "%q holds a NUL byte: remove it", f.v)
		}
	}
	for _, p := range s.App.Ports {
		if p < 1 || p > 65535 {
			return s, specErr("app.ports", "%d is not a TCP port", p)
		}
	}
	if h := s.Health; h != nil {
		hc := *h
		if hc.Port == 0 && len(s.App.Ports) > 0 {
			hc.Port = s.App.Ports[0]
		}
		if hc.Port < 1 || hc.Port > 65535 {
			return s, specErr("health.port", "%d is not a TCP port", hc.Port)
		}
		if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
			return s, specErr("health.path", "%q must start with '/'", hc.Path)
		}
		if hc.Timeout < 0 {
			return s, specErr("health.timeout", "negative duration %v", hc.Timeout)
		}
		if hc.Timeout == 0 {
			hc.Timeout = DefaultHealthTimeout
		}
		s.Health = &hc
	}
	return s, nil
}

// checkFormats normalises format names (accepting ParseFormat's aliases) and
// rejects unknown and duplicate ones.
func checkFormats(field string, fs []image.Format) ([]image.Format, error) {
	seen := map[image.Format]bool{}
	out := make([]image.Format, 0, len(fs))
	for _, f := range fs {
		pf, err := image.ParseFormat(string(f))
		if err != nil {
			return nil, specErr(field, "%v", err)
		}
		if seen[pf] {
			return nil, specErr(field, "%s listed twice", pf)
		}
		seen[pf] = true
		out = append(out, pf)
	}
	return out, nil
}
