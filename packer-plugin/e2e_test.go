//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/qemu"
	"github.com/bootapp/bootapp/internal/testutil"
)

// The acceptance test drives a real Packer binary: it builds Packer v1.12.0
// (cached by scripts/packer.sh), builds and installs this plugin, and runs
// `packer validate` and `packer build` against examples/packer/hello.pkr.hcl.
// It takes minutes, so it only runs with BOOTAPP_E2E=1.

const packerVersion = "1.12.0"

// env is everything the Packer runs share.
type env struct {
	root     string // repository root
	dir      string // scratch directory, also Packer's working directory
	packer   string
	vars     []string // environment for packer
	app      string
	kernel   string
	loader   string
	template string
}

func setup(t *testing.T) *env {
	t.Helper()
	testutil.NeedE2E(t, "acceptance test with a real Packer build and a QEMU boot (minutes)")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{root: root, dir: t.TempDir()}
	e.template = filepath.Join(root, "examples", "packer", "hello.pkr.hcl")

	out, err := exec.Command(filepath.Join(root, "scripts", "packer.sh"), packerVersion).Output()
	if err != nil {
		t.Fatalf("scripts/packer.sh: %v\n%s", err, stderrOf(err))
	}
	e.packer = strings.TrimSpace(string(out))

	plugin := filepath.Join(e.dir, "packer-plugin-bootapp")
	run(t, root, nil, "go", "build", "-o", plugin, "./packer-plugin")
	e.app = filepath.Join(e.dir, "hello")
	e.app = testutil.StaticBinary(t, "./examples/hello", testutil.BuildOptions{Out: e.app, Dir: root})

	e.vars = []string{
		"PACKER_PLUGIN_PATH=" + filepath.Join(e.dir, "plugins"),
		"PACKER_CACHE_DIR=" + filepath.Join(e.dir, "packer_cache"),
		"PACKER_CONFIG_DIR=" + filepath.Join(e.dir, "packer_config"),
		"CHECKPOINT_DISABLE=1",
		"PACKER_NO_COLOR=1",
	}
	run(t, e.dir, e.vars, e.packer, "plugins", "install", "--path", plugin, "github.com/bootapp/bootapp")

	e.kernel = testutil.KernelDeb(t)
	e.loader = testutil.LoaderDeb(t)
	return e
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func run(t *testing.T, dir string, extraEnv []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), extraEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// packerCmd runs packer in the scratch directory and returns its combined
// output and error.
func (e *env) packerCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.packer, args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), e.vars...)
	return cmd
}

func (e *env) buildVars(out string, extra ...string) []string {
	v := []string{
		"-var", "app_path=" + e.app,
		"-var", "bootloader_path=" + e.loader,
		"-var", "output_directory=" + out,
	}
	return append(v, extra...)
}

func TestPackerAcceptance(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	t.Run("validate example", func(t *testing.T) {
		out, err := e.packerCmd(ctx, append([]string{"validate"}, append(e.buildVars(filepath.Join(e.dir, "x"), "-var", "kernel_path="+e.kernel), e.template)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("packer validate: %v\n%s", err, out)
		}
	})

	t.Run("validate rejects bad options", func(t *testing.T) { testValidateRejects(t, e, ctx) })
	t.Run("build, manifest, checksums, boot", func(t *testing.T) { testBuildAndBoot(t, e, ctx) })
	t.Run("kernel checksum mismatch leaves no output", func(t *testing.T) { testChecksumMismatch(t, e, ctx) })
	t.Run("SIGINT leaves no output", func(t *testing.T) { testInterrupt(t, e, ctx) })
}

func testValidateRejects(t *testing.T, e *env, ctx context.Context) {
	tests := []struct {
		name, body, want string
	}{
		{"unknown key", `colour = "red"`, `"colour"`},
		{"missing app", `app_path = null`, "app_path"},
		{"bad checksum format", `
  kernel_url      = "https://deb.example/linux.deb"
  kernel_checksum = "sha256:1234"`, "kernel_checksum"},
		{"negative disk size", `disk_size = "-2G"`, "disk_size"},
		{"negative data volume size", `data_volume_size = -5`, "data_volume_size"},
		{"bad format", `formats = ["iso"]`, "formats"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			app := fmt.Sprintf("app_path = %q", e.app)
			if strings.HasPrefix(body, "app_path") {
				app = ""
			}
			tmpl := fmt.Sprintf("source \"bootapp\" \"bad\" {\n  %s\n  %s\n}\nbuild {\n  sources = [\"source.bootapp.bad\"]\n}\n", app, body)
			path := filepath.Join(t.TempDir(), "bad.pkr.hcl")
			if err := os.WriteFile(path, []byte(tmpl), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := e.packerCmd(ctx, "validate", path).CombinedOutput()
			if err == nil {
				t.Fatalf("packer validate accepted:\n%s\noutput:\n%s", tmpl, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("packer validate output does not name %s:\n%s", tt.want, out)
			}
			t.Logf("rejected as expected: %s", firstErrorLine(string(out)))
		})
	}
}

func firstErrorLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "* ") || strings.Contains(l, "not expected here") {
			return l
		}
	}
	return strings.TrimSpace(s)
}

