//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/internal/testutil"
)

// TestE2ERunEnv is the local half of issue 11's run-time configuration: one
// image, built once with GREETING=built, booted by `mkbootapp run` with
// --env and --arg, answers with the values given at run time (passed to the
// guest through QEMU's fw_cfg), and without them with the built ones.
func TestE2ERunEnv(t *testing.T) {
	testutil.NeedE2E(t, "builds an image and boots QEMU twice")
	app := testutil.StaticBinary(t, "../bootapp-init/testdata/envapp", testutil.BuildOptions{})
	out := filepath.Join(t.TempDir(), "out")
	if _, err := builder.Build(context.Background(), builder.Spec{
		App:    builder.App{Path: app, Ports: []int{8080}, Env: []string{"GREETING=built"}, Args: []string{"built-arg"}},
		Kernel: builder.KernelSource{Deb: testutil.KernelDeb(t)}, Bootloader: testutil.LoaderDeb(t),
		OutputDir: out, DataVolume: builder.DataVolume{Size: 64 << 20},
	}); err != nil {
		t.Fatalf("build: %v", err)
	}
	get := func(base, path string) string {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}
	for _, tc := range []struct {
		name      string
		args      []string
		greeting  string
		wantArgs  string
		logHasKey bool
	}{
		{"built values", nil, "built", "built-arg", false},
		{"overridden at run time", []string{"--env", "GREETING=from-run", "--arg", "run-arg"}, "from-run", "run-arg", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := testutil.FreePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", host)
			var greeting, args string
			stdout, _ := runWhileHealthy(t, base+"/healthz", func() {
				greeting, args = get(base, "/env?k=GREETING"), get(base, "/args")
			}, append([]string{"--direct", out, "--port", fmt.Sprintf("%d:8080", host)}, tc.args...)...)
			if greeting != tc.greeting || args != tc.wantArgs {
				t.Errorf("GREETING=%q args=%q, want %q %q\nconsole:\n%s", greeting, args, tc.greeting, tc.wantArgs, stdout)
			}
			// The init logs overrides by key, never by value (the app
			// itself may print what it likes).
			var initLog []string
			for _, l := range strings.Split(stdout, "\n") {
				if strings.Contains(l, "bootapp-init:") {
					initLog = append(initLog, l)
				}
			}
			il := strings.Join(initLog, "\n")
			if tc.logHasKey && (!strings.Contains(il, "sets GREETING") || strings.Contains(il, "from-run")) {
				t.Errorf("the init should name the overridden key and not its value:\n%s", il)
			}
		})
	}
}
