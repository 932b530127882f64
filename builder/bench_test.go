package builder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/qemu"
	"github.com/bootapp/bootapp/internal/testutil"
)

// cacheEncodedDir is the cache's directory of compressed grains.
const cacheEncodedDir = cache.Encoded

// benchInputs returns the cached packages; a benchmark fails without
// them, naming the fix.
func benchInputs(b *testing.B) (cache, kdeb, ldeb string) {
	b.Helper()
	return testInputs(b)
}

func benchApp(b *testing.B) string {
	b.Helper()
	return buildGoApp(b, "../examples/hello")
}

// BenchmarkBuild measures a warm-cache build of examples/hello: raw boot
// disk plus a 1 GiB raw data volume, and reports the output sizes. The
// vmdk-stream cases differ in the cache's compressed grains (image/memo):
// vmdk-stream empties them before each build (every grain compressed),
// vmdk-stream-release leaves those of the previous release (examples/hello
// built with -trimpath: the same kernel, base initramfs and loader, another
// app binary), vmdk-stream-rebuild builds the same app again.
func BenchmarkBuild(b *testing.B) {
	cache, kdeb, ldeb := benchInputs(b)
	app := benchApp(b)
	previous := testutil.StaticBinary(b, "../examples/hello", testutil.BuildOptions{Flags: []string{"-trimpath"}})
	memoDir := filepath.Join(cache, cacheEncodedDir)
	for _, tc := range []struct {
		name    string
		formats []image.Format
		data    bool
		before  func(spec Spec) // untimed, before each timed build
	}{
		{"raw+data", []image.Format{image.Raw}, true, nil},
		{"raw", []image.Format{image.Raw}, false, nil},
		{"vmdk-stream", []image.Format{image.VMDKStream}, false, func(Spec) { os.RemoveAll(memoDir) }},
		{"vmdk-stream-release", []image.Format{image.VMDKStream}, false, func(spec Spec) {
			os.RemoveAll(memoDir)
			spec.App.Path, spec.OutputDir = previous, filepath.Join(b.TempDir(), "previous")
			if _, err := Build(context.Background(), spec); err != nil {
				b.Fatal(err)
			}
		}},
		{"vmdk-stream-rebuild", []image.Format{image.VMDKStream}, false, nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			spec := Spec{
				App: App{Path: app}, Kernel: KernelSource{Deb: kdeb}, Bootloader: ldeb, CacheDir: cache,
				BootDisk:   Disk{Formats: tc.formats},
				DataVolume: DataVolume{Disabled: !tc.data, Size: 1 << 30},
			}
			spec.OutputDir = filepath.Join(b.TempDir(), "warm")
			if _, err := Build(context.Background(), spec); err != nil { // warm the caches
				b.Fatal(err)
			}
			var res *Result
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				spec.OutputDir = filepath.Join(b.TempDir(), "out")
				if tc.before != nil {
					tc.before(spec)
				}
				b.StartTimer()
				r, err := Build(context.Background(), spec)
				if err != nil {
					b.Fatal(err)
				}
				res = r
			}
			b.StopTimer()
			for _, f := range res.Files {
				if f.Role == RoleBoot {
					if f.Format == image.Raw {
						b.ReportMetric(float64(f.Allocated), "boot-allocated-bytes")
					} else {
						b.ReportMetric(float64(f.Size), "boot-"+string(f.Format)+"-bytes")
					}
				}
			}
		})
	}
}

// BenchmarkBootToHTTP measures QEMU start (UEFI, OVMF) to the first HTTP 200
// from examples/hello, split into its parts from the serial console (see
// bootSample). With BOOTAPP_BENCH_BOOT_SAMPLES set to a file, every boot
// appends its sample there as one JSON line (mode "uefi").
func BenchmarkBootToHTTP(b *testing.B) { benchBoots(b, "uefi") }

// BenchmarkBootToHTTPDirect is BenchmarkBootToHTTP with a direct kernel
// boot (`mkbootapp run --direct`): the kernel, initramfs and command line
// read from the boot disk's ESP, no firmware and no boot loader, the same
// disks attached (mode "direct"). Reading the ESP (a few milliseconds) is
// outside the timed part.
func BenchmarkBootToHTTPDirect(b *testing.B) { benchBoots(b, "direct") }

