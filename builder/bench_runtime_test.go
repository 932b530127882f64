//go:build linux

package builder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/testutil"
)

// buildAppCase is one app BenchmarkBuildApps builds with mkbootapp.
type buildAppCase struct {
	name  string   // the image's --name, and the sample's app
	input string   // what the app is, for the report
	path  string   // --app
	args  []string // more flags: the runtime
}

// appSample is one mkbootapp process of BenchmarkBuildApps, as it appends
// it to the file named by BOOTAPP_BENCH_APP_SAMPLES (one JSON object a
// line; internal/cmd/benchplot -apps reads them).
type appSample struct {
	App   string `json:"app"`   // go, node, java
	Input string `json:"input"` // what the app is
	// Kind is "warmup" (the first build, which fills the caches),
	// "build" (a timed build: raw boot disk + 1 GiB raw data volume) or
	// "vmdk-stream" (the boot disk alone as a streamOptimized VMDK).
	Kind   string  `json:"kind"`
	BuildS float64 `json:"build_s"` // process start to exit, wall clock
	// RSSBytes is the peak RSS of the process (the largest of the
	// process and the children it waited for, as GNU time's %M).
	// RSSBound is set when that figure is not above the benchmark's own
	// peak, which a child started with vfork inherits: then it is only
	// an upper bound.
	RSSBytes int64 `json:"rss_bytes"`
	RSSBound bool  `json:"rss_bound,omitempty"`
	// Of a vmdk-stream build: NAME.vmdk's size, the root file system
	// (initramfs) size, the app's size on the host and the runtime
	// package, from the manifest.
	VMDKBytes   int64  `json:"vmdk_bytes,omitempty"`
	RootFSBytes int64  `json:"rootfs_bytes,omitempty"`
	AppBytes    int64  `json:"app_bytes,omitempty"`
	Runtime     string `json:"runtime,omitempty"`
}

