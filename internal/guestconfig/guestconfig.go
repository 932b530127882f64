// Package guestconfig defines the configuration that the builder writes into
// the initramfs and the guest init (PID 1) reads at boot.
//
// It is the only contract between the build machine and the guest: the
// builder fills a Config from the user's builder.Spec, serialises it as JSON to
// Path inside the initramfs, and cmd/bootapp-init decodes it before doing
// anything else. The package has no dependencies beyond the standard library
// so that the guest init stays small.
package guestconfig

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Path is where the configuration lives inside the initramfs.
const Path = "/etc/bootapp/init.json"

// Version is the current configuration schema version. The init refuses a
// configuration with a newer version than it knows.
const Version = 1

// Config is everything the guest init needs to know.
type Config struct {
	// Version is the schema version (Version when written by this module).
	Version int `json:"version"`
	// Hostname is set with sethostname(2) early in boot.
	Hostname string `json:"hostname,omitempty"`
	// Modules lists kernel module files (absolute paths inside the
	// initramfs) in the order they must be loaded: dependencies first.
	// Those in the driver table (DriversPath) are loaded only for the
	// hardware present, the others at every boot.
	Modules []string `json:"modules,omitempty"`
	// App is the program to run.
	App App `json:"app"`
	// Data describes the persistent data volume.
	Data Data `json:"data"`
	// Network configures networking.
	Network Network `json:"network"`
	// StopTimeoutSeconds is how long the init waits after SIGTERM before
	// it kills the app with SIGKILL on shutdown.
	StopTimeoutSeconds int `json:"stop_timeout_seconds,omitempty"`
	// Restart is the restart policy: "no", "on-failure" or "always".
	// When the app is not restarted and exits, the VM powers off.
	Restart string `json:"restart,omitempty"`
	// RestartLimit and RestartWindowSeconds bound the restarts: when the
	// app would be restarted for the RestartLimit+1th time within
	// RestartWindowSeconds, the init reports a fatal error and powers
	// off instead. Zero values select the init's defaults (5 in 60 s); a
	// negative RestartLimit removes the bound.
	RestartLimit         int `json:"restart_limit,omitempty"`
	RestartWindowSeconds int `json:"restart_window_seconds,omitempty"`
	// Security relaxes the guest's hardening; the zero value is the
	// closed default.
	Security Security `json:"security,omitzero"`
}

// DriversPath is where the driver table lives inside the initramfs: in the
// base segment, beside the modules it describes.
const DriversPath = "/etc/bootapp/drivers.json"

// DriverTable is the file at DriversPath. It names the entries of
// Config.Modules that the init loads only for the hardware present: after
// loading the other modules, the init reads the modalias of every device
// in /sys, loads each driver with an alias matching one (its Needs first,
// its Then after), and scans again, since loading a bus driver adds
// devices, until no new device matches. Without the file every module is
// loaded.
type DriverTable struct {
	// Version is the schema version (Version when written by this module).
	Version int `json:"version"`
	// Platform is the platform the image was built for ("all", "aws",
	// ...), for the init's log.
	Platform string `json:"platform,omitempty"`
	// Drivers are in load order: each after the entries it Needs.
	Drivers []Driver `json:"drivers"`
}

// Driver is a kernel module that the init loads when a device needs it.
type Driver struct {
	// Name is the module's name, e.g. "virtio_blk".
	Name string `json:"name"`
	// Path is the absolute path of the module file inside the initramfs.
	Path string `json:"path"`
	// Aliases are fnmatch(3) patterns from the module's alias= entries,
	// matched against each device's modalias, such as
	// "pci:v00001AF4d*sv*sd*bc*sc*i*". A driver without aliases is loaded
	// only as another one's Needs or Then.
	Aliases []string `json:"aliases,omitempty"`
	// Needs are the names of drivers (entries of DriverTable.Drivers) to load
	// before this one, in order: its dependency closure.
	Needs []string `json:"needs,omitempty"`
	// Then are the names of drivers to load right after this one: those
	// of devices that appear asynchronously once it runs (SCSI disks
	// after a host adapter's scan, VMBus devices after hv_vmbus).
	Then []string `json:"then,omitempty"`
}

