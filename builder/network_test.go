package builder

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/guestconfig"
)

func TestParseStatic(t *testing.T) {
	tests := []struct {
		in      string
		want    *guestconfig.Static
		wantErr bool
	}{
		{in: "10.0.0.5/24", want: &guestconfig.Static{Address: "10.0.0.5/24"}},
		{in: "10.0.0.5/24, 10.0.0.1", want: &guestconfig.Static{Address: "10.0.0.5/24", Gateway: "10.0.0.1"}},
		{in: "10.0.0.5/24,10.0.0.1,10.0.0.2,1.1.1.1", want: &guestconfig.Static{Address: "10.0.0.5/24", Gateway: "10.0.0.1", DNS: []string{"10.0.0.2", "1.1.1.1"}}},
		{in: "10.0.0.5/24,,10.0.0.2", want: &guestconfig.Static{Address: "10.0.0.5/24", DNS: []string{"10.0.0.2"}}},
		{in: "10.0.0.5/32,10.9.0.1", want: &guestconfig.Static{Address: "10.0.0.5/32", Gateway: "10.9.0.1"}},
		{in: "10.0.0.5", wantErr: true},
		{in: "fd00::5/64", wantErr: true},
		{in: "10.0.0.5/24,10.1.0.1", wantErr: true},
		{in: "10.0.0.5/24,gw", wantErr: true},
		{in: "10.0.0.5/24,10.0.0.1,dns.example", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseStatic(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseStatic(%q) = %+v, %v; want %+v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRuntimeDefaults(t *testing.T) {
	s, err := Spec{App: App{Path: "x"}}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if s.App.RestartLimit != DefaultRestartLimit || s.App.RestartWindow != DefaultRestartWindow {
		t.Errorf("restart budget %d in %s", s.App.RestartLimit, s.App.RestartWindow)
	}
	cfg := guestConfig(&s, &appLayout{guestPath: "/app/x"}, nil)
	if cfg.RestartLimit != 5 || cfg.RestartWindowSeconds != 60 || cfg.Network.Static != nil || !cfg.Network.DHCP {
		t.Errorf("guest config %+v", cfg)
	}
	s.Network = Network{Static: "192.168.1.9/24,192.168.1.1", NTP: []string{"169.254.169.123"}}
	s.App.RestartLimit, s.App.RestartWindow = -1, 1500*time.Millisecond
	cfg = guestConfig(&s, &appLayout{guestPath: "/app/x"}, nil)
	if cfg.RestartLimit != -1 || cfg.RestartWindowSeconds != 2 || cfg.Network.Static == nil || cfg.Network.Static.Gateway != "192.168.1.1" || cfg.Network.NTP[0] != "169.254.169.123" {
		t.Errorf("guest config %+v %+v", cfg, cfg.Network.Static)
	}
	for _, bad := range []Spec{
		{App: App{Path: "x", RestartLimit: -2}},
		{App: App{Path: "x", RestartWindow: -time.Second}},
		{App: App{Path: "x"}, Network: Network{Static: "10.0.0.1"}},
		{App: App{Path: "x"}, Network: Network{NTP: []string{"a b"}}},
	} {
		var fe *FieldError
		if _, err := bad.WithDefaults(); !errors.As(err, &fe) {
			t.Errorf("%+v: err %v, want a FieldError", bad, err)
		}
	}
}