// BenchmarkBuildApps measures what `mkbootapp build` takes for the three
// example apps, as a user runs it: a fresh mkbootapp process, warm cache.
// go is examples/hello (a static Go binary), node is examples/node after
// `npm ci --omit=dev` (testutil.NodeExample; Node.js from the cached Debian
// packages), java is examples/java's app.jar (testutil.JavaExample; a
// runtime jlinked from the cached JDK package). Each app gets one warm-up
// build first (it fills the jdeps, jlink and initramfs caches); then every
// iteration builds the three in turn, so that the machine's changing load
// weighs on each alike, with the default outputs (a raw boot disk and a new
// 1 GiB raw data volume); b.N is the number of timed builds per app. A last
// build of each writes the boot disk alone as a streamOptimized VMDK
// (--format vmdk-stream --no-data), whose size is reported. Reported per
// app: the median build time (s-build-APP), the largest peak RSS
// (MB-rss-APP) and the VMDK's size (MB-vmdk-stream-APP), MB = 10^6 bytes.
// With BOOTAPP_BENCH_APP_SAMPLES set to a file, every process appends its
// appSample there. No time or size limit fails it: make bench compares the
// figures with their targets.
func BenchmarkBuildApps(b *testing.B) {
	cache, _, _ := benchInputs(b) // fails early, naming the fix, when the cache is empty
	mkbootapp := testutil.StaticBinary(b, "../cmd/mkbootapp", testutil.BuildOptions{})
	hello := buildGoApp(b, "../examples/hello")
	apps := []buildAppCase{
		{"go", "examples/hello, static Go binary", hello, nil},
		{"node", "examples/node after npm ci --omit=dev", testutil.NodeExample(b), []string{"--runtime", "node"}},
		{"java", "examples/java app.jar (javac + jar)", testutil.JavaExample(b), []string{"--runtime", "java"}},
	}
	var samples []appSample
	run := func(a buildAppCase, kind string, out string, extra ...string) appSample {
		b.Helper()
		s, err := runMkbootapp(mkbootapp, cache, a, kind, out, extra...)
		if err != nil {
			b.Fatal(err)
		}
		samples = append(samples, s)
		return s
	}
	work := b.TempDir()
	for _, a := range apps {
		run(a, "warmup", filepath.Join(work, a.name+"-warm"), "--data-size", "1G")
		os.RemoveAll(filepath.Join(work, a.name+"-warm"))
	}
	for b.Loop() {
		for _, a := range apps {
			out := filepath.Join(work, a.name)
			os.RemoveAll(out)
			run(a, "build", out, "--data-size", "1G")
		}
	}
	for _, a := range apps {
		out := filepath.Join(work, a.name+"-vmdk")
		s := run(a, "vmdk-stream", out, "--format", "vmdk-stream", "--no-data")
		if err := s.describe(out, a); err != nil {
			b.Fatal(err)
		}
		samples[len(samples)-1] = s
	}
	for _, a := range apps {
		var secs []float64
		var rss int64
		for _, s := range samples {
			if s.App == a.name && s.Kind == "build" {
				secs = append(secs, s.BuildS)
				rss = max(rss, s.RSSBytes)
			}
			if s.App == a.name && s.Kind == "vmdk-stream" {
				b.ReportMetric(float64(s.VMDKBytes)/1e6, "MB-vmdk-stream-"+a.name)
			}
		}
		b.ReportMetric(median(secs), "s-build-"+a.name)
		b.ReportMetric(float64(rss)/1e6, "MB-rss-"+a.name)
	}
	if p := os.Getenv("BOOTAPP_BENCH_APP_SAMPLES"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		enc := json.NewEncoder(f)
		for _, s := range samples {
			if err := enc.Encode(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// runMkbootapp runs `mkbootapp build -q --name NAME -o out --app PATH
// RUNTIME... extra...` as a fresh process with BOOTAPP_CACHE=cache and
// measures its wall clock time and peak RSS.
func runMkbootapp(mkbootapp, cache string, a buildAppCase, kind, out string, extra ...string) (appSample, error) {
	args := append([]string{"build", "-q", "--name", a.name, "-o", out, "--app", a.path}, a.args...)
	cmd := exec.Command(mkbootapp, append(args, extra...)...)
	cmd.Env = append(os.Environ(), "BOOTAPP_CACHE="+cache)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var self syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		return appSample{}, err
	}
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return appSample{}, fmt.Errorf("%s: mkbootapp %s: %v\n%s", a.name, strings.Join(cmd.Args[1:], " "), err, stderr.Bytes())
	}
	s := appSample{App: a.name, Input: a.input, Kind: kind, BuildS: elapsed.Seconds()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		// Maxrss is in KiB on Linux.
		s.RSSBytes = ru.Maxrss << 10
		s.RSSBound = ru.Maxrss <= self.Maxrss
	}
	return s, nil
}

// describe fills in the VMDK's size and, from the manifest, the root file
// system's size and the runtime package; and the app's size on the host.
func (s *appSample) describe(out string, a buildAppCase) error {
	fi, err := os.Stat(filepath.Join(out, a.name+".vmdk"))
	if err != nil {
		return err
	}
	s.VMDKBytes = fi.Size()
	b, err := os.ReadFile(filepath.Join(out, a.name+".manifest.json"))
	if err != nil {
		return err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s.manifest.json: %v", a.name, err)
	}
	s.RootFSBytes = r.RootFSBytes
	if r.Inputs != nil {
		for _, p := range r.Inputs.Runtime {
			if p.Name == "nodejs" || strings.HasPrefix(p.Name, "openjdk-") {
				s.Runtime = p.Name + " " + p.Version
				break
			}
		}
	}
	s.AppBytes, err = treeSize(a.path)
	return err
}

// treeSize is the total size of the regular files at or under p.
func treeSize(p string) (int64, error) {
	var n int64
	err := filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

// median of v (0 when empty); sorts v.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}
