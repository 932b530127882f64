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

func TestCheckMountOption(t *testing.T) {
	for _, ok := range append([]string{"discard", "data=journal", "errors=remount-ro", "commit=1", "commit=300"}, MountFlagOptions...) {
		if err := CheckMountOption(ok); err != nil {
			t.Errorf("CheckMountOption(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "suid", "dev", "exec", "ro", "nobarrier", "commit=0", "commit=301", "commit=x", "data=bogus", "noatime,suid"} {
		if err := CheckMountOption(bad); err == nil {
			t.Errorf("CheckMountOption(%q) = nil, want an error", bad)
		}
	}
}

func TestParseUUID(t *testing.T) {
	const s = "0f4c2a8e-3b1d-4e5f-9a7b-6c8d9e0f1a2b"
	u, err := ParseUUID(strings.ToUpper(s))
	if err != nil || FormatUUID(u) != s {
		t.Fatalf("ParseUUID = %x, %v; formats as %s", u, err, FormatUUID(u))
	}
	for _, bad := range []string{"", s[1:], "0f4c2a8e-3b1d-4e5f-9a7b-6c8d9e0f1a2g", "0f4c2a8e33b1d-4e5f-9a7b-6c8d9e0f1a2b"} {
		if _, err := ParseUUID(bad); err == nil {
			t.Errorf("ParseUUID(%q) = nil error", bad)
		}
	}
}
