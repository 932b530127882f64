package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bootapp/bootapp/internal/guestconfig"
)

// fakeKernel is a kernelFiles holding some tunables; writes to others fail
// as the real /proc/sys does for a sysctl the kernel lacks.
type fakeKernel struct {
	files map[string]string
	deny  map[string]bool // writes fail with EPERM
}

func (k *fakeKernel) ReadFile(name string) ([]byte, error) {
	v, ok := k.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(v), nil
}

func (k *fakeKernel) WriteFile(name string, data []byte) error {
	if _, ok := k.files[name]; !ok {
		return &fs.PathError{Op: "open", Path: name, Err: syscall.ENOENT}
	}
	if k.deny[name] {
		return &fs.PathError{Op: "write", Path: name, Err: syscall.EPERM}
	}
	k.files[name] = string(data)
	return nil
}

func TestBootTunables(t *testing.T) {
	byPath := map[string]string{}
	for _, tu := range bootTunables() {
		if _, dup := byPath[tu.path]; dup {
			t.Errorf("%s listed twice", tu.path)
		}
		byPath[tu.path] = tu.value
	}
	// The usermode helpers the app could otherwise plant, and the
	// hardening the issue asks for.
	want := map[string]string{
		"/proc/sys/kernel/modprobe":                  "",
		"/proc/sys/kernel/hotplug":                   "",
		"/sys/kernel/uevent_helper":                  "",
		"/proc/sys/kernel/poweroff_cmd":              "",
		"/proc/sys/kernel/core_pattern":              "core",
		"/proc/sys/kernel/usermodehelper/bset":       "0 0",
		"/proc/sys/kernel/kptr_restrict":             "2",
		"/proc/sys/kernel/dmesg_restrict":            "1",
		"/proc/sys/kernel/unprivileged_bpf_disabled": "1",
		"/proc/sys/kernel/perf_event_paranoid":       "3",
		"/proc/sys/kernel/kexec_load_disabled":       "1",
		"/proc/sys/fs/protected_symlinks":            "1",
		"/proc/sys/fs/protected_hardlinks":           "1",
		"/proc/sys/fs/protected_regular":             "2",
		"/proc/sys/fs/protected_fifos":               "2",
		"/proc/sys/fs/suid_dumpable":                 "0",
		"/proc/sys/kernel/yama/ptrace_scope":         "1",
	}
	for p, v := range want {
		if got, ok := byPath[p]; !ok || got != v {
			t.Errorf("%s = %q (listed: %v), want %q", p, got, ok, v)
		}
	}
	if _, ok := byPath[modulesLock.path]; ok {
		t.Errorf("modules_disabled is set at boot, before the modules are loaded")
	}
	if modulesLock.path != "/proc/sys/kernel/modules_disabled" || modulesLock.value != "1" {
		t.Errorf("modulesLock = %+v", modulesLock)
	}
}

func TestApplyTunables(t *testing.T) {
	k := &fakeKernel{
		files: map[string]string{
			"/proc/sys/kernel/modprobe":          "/sbin/modprobe\n",
			"/proc/sys/kernel/kptr_restrict":     "0\n",
			"/sys/kernel/uevent_helper":          "\n",
			"/proc/sys/kernel/yama/ptrace_scope": "0\n",
		},
		deny: map[string]bool{"/proc/sys/kernel/yama/ptrace_scope": true},
	}
	line := applyTunables(k, []tunable{
		sysctl("kernel.modprobe", ""),
		sysctl("kernel.kptr_restrict", "2"),
		{"/sys/kernel/uevent_helper", ""},
		sysctl("kernel.unprivileged_userns_clone", "0"),
		sysctl("kernel.yama.ptrace_scope", "1"),
	})
	want := `set kernel.modprobe="" kernel.kptr_restrict=2 /sys/kernel/uevent_helper=""; ` +
		`not in this kernel: kernel.unprivileged_userns_clone=0; ` +
		`FAILED: kernel.yama.ptrace_scope=1: write /proc/sys/kernel/yama/ptrace_scope: operation not permitted`
	if line != want {
		t.Errorf("log line\n got %s\nwant %s", line, want)
	}
	// Each value is written with a newline, which the kernel strips:
	// "\n" alone empties a string sysctl.
	if got := k.files["/proc/sys/kernel/modprobe"]; got != "\n" {
		t.Errorf("modprobe written as %q, want %q", got, "\n")
	}
	if got := k.files["/proc/sys/kernel/kptr_restrict"]; got != "2\n" {
		t.Errorf("kptr_restrict written as %q", got)
	}
	if got := applyTunables(&fakeKernel{}, []tunable{modulesLock}); got != "set nothing; not in this kernel: kernel.modules_disabled=1" {
		t.Errorf("on a kernel without the sysctl: %s", got)
	}
}

