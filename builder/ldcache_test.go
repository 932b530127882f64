package builder

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLdsoCache writes a cache and has glibc's ldconfig read it back
// (ldconfig -p -C FILE), which prints each entry as the loader sees it.
func TestLdsoCache(t *testing.T) {
	ldconfig, err := exec.LookPath("ldconfig")
	if err != nil {
		if _, err := os.Stat("/sbin/ldconfig"); err != nil {
			t.Skip("no ldconfig on this host")
		}
		ldconfig = "/sbin/ldconfig"
	}
	libs := []string{"/opt/dep/libdep.so", "/opt/x/libz.so.1", "/opt/x/libssl.so.3", "/opt/x/libcrypto.so.3", "/opt/y/libfoo.so.10", "/opt/y/libfoo2.so.9", "/opt/y/libfoo.so.9"}
	p := filepath.Join(t.TempDir(), "ld.so.cache")
	if err := os.WriteFile(p, ldsoCache(libs), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ldconfig, "-p", "-C", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ldconfig -p: %v\n%s", err, out)
	}
	text := string(out)
	t.Logf("%s", text)
	if !strings.HasPrefix(text, "7 libs found") {
		t.Errorf("ldconfig -p: %q", text)
	}
	for _, l := range []string{"/opt/dep/libdep.so", "/opt/x/libz.so.1", "/opt/y/libfoo.so.10"} {
		if !strings.Contains(text, "\t"+filepath.Base(l)+" (libc6,x86-64) => "+l+"\n") {
			t.Errorf("ldconfig -p does not list %s", l)
		}
	}
	// ldconfig prints in cache order: the loader's binary search needs
	// ldconfig's own order.
	var keys []string
	for _, line := range strings.Split(text, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			keys = append(keys, f[0])
		}
	}
	for i := 1; i < len(keys); i++ {
		if dlCacheLibcmp(keys[i-1], keys[i]) <= 0 {
			t.Errorf("order: %s before %s", keys[i-1], keys[i])
		}
	}
}

// TestDlCacheLibcmpHostOrder checks dlCacheLibcmp against the order of
// the build host's own cache, which ldconfig sorted.
func TestDlCacheLibcmpHostOrder(t *testing.T) {
	out, err := exec.Command("ldconfig", "-p").Output()
	if err != nil {
		t.Skipf("ldconfig -p: %v", err)
	}
	var keys []string
	for _, line := range strings.Split(string(out), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(line, "x86-64") {
			keys = append(keys, f[0])
		}
	}
	if len(keys) < 20 {
		t.Skipf("the host's cache has %d x86-64 entries", len(keys))
	}
	for i := 1; i < len(keys); i++ {
		if dlCacheLibcmp(keys[i-1], keys[i]) < 0 {
			t.Errorf("the host's cache has %s before %s", keys[i-1], keys[i])
		}
	}
}

func TestDlCacheLibcmp(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		sign int
	}{
		{"libfoo.so.10", "libfoo.so.9", 1},
		{"libfoo.so.9", "libfoo.so.10", -1},
		{"libc.so.6", "libc.so.6", 0},
		{"liba.so", "libb.so", -1},
		{"lib1", "liba", 1},
		{"libz", "libz.so", -1},
		{"libz.so", "libz", 1},
	} {
		got := dlCacheLibcmp(tc.a, tc.b)
		if (got > 0) != (tc.sign > 0) || (got < 0) != (tc.sign < 0) {
			t.Errorf("dlCacheLibcmp(%q, %q) = %d, want sign %d", tc.a, tc.b, got, tc.sign)
		}
	}
}
