package main

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/bootapp/bootapp/internal/guestconfig"
)

// Defaults applied to zero values of guestconfig.Config.
const (
	defaultMountPoint  = "/data"
	defaultStopTimeout = 10 * time.Second
	defaultDataWait    = 10 * time.Second
	defaultDHCPTimeout = 10 * time.Second
	defaultPath        = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	defaultHostname    = "bootapp"
)

// restartPolicy says when the app is started again after it exits.
type restartPolicy int

const (
	restartNo restartPolicy = iota
	restartOnFailure
	restartAlways
)

func (p restartPolicy) String() string {
	switch p {
	case restartNo:
		return "no"
	case restartOnFailure:
		return "on-failure"
	case restartAlways:
		return "always"
	}
	return fmt.Sprintf("restartPolicy(%d)", int(p))
}

// errBadConfig marks a configuration the init cannot act on.
var errBadConfig = errors.New("invalid guest config")

// settings is a guestconfig.Config with every default filled in and every
// value checked, so that the rest of the init never looks at zero values.
type settings struct {
	hostname    string // empty: take it from DHCP, else defaultHostname
	modules     []string
	appPath     string
	appArgs     []string
	appEnv      []string // complete environment, PATH and HOME included
	appDir      string
	uid, gid    int
	dataLabel   string // empty: no data volume, a tmpfs at mountPoint
	mountPoint  string
	dataNeeded  bool
	dataWait    time.Duration
	dhcp        bool
	dhcpTimeout time.Duration
	stopTimeout time.Duration
	restart     restartPolicy
	// restartLimit restarts are allowed within restartWindow; a negative
	// limit allows any number.
	restartLimit  int
	restartWindow time.Duration
	// static, when set, configures the first Ethernet interface.
	static *staticNet
	// ntp lists the SNTP servers; empty: the cloud's, if known.
	ntp []string
	// allowModules keeps module loading enabled after boot
	// (Security.AllowModuleLoading).
	allowModules bool
	// portStart, when above zero, is the lowest port the app may bind
	// (Security.UnprivilegedPortStart).
	portStart int
	// dataSel selects the volume (label, UUID, serial); mountFlags and
	// mountData are its checked mount options.
	dataSel    volumeSel
	mountFlags uintptr
	mountData  string
}

// newSettings checks c and fills in the defaults.
func newSettings(c *guestconfig.Config) (*settings, error) {
	s := &settings{
		hostname:    c.Hostname,
		modules:     c.Modules,
		appPath:     c.App.Path,
		appArgs:     c.App.Args,
		uid:         c.App.UID,
		gid:         c.App.GID,
		dataLabel:   c.Data.Label,
		mountPoint:  c.Data.MountPoint,
		dataNeeded:  c.Data.Required,
		dataWait:    time.Duration(c.Data.WaitSeconds) * time.Second,
		dhcp:        c.Network.DHCP,
		dhcpTimeout: time.Duration(c.Network.DHCPTimeoutSeconds) * time.Second,
		stopTimeout: time.Duration(c.StopTimeoutSeconds) * time.Second,

		restartLimit:  c.RestartLimit,
		restartWindow: time.Duration(c.RestartWindowSeconds) * time.Second,
		ntp:           c.Network.NTP,

		allowModules: c.Security.AllowModuleLoading,
		portStart:    c.Security.UnprivilegedPortStart,
	}
	if s.portStart < 0 || s.portStart > 1024 {
		return nil, fmt.Errorf("%w: unprivileged port start %d is not between 0 and 1024", errBadConfig, s.portStart)
	}
	if !path.IsAbs(s.appPath) {
		return nil, fmt.Errorf("%w: app path %q is not absolute: fix App.Path in the build spec", errBadConfig, s.appPath)
	}
	if s.uid < 0 || s.gid < 0 {
		return nil, fmt.Errorf("%w: app uid %d / gid %d is negative", errBadConfig, s.uid, s.gid)
	}
	switch c.Restart {
	case "", "no":
		s.restart = restartNo
	case "on-failure":
		s.restart = restartOnFailure
	case "always":
		s.restart = restartAlways
	default:
		return nil, fmt.Errorf("%w: restart policy %q: want no, on-failure or always", errBadConfig, c.Restart)
	}
	if s.mountPoint == "" {
		s.mountPoint = defaultMountPoint
	}
	if !path.IsAbs(s.mountPoint) || path.Clean(s.mountPoint) == "/" {
		return nil, fmt.Errorf("%w: data mount point %q must be an absolute path below /", errBadConfig, s.mountPoint)
	}
	s.mountPoint = path.Clean(s.mountPoint)
	for _, m := range s.modules {
		if !path.IsAbs(m) {
			return nil, fmt.Errorf("%w: module path %q is not absolute", errBadConfig, m)
		}
	}
	s.dataSel = volumeSel{label: c.Data.Label, serial: normSerial(c.Data.Serial)}
	if c.Data.UUID != "" {
		u, err := guestconfig.ParseUUID(c.Data.UUID)
		if err != nil {
			return nil, fmt.Errorf("%w: data volume: %w", errBadConfig, err)
		}
		s.dataSel.uuid = guestconfig.FormatUUID(u)
	}
	var err error
	if s.mountFlags, s.mountData, err = mountArgs(c.Data.MountOptions); err != nil {
		return nil, fmt.Errorf("data volume: %w", err)
	}
	if s.dataWait <= 0 {
		s.dataWait = defaultDataWait
	}
	if s.dhcpTimeout <= 0 {
		s.dhcpTimeout = defaultDHCPTimeout
	}
	if s.stopTimeout <= 0 {
		s.stopTimeout = defaultStopTimeout
	}
	if s.restartLimit == 0 {
		s.restartLimit = defaultRestartLimit
	}
	if s.restartWindow <= 0 {
		s.restartWindow = defaultRestartWindow
	}
	if c.Network.Static != nil {
		st, err := parseStatic(c.Network.Static.Address, c.Network.Static.Gateway, c.Network.Static.DNS)
		if err != nil {
			return nil, err
		}
		s.static = st
	}
	s.appDir = c.App.Dir
	if s.appDir == "" {
		s.appDir = s.mountPoint
	}
	s.appEnv = appEnv(c.App.Env, s.appDir)
	return s, nil
}

