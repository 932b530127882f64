package guestconfig

import (
	"strings"
	"testing"
)

// TestSecurityDefault checks that the closed default adds nothing to the
// JSON (configurations written before the field existed read the same) and
// that the relaxation survives a round trip.
func TestSecurityDefault(t *testing.T) {
	c := &Config{Version: Version, App: App{Path: "/app/x", UID: 1000, GID: 1000}}
	b, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "security") {
		t.Errorf("default config mentions security:\n%s", b)
	}
	c.Security.AllowModuleLoading = true
	if b, err = Marshal(c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"allow_module_loading": true`) {
		t.Errorf("config lacks allow_module_loading:\n%s", b)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Security.AllowModuleLoading {
		t.Errorf("AllowModuleLoading lost in the round trip")
	}
}
