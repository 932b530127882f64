package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/guestconfig"
	"github.com/bootapp/bootapp/internal/qemu"
	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
)

// The run-time configuration and networking end-to-end tests boot the
// init with a real Debian kernel through internal/qemu (direct kernel
// boot), with testdata/envapp as the app.

// aemmModule is AWS's IMDS emulator, installed at this version for the
// tests (go install, outside this module's dependency graph: it would
// upgrade a dozen of the Packer SDK's dependencies).
const aemmModule = "github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@v1.13.0"

// runtimeEnv is what the runtime boot tests share.
type runtimeEnv struct {
	ctx            context.Context
	dir            string
	kernel, initrd []byte
	modules        []string
	bins           map[string][]byte // guest path -> file
	proxy          string            // testdata/tcpproxy, on the host
}

func newRuntimeE2E(t *testing.T) *runtimeEnv {
	t.Helper()
	testutil.NeedE2E(t, "boots QEMU (tens of seconds under TCG)")
	testutil.NeedCommand(t, "qemu-system-x86_64", "apt-get install -y qemu-system-x86 (or make deps)")
	testutil.NeedCommand(t, "mkfs.ext4", "apt-get install -y e2fsprogs (or make deps)")
	k := kerneltest.Open(t)
	r := &runtimeEnv{dir: t.TempDir(), bins: map[string][]byte{}}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	r.ctx = ctx
	var err error
	if r.kernel, err = os.ReadFile(k.ImagePath); err != nil {
		t.Fatal(err)
	}
	for _, m := range kerneltest.Modules(t, k, append(e2eModuleNames, "qemu_fw_cfg")...) {
		b, err := os.ReadFile(m.File)
		if err != nil {
			t.Fatal(err)
		}
		r.bins[m.Guest] = b
		r.modules = append(r.modules, m.Guest)
	}
	for guest, pkg := range map[string]string{"/init": ".", "/app/envapp": "./testdata/envapp"} {
		p := testutil.StaticBinary(t, pkg, testutil.BuildOptions{Out: filepath.Join(r.dir, filepath.Base(guest)), Flags: []string{"-trimpath", "-ldflags=-s -w -buildid="}})
		if r.bins[guest], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	r.proxy = testutil.StaticBinary(t, "./testdata/tcpproxy", testutil.BuildOptions{Out: filepath.Join(r.dir, "tcpproxy")})
	return r
}

// config is the guest configuration of these tests.
func (r *runtimeEnv) config() *guestconfig.Config {
	return &guestconfig.Config{
		Version:            guestconfig.Version,
		Hostname:           "e2e",
		Modules:            r.modules,
		App:                guestconfig.App{Path: "/app/envapp", Env: []string{"GREETING=built-in"}, UID: 1000, GID: 1000},
		Data:               guestconfig.Data{Label: "bootapp-data", MountPoint: "/data", Required: true, WaitSeconds: 10},
		Network:            guestconfig.Network{DHCP: true, DHCPTimeoutSeconds: 10},
		StopTimeoutSeconds: 10,
		Restart:            "no",
	}
}

// initrd returns an uncompressed initramfs with the init, c and the app.
func (r *runtimeEnv) initramfs(t *testing.T, c *guestconfig.Config) []byte {
	t.Helper()
	cfg, err := guestconfig.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := initramfs.NewWriterOptions(&buf, initramfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{"/init", "/app/envapp"}, r.modules...) {
		mode := os.FileMode(0o644)
		if !strings.HasSuffix(p, ".ko") && !strings.Contains(p, ".ko.") {
			mode = 0o755
		}
		if err := w.WriteFile(p, mode, r.bins[p]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(guestconfig.Path, 0o644, cfg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dataVolume makes a fresh 64 MiB data volume.
func (r *runtimeEnv) dataVolume(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(r.dir, name)
	run(r.ctx, t, "mkfs.ext4", "-q", "-L", "bootapp-data", p, "64M")
	return p
}

// runtimeVM is a VM of these tests.
type runtimeVM struct {
	*qemu.VM
	console *testutil.SyncBuffer
	started time.Time
}

// boot starts a VM with initrd and the data volume; edit changes the QEMU
// config first.
func (r *runtimeEnv) boot(t *testing.T, initrd []byte, data string, edit func(*qemu.Config)) *runtimeVM {
	t.Helper()
	v := &runtimeVM{console: &testutil.SyncBuffer{}}
	c := qemu.Config{
		Disks:    []qemu.Disk{{Path: data, Format: image.Raw}},
		Forwards: []qemu.Forward{{GuestPort: 8080}},
		Console:  v.console,
		Accel:    "tcg",
		WorkDir:  t.TempDir(),
		Direct:   &image.BootFiles{Kernel: r.kernel, Initrd: initrd, Cmdline: "console=ttyS0 panic=-1 quiet"},
	}
	if edit != nil {
		edit(&c)
	}
	vm, err := qemu.Start(r.ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	v.VM, v.started = vm, time.Now()
	t.Cleanup(vm.Kill)
	return v
}

func (v *runtimeVM) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Errorf(format, args...)
	t.Logf("serial log:\n%s", v.console.String())
}

// get answers GET path, or fails the test.
func (v *runtimeVM) get(t *testing.T, path string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + v.Forwarded(8080) + path)
	if err != nil {
		v.fail(t, "GET %s: %v", path, err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// waitHealthy polls /healthz until it answers 200 and returns when.
func (v *runtimeVM) waitHealthy(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-v.Done():
			v.fail(t, "QEMU exited before the app answered: %v", v.Wait())
			t.FailNow()
		default:
		}
		if resp, err := c.Get("http://" + v.Forwarded(8080) + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				d := time.Since(v.started)
				t.Logf("first HTTP 200 %.1f s after QEMU start", d.Seconds())
				return d
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	v.fail(t, "app did not answer within %s", limit)
	t.FailNow()
	return 0
}

// stop powers the VM off through ACPI.
func (v *runtimeVM) stop(t *testing.T) {
	t.Helper()
	if err := v.Stop(context.Background(), 60*time.Second); err != nil {
		v.fail(t, "stop: %v", err)
	}
}

// expectLog checks the console holds every string in want.
func (v *runtimeVM) expectLog(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(v.console.String(), w) {
			v.fail(t, "console lacks %q", w)
		}
	}
}

// initLines returns the init's own console lines.
func (v *runtimeVM) initLines() []string {
	var out []string
	for _, l := range strings.Split(v.console.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "bootapp-init:") {
			out = append(out, l)
		}
	}
	return out
}

// startAEMM runs AWS's IMDS emulator on loopback with IMDSv2 required,
// serving userData, and returns its address.
func startAEMM(t *testing.T, ctx context.Context, bin, userData string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{"userdata": map[string]any{"values": map[string]any{"userdata": base64.StdEncoding.EncodeToString([]byte(userData))}}}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "aemm.json")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := qemu.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "--imdsv2", "-n", "127.0.0.1", "-p", fmt.Sprint(port), "-c", cfgPath)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "HOME="+dir)
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		// IMDSv2 on: a GET without a token is refused, a PUT gives one.
		req, _ := http.NewRequest("PUT", "http://"+addr+"/latest/api/token", nil)
		req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 100 {
			t.Fatalf("IMDS emulator not answering on %s:\n%s", addr, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp, err := http.Get("http://" + addr + "/latest/user-data"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("IMDSv1 GET answered %v, %v: want 401 with IMDSv2 required", resp, err)
	}
	return addr
}

// awsGuest makes the VM look like an EC2 instance: DMI strings of a
// Nitro instance, and the IMDS at 169.254.169.254 inside a user-mode
// network that holds that address (QEMU forwards guestfwd addresses only
// inside its virtual network).
func (r *runtimeEnv) awsGuest(imds string) func(*qemu.Config) {
	return func(c *qemu.Config) {
		c.UserNet = "169.254.0.0/16"
		c.GuestForwards = []qemu.GuestForward{{Addr: "169.254.169.254:80", Cmd: r.proxy + " " + imds}}
		c.ExtraArgs = append(c.ExtraArgs, "-smbios", "type=1,manufacturer=Amazon EC2,product=m5.large")
	}
}

// TestBootQEMUUserData boots one initramfs twice with two different
// user-data documents served by AWS's IMDS emulator (IMDSv2 only), and a
// third time with an fw_cfg document as `mkbootapp run --env` passes it,
// which wins over the user-data.
func TestBootQEMUUserData(t *testing.T) {
	r := newRuntimeE2E(t)
	gobin := t.TempDir()
	install := exec.CommandContext(r.ctx, "go", "install", aemmModule)
	install.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=", "CGO_ENABLED=0")
	if out, err := install.CombinedOutput(); err != nil {
		testutil.Missing(t, fmt.Sprintf("go install %s: %v\n%s", aemmModule, err, out), "go install "+aemmModule+" (needs the Go module proxy)")
	}
	aemm := filepath.Join(gobin, "ec2-metadata-mock")
	initrd := r.initramfs(t, r.config())
	data := r.dataVolume(t, "data.raw")

	for i, tc := range []struct {
		userData string
		fwCfg    string
		want     map[string]string
		log      []string
	}{
		{userData: `{"env": {"GREETING": "hello from user-data one"}}`,
			want: map[string]string{"GREETING": "hello from user-data one", "OTHER": "<unset>"},
			log:  []string{"cloud: aws (from the DMI strings)", "config: aws user-data sets GREETING"}},
		{userData: "GREETING=hello from user-data two\nOTHER=from user-data\n",
			want: map[string]string{"GREETING": "hello from user-data two", "OTHER": "from user-data"},
			log:  []string{"config: aws user-data sets GREETING, OTHER"}},
		{userData: "GREETING=hello from user-data two\nOTHER=from user-data\n", fwCfg: `{"env":{"OTHER":"from fw_cfg"},"args":["a1"]}`,
			want: map[string]string{"GREETING": "hello from user-data two", "OTHER": "from fw_cfg"},
			log:  []string{"config: aws user-data sets GREETING, OTHER", "config: fw_cfg opt/bootapp/config sets OTHER; replaces the arguments (1)"}},
	} {
		t.Logf("boot %d", i+1)
		imds := startAEMM(t, r.ctx, aemm, tc.userData)
		edit := r.awsGuest(imds)
		vm := r.boot(t, initrd, data, func(c *qemu.Config) {
			edit(c)
			if tc.fwCfg != "" {
				c.FwCfg = []qemu.FwCfg{{Name: "opt/bootapp/config", Value: tc.fwCfg}}
			}
		})
		vm.waitHealthy(t, 3*time.Minute)
		for k, want := range tc.want {
			if got := vm.get(t, "/env?k="+k); got != want {
				vm.fail(t, "boot %d: %s = %q, want %q", i+1, k, got, want)
			}
		}
		if tc.fwCfg != "" {
			if got := vm.get(t, "/args"); got != "a1" {
				vm.fail(t, "boot %d: args %q, want a1", i+1, got)
			}
		}
		vm.stop(t)
		vm.expectLog(t, tc.log...)
		for _, l := range vm.initLines() {
			if strings.Contains(l, "hello from") || strings.Contains(l, "from fw_cfg") || strings.Contains(l, "from user-data") {
				vm.fail(t, "the init logged a value: %s", l)
			}
		}
		if t.Failed() {
			return
		}
	}
}

// TestBootQEMUDHCPLinkDown starts the guest with its NIC's link down, so
// that the DHCP server is unreachable, waits until the init has started
// the app without network (and 20 s at least), brings the link up and
// expects the app to answer over the forwarded port: DHCP kept trying.
func TestBootQEMUDHCPLinkDown(t *testing.T) {
	r := newRuntimeE2E(t)
	vm := r.boot(t, r.initramfs(t, r.config()), r.dataVolume(t, "data.raw"), nil)
	if err := vm.SetLink(r.ctx, false); err != nil {
		t.Fatal(err)
	}
	// Keep the link down until the init has given up waiting and started
	// the app without network, and at least 20 s.
	down := time.Now()
	for !strings.Contains(vm.console.String(), "net: no address within") {
		if time.Since(down) > 2*time.Minute {
			vm.fail(t, "the init never started without network")
			t.FailNow()
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(max(5*time.Second, 20*time.Second-time.Since(down)))
	if vm.console.String() == "" || strings.Contains(vm.console.String(), "dns 10.0.2.3 lease") {
		vm.fail(t, "a lease arrived while the link was down")
	}
	up := time.Now()
	if err := vm.SetLink(r.ctx, true); err != nil {
		t.Fatal(err)
	}
	vm.waitHealthy(t, 2*time.Minute)
	t.Logf("HTTP 200 %.1f s after the link came up", time.Since(up).Seconds())
	vm.stop(t)
	vm.expectLog(t, "net: no address within 10s; starting without network", "net: eth0: carrier up, asking again",
		"app: started", "net: eth0: 10.0.2.15/24 via 10.0.2.2")
}

// TestBootQEMURestartBudget runs an app that fails at once with restart
// "always" and a budget of 2 restarts: the init must give up with a fatal
// error that `mkbootapp run` reports (qemu.GuestFatal).
func TestBootQEMURestartBudget(t *testing.T) {
	r := newRuntimeE2E(t)
	c := r.config()
	c.App.Args = []string{"crash"}
	c.Restart, c.RestartLimit, c.RestartWindowSeconds = "always", 2, 60
	vm := r.boot(t, r.initramfs(t, c), r.dataVolume(t, "data.raw"), nil)
	select {
	case <-vm.Done():
	case <-time.After(3 * time.Minute):
		vm.fail(t, "the guest did not power off")
		t.FailNow()
	}
	msg, ok := qemu.GuestFatal(vm.ConsoleTail())
	if !ok || !strings.Contains(msg, "restart limit reached") {
		vm.fail(t, "GuestFatal = %q, %v; want the restart limit", msg, ok)
	}
	vm.expectLog(t, "app: restarting in 100ms", "app: restarting in 200ms", "power off")
}