// BenchmarkBootLimit measures the physical limit of BenchmarkBootToHTTP and
// BenchmarkBootToHTTPDirect: the same QEMU, firmware, boot loader, kernel
// and kernel command line (read from a real build's boot disk) with a
// trivial init (testdata/poweroff) that prints one line and powers off at
// once, in an uncompressed initramfs, from QEMU start to QEMU's exit.
// Sub-benchmarks uefi (a boot disk written by image.WriteBootDisk) and
// direct; samples as in BenchmarkBootToHTTP (modes "limit-uefi",
// "limit-direct").
func BenchmarkBootLimit(b *testing.B) {
	b.Run("uefi", func(b *testing.B) { benchBoots(b, "limit-uefi") })
	b.Run("direct", func(b *testing.B) { benchBoots(b, "limit-direct") })
}

// BenchmarkBootInterleaved boots the four modes of BenchmarkBootToHTTP,
// BenchmarkBootToHTTPDirect and BenchmarkBootLimit in turn in each
// iteration (uefi, limit-uefi, direct, limit-direct), so that a machine
// whose load changes during the run weighs on each mode alike: what
// make bench reports. b.N is the number of boots per mode.
func BenchmarkBootInterleaved(b *testing.B) {
	benchBoots(b, "uefi", "limit-uefi", "direct", "limit-direct")
}

// bootTarget is what one mode boots.
type bootTarget struct {
	mode  string
	limit bool
	cfg   qemu.Config
}

// bootTargets builds examples/hello (boot disk and a 256 MiB data volume)
// and the limit's boot disk from the same loader, kernel and command line.
func bootTargets(b *testing.B) map[string]bootTarget {
	b.Helper()
	testutil.NeedE2E(b, "boots QEMU")
	cache, kdeb, ldeb := benchInputs(b)
	app := benchApp(b)
	res, err := Build(context.Background(), Spec{
		App: App{Path: app}, Kernel: KernelSource{Deb: kdeb}, Bootloader: ldeb, CacheDir: cache,
		OutputDir: filepath.Join(b.TempDir(), "out"), DataVolume: DataVolume{Size: 256 << 20},
	})
	if err != nil {
		b.Fatal(err)
	}
	boot, err := image.ReadBootDisk(res.Files[0].Path)
	if err != nil {
		b.Fatal(err)
	}
	initBin, err := os.ReadFile(buildGoApp(b, "./testdata/poweroff"))
	if err != nil {
		b.Fatal(err)
	}
	var initrd bytes.Buffer
	w, err := initramfs.NewWriterOptions(&initrd, initramfs.Options{Compression: initramfs.None})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.WriteFile("/init", 0o755, initBin); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	limit := &image.BootFiles{Loader: boot.Loader, Kernel: boot.Kernel, Initrd: initrd.Bytes(), Cmdline: boot.Cmdline, Title: "bootapp: limit"}
	limitDisk := filepath.Join(b.TempDir(), "limit.raw")
	if err := image.WriteBootDisk(context.Background(), limitDisk, limit, 0); err != nil {
		b.Fatal(err)
	}
	disks := []qemu.Disk{{Path: res.Files[0].Path, ReadOnly: true}, {Path: res.Files[1].Path}}
	fwd := []qemu.Forward{{GuestPort: 8080}}
	return map[string]bootTarget{
		"uefi":         {mode: "uefi", cfg: qemu.Config{Disks: disks, Forwards: fwd}},
		"direct":       {mode: "direct", cfg: qemu.Config{Disks: disks, Forwards: fwd, Direct: boot}},
		"limit-uefi":   {mode: "limit-uefi", limit: true, cfg: qemu.Config{Disks: []qemu.Disk{{Path: limitDisk, ReadOnly: true}}}},
		"limit-direct": {mode: "limit-direct", limit: true, cfg: qemu.Config{Disks: []qemu.Disk{{Path: limitDisk, ReadOnly: true}}, Direct: limit}},
	}
}

// benchBoots boots each of modes once per iteration and reports (and
// records) the samples; a failed boot fails the benchmark with the console.
func benchBoots(b *testing.B, modes ...string) {
	targets := bootTargets(b)
	var samples []bootSample
	for b.Loop() {
		for _, m := range modes {
			s, err := bootOnce(targets[m])
			if err != nil {
				b.Fatal(err)
			}
			samples = append(samples, s)
		}
	}
	reportBootSamples(b, samples)
}