// appEnv returns env plus PATH and HOME when env does not set them. HOME is
// the app's working directory, normally the data volume.
func appEnv(env []string, home string) []string {
	out := make([]string, 0, len(env)+2)
	var hasPath, hasHome bool
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, "PATH="):
			hasPath = true
		case strings.HasPrefix(kv, "HOME="):
			hasHome = true
		}
		out = append(out, kv)
	}
	if !hasPath {
		out = append(out, "PATH="+defaultPath)
	}
	if !hasHome {
		out = append(out, "HOME="+home)
	}
	return out
}

// fatalAction is what the init does after a fatal error.
type fatalAction int

const (
	fatalPowerOff fatalAction = iota
	fatalHalt
)

// parseCmdline reads the init's options from the kernel command line
// (/proc/cmdline). Only "bootapp.fatal=halt|poweroff" exists for now;
// unknown words are ignored since they belong to the kernel.
func parseCmdline(cmdline string) fatalAction {
	a := fatalPowerOff
	for _, w := range strings.Fields(cmdline) {
		switch w {
		case "bootapp.fatal=halt":
			a = fatalHalt
		case "bootapp.fatal=poweroff":
			a = fatalPowerOff
		}
	}
	return a
}

// staticNet is a checked guestconfig.Static.
type staticNet struct {
	prefix  netip.Prefix
	gateway netip.Addr // invalid: no default route
	dns     []netip.Addr
}

// parseStatic checks a static IPv4 configuration.
func parseStatic(addr, gw string, dns []string) (*staticNet, error) {
	p, err := netip.ParsePrefix(addr)
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("%w: static address %q: want IPv4 ADDRESS/PREFIX, e.g. 10.0.0.5/24", errBadConfig, addr)
	}
	st := &staticNet{prefix: p}
	if gw != "" {
		if st.gateway, err = netip.ParseAddr(gw); err != nil || !st.gateway.Is4() {
			return nil, fmt.Errorf("%w: static gateway %q is not an IPv4 address", errBadConfig, gw)
		}
	}
	for _, d := range dns {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, fmt.Errorf("%w: static DNS server %q is not an IP address", errBadConfig, d)
		}
		st.dns = append(st.dns, a)
	}
	return st, nil
}

// describeStatic summarises a static configuration for the log.
func describeStatic(st *staticNet) string {
	s := st.prefix.String()
	if st.gateway.IsValid() {
		s += " via " + st.gateway.String()
	}
	if len(st.dns) > 0 {
		s += " dns " + st.dns[0].String()
	}
	return s
}
