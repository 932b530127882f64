package bootapp

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
)

// fixture creates an app file, an app directory and a kernel .deb stand-in.
func fixture(t *testing.T) (appFile, appDir, deb string) {
	t.Helper()
	dir := t.TempDir()
	appFile = filepath.Join(dir, "hello")
	appDir = filepath.Join(dir, "site")
	deb = filepath.Join(dir, "linux-image.deb")
	for _, f := range []string{appFile, deb, filepath.Join(appDir, "bin", "server")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return appFile, appDir, deb
}

const sha256Hex = "2f7e2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"

func TestPrepareValid(t *testing.T) {
	appFile, appDir, deb := fixture(t)
	tests := []struct {
		name  string
		raw   map[string]interface{}
		check func(t *testing.T, c *Config)
	}{
		{
			name: "minimal",
			raw:  map[string]interface{}{"app_path": appFile, "packer_build_name": "web"},
			check: func(t *testing.T, c *Config) {
				s := c.Spec()
				if c.OutputDir != "output-web" || s.OutputDir != "output-web" {
					t.Errorf("output dir = %q / %q, want output-web", c.OutputDir, s.OutputDir)
				}
				if s.App.Path != appFile || s.DataVolume.Disabled || s.Health != nil {
					t.Errorf("spec = %+v", s)
				}
			},
		},
		{
			name: "every option",
			raw: map[string]interface{}{
				"app_path":                appDir,
				"entrypoint":              "bin/server",
				"args":                    []string{"-v", "--port=8080"},
				"env":                     map[string]string{"B": "2", "A": "1=x"},
				"work_dir":                "/srv",
				"ports":                   []int{8080, 9090},
				"stop_timeout":            "15s",
				"restart":                 "on-failure",
				"keep_debug":              true,
				"image_name":              "web",
				"kernel_path":             deb,
				"bootloader_path":         deb,
				"cache_dir":               t.TempDir(),
				"output_directory":        "out",
				"disk_size":               "1G",
				"formats":                 []string{"raw", "vmdk-stream", "QCOW2"},
				"compression":             "xz",
				"cmdline":                 "loglevel=7",
				"data_volume_size":        "2048",
				"data_volume_label":       "webdata",
				"data_volume_mount_point": "/var/lib/web",
				"data_volume_formats":     []string{"vmdk"},
				"health_check":            map[string]interface{}{"port": 8080, "path": "/healthz", "timeout": "90s"},
			},
			check: func(t *testing.T, c *Config) {
				s := c.Spec()
				want := builder.App{
					Path: appDir, Entrypoint: "bin/server", Args: []string{"-v", "--port=8080"},
					Env: []string{"A=1=x", "B=2"}, WorkDir: "/srv", Ports: []int{8080, 9090},
					StopTimeout: 15 * time.Second, Restart: "on-failure", KeepDebug: true,
				}
				if !reflect.DeepEqual(s.App, want) {
					t.Errorf("app = %+v, want %+v", s.App, want)
				}
				if s.Name != "web" || s.Kernel.Deb != deb || s.Bootloader != deb || s.OutputDir != "out" ||
					s.Compression != "xz" || s.Cmdline != "loglevel=7" {
					t.Errorf("spec = %+v", s)
				}
				if s.BootDisk.Size != 1<<30 || !reflect.DeepEqual(s.BootDisk.Formats, []image.Format{image.Raw, image.VMDKStream, image.QCOW2}) {
					t.Errorf("boot disk = %+v", s.BootDisk)
				}
				wantDV := builder.DataVolume{Size: 2 << 30, Label: "webdata", MountPoint: "/var/lib/web", Formats: []image.Format{image.VMDKSparse}}
				if !reflect.DeepEqual(s.DataVolume, wantDV) {
					t.Errorf("data volume = %+v, want %+v", s.DataVolume, wantDV)
				}
				if s.Health == nil || *s.Health != (builder.HealthCheck{Port: 8080, Path: "/healthz", Timeout: 90 * time.Second}) {
					t.Errorf("health = %+v", s.Health)
				}
			},
		},
		{
			name: "kernel url with checksum, skip data volume, health port from ports",
			raw: map[string]interface{}{
				"app_path": appFile, "kernel_url": "https://deb.example/linux.deb", "kernel_checksum": "sha256:" + sha256Hex,
				"skip_data_volume": true, "ports": []int{8080}, "health_check": map[string]interface{}{"path": "/"},
			},
			check: func(t *testing.T, c *Config) {
				s := c.Spec()
				if !s.DataVolume.Disabled || s.Kernel.Deb != "" || s.Kernel.URL != "" {
					t.Errorf("spec = %+v (the URL is downloaded by a step, not passed on)", s)
				}
				if s.Health == nil || s.Health.Path != "/" {
					t.Errorf("health = %+v", s.Health)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			warns, err := c.Prepare(tt.raw)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if len(warns) != 0 {
				t.Errorf("warnings: %v", warns)
			}
			tt.check(t, &c)
		})
	}
}

func TestPrepareErrorsNameTheField(t *testing.T) {
	appFile, appDir, deb := fixture(t)
	base := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"app_path": appFile}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name  string
		raw   map[string]interface{}
		field string
		text  string
	}{
		{"missing app", base("app_path", nil), "app_path", "is required"},
		{"app not found", base("app_path", "/nonexistent/app"), "app_path", "/nonexistent/app"},
		{"dir without entrypoint", base("app_path", appDir), "entrypoint", "is required"},
		{"entrypoint escapes", base("app_path", appDir, "entrypoint", "../x"), "entrypoint", "relative path"},
		{"entrypoint missing", base("app_path", appDir, "entrypoint", "bin/nope"), "entrypoint", "bin/nope"},
		{"entrypoint with file", base("entrypoint", "x"), "entrypoint", "only allowed"},
		{"native dir without entrypoint", base("app_path", appDir, "runtime", "native"), "entrypoint", "is required"},
		{"unknown runtime", base("runtime", "python"), "runtime", "unknown runtime"},
		{"bad main class", base("main_class", "1x"), "main_class", "not a Java class"},
		{"bad java module", base("java_modules", []string{"a b"}), "java_modules", "not a module"},
		{"runtime_path with native", base("runtime", "native", "runtime_path", appDir), "runtime_path", "java and node"},
		{"env name", base("env", map[string]string{"A-B": "1"}), "env", "A-B"},
		{"relative work_dir", base("work_dir", "srv"), "work_dir", "absolute"},
		{"port zero", base("ports", []int{0}), "ports", "out of range"},
		{"port twice", base("ports", []int{80, 80}), "ports", "twice"},
		{"negative stop_timeout", base("stop_timeout", "-1s"), "stop_timeout", "negative"},
		{"restart", base("restart", "sometimes"), "restart", "sometimes"},
		{"image_name slash", base("image_name", "a/b"), "image_name", "slashes"},
		{"image_name chars", base("image_name", "a b"), "image_name", "letters"},
		{"kernel path and url", base("kernel_path", deb, "kernel_url", "https://x/y.deb", "kernel_checksum", sha256Hex), "kernel_path", "conflicts"},
		{"kernel path missing", base("kernel_path", "/nonexistent.deb"), "kernel_path", "/nonexistent.deb"},
		{"kernel url without checksum", base("kernel_url", "https://x/y.deb"), "kernel_checksum", "is required"},
		{"bad checksum format", base("kernel_url", "https://x/y.deb", "kernel_checksum", "sha256:xyz"), "kernel_checksum", "64 hex digits"},
		{"bad checksum type", base("kernel_url", "https://x/y.deb", "kernel_checksum", "crc32:"+sha256Hex), "kernel_checksum", "unknown checksum type"},
		{"checksum none", base("kernel_url", "https://x/y.deb", "kernel_checksum", "none"), "kernel_checksum", "not a checksum"},
		{"checksum without url", base("kernel_checksum", sha256Hex), "kernel_checksum", "kernel_url is not"},
		{"bootloader checksum", base("bootloader_url", "https://x/b.deb", "bootloader_checksum", "abc"), "bootloader_checksum", "not a checksum"},
		{"cache_dir is a file", base("cache_dir", deb), "cache_dir", "not a directory"},
		{"negative disk_size", base("disk_size", "-1G"), "disk_size", "negative"},
		{"garbage disk_size", base("disk_size", "big"), "disk_size", "does not start with a number"},
		{"small disk_size", base("disk_size", "10M"), "disk_size", "minimum"},
		{"bad format", base("formats", []string{"iso"}), "formats", "unknown image format"},
		{"format twice", base("formats", []string{"raw", "img"}), "formats", "twice"},
		{"negative data_volume_size", base("data_volume_size", "-5"), "data_volume_size", "negative"},
		{"zero data_volume_size", base("data_volume_size", "0"), "data_volume_size", "skip_data_volume"},
		{"tiny data_volume_size", base("data_volume_size", "1M"), "data_volume_size", "too small"},
		{"long label", base("data_volume_label", strings.Repeat("x", 17)), "data_volume_label", "16 bytes"},
		{"mount point root", base("data_volume_mount_point", "/"), "data_volume_mount_point", "absolute"},
		{"bad data format", base("data_volume_formats", []string{"vdi"}), "data_volume_formats", "unknown image format"},
		{"skip with size", base("skip_data_volume", true, "data_volume_size", "1G"), "data_volume_size", "skip_data_volume"},
		{"compression", base("compression", "lz4"), "compression", "lz4"},
		{"cmdline newline", base("cmdline", "a\nb"), "cmdline", "single line"},
		{"health without port", base("health_check", map[string]interface{}{"path": "/"}), "health_check.port", "required"},
		{"health path", base("ports", []int{80}, "health_check", map[string]interface{}{"path": "healthz"}), "health_check.path", "start with /"},
		{"verify without port", base("verify", true), "verify", "health_check"},
		{"verify without bootable format", base("verify", true, "ports", []int{80}, "formats", []string{"vmdk-stream", "vhd"}), "verify", "QEMU can boot"},
		{"health timeout", base("ports", []int{80}, "health_check", map[string]interface{}{"timeout": "-3s"}), "health_check.timeout", "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			_, err := c.Prepare(tt.raw)
			if err == nil {
				t.Fatal("Prepare accepted the configuration")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig: %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.field+": ") || !strings.Contains(msg, tt.text) {
				t.Errorf("error %q does not name %q with %q", msg, tt.field, tt.text)
			}
		})
	}
}