// bootOnce boots t: to the first HTTP 200 from the app's port 8080, after
// which QEMU is stopped (untimed), or, for a limit, to QEMU's exit.
func bootOnce(t bootTarget) (bootSample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	console := &consoleStamps{start: start}
	cfg := t.cfg
	cfg.Console = console
	vm, err := qemu.Start(ctx, cfg)
	if err != nil {
		return bootSample{}, fmt.Errorf("%s: %w", t.mode, err)
	}
	if t.limit {
		err = vm.Wait()
	} else {
		err = qemu.WaitHTTP(ctx, "http://"+vm.Forwarded(8080)+"/healthz", func(s int) bool { return s == 200 })
	}
	total := time.Since(start)
	if !t.limit {
		if err != nil {
			vm.Kill()
		} else {
			vm.Stop(ctx, 30*time.Second)
		}
	}
	if err != nil {
		return bootSample{}, fmt.Errorf("%s: %w\n%s", t.mode, err, vm.ConsoleTail())
	}
	s, err := console.sample(t.mode, total, t.limit)
	if err != nil {
		return s, fmt.Errorf("%s: %w\n%s", t.mode, err, vm.ConsoleTail())
	}
	s.Accel = vm.Accel()
	return s, nil
}

// bootSample is one boot split into its parts, in seconds. The host
// timestamps each serial console line as it arrives (consoleStamps); the
// guest init's lines carry the kernel's clock, which starts at the kernel's
// entry, so the kernel entered at (host time - kernel time) of a line (the
// smallest such difference over the boot's lines, the one least delayed).
// OVMF and systemd-boot print nothing timestamped, so Firmware is everything
// before the kernel: QEMU's own start, the firmware and the boot loader (for a
// direct boot QEMU's start and its Linux option ROM). The parts add up to
// Total.
type bootSample struct {
	Mode     string  `json:"mode"`       // uefi, direct, limit-uefi, limit-direct
	Accel    string  `json:"accel"`      // the accelerator QEMU ran with (qemu.VM.Accel)
	Total    float64 `json:"total_s"`    // QEMU start to the first HTTP 200 (a limit: to QEMU's exit)
	Firmware float64 `json:"firmware_s"` // QEMU start to the kernel's entry
	Kernel   float64 `json:"kernel_s"`   // the kernel's entry to the init's "starting" line
	Modules  float64 `json:"modules_s"`  // "starting" to the last "modules:"/"drivers:" line
	DataNet  float64 `json:"data_net_s"` // then until both data volume and network are done (they run concurrently)
	Data     float64 `json:"data_s"`     // of which the data volume alone (the last "data:" line)
	Net      float64 `json:"net_s"`      // and the network alone (the last "net:" line)
	Init     float64 `json:"init_s"`     // the rest of the init, to "app: starting"
	App      float64 `json:"app_s"`      // the app's start to the first HTTP 200 seen by the host
	Off      float64 `json:"off_s"`      // a limit: the init's line to QEMU's exit (power-off)
}

type stampedLine struct {
	host time.Duration // since QEMU start, when the line's newline arrived
	text string
}

// consoleStamps is a qemu.Config.Console that keeps each console line with
// its host arrival time.
type consoleStamps struct {
	start   time.Time
	mu      sync.Mutex
	partial []byte
	lines   []stampedLine
}

func (c *consoleStamps) Write(p []byte) (int, error) {
	now := time.Since(c.start)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.lines = append(c.lines, stampedLine{now, strings.TrimRight(string(c.partial[:i]), "\r")})
		c.partial = c.partial[i+1:]
	}
	return len(p), nil
}

// initLine matches the guest init's log line ("bootapp-init: [  2.571234]
// message"), anywhere in a console line (the firmware's escape codes may
// precede it); kernelLine a printk line with its time.
var (
	initLine   = regexp.MustCompile(`bootapp-init: \[\s*([0-9]+\.[0-9]+)\] (.*)$`)
	kernelLine = regexp.MustCompile(`^\[\s*([0-9]+\.[0-9]+)\] `)
)

// sample splits a boot of total length into its parts from the lines seen.
// A limit boot (trivial init) has only the init's "starting" line.
func (c *consoleStamps) sample(mode string, total time.Duration, limit bool) (bootSample, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := bootSample{Mode: mode, Total: total.Seconds()}
	entry := math.Inf(1)
	var start, mods, data, net, app float64 = -1, -1, -1, -1, -1
	for _, l := range c.lines {
		var guest float64
		var msg string
		if m := initLine.FindStringSubmatch(l.text); m != nil {
			guest, _ = strconv.ParseFloat(m[1], 64)
			msg = m[2]
		} else if m := kernelLine.FindStringSubmatch(l.text); m != nil {
			guest, _ = strconv.ParseFloat(m[1], 64)
		} else {
			continue
		}
		entry = math.Min(entry, l.host.Seconds()-guest)
		if app >= 0 {
			continue
		}
		switch {
		case msg == "starting":
			start = guest
		case strings.HasPrefix(msg, "modules:"), strings.HasPrefix(msg, "drivers:"):
			mods = guest
		case strings.HasPrefix(msg, "data:"):
			data = guest
		case strings.HasPrefix(msg, "net:"):
			net = guest
		case strings.HasPrefix(msg, "app: starting"):
			app = guest
		}
	}
	if math.IsInf(entry, 1) || start < 0 {
		return s, errors.New("no timestamped init line on the console")
	}
	s.Firmware = entry
	s.Kernel = start
	if limit {
		s.Off = s.Total - entry - start
		return s, nil
	}
	if app < 0 {
		return s, errors.New("no \"app: starting\" line on the console")
	}
	if mods < 0 {
		mods = start
	}
	s.Modules = mods - start
	both := mods
	if data >= 0 {
		s.Data = data - mods
		both = math.Max(both, data)
	}
	if net >= 0 {
		s.Net = net - mods
		both = math.Max(both, net)
	}
	s.DataNet = both - mods
	s.Init = app - both
	s.App = s.Total - entry - app
	return s, nil
}