// Security lists the hardening steps of the init that can be relaxed.
// Every field is false by default, which keeps the guest closed.
type Security struct {
	// AllowModuleLoading keeps kernel module loading possible after the
	// init has loaded Modules. By default the init sets
	// kernel.modules_disabled=1 before it starts the app, so that not even
	// a process that became root can load code into the kernel.
	AllowModuleLoading bool `json:"allow_module_loading,omitempty"`
	// UnprivilegedPortStart, when above zero, lowers
	// net.ipv4.ip_unprivileged_port_start to it, so that the unprivileged
	// app can listen on the ports below 1024 it declares (80, 443). The
	// app is the only service of the machine, so nothing else can be
	// impersonated on them. Zero keeps the kernel's default, 1024.
	UnprivilegedPortStart int `json:"unprivileged_port_start,omitempty"`
}

// App describes the application process.
type App struct {
	// Path is the absolute path of the executable inside the initramfs.
	Path string `json:"path"`
	// Args are the arguments after argv[0].
	Args []string `json:"args,omitempty"`
	// Env is the environment, as KEY=VALUE strings.
	Env []string `json:"env,omitempty"`
	// Dir is the working directory.
	Dir string `json:"dir,omitempty"`
	// UID and GID the app runs as. Zero means root, which the builder
	// never selects by default.
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// Data describes the persistent data volume.
//
// The init picks the volume by Serial when it is set (the whole disk with
// that device serial), else by UUID when it is set (the ext4 file system
// with that UUID), else by Label (the ext4 file system with that label).
// A selected disk that is blank is formatted ext4 with Label (and UUID);
// one that holds anything else is never written.
type Data struct {
	// Label is the ext4 filesystem label that identifies the volume, and
	// the label a blank disk is formatted with. Empty: no volume, a tmpfs
	// at MountPoint.
	Label string `json:"label,omitempty"`
	// UUID, when set, selects the ext4 file system with this UUID
	// (canonical 8-4-4-4-12 hex form) instead of the label.
	UUID string `json:"uuid,omitempty"`
	// Serial, when set, selects the whole disk with this device serial
	// (an EBS volume id, with or without the dash after "vol").
	Serial string `json:"serial,omitempty"`
	// MountOptions are mount(8) options for the volume, each one of
	// those CheckMountOption accepts; nosuid and nodev are always added.
	// Empty: noatime.
	MountOptions []string `json:"mount_options,omitempty"`
	// MountPoint is where it is mounted, normally /data.
	MountPoint string `json:"mount_point,omitempty"`
	// Required makes a missing volume a fatal boot error. Otherwise the
	// app starts with a tmpfs at MountPoint, and the init warns.
	Required bool `json:"required,omitempty"`
	// WaitSeconds bounds how long the init waits for the device to appear.
	WaitSeconds int `json:"wait_seconds,omitempty"`
}

// MountFlagOptions are the mount options of the data volume that are
// mount(2) flags; CheckMountOption accepts them and the options of ext4
// listed in its documentation.
var MountFlagOptions = []string{"noatime", "relatime", "strictatime", "nodiratime", "lazytime", "sync", "dirsync", "noexec"}

// CheckMountOption reports whether opt may be given for the data volume:
// one of MountFlagOptions, or an ext4 option from an allow-list (discard,
// nodiscard, delalloc, nodelalloc, auto_da_alloc, noauto_da_alloc,
// journal_checksum, data=ordered|journal|writeback,
// errors=continue|remount-ro|panic, commit=1..300). Options that weaken
// the guest (suid, dev, exec when noexec was meant), that could lose
// acknowledged writes (nobarrier) or that make the volume read-only (ro:
// the init formats and grows it) are refused.
func CheckMountOption(opt string) error {
	for _, f := range MountFlagOptions {
		if opt == f {
			return nil
		}
	}
	switch opt {
	case "discard", "nodiscard", "delalloc", "nodelalloc", "auto_da_alloc", "noauto_da_alloc", "journal_checksum",
		"data=ordered", "data=journal", "data=writeback",
		"errors=continue", "errors=remount-ro", "errors=panic":
		return nil
	}
	if v, ok := strings.CutPrefix(opt, "commit="); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 300 {
			return nil
		}
		return fmt.Errorf("mount option %q: commit takes 1 to 300 seconds", opt)
	}
	return fmt.Errorf("mount option %q is not allowed: use %s, discard, nodiscard, [no]delalloc, [no]auto_da_alloc, journal_checksum, data=ordered|journal|writeback, errors=continue|remount-ro|panic or commit=SECONDS (nosuid and nodev are always set)",
		opt, strings.Join(MountFlagOptions, ", "))
}