// fakePriv records restrictExec's calls.
type fakePriv struct {
	last    int
	lastErr error
	failCap int // dropBounding fails for this capability; -1: never
	calls   []string
	dropped []int
}

func (p *fakePriv) lastCap() (int, error) { return p.last, p.lastErr }
func (p *fakePriv) setNoNewPrivs() error  { p.calls = append(p.calls, "nnp"); return nil }
func (p *fakePriv) dropBounding(c int) error {
	if c == p.failCap {
		return syscall.EINVAL
	}
	p.dropped = append(p.dropped, c)
	return nil
}
func (p *fakePriv) clearAmbient() error     { p.calls = append(p.calls, "ambient"); return nil }
func (p *fakePriv) clearInheritable() error { p.calls = append(p.calls, "inheritable"); return nil }

func TestRestrictExec(t *testing.T) {
	p := &fakePriv{last: 40, failCap: -1}
	if err := restrictExec(p); err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.calls, ",") != "nnp,ambient,inheritable" {
		t.Errorf("calls %v", p.calls)
	}
	if len(p.dropped) != 41 || p.dropped[0] != 0 || p.dropped[40] != 40 {
		t.Errorf("dropped %v, want 0..40", p.dropped)
	}

	// Without cap_last_cap every possible capability is dropped, and a
	// failure is reported but does not stop the rest.
	p = &fakePriv{lastErr: errors.New("no /proc"), failCap: 63}
	err := restrictExec(p)
	if err == nil || !strings.Contains(err.Error(), "dropping 0..63") || !strings.Contains(err.Error(), "capability 63") {
		t.Errorf("err = %v", err)
	}
	if len(p.dropped) != 63 || len(p.calls) != 3 {
		t.Errorf("dropped %d capabilities, calls %v", len(p.dropped), p.calls)
	}
}

func TestLinkResolvConf(t *testing.T) {
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc", "resolv.conf")
	run := filepath.Join(dir, "run", "bootapp", "resolv.conf")
	check := func(wantBody string) {
		t.Helper()
		if target, err := os.Readlink(etc); err != nil || target != run {
			t.Fatalf("readlink %s = %q, %v; want %s", etc, target, err, run)
		}
		b, err := os.ReadFile(etc)
		if wantBody == "" {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("link target exists: %q, %v", b, err)
			}
			return
		}
		if string(b) != wantBody {
			t.Errorf("through the link: %q, %v; want %q", b, err, wantBody)
		}
	}
	// No /etc at all: the link is made, dangling until DHCP writes.
	if err := linkResolvConf(etc, run); err != nil {
		t.Fatal(err)
	}
	check("")
	// Again: nothing to do.
	if err := linkResolvConf(etc, run); err != nil {
		t.Fatal(err)
	}
	check("")

	// A file shipped in the image keeps its content.
	os.Remove(etc)
	os.Remove(run)
	if err := os.WriteFile(etc, []byte("nameserver 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := linkResolvConf(etc, run); err != nil {
		t.Fatal(err)
	}
	check("nameserver 192.0.2.1\n")
}

func TestTunableString(t *testing.T) {
	for _, c := range []struct {
		t    tunable
		want string
	}{
		{sysctl("kernel.yama.ptrace_scope", "1"), "kernel.yama.ptrace_scope=1"},
		{sysctl("kernel.usermodehelper.bset", "0 0"), `kernel.usermodehelper.bset="0 0"`},
		{tunable{"/sys/kernel/uevent_helper", ""}, `/sys/kernel/uevent_helper=""`},
	} {
		if got := c.t.String(); got != c.want {
			t.Errorf("%+v: %s, want %s", c.t, got, c.want)
		}
	}
}

// TestSettingsModuleLoading checks that module loading is closed unless the
// configuration opens it.
func TestSettingsModuleLoading(t *testing.T) {
	c := &guestconfig.Config{Version: guestconfig.Version, App: guestconfig.App{Path: "/app/x", UID: 1000, GID: 1000}}
	s, err := newSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	if s.allowModules {
		t.Errorf("module loading open by default")
	}
	c.Security.AllowModuleLoading = true
	if s, err = newSettings(c); err != nil {
		t.Fatal(err)
	}
	if !s.allowModules {
		t.Errorf("Security.AllowModuleLoading ignored")
	}
}
