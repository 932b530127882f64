package main

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/guestconfig"
)

func TestNewSettings(t *testing.T) {
	tests := []struct {
		name    string
		cfg     guestconfig.Config
		wantErr bool
		check   func(t *testing.T, s *settings)
	}{
		{
			name: "defaults",
			cfg:  guestconfig.Config{App: guestconfig.App{Path: "/app/x", UID: 1000, GID: 1000}},
			check: func(t *testing.T, s *settings) {
				if s.mountPoint != "/data" || s.appDir != "/data" {
					t.Errorf("mount point %q, dir %q; want /data", s.mountPoint, s.appDir)
				}
				if s.stopTimeout != 10*time.Second || s.dataWait != defaultDataWait || s.dhcpTimeout != defaultDHCPTimeout {
					t.Errorf("timeouts %s %s %s", s.stopTimeout, s.dataWait, s.dhcpTimeout)
				}
				if s.restart != restartNo {
					t.Errorf("restart %s, want no", s.restart)
				}
				want := []string{"PATH=" + defaultPath, "HOME=/data"}
				if !slices.Equal(s.appEnv, want) {
					t.Errorf("env %q, want %q", s.appEnv, want)
				}
			},
		},
		{
			name: "explicit values",
			cfg: guestconfig.Config{
				App:                guestconfig.App{Path: "/app/x", Dir: "/srv", Env: []string{"PATH=/opt/bin", "A=b"}},
				Data:               guestconfig.Data{MountPoint: "/var/lib/app/", WaitSeconds: 3},
				StopTimeoutSeconds: 2,
				Restart:            "on-failure",
			},
			check: func(t *testing.T, s *settings) {
				if s.mountPoint != "/var/lib/app" || s.appDir != "/srv" {
					t.Errorf("mount point %q, dir %q", s.mountPoint, s.appDir)
				}
				if s.stopTimeout != 2*time.Second || s.dataWait != 3*time.Second || s.restart != restartOnFailure {
					t.Errorf("stop %s wait %s restart %s", s.stopTimeout, s.dataWait, s.restart)
				}
				want := []string{"PATH=/opt/bin", "A=b", "HOME=/srv"}
				if !slices.Equal(s.appEnv, want) {
					t.Errorf("env %q, want %q", s.appEnv, want)
				}
			},
		},
		{name: "always", cfg: guestconfig.Config{App: guestconfig.App{Path: "/x"}, Restart: "always"},
			check: func(t *testing.T, s *settings) {
				if s.restart != restartAlways {
					t.Errorf("restart %s", s.restart)
				}
			}},
		{name: "relative app", cfg: guestconfig.Config{App: guestconfig.App{Path: "x"}}, wantErr: true},
		{name: "bad restart", cfg: guestconfig.Config{App: guestconfig.App{Path: "/x"}, Restart: "sometimes"}, wantErr: true},
		{name: "root mount point", cfg: guestconfig.Config{App: guestconfig.App{Path: "/x"}, Data: guestconfig.Data{MountPoint: "/"}}, wantErr: true},
		{name: "relative module", cfg: guestconfig.Config{App: guestconfig.App{Path: "/x"}, Modules: []string{"virtio.ko"}}, wantErr: true},
		{name: "negative uid", cfg: guestconfig.Config{App: guestconfig.App{Path: "/x", UID: -1}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSettings(&tt.cfg)
			if tt.wantErr {
				if !errors.Is(err, errBadConfig) {
					t.Fatalf("err = %v, want errBadConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		cmdline string
		want    fatalAction
	}{
		{"console=ttyS0 quiet", fatalPowerOff},
		{"console=ttyS0 bootapp.fatal=halt\n", fatalHalt},
		{"bootapp.fatal=halt bootapp.fatal=poweroff", fatalPowerOff},
		{"", fatalPowerOff},
	}
	for _, tt := range tests {
		if got := parseCmdline(tt.cmdline); got != tt.want {
			t.Errorf("parseCmdline(%q) = %d, want %d", tt.cmdline, got, tt.want)
		}
	}
}

func TestRestartPolicy(t *testing.T) {
	tests := []struct {
		p              restartPolicy
		ok             bool // restarts after a failure
		restartOnClean bool // restarts after exit status 0
	}{
		{restartNo, false, false},
		{restartOnFailure, true, false},
		{restartAlways, true, true},
	}
	for _, tt := range tests {
		if got := tt.p.shouldRestart(true); got != tt.ok {
			t.Errorf("%s.shouldRestart(failed) = %v, want %v", tt.p, got, tt.ok)
		}
		if got := tt.p.shouldRestart(false); got != tt.restartOnClean {
			t.Errorf("%s.shouldRestart(success) = %v, want %v", tt.p, got, tt.restartOnClean)
		}
	}
}

func TestNextBackoff(t *testing.T) {
	tests := []struct {
		prev, ran, want time.Duration
	}{
		{0, 0, backoffMin},
		{backoffMin, time.Second, 2 * backoffMin},
		{20 * time.Second, time.Second, backoffMax},
		{backoffMax, time.Second, backoffMax},
		{backoffMax, backoffReset, backoffMin},
	}
	for _, tt := range tests {
		if got := nextBackoff(tt.prev, tt.ran); got != tt.want {
			t.Errorf("nextBackoff(%s, %s) = %s, want %s", tt.prev, tt.ran, got, tt.want)
		}
	}
}

func TestSettingsRuntimeFields(t *testing.T) {
	base := guestconfig.Config{App: guestconfig.App{Path: "/app/x", UID: 1000, GID: 1000}}
	s, err := newSettings(&base)
	if err != nil {
		t.Fatal(err)
	}
	if s.restartLimit != 5 || s.restartWindow != time.Minute || s.static != nil || s.ntp != nil {
		t.Errorf("defaults: limit %d window %s static %v ntp %v", s.restartLimit, s.restartWindow, s.static, s.ntp)
	}
	c := base
	c.RestartLimit, c.RestartWindowSeconds = -1, 5
	c.Network = guestconfig.Network{NTP: []string{"169.254.169.123"},
		Static: &guestconfig.Static{Address: "10.0.0.5/24", Gateway: "10.0.0.1", DNS: []string{"10.0.0.2", "1.1.1.1"}}}
	if s, err = newSettings(&c); err != nil {
		t.Fatal(err)
	}
	if s.restartLimit != -1 || s.restartWindow != 5*time.Second {
		t.Errorf("limit %d window %s", s.restartLimit, s.restartWindow)
	}
	if got := describeStatic(s.static); got != "10.0.0.5/24 via 10.0.0.1 dns 10.0.0.2" || len(s.static.dns) != 2 {
		t.Errorf("static %s", got)
	}
	for _, bad := range []guestconfig.Static{
		{Address: "10.0.0.5"}, {Address: "fe80::1/64"}, {Address: "10.0.0.5/24", Gateway: "x"},
		{Address: "10.0.0.5/24", DNS: []string{"dns.example"}},
	} {
		c.Network.Static = &bad
		if _, err := newSettings(&c); !errors.Is(err, errBadConfig) {
			t.Errorf("static %+v: err %v, want errBadConfig", bad, err)
		}
	}
}