// packerManifest is the part of the manifest post-processor's output we check.
type packerManifest struct {
	Builds []struct {
		Name          string `json:"name"`
		BuilderType   string `json:"builder_type"`
		ArtifactID    string `json:"artifact_id"`
		PackerRunUUID string `json:"packer_run_uuid"`
		Files         []struct {
			Name string `json:"name"`
			Size int64  `json:"size"`
		} `json:"files"`
		CustomData map[string]string `json:"custom_data"`
	} `json:"builds"`
}

func testBuildAndBoot(t *testing.T, e *env, ctx context.Context) {
	out := filepath.Join(e.dir, "output-hello")
	start := time.Now()
	cmd := e.packerCmd(ctx, append([]string{"build"}, append(e.buildVars(out, "-var", "kernel_path="+e.kernel, "-var", "verify=true"), e.template)...)...)
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("packer build: %v\n%s", err, log)
	}
	t.Logf("packer build took %v", time.Since(start).Round(time.Millisecond))
	for _, s := range []string{"Building bootable app image", "boot: ", "Verified ", "boot disk " + filepath.Join(out, "hello.raw")} {
		if !strings.Contains(string(log), s) {
			t.Errorf("packer output lacks %q:\n%s", s, log)
		}
	}

	// The manifest lists our files, boot disk first.
	var m packerManifest
	b, err := os.ReadFile(filepath.Join(out, "packer-manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, b)
	}
	if len(m.Builds) != 1 {
		t.Fatalf("manifest has %d builds:\n%s", len(m.Builds), b)
	}
	mb := m.Builds[0]
	var names []string
	for _, f := range mb.Files {
		names = append(names, f.Name)
	}
	want := []string{filepath.Join(out, "hello.raw"), filepath.Join(out, "hello-data.raw"), filepath.Join(out, "hello.spdx.json"), filepath.Join(out, "hello.manifest.json")}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("manifest files = %v, want %v", names, want)
	}
	if mb.BuilderType != "bootapp" || mb.ArtifactID != "hello.raw" {
		t.Errorf("manifest build = %+v", mb)
	}
	if mb.CustomData["kernel_release"] == "" || len(mb.CustomData["boot_sha256"]) != 64 {
		t.Errorf("generated data did not reach the manifest: custom_data = %v", mb.CustomData)
	}

	// The checksum file matches the files and bootapp's own manifest.
	sums := map[string]string{}
	cb, err := os.ReadFile(filepath.Join(out, "sha256.checksum"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(cb)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("checksum line %q", line)
		}
		sums[f[1]] = f[0]
	}
	for _, p := range want {
		got := testutil.FileSHA256(t, p)
		if sums[filepath.Base(p)] != got {
			t.Errorf("checksum of %s: file says %s, computed %s", p, sums[filepath.Base(p)], got)
		}
	}
	if mb.CustomData["boot_sha256"] != sums["hello.raw"] {
		t.Errorf("bootapp's SHA-256 %s differs from the checksum post-processor's %s", mb.CustomData["boot_sha256"], sums["hello.raw"])
	}
	if info, err := os.ReadFile(filepath.Join(out, "qemu-img-info.txt")); err != nil || !strings.Contains(string(info), "file format: raw") {
		t.Errorf("shell-local output: %q, %v", info, err)
	}

	// The image boots and the app answers over HTTP.
	bootCtx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	var console bytes.Buffer
	vm, err := qemu.Start(bootCtx, qemu.Config{
		Disks:    []qemu.Disk{{Path: want[0]}, {Path: want[1]}},
		Forwards: []qemu.Forward{{GuestPort: 8080}},
		Console:  &console,
	})
	if err != nil {
		t.Fatalf("qemu: %v", err)
	}
	defer vm.Kill()
	url := "http://" + vm.Forwarded(8080) + "/"
	if err := qemu.WaitHTTP(bootCtx, url+"healthz", nil); err != nil {
		t.Fatalf("app did not answer %shealthz: %v\nconsole:\n%s", url, err, qemu.LastLines(vm.ConsoleTail(), 40))
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// "count: 1": verify = true booted a scratch copy of the data volume,
	// so the built one is still blank.
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "count: 1" {
		t.Errorf("GET %s = %d %q", url, resp.StatusCode, body)
	}
	t.Logf("booted with %s; GET / = %d %q", vm.Accel(), resp.StatusCode, strings.TrimSpace(string(body)))
	if err := vm.Stop(bootCtx, 30*time.Second); err != nil {
		t.Errorf("stop VM: %v", err)
	}
}

