package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/guestconfig"
	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
)

// escapeReport mirrors testdata/escapeapp's Report.
type escapeReport struct {
	Checks []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	} `json:"checks"`
	Status map[string]string `json:"status"`
	Kernel map[string]string `json:"kernel"`
	Marker string            `json:"marker"`
	Modes  map[string]string `json:"modes"`
}

// securityModules are the modules the security test's guest needs: the
// virtio NIC (the report is served over HTTP) and the power button; the
// kernel's dependency graph adds the rest.
var securityModules = []string{"virtio_pci", "virtio_net", "button", "evdev"}

// TestBootQEMUSecurity boots an app that tries, as an attacker inside the
// app would, every known way to root in the guest: plant /sbin/modprobe
// and make the kernel run it, write the root file system, run setuid files
// shipped with the app, load kernel modules, rewrite the usermode helper
// paths, setuid(0), a user namespace, the kernel log, eBPF and perf. Every
// attempt must fail, and the app must be left with no capabilities at all
// and no_new_privs.
func TestBootQEMUSecurity(t *testing.T) {
	testutil.NeedE2E(t, "boots QEMU (tens of seconds under TCG)")
	testutil.NeedCommand(t, "qemu-system-x86_64", "apt-get install -y qemu-system-x86 (or make deps)")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	k := kerneltest.Open(t)
	mods := kerneltest.Modules(t, k, securityModules...)
	initBin := testutil.StaticBinary(t, ".", testutil.BuildOptions{Out: filepath.Join(dir, "init"), Flags: []string{"-trimpath", "-ldflags=-s -w -buildid="}})

	// The app directory as a user would hand it to the builder: the app
	// and a setuid copy owned by nobody, which must not become setuid
	// root.
	appDir := filepath.Join(dir, "app")
	if err := os.Mkdir(appDir, 0o755); err != nil {
		t.Fatal(err)
	}
	app := testutil.StaticBinary(t, "./testdata/escapeapp", testutil.BuildOptions{Out: filepath.Join(appDir, "escapeapp")})
	appBin, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	suid := filepath.Join(appDir, "suid-tree")
	if err := os.WriteFile(suid, appBin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(suid, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(suid, fs.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}

	cfg := &guestconfig.Config{
		Version:            guestconfig.Version,
		Hostname:           "escape",
		App:                guestconfig.App{Path: "/app/escapeapp", UID: 1000, GID: 1000},
		Network:            guestconfig.Network{DHCP: true, DHCPTimeoutSeconds: 10},
		StopTimeoutSeconds: 5,
	}
	for _, m := range mods {
		cfg.Modules = append(cfg.Modules, m.Guest)
	}
	cfgJSON, err := guestconfig.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// Two segments, as the builder writes them: base (init, modules) and
	// app (config, app tree).
	initrd := filepath.Join(dir, "initrd")
	f, err := os.Create(initrd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base := initramfs.NewWriter(f)
	for _, d := range []string{"/dev", "/proc", "/sys", "/run", "/data", "/etc", "/root"} {
		must(t, base.Mkdir(d, 0o755))
	}
	must(t, base.Mkdir("/tmp", 0o777|fs.ModeSticky))
	must(t, base.WriteFile("/init", 0o755, mustRead(t, initBin)))
	for _, m := range mods {
		must(t, base.WriteFile(m.Guest, 0o644, mustRead(t, m.File)))
	}
	must(t, base.Close())
	seg := initramfs.NewWriter(f)
	must(t, seg.WriteFile(guestconfig.Path, 0o644, cfgJSON))
	var stripped []string
	must(t, initramfs.AddTreeOptions(ctx, seg, "/app", appDir, initramfs.TreeOptions{
		Stripped: func(name string, m fs.FileMode) { stripped = append(stripped, name+" "+m.String()) },
	}))
	// A setuid root file that got into the image anyway (not through
	// AddTree): exec must not honour it.
	must(t, seg.WriteFile("/app/suid-forced", fs.ModeSetuid|fs.ModeSetgid|0o755, appBin))
	must(t, seg.Close())
	if want := "/app/suid-tree " + (fs.ModeSetuid | 0o755).String(); len(stripped) != 1 || stripped[0] != want {
		t.Errorf("AddTree stripped %q, want the setuid bit of /app/suid-tree", stripped)
	}

	v := startVM(ctx, t, dir, k.ImagePath, initrd, "")
	v.waitHealthy(t, 90*time.Second)
	var r escapeReport
	body := v.get(t, "/report")
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		v.fail(t, "report %q: %v", body, err)
		t.FailNow()
	}
	for _, c := range r.Checks {
		if !c.OK {
			t.Errorf("app escaped: %s: %s", c.Name, c.Detail)
		} else {
			t.Logf("ok: %s: %s", c.Name, c.Detail)
		}
	}
	if len(r.Checks) < 30 {
		t.Errorf("only %d checks ran", len(r.Checks))
	}
	if r.Marker != "" {
		t.Errorf("the module helper ran:\n%s", r.Marker)
	}
	zero := "0000000000000000"
	for k, want := range map[string]string{
		"CapInh": zero, "CapPrm": zero, "CapEff": zero, "CapBnd": zero, "CapAmb": zero,
		"NoNewPrivs": "1", "Uid": "1000 1000 1000 1000", "Gid": "1000 1000 1000 1000", "Groups": "",
	} {
		if got := r.Status[k]; got != want {
			t.Errorf("/proc/self/status %s: %q, want %q", k, got, want)
		}
	}
	for k, want := range map[string]string{
		"kernel.modprobe": "", "kernel.modules_disabled": "1", "kernel.kptr_restrict": "2",
		"kernel.dmesg_restrict": "1", "kernel.kexec_load_disabled": "1", "fs.suid_dumpable": "0",
		"uevent_helper": "", "kernel.poweroff_cmd": "", "kernel.core_pattern": "core",
	} {
		if got, ok := r.Kernel[k]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, want)
		}
	}
	if opts := strings.Split(r.Kernel["mount /"], ","); !contains(opts, "ro") || !contains(opts, "nosuid") || !contains(opts, "nodev") {
		t.Errorf("/ mounted %q, want ro,nosuid,nodev", r.Kernel["mount /"])
	}
	for _, m := range []string{"/tmp", "/dev/shm", "/run", "/data"} {
		if opts := strings.Split(r.Kernel["mount "+m], ","); !contains(opts, "nosuid") || !contains(opts, "nodev") || contains(opts, "ro") {
			t.Errorf("%s mounted %q, want rw,nosuid,nodev", m, r.Kernel["mount "+m])
		}
	}
	for p, want := range map[string]string{
		"/": "drwxr-xr-x 0:0", "/app": "drwxr-xr-x 0:0", "/etc": "drwxr-xr-x 0:0",
		"/tmp": "dtrwxrwxrwx 0:0", "/run": "drwxr-xr-x 0:0", "/dev/shm": "dtrwxrwxrwx 0:0",
		"/etc/resolv.conf": "Lrwxrwxrwx 0:0",
		"/app/suid-tree":   "-rwxr-xr-x",
		"/app/suid-forced": "ugrwxr-xr-x", // setuid and setgid, as Go spells it
	} {
		if got := r.Modes[p]; got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	log := v.serial.String()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "bootapp-init: ") && strings.Contains(line, "security:") {
			t.Logf("%s", strings.TrimSpace(line))
			if strings.Contains(line, "FAILED") || strings.Contains(line, "security: remount") {
				t.Errorf("a hardening step failed: %s", line)
			}
		}
	}
	v.powerdown(t, 30*time.Second)
	v.expectLog(t, "security: set kernel.modprobe=\"\"", "security: set kernel.modules_disabled=1",
		"security: / is read-only and nosuid", "app: listening on :8080 as uid 1000", "power off")
	if t.Failed() {
		t.Logf("serial log:\n%s", log)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