// Network configures the network interfaces.
type Network struct {
	// DHCP enables DHCPv4 on every Ethernet interface. Each one keeps
	// asking, with backoff, until it has a lease, and renews it.
	DHCP bool `json:"dhcp"`
	// DHCPTimeoutSeconds bounds how long the app's start waits for the
	// first lease; DHCP goes on in the background after it.
	DHCPTimeoutSeconds int `json:"dhcp_timeout_seconds,omitempty"`
	// Static, when set, configures the first Ethernet interface with a
	// fixed address instead of DHCP; the other interfaces still use DHCP
	// when it is enabled.
	Static *Static `json:"static,omitempty"`
	// NTP lists the SNTP servers (host names or addresses, optionally
	// with ":port") the init keeps the clock in sync with. Empty: the
	// cloud's own time service when the init recognises the cloud (AWS:
	// 169.254.169.123, GCP: metadata.google.internal), else none.
	NTP []string `json:"ntp,omitempty"`
}

// Static is a fixed IPv4 configuration of one interface.
type Static struct {
	// Address is the interface's address with its prefix length,
	// "10.0.0.5/24".
	Address string `json:"address"`
	// Gateway is the default route's next hop; empty: no default route.
	Gateway string `json:"gateway,omitempty"`
	// DNS lists the name servers for /etc/resolv.conf.
	DNS []string `json:"dns,omitempty"`
}

// Marshal encodes c as indented JSON.
func Marshal(c *Config) ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode guest config: %w", err)
	}
	return append(b, '\n'), nil
}

// Unmarshal decodes and checks a configuration.
func Unmarshal(b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode guest config: %w", err)
	}
	if c.Version == 0 || c.Version > Version {
		return nil, fmt.Errorf("guest config version %d not supported (want 1..%d)", c.Version, Version)
	}
	if c.App.Path == "" {
		return nil, fmt.Errorf("guest config: app path is empty")
	}
	return &c, nil
}

// MarshalDrivers encodes t as JSON.
func MarshalDrivers(t *DriverTable) ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode driver table: %w", err)
	}
	return append(b, '\n'), nil
}

// UnmarshalDrivers decodes and checks a driver table.
func UnmarshalDrivers(b []byte) (*DriverTable, error) {
	var t DriverTable
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("decode driver table: %w", err)
	}
	if t.Version == 0 || t.Version > Version {
		return nil, fmt.Errorf("driver table version %d not supported (want 1..%d)", t.Version, Version)
	}
	return &t, nil
}

// ParseUUID parses a file system UUID in the canonical form
// "0f4c2a8e-3b1d-4e5f-9a7b-6c8d9e0f1a2b" (hex digits in either case).
func ParseUUID(s string) ([16]byte, error) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("UUID %q: want the form 01234567-89ab-cdef-0123-456789abcdef", s)
	}
	hex := strings.ReplaceAll(s, "-", "")
	for i := range u {
		hi, ok1 := unhex(hex[2*i])
		lo, ok2 := unhex(hex[2*i+1])
		if !ok1 || !ok2 {
			return u, fmt.Errorf("UUID %q: %q is not a hex digit", s, hex[2*i:2*i+2])
		}
		u[i] = hi<<4 | lo
	}
	return u, nil
}

// FormatUUID returns u in the canonical form ParseUUID reads, lower case.
func FormatUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
