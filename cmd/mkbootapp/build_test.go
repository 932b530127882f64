package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
	"github.com/spf13/cobra"
)

// TestSizeFlags checks the CLI's rule for --disk-size and --data-size: a bare
// number is bytes, units are binary, and every refusal names the flag and
// says what is accepted.
func TestSizeFlags(t *testing.T) {
	ok := []struct {
		in   string
		want int64
	}{
		{"1073741824", 1 << 30},
		{"512M", 512 << 20},
		{"512MiB", 512 << 20},
		{"512Mi", 512 << 20},
		{"1G", 1 << 30},
		{"1.5G", 3 << 29},
		{"64k", 64 << 10},
		{"2T", 2 << 40},
		{"4096B", 4096},
		{" 2G ", 2 << 30},
	}
	for _, tc := range ok {
		for _, fl := range []string{"--disk-size", "--data-size"} {
			s, err := specFromArgs(t, "--app", "x", fl, tc.in)
			got := s.DataVolume.Size
			if fl == "--disk-size" {
				got = s.BootDisk.Size
			}
			if err != nil || got != tc.want {
				t.Errorf("%s %q: size %d, %v; want %d", fl, tc.in, got, err, tc.want)
			}
		}
	}
	bad := []struct{ in, want string }{
		{"", "empty size"},
		{"inf", "does not start with a number"},
		{"nan", "does not start with a number"},
		{"-1G", "negative"},
		{"99999999999T", "too large"},
		{"9223372036854775808", "too large"},
		{"0.4", "not a whole number of bytes"},
		{"1.5", "not a whole number of bytes"},
		{"100MB", "decimal unit MB"},
		{"1X", "unknown unit"},
		{"lots", "does not start with a number"},
		{"0", "must be positive"},
		{"0G", "must be positive"},
	}
	for _, tc := range bad {
		for _, fl := range []string{"--disk-size", "--data-size"} {
			_, err := specFromArgs(t, "--app", "x", fl, tc.in)
			if err == nil {
				t.Errorf("%s %q accepted", fl, tc.in)
				continue
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, fl+": ") || !strings.Contains(msg, tc.want) {
				t.Errorf("%s %q: error %q; want it to start with %q and mention %q", fl, tc.in, msg, fl+": ", tc.want)
			}
			if tc.in != "0" && tc.in != "0G" && !strings.Contains(msg, "want a number of bytes, or a number with a binary unit") {
				t.Errorf("%s %q: error %q does not say what is accepted", fl, tc.in, msg)
			}
		}
	}
	_, err := specFromArgs(t, "--app", "x", "--data-size", "0")
	if err == nil || !strings.Contains(err.Error(), "--no-data") {
		t.Errorf("--data-size 0: error %v does not point at --no-data", err)
	}
}

// specFromArgs parses build flags the way the command does, without building.
func specFromArgs(t *testing.T, args ...string) (builder.Spec, error) {
	t.Helper()
	cmd, o := newBuildCommand()
	if err := cmd.ParseFlags(args); err != nil {
		return builder.Spec{}, err
	}
	return o.Spec(cmd)
}

func TestBuildFlags(t *testing.T) {
	s, err := specFromArgs(t, "--app", "bin/hello", "--arg", "-v", "--arg", "--x=1,2", "--env", "A=1",
		"--port", "8080,9090", "--format", "raw,streamOptimized", "--data-format", "qcow2",
		"--disk-size", "128M", "--data-size", "2G", "--data-label", "mydata", "-o", "out",
		"--health-path", "/healthz", "--health-timeout", "30s", "--stop-timeout", "5s", "--verify")
	if err != nil {
		t.Fatal(err)
	}
	want := builder.Spec{
		OutputDir: "out",
		App: builder.App{Path: "bin/hello", Args: []string{"-v", "--x=1,2"}, Env: []string{"A=1"},
			Ports: []int{8080, 9090}, StopTimeout: 5 * time.Second},
		BootDisk:   builder.Disk{Size: 128 << 20, Formats: []image.Format{image.Raw, image.VMDKStream}},
		DataVolume: builder.DataVolume{Size: 2 << 30, Label: "mydata", Formats: []image.Format{image.QCOW2}},
		Health:     &builder.HealthCheck{Path: "/healthz", Timeout: 30 * time.Second},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("spec from flags:\n got %+v\nwant %+v", s, want)
	}
}

func TestBuildFlagsConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "spec.json")
	os.WriteFile(cfg, []byte(`{"name":"web","app":{"path":"srv","ports":[80]},"data_volume":{"size":1073741824}}`), 0o644)
	s, err := specFromArgs(t, "--config", cfg, "--name", "override")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "override" || s.App.Path != "srv" || s.App.Ports[0] != 80 || s.DataVolume.Size != 1<<30 {
		t.Errorf("config file not merged under flags: %+v", s)
	}
	for _, tc := range []struct{ json, want string }{
		{`{"app":{"path":"srv"},"bogus":1}`, "bogus: unknown key"},
		{`{"app":{"path":"srv","bogus":1}}`, "app.bogus: unknown key"},
		{`{"app":{"path":"srv","stop_timeout":"10 s"}}`, `app.stop_timeout: "10 s" is not a duration`},
		{`{"data_volume":{"size":"100MB"}}`, "data_volume.size: \"100MB\" uses the decimal unit MB"},
		{`{"app":{"path":"srv"}} trailing`, "invalid character"},
	} {
		os.WriteFile(cfg, []byte(tc.json), 0o644)
		_, err := specFromArgs(t, "--config", cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), cfg) {
			t.Errorf("config %s: error %v, want it to name the file and mention %q", tc.json, err, tc.want)
		}
	}
}

// TestBuildFlagsConfigFileStrings checks that a config file may write
// durations and sizes as strings, and that flags still override them.
func TestBuildFlagsConfigFileStrings(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(cfg, []byte(`{"app":{"path":"srv","ports":[80],"stop_timeout":"15s"},
		"health":{"port":80,"timeout":"90s"},"boot_disk":{"size":"128M"},"data_volume":{"size":"2G"}}`), 0o644)
	s, err := specFromArgs(t, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.App.StopTimeout != 15*time.Second || s.Health.Timeout != 90*time.Second || s.BootDisk.Size != 128<<20 || s.DataVolume.Size != 2<<30 {
		t.Errorf("config strings not decoded: app %+v, health %+v, boot %+v, data %+v", s.App, *s.Health, s.BootDisk, s.DataVolume)
	}
	s, err = specFromArgs(t, "--config", cfg, "--stop-timeout", "3s", "--data-size", "1G", "--health-timeout", "1m")
	if err != nil {
		t.Fatal(err)
	}
	if s.App.StopTimeout != 3*time.Second || s.Health.Timeout != time.Minute || s.Health.Port != 80 || s.DataVolume.Size != 1<<30 {
		t.Errorf("flags do not override the config file: app %+v, health %+v, data %+v", s.App, *s.Health, s.DataVolume)
	}
}

// TestFlagValueNames checks, for every flag of every command, the value
// name that --help shows: pflag takes a back-quoted word in a usage string as
// the name ("--port mkbootapp run" instead of "--port ints"), so usage strings
// must hold no back-quotes and each name must be the one pflag derives from
// the flag's type.
func TestFlagValueNames(t *testing.T) {
	typeNames := map[string]string{
		"bool": "", "string": "string", "int": "int", "duration": "duration",
		"stringSlice": "strings", "stringArray": "stringArray", "intSlice": "ints",
	}
	line := regexp.MustCompile(`^\s+(?:-\w, )?--([\w-]+)(?: (\S.*?))?(?:\s{2,}|$)`)
	root := newRootCmd()
	n := 0
	for _, c := range append([]*cobra.Command{root}, root.Commands()...) {
		c.InitDefaultHelpFlag()
		for _, l := range strings.Split(strings.TrimRight(c.Flags().FlagUsages(), "\n"), "\n") {
			m := line.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("%s: cannot read help line %q", c.Name(), l)
				continue
			}
			n++
			f := c.Flags().Lookup(m[1])
			if f == nil {
				t.Errorf("%s: help line %q names no flag", c.Name(), l)
				continue
			}
			if strings.Contains(f.Usage, "`") {
				t.Errorf("%s --%s: usage %q holds a back-quote, which pflag takes as the value name", c.Name(), f.Name, f.Usage)
			}
			want, known := typeNames[f.Value.Type()]
			if !known {
				t.Errorf("%s --%s: flag type %q: add its value name to this test", c.Name(), f.Name, f.Value.Type())
			} else if m[2] != want {
				t.Errorf("%s --%s: help shows value name %q, want %q (line %q)", c.Name(), f.Name, m[2], want, l)
			}
		}
	}
	if n < 30 {
		t.Errorf("checked only %d flags: are the commands registered?", n)
	}
}

func TestBuildFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--app", "x", "--disk-size", "big"}, "--disk-size"},
		{[]string{"--app", "x", "--format", "iso"}, "--format"},
		{[]string{"--app", "x", "--verify"}, "--verify needs a health check port"},
	}
	for _, tc := range tests {
		_, err := specFromArgs(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}