func testChecksumMismatch(t *testing.T, e *env, ctx context.Context) {
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(e.kernel))))
	defer srv.Close()
	out := filepath.Join(e.dir, "output-badsum")
	url := srv.URL + "/" + filepath.Base(e.kernel)
	cmd := e.packerCmd(ctx, append([]string{"build"}, append(e.buildVars(out,
		"-var", "kernel_url="+url,
		"-var", "kernel_checksum=sha256:"+strings.Repeat("0", 64)), e.template)...)...)
	log, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("packer build succeeded with a wrong kernel checksum:\n%s", log)
	}
	if !strings.Contains(strings.ToLower(string(log)), "checksum") {
		t.Errorf("packer output does not mention the checksum:\n%s", log)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output directory %s exists after a failed download (%v)", out, err)
	}
}

func testInterrupt(t *testing.T, e *env, ctx context.Context) {
	// A slower build than the example (xz and three boot formats) so that
	// the interrupt lands while builder.Build runs.
	tmpl := fmt.Sprintf(`source "bootapp" "slow" {
  app_path         = %q
  kernel_path      = %q
  bootloader_path  = %q
  output_directory = "output-slow"
  compression      = "xz"
  formats          = ["raw", "qcow2", "vmdk-stream"]
  data_volume_size = "4G"
}
build {
  sources = ["source.bootapp.slow"]
}
`, e.app, e.kernel, e.loader)
	path := filepath.Join(e.dir, "slow.pkr.hcl")
	if err := os.WriteFile(path, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(e.dir, "output-slow")
	cmd := e.packerCmd(ctx, "build", path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	// Packer re-executes itself under panicwrap, whose parent ignores
	// SIGINT and relies on the terminal signalling the whole foreground
	// process group on Ctrl-C. Do what the terminal does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stdout)
	sent := false
	var sentAt time.Time
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		if !sent && strings.Contains(line, "Building bootable app image") {
			// Let builder.Build get going, then interrupt as Ctrl-C does.
			time.Sleep(500 * time.Millisecond)
			if _, err := os.Stat(out); err != nil {
				t.Errorf("output directory not created before the interrupt: %v", err)
			}
			if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			sent, sentAt = true, time.Now()
		}
	}
	err = cmd.Wait()
	t.Logf("packer exited %v after SIGINT (%v)", time.Since(sentAt).Round(time.Millisecond), err)
	if !sent {
		t.Fatalf("the build never started:\n%s", log.String())
	}
	if err == nil {
		t.Errorf("packer build exited 0 after SIGINT:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "cancel") && !strings.Contains(log.String(), "interrupt") {
		t.Errorf("packer output does not mention the cancellation:\n%s", log.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(out)
		t.Errorf("output directory %s left after SIGINT (%v), holding %v\n%s", out, err, entries, log.String())
	}
}