func TestPrepareReportsEveryError(t *testing.T) {
	var c Config
	_, err := c.Prepare(map[string]interface{}{"restart": "x", "compression": "y", "disk_size": "-1"})
	if err == nil {
		t.Fatal("Prepare accepted the configuration")
	}
	for _, f := range []string{"app_path", "restart", "compression", "disk_size"} {
		if !strings.Contains(err.Error(), f+": ") {
			t.Errorf("error %q does not mention %s", err, f)
		}
	}
}

// TestPrepareSizes checks the plugin's rule for disk_size and
// data_volume_size: a bare number is MiB (as in Packer's QEMU builder), units
// are binary, and every refusal names the option and says what is accepted.
func TestPrepareSizes(t *testing.T) {
	appFile, _, _ := fixture(t)
	ok := []struct {
		in   string
		want int64
	}{
		{"100", 100 << 20},
		{"512M", 512 << 20},
		{"512MiB", 512 << 20},
		{"512mi", 512 << 20},
		{"2G", 2 << 30},
		{"2g", 2 << 30},
		{"1.5G", 3 << 29},
		{"131072K", 128 << 20},
		{"1T", 1 << 40},
		{" 3G ", 3 << 30},
		{"1 GiB", 1 << 30},
		{"134217728B", 128 << 20},
		{"100.5", 201 << 19},
	}
	for _, tt := range ok {
		for _, field := range []string{"disk_size", "data_volume_size"} {
			var c Config
			if _, err := c.Prepare(map[string]interface{}{"app_path": appFile, field: tt.in}); err != nil {
				t.Errorf("%s = %q: %v", field, tt.in, err)
				continue
			}
			got := c.Spec().DataVolume.Size
			if field == "disk_size" {
				got = c.Spec().BootDisk.Size
			}
			if got != tt.want {
				t.Errorf("%s = %q: %d bytes, want %d", field, tt.in, got, tt.want)
			}
		}
	}
	// An empty string is the unset option (the default size), so it is
	// not in this table.
	bad := []struct{ in, want string }{
		{"G", "does not start with a number"},
		{"inf", "does not start with a number"},
		{"NaN", "does not start with a number"},
		{"-1", "negative"},
		{"-1G", "negative"},
		{"99999999999T", "too large"},
		{"9223372036854775807", "too large"},
		{"0.0000001", "not a whole number of bytes"},
		{"0.1K", "not a whole number of bytes"},
		{"2gb", "decimal unit gb"},
		{"100MB", "decimal unit MB"},
		{"1X", `unknown unit "X"`},
		{"1e3", `unknown unit "e3"`},
		{".5G", "digits on both sides"},
	}
	for _, tt := range bad {
		for _, field := range []string{"disk_size", "data_volume_size"} {
			var c Config
			_, err := c.Prepare(map[string]interface{}{"app_path": appFile, field: tt.in})
			if err == nil {
				t.Errorf("%s = %q accepted", field, tt.in)
				continue
			}
			msg := err.Error()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(msg, field+": ") || !strings.Contains(msg, tt.want) ||
				!strings.Contains(msg, "want a number of MiB, or a number with a binary unit") {
				t.Errorf("%s = %q: error %q; want it to name %s, mention %q and say what is accepted", field, tt.in, msg, field, tt.want)
			}
		}
	}
}

