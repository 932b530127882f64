package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"1073741824", 1 << 30, false},
		{"512M", 512 << 20, false},
		{"512MiB", 512 << 20, false},
		{"512MB", 512 << 20, false},
		{"1G", 1 << 30, false},
		{"1.5G", 3 << 29, false},
		{"64k", 64 << 10, false},
		{"2T", 2 << 40, false},
		{"", 0, true},
		{"-1G", 0, true},
		{"lots", 0, true},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, err %v", tc.in, got, err, tc.want, tc.err)
		}
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
	os.WriteFile(cfg, []byte(`{"app":{"path":"srv"},"bogus":1}`), 0o644)
	if _, err := specFromArgs(t, "--config", cfg); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown config key not rejected: %v", err)
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
