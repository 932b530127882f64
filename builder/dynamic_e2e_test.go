package builder

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/testutil"
)

// TestEndToEndDynamic boots a dynamically linked app: a cgo Go HTTP
// server (testdata/cgoapp, linked against the build host's glibc) whose
// /machine handler reports what it finds of its machine through glibc and
// Go. It must answer over HTTP, see the system CA roots (more than 100),
// resolve localhost with glibc's resolver (nsswitch.conf, /etc/hosts),
// find its own user and root through NSS, load a time zone it was given,
// keep its count on the data volume across a reboot and stop cleanly on
// ACPI power-off.
func TestEndToEndDynamic(t *testing.T) {
	e2e(t)
	testutil.NeedCommand(t, "gcc", "apt-get install -y gcc")
	cache, kdeb, ldeb := testInputs(t)
	app := testutil.StaticBinary(t, "./testdata/cgoapp", testutil.BuildOptions{Env: []string{"CGO_ENABLED=1"}})
	needDynamic(t, app)
	out := filepath.Join(t.TempDir(), "out")
	var progress testutil.SyncBuffer
	res, err := Build(context.Background(), Spec{
		App:        App{Path: app, Ports: []int{8080}},
		Kernel:     KernelSource{Deb: kdeb},
		Bootloader: ldeb,
		CacheDir:   cache,
		OutputDir:  out,
		DataVolume: DataVolume{Size: 64 << 20},
		System:     System{Timezones: []string{"Europe/Berlin"}},
		Progress:   &progress,
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Logf("build:\n%s", progress.String())
	boot := fileByRole(t, res, RoleBoot, image.Raw)
	data := fileByRole(t, res, RoleData, image.Raw)
	listed := map[string]bool{}
	for _, f := range res.Inputs.App.Files {
		listed[f.Path] = true
	}
	for _, p := range []string{"/app/cgoapp", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64", "/usr/lib64/ld-linux-x86-64.so.2", caBundlePath, "/usr/share/zoneinfo/Europe/Berlin"} {
		if !listed[p] {
			t.Errorf("the manifest's app files do not list %s", p)
		}
	}

	machine := bootMachine(t, res, 1)
	t.Logf("/machine: %v", machine)
	if n, _ := machine["roots"].(float64); n <= 100 {
		t.Errorf("the app sees %v system CA roots, want more than 100 (%v)", machine["roots"], machine["roots_error"])
	}
	if machine["user"] != "app" || machine["root"] != "root" {
		t.Errorf("NSS user lookups: user %v (%v), uid 0 %v", machine["user"], machine["user_error"], machine["root"])
	}
	if addrs := fmt.Sprint(machine["localhost"]); !strings.Contains(addrs, "127.0.0.1") {
		t.Errorf("glibc resolver: localhost is %v (%v)", machine["localhost"], machine["localhost_error"])
	}
	if machine["zone"] != "Europe/Berlin" {
		t.Errorf("time zone: %v (%v)", machine["zone"], machine["zone_error"])
	}
	if machine["tmp_error"] != nil || machine["home"] != "/data" {
		t.Errorf("/tmp: %v, HOME %v", machine["tmp_error"], machine["home"])
	}
	// The count went to 2 in the first boot and continues from the data
	// volume.
	bootApp(t, bootOpts{Boot: boot, Data: data, Port: 8080, MemoryMiB: guestMemory(t, res), First: 3, Stopped: "SIGTERM: shutting down"})
	checkFilesystems(t, boot.Path, data.Path)
}

// bootMachine boots the cgoapp image with bootApp: it counts from first,
// logs "SIGTERM: shutting down" when stopped, and the returned map is what
// its /machine reports.
func bootMachine(t *testing.T, res *Result, first int) map[string]any {
	t.Helper()
	var m map[string]any
	bootApp(t, bootOpts{
		Boot:      fileByRole(t, res, RoleBoot, image.Raw),
		Data:      fileByRole(t, res, RoleData, image.Raw),
		Port:      8080,
		MemoryMiB: guestMemory(t, res),
		First:     first,
		Stopped:   "SIGTERM: shutting down",
		Check: func(a *bootedApp) {
			if err := json.Unmarshal(a.Get("/machine"), &m); err != nil {
				a.Fatalf("/machine: %v", err)
			}
		},
	})
	return m
}

// TestEndToEndSysroot builds the cgo app against a sysroot that is not the
// build host's root and has another layout: the loader in /lib64 as a
// plain file, libc in /opt/glibc, which only /etc/ld.so.conf names. The
// guest's loader finds it through the /etc/ld.so.cache the build writes;
// the app must come up and find its user through NSS.
func TestEndToEndSysroot(t *testing.T) {
	e2e(t)
	testutil.NeedCommand(t, "gcc", "apt-get install -y gcc")
	cache, kdeb, ldeb := testInputs(t)
	app := testutil.StaticBinary(t, "./testdata/cgoapp", testutil.BuildOptions{Env: []string{"CGO_ENABLED=1"}})
	root := t.TempDir()
	for _, f := range [][2]string{
		{"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2"},
		{"/lib/x86_64-linux-gnu/libc.so.6", "opt/glibc/libc.so.6"},
	} {
		copyFile(t, f[0], filepath.Join(root, f[1]), 0o755)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/ld.so.conf"), []byte("/opt/glibc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	res, err := Build(context.Background(), Spec{
		App:        App{Path: app, Ports: []int{8080}, Sysroot: root},
		Kernel:     KernelSource{Deb: kdeb},
		Bootloader: ldeb,
		CacheDir:   cache,
		OutputDir:  out,
		DataVolume: DataVolume{Size: 64 << 20},
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	listed := map[string]GuestFile{}
	for _, f := range res.Inputs.App.Files {
		listed[f.Path] = f
	}
	for _, p := range []string{"/lib64/ld-linux-x86-64.so.2", "/opt/glibc/libc.so.6", ldsoCachePath} {
		if listed[p].Type != GuestRegular {
			t.Errorf("%s in the image: %+v", p, listed[p])
		}
	}
	if _, ok := listed["/usr/lib/x86_64-linux-gnu/libc.so.6"]; ok {
		t.Error("the host's libc is in an image built from a sysroot")
	}
	m := bootMachine(t, res, 1)
	t.Logf("/machine: %v", m)
	if m["user"] != "app" || fmt.Sprint(m["localhost"]) != "[127.0.0.1]" {
		t.Errorf("/machine: %v", m)
	}
}

// needDynamic fails the test unless the executable at path is dynamically
// linked (has a PT_INTERP), which the test is about.
func needDynamic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return
		}
	}
	t.Fatalf("%s is not dynamically linked", path)
}
