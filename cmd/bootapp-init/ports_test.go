package main

import (
	"errors"
	"testing"

	"github.com/bootapp/bootapp/internal/guestconfig"
)

func TestPortTunable(t *testing.T) {
	if _, ok := portTunable(0); ok {
		t.Errorf("port start 0 must keep the kernel's default")
	}
	got, ok := portTunable(80)
	if !ok || got.path != "/proc/sys/net/ipv4/ip_unprivileged_port_start" || got.value != "80" {
		t.Errorf("portTunable(80) = %+v, %v", got, ok)
	}
}

func TestSettingsPortStart(t *testing.T) {
	for _, tc := range []struct {
		start int
		ok    bool
	}{{0, true}, {80, true}, {1024, true}, {-1, false}, {2000, false}} {
		c := &guestconfig.Config{App: guestconfig.App{Path: "/app/x", UID: 1000, GID: 1000},
			Security: guestconfig.Security{UnprivilegedPortStart: tc.start}}
		s, err := newSettings(c)
		if tc.ok && (err != nil || s.portStart != tc.start) {
			t.Errorf("start %d: %v", tc.start, err)
		}
		if !tc.ok && !errors.Is(err, errBadConfig) {
			t.Errorf("start %d accepted: %v", tc.start, err)
		}
	}
}