func TestValidChecksum(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"sha256:" + sha256Hex, true},
		{"SHA256:" + strings.ToUpper(sha256Hex), true},
		{sha256Hex, true},
		{"md5:0123456789abcdef0123456789abcdef", true},
		{"sha1:0123456789abcdef0123456789abcdef01234567", true},
		{"sha512:" + sha256Hex + sha256Hex, true},
		{"file:https://example.com/SHA256SUMS", true},
		{"file:", false},
		{"none", false},
		{"sha256:" + sha256Hex[:63], false},
		{"sha256:" + sha256Hex[:63] + "g", false},
		{"sha1:" + sha256Hex, false},
		{"", false},
	}
	for _, tt := range tests {
		if err := validChecksum(tt.in); (err == nil) != tt.ok {
			t.Errorf("validChecksum(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

// TestPrepareRuntimeApps: a Node.js app directory (package.json) and a
// Java class directory (main_class) need no entrypoint, and the runtime
// options reach the Spec.
func TestPrepareRuntimeApps(t *testing.T) {
	nodeDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(nodeDir, "package.json"), []byte(`{"main":"server.js"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	classDir := t.TempDir()
	for _, tc := range []struct {
		name string
		raw  map[string]interface{}
		want builder.App
	}{
		{"node", map[string]interface{}{"app_path": nodeDir}, builder.App{Path: nodeDir}},
		{"java classes", map[string]interface{}{"app_path": classDir, "main_class": "example.Main", "java_modules": []string{"java.sql"}, "runtime_path": nodeDir},
			builder.App{Path: classDir, MainClass: "example.Main", JavaModules: []string{"java.sql"}, RuntimePath: nodeDir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			if _, err := c.Prepare(tc.raw); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			a := c.spec.App
			if a.Path != tc.want.Path || a.Runtime != tc.want.Runtime || a.MainClass != tc.want.MainClass || a.RuntimePath != tc.want.RuntimePath || strings.Join(a.JavaModules, ",") != strings.Join(tc.want.JavaModules, ",") {
				t.Fatalf("spec.App = %+v, want %+v", a, tc.want)
			}
		})
	}
}