// reportBootSamples reports the medians of the samples, per mode (the
// metric names carry the mode when there are several), and appends them to
// the file named by BOOTAPP_BENCH_BOOT_SAMPLES, when set.
func reportBootSamples(b *testing.B, samples []bootSample) {
	b.Helper()
	byMode := map[string][]bootSample{}
	var modes []string
	for _, s := range samples {
		if byMode[s.Mode] == nil {
			modes = append(modes, s.Mode)
		}
		byMode[s.Mode] = append(byMode[s.Mode], s)
	}
	for _, m := range modes {
		ss := byMode[m]
		med := func(f func(bootSample) float64) float64 {
			v := make([]float64, len(ss))
			for i, s := range ss {
				v[i] = f(s)
			}
			sort.Float64s(v)
			if n := len(v); n%2 == 0 {
				return (v[n/2-1] + v[n/2]) / 2
			}
			return v[len(v)/2]
		}
		suffix := ""
		if len(modes) > 1 {
			suffix = "-" + m
		}
		name := "s-to-200"
		if strings.HasPrefix(m, "limit-") {
			name = "s-to-off"
		}
		b.ReportMetric(med(func(s bootSample) float64 { return s.Total }), name+suffix)
		b.ReportMetric(med(func(s bootSample) float64 { return s.Firmware }), "s-firmware"+suffix)
		b.ReportMetric(med(func(s bootSample) float64 { return s.Kernel }), "s-kernel"+suffix)
	}
	if p := os.Getenv("BOOTAPP_BENCH_BOOT_SAMPLES"); p != "" && len(samples) > 0 {
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

// TestConsoleStampsSample checks the split of a boot into its parts from
// console lines with known host arrival times.
func TestConsoleStampsSample(t *testing.T) {
	c := &consoleStamps{lines: []stampedLine{
		{4 * time.Second, "\x1b[2J BdsDxe: loading Boot0001"},
		{6100 * time.Millisecond, "bootapp-init: [    2.000000] starting"},
		{6600 * time.Millisecond, "bootapp-init: [    2.500000] drivers: 3 of 9 loaded"},
		{6700 * time.Millisecond, "bootapp-init: [    2.600000] net: eth0: 10.0.2.15/24 in 100ms (attempt 1)"},
		{6900 * time.Millisecond, "bootapp-init: [    2.800000] data: mounted /dev/vdb on /data in 300ms"},
		{7000 * time.Millisecond, "bootapp-init: [    3.000000] app: starting /app/hello as 1000:1000"},
		{7500 * time.Millisecond, "bootapp-init: [    3.400000] net: eth0: renewed"},
	}}
	s, err := c.sample("uefi", 8*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// The kernel entered at 4.0 s: the least delayed line is "app:
	// starting" (7.0-3.0); the others give 4.1.
	near("Firmware", s.Firmware, 4.0)
	near("Kernel", s.Kernel, 2.0)
	near("Modules", s.Modules, 0.5)
	near("Net", s.Net, 0.1)
	near("Data", s.Data, 0.3)
	near("DataNet", s.DataNet, 0.3)
	near("Init", s.Init, 0.2)
	near("App", s.App, 1.0)
	near("sum", s.Firmware+s.Kernel+s.Modules+s.DataNet+s.Init+s.App, s.Total)

	limit := &consoleStamps{lines: []stampedLine{{3 * time.Second, "bootapp-init: [    1.000000] starting"}}}
	if s, err = limit.sample("limit-uefi", 3100*time.Millisecond, true); err != nil {
		t.Fatal(err)
	}
	near("limit Firmware", s.Firmware, 2.0)
	near("limit Off", s.Off, 0.1)
	if _, err := (&consoleStamps{}).sample("uefi", time.Second, false); err == nil {
		t.Error("no console lines: no error")
	}
}
