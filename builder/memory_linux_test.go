//go:build linux

package builder

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/testutil"
)

// memChildEnv tells a re-executed test binary to run one build and exit:
// its value is the app path, an optional entrypoint and the output
// directory, separated by newlines.
const memChildEnv = "BOOTAPP_TEST_MEMORY_CHILD"

// bigAppSize is the size of the large app's data.
const bigAppSize = 300_000_000

// TestBuildMemoryLargeApp builds 300 MB apps, each in a child process, and
// checks that the build's peak RSS stays well below the app's size: the app
// is streamed into a staged initramfs file and from there into the ESP,
// never held in memory (a build without the app takes about 60 MB).
func TestBuildMemoryLargeApp(t *testing.T) {
	if v := os.Getenv(memChildEnv); v != "" {
		memoryChild(t, v)
		return
	}
	testutil.NeedE2E(t, "builds boot disks holding 300 MB apps (about 10 s each, 1 GB of scratch disk)")
	cache, kdeb, ldeb := testInputs(t) // fails early, in the parent, when the cache is empty
	dir := t.TempDir()
	hello := buildGoApp(t, "../examples/hello")
	// Warm the cache first (the unpacked kernel, the base segment, the
	// boot loader), as any build after the first finds it: a cold cache
	// costs a few hundred MB once, to decode the kernel package, whatever
	// the app. The children measure what the app adds.
	if _, err := Build(context.Background(), Spec{App: App{Path: hello}, Kernel: KernelSource{Deb: kdeb}, Bootloader: ldeb,
		CacheDir: cache, OutputDir: filepath.Join(dir, "warm"), DataVolume: DataVolume{Disabled: true}}); err != nil {
		t.Fatalf("warm-up build: %v", err)
	}

	appDir := filepath.Join(dir, "app")
	if err := os.Mkdir(appDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyExecutable(t, hello, filepath.Join(appDir, "hello"))
	writeRandom(t, filepath.Join(appDir, "data.bin"), bigAppSize)
	cases := []struct{ name, app, entry string }{
		{"directory with a 300 MB file", appDir, "hello"},
	}
	// An executable with a 300 MB section that stripping keeps: the
	// stripper copies it from the file.
	if objcopy, err := exec.LookPath("objcopy"); err == nil {
		big := filepath.Join(dir, "bigexe")
		if out, err := exec.Command(objcopy, "--add-section", ".bigdata="+filepath.Join(appDir, "data.bin"), hello, big).CombinedOutput(); err != nil {
			t.Fatalf("objcopy: %v\n%s", err, out)
		}
		cases = append(cases, struct{ name, app, entry string }{"executable with a 300 MB section", big, ""})
	} else {
		t.Log("no objcopy (binutils): the executable case is skipped")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			cmd := exec.Command(os.Args[0], "-test.run=^TestBuildMemoryLargeApp$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), memChildEnv+"="+strings.Join([]string{tc.app, tc.entry, out}, "\n"))
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("build in a child process: %v\n%s", err, b)
			}
			// The child reports its own peak (VmHWM of its address
			// space). Not the rusage's Maxrss: Go starts children with
			// vfork, and Linux carries the parent's high-water mark
			// over an exec, so a child's Maxrss is at least the test
			// process's own peak.
			rss := childPeak(t, string(b))
			t.Logf("peak RSS %.0f MiB for a %.0f MB app", float64(rss)/(1<<20), float64(bigAppSize)/1e6)
			if rss > bigAppSize/2 {
				t.Errorf("peak RSS %d bytes, want below half the app's %d bytes\n%s", rss, bigAppSize, b)
			}
			m, _ := filepath.Glob(filepath.Join(out, "*.raw"))
			if len(m) != 1 {
				t.Fatalf("boot disk not written: %v", m)
			}
			if fi, err := os.Stat(m[0]); err != nil || fi.Size() < bigAppSize {
				t.Errorf("boot disk %s of %v bytes cannot hold the app (%v)", m[0], fi.Size(), err)
			}
		})
	}
}

// memoryChild runs the build a parent TestBuildMemoryLargeApp asked for.
func memoryChild(t *testing.T, v string) {
	f := strings.Split(v, "\n")
	if len(f) != 3 {
		t.Fatalf("%s=%q: want three lines", memChildEnv, v)
	}
	cache, kdeb, ldeb := testInputs(t)
	_, err := Build(context.Background(), Spec{
		App:        App{Path: f[0], Entrypoint: f[1]},
		Kernel:     KernelSource{Deb: kdeb},
		Bootloader: ldeb,
		CacheDir:   cache,
		OutputDir:  f[2],
		DataVolume: DataVolume{Disabled: true},
		Progress:   os.Stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			fmt.Printf("%s %s\n", peakMarker, strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")))
		}
	}
}

// peakMarker starts the child's line reporting its peak RSS.
const peakMarker = "bootapp-test-peak-rss:"

// childPeak finds the child's peak RSS line ("... 81234 kB") in its output.
func childPeak(t *testing.T, out string) int64 {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, peakMarker); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return n << 10
				}
			}
		}
	}
	t.Fatalf("the child reported no peak RSS:\n%s", out)
	return 0
}

// copyExecutable copies the file src to dst, executable.
func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// writeRandom writes n pseudo-random bytes (incompressible, no zero blocks
// to become holes) to path.
func writeRandom(t *testing.T, path string, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{7}), n); err != nil {
		t.Fatal(err)
	}
}
