// Command benchplot draws the PNG plots of docs/benchmarks.md and prints its
// boot-time table; scripts/bench.sh (make bench) runs it. It is a bench-only
// program: no library package imports it or its plotting library.
//
//	benchplot -out docs/bench -payload payload.tsv -datavol datavol.tsv -boot boot.jsonl
//	benchplot -out docs/bench -apps apps.jsonl
//
// payload.tsv has one line per app payload: MiB, then build seconds
// median, min and max, then the raw boot disk's size in bytes.
// datavol.tsv has one line per data volume size: GiB, then build seconds
// median, min and max. boot.jsonl holds the samples the builder's boot
// benchmarks append (BOOTAPP_BENCH_BOOT_SAMPLES), one JSON object a boot.
// The boot table (median, min and max of each part, per mode) goes to
// standard output as Markdown. apps.jsonl holds the samples of the
// builder's BenchmarkBuildApps (BOOTAPP_BENCH_APP_SAMPLES), one JSON object
// a mkbootapp process: its tables (build time, peak RSS and streamOptimized
// VMDK size of the Go, Node.js and Java examples, next to Boxfuse's
// published figures and our targets) go to standard output and its plot to
// apps.png.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func main() {
	out := flag.String("out", "docs/bench", "directory for the PNG files")
	payload := flag.String("payload", "", "payload scaling TSV")
	datavol := flag.String("datavol", "", "data volume scaling TSV")
	boot := flag.String("boot", "", "boot samples, JSON lines")
	apps := flag.String("apps", "", "app build samples (BenchmarkBuildApps), JSON lines")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchplot: ")
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	if *payload != "" {
		rows, err := readTSV(*payload, 5)
		if err != nil {
			log.Fatal(err)
		}
		must(scaling(filepath.Join(*out, "payload-build.png"), "Build time against app payload (random bytes)",
			"app payload (MiB, log scale)", "build time (s): median, min-max", rows, 1))
		must(scaling(filepath.Join(*out, "payload-size.png"), "Boot disk size against app payload (random bytes)",
			"app payload (MiB, log scale)", "raw boot disk (MB)", mapRows(rows, func(r []float64) []float64 {
				return []float64{r[0], r[4] / 1e6, r[4] / 1e6, r[4] / 1e6}
			}), 1))
	}
	if *datavol != "" {
		rows, err := readTSV(*datavol, 4)
		if err != nil {
			log.Fatal(err)
		}
		must(scaling(filepath.Join(*out, "datavolume-build.png"), "Build time against data volume size",
			"data volume (GiB, log scale)", "build time (s): median, min-max", rows, 0))
	}
	if *boot != "" {
		samples, err := readSamples(*boot)
		if err != nil {
			log.Fatal(err)
		}
		must(bootBars(filepath.Join(*out, "boot.png"), samples))
		bootTable(os.Stdout, samples)
	}
	if *apps != "" {
		m, err := readAppSamples(*apps)
		if err != nil {
			log.Fatal(err)
		}
		must(appBars(filepath.Join(*out, "apps.png"), m))
		appTable(os.Stdout, m)
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func mapRows(rows [][]float64, f func([]float64) []float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = f(r)
	}
	return out
}

// readTSV reads lines of at least n numbers separated by white space.
func readTSV(path string, n int) ([][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows [][]float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) < n {
			return nil, fmt.Errorf("%s: %q: want %d fields", path, sc.Text(), n)
		}
		row := make([]float64, len(fields))
		for i, s := range fields {
			if row[i], err = strconv.ParseFloat(s, 64); err != nil {
				return nil, fmt.Errorf("%s: %v", path, err)
			}
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// errXY is points with vertical error bars.
type errXY struct {
	plotter.XYs
	plotter.YErrors
}

// scaling draws median (with min-max bars) against x on a log x axis; rows
// are x, median, min, max.
func scaling(path, title, xl, yl string, rows [][]float64, _ int) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xl
	p.Y.Label.Text = yl
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min = 0
	pts := make(plotter.XYs, len(rows))
	errs := make(plotter.YErrors, len(rows))
	for i, r := range rows {
		pts[i].X, pts[i].Y = r[0], r[1]
		errs[i].Low, errs[i].High = r[1]-r[2], r[3]-r[1]
	}
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	line.Color = plotutil.Color(0)
	points.Color = plotutil.Color(0)
	bars, err := plotter.NewYErrorBars(errXY{pts, errs})
	if err != nil {
		return err
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labelsOf(pts)})
	if err != nil {
		return err
	}
	p.Add(plotter.NewGrid(), line, points, bars, labels)
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

func labelsOf(pts plotter.XYs) []string {
	l := make([]string, len(pts))
	for i, p := range pts {
		l[i] = "  " + strconv.FormatFloat(p.Y, 'g', 3, 64)
	}
	return l
}

// sample is one boot, as the builder's boot benchmarks write it.
type sample struct {
	Mode     string  `json:"mode"`
	Total    float64 `json:"total_s"`
	Firmware float64 `json:"firmware_s"`
	Kernel   float64 `json:"kernel_s"`
	Modules  float64 `json:"modules_s"`
	DataNet  float64 `json:"data_net_s"`
	Data     float64 `json:"data_s"`
	Net      float64 `json:"net_s"`
	Init     float64 `json:"init_s"`
	App      float64 `json:"app_s"`
	Off      float64 `json:"off_s"`
}

func readSamples(path string) (map[string][]sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string][]sample{}
	dec := json.NewDecoder(f)
	for {
		var s sample
		if err := dec.Decode(&s); err == io.EOF {
			return m, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		m[s.Mode] = append(m[s.Mode], s)
	}
}

var modes = []string{"uefi", "limit-uefi", "direct", "limit-direct"}

// part is one stacked segment of a boot.
type part struct {
	name string
	get  func(sample) float64
}

var parts = []part{
	{"QEMU + firmware + loader (to the kernel's clock)", func(s sample) float64 { return s.Firmware }},
	{"kernel (to init)", func(s sample) float64 { return s.Kernel }},
	{"init: modules", func(s sample) float64 { return s.Modules }},
	{"init: data volume || network", func(s sample) float64 { return s.DataNet }},
	{"init: rest", func(s sample) float64 { return s.Init }},
	{"app (to first 200)", func(s sample) float64 { return s.App }},
	{"power-off (limit)", func(s sample) float64 { return s.Off }},
}

// stats returns median, min and max of f over ss.
func stats(ss []sample, f func(sample) float64) (med, lo, hi float64) {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	sort.Float64s(v)
	n := len(v)
	if n == 0 {
		return 0, 0, 0
	}
	med = v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return med, v[0], v[n-1]
}

func bootBars(path string, m map[string][]sample) error {
	p := plot.New()
	p.Title.Text = "QEMU start to first HTTP 200 (limit: to power-off), medians"
	p.Y.Label.Text = "seconds"
	var present []string
	for _, mode := range modes {
		if len(m[mode]) > 0 {
			present = append(present, fmt.Sprintf("%s (n=%d)", mode, len(m[mode])))
		}
	}
	var below *plotter.BarChart
	for i, pt := range parts {
		var vals plotter.Values
		for _, mode := range modes {
			if len(m[mode]) > 0 {
				med, _, _ := stats(m[mode], pt.get)
				vals = append(vals, med)
			}
		}
		bar, err := plotter.NewBarChart(vals, vg.Points(40))
		if err != nil {
			return err
		}
		bar.Color = plotutil.Color(i)
		bar.LineStyle.Color = color.Black
		bar.LineStyle.Width = vg.Points(0.5)
		if below != nil {
			bar.StackOn(below)
		}
		below = bar
		p.Add(bar)
		p.Legend.Add(pt.name, bar)
	}
	p.Add(plotter.NewGrid())
	p.NominalX(present...)
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.XOffs = 0
	p.Y.Max *= 1.5 // room for the legend above the bars
	return p.Save(8*vg.Inch, 5.5*vg.Inch, path)
}

func bootTable(w io.Writer, m map[string][]sample) {
	f := func(ss []sample, get func(sample) float64) string {
		med, lo, hi := stats(ss, get)
		return fmt.Sprintf("%.2f (%.2f-%.2f)", med, lo, hi)
	}
	fmt.Fprintln(w, "| mode | n | total | firmware + loader | kernel | init: modules | init: data volume | init: network | data ‖ network | init: rest | app to 200 | power-off |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, mode := range modes {
		ss := m[mode]
		if len(ss) == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mode, len(ss),
			f(ss, func(s sample) float64 { return s.Total }),
			f(ss, func(s sample) float64 { return s.Firmware }),
			f(ss, func(s sample) float64 { return s.Kernel }),
			f(ss, func(s sample) float64 { return s.Modules }),
			f(ss, func(s sample) float64 { return s.Data }),
			f(ss, func(s sample) float64 { return s.Net }),
			f(ss, func(s sample) float64 { return s.DataNet }),
			f(ss, func(s sample) float64 { return s.Init }),
			f(ss, func(s sample) float64 { return s.App }),
			f(ss, func(s sample) float64 { return s.Off }))
	}
	fmt.Fprintln(w)
	for _, c := range []struct {
		mode, limit string
		budget      float64
		what        string
	}{{"uefi", "limit-uefi", 0.5, "UEFI boot to 200 within 0.5 s of the UEFI limit"}, {"direct", "limit-direct", 0, "direct boot to 200 <= 3 s"}} {
		if len(m[c.mode]) == 0 || len(m[c.limit]) == 0 {
			continue
		}
		got, glo, ghi := stats(m[c.mode], func(s sample) float64 { return s.Total })
		lim, llo, lhi := stats(m[c.limit], func(s sample) float64 { return s.Total })
		spread := max(ghi-glo, lhi-llo)
		// What the init and the app take, by the guest's clock (the
		// limit has none of it): its spread is small, unlike the host's.
		guest, _, _ := stats(m[c.mode], func(s sample) float64 { return s.Modules + s.DataNet + s.Init + s.App })
		var verdict string
		switch {
		case c.budget == 0 && got <= 3:
			verdict = "met"
		case c.budget == 0:
			verdict = "not met"
		case got-lim > c.budget && got-lim > spread:
			verdict = "not met"
		case got-lim > c.budget && guest > c.budget:
			verdict = fmt.Sprintf("not met: the init and the app alone take %.2f s by the guest's clock", guest)
		case spread > c.budget:
			// The difference of two medians whose runs spread over
			// more than the budget says nothing about the budget.
			verdict = fmt.Sprintf("not decidable in this run: the boots of one mode spread over %.2f s, more than the %.1f s budget", spread, c.budget)
		case got-lim <= c.budget:
			verdict = "met"
		default:
			verdict = "not met"
		}
		rel := fmt.Sprintf("%.2f s above it", got-lim)
		if got < lim {
			rel = fmt.Sprintf("%.2f s below it", lim-got)
		}
		fmt.Fprintf(w, "- %s: median %.2f s against a limit of %.2f s (%s, %.2fx the limit): %s.\n",
			c.what, got, lim, rel, got/lim, verdict)
	}
}

// appSample is one mkbootapp process of the builder's BenchmarkBuildApps
// (BOOTAPP_BENCH_APP_SAMPLES).
type appSample struct {
	App         string  `json:"app"`
	Input       string  `json:"input"`
	Kind        string  `json:"kind"` // warmup, build, vmdk-stream
	BuildS      float64 `json:"build_s"`
	RSSBytes    int64   `json:"rss_bytes"`
	RSSBound    bool    `json:"rss_bound"`
	VMDKBytes   int64   `json:"vmdk_bytes"`
	RootFSBytes int64   `json:"rootfs_bytes"`
	AppBytes    int64   `json:"app_bytes"`
	Runtime     string  `json:"runtime"`
}

// appRef is what an app's figures are held against: Boxfuse's published
// build time and image size for the same kind of app, and our targets
// (issue 10); a zero target is none.
type appRef struct {
	app, label          string
	boxfuseS, boxfuseMB float64
	targetS, targetMB   float64
}

var appRefs = []appRef{
	{"go", "Go", 0.52, 7, 0.3, 0},
	{"node", "Node.js", 2.5, 15, 1, 35},
	{"java", "Java (jar)", 3.8, 44, 1.5, 50},
}

func readAppSamples(path string) (map[string][]appSample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string][]appSample{}
	dec := json.NewDecoder(f)
	for {
		var s appSample
		if err := dec.Decode(&s); err == io.EOF {
			return m, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		m[s.App] = append(m[s.App], s)
	}
}

// appFigures are one app's figures from its samples.
type appFigures struct {
	input, runtime       string
	n                    int
	med, lo, hi          float64 // timed builds, s
	rssMB                float64 // largest peak RSS of the timed builds
	rssBound             bool    // rssMB is only an upper bound
	vmdkMB, rootfsMB     float64
	appMB                float64
	warmupS, vmdkBuildS  float64
	haveVMDK, haveWarmup bool
}

func figures(ss []appSample) appFigures {
	var f appFigures
	var builds []sample // stats works on samples: carry the seconds in Total
	for _, s := range ss {
		f.input = s.Input
		switch s.Kind {
		case "build":
			builds = append(builds, sample{Total: s.BuildS})
			if mb := float64(s.RSSBytes) / 1e6; mb > f.rssMB {
				f.rssMB, f.rssBound = mb, s.RSSBound
			}
		case "warmup":
			f.warmupS, f.haveWarmup = s.BuildS, true
		case "vmdk-stream":
			f.vmdkMB, f.rootfsMB, f.appMB = float64(s.VMDKBytes)/1e6, float64(s.RootFSBytes)/1e6, float64(s.AppBytes)/1e6
			f.vmdkBuildS, f.runtime, f.haveVMDK = s.BuildS, s.Runtime, true
		}
	}
	f.n = len(builds)
	f.med, f.lo, f.hi = stats(builds, func(s sample) float64 { return s.Total })
	return f
}

// verdict is "met" when got <= target, else "missed"; "no target" without
// one.
func verdict(got, target float64) string {
	switch {
	case target == 0:
		return "no target"
	case got <= target:
		return "met"
	default:
		return "missed"
	}
}

// appTable writes the apps' table: our build time, peak RSS and
// streamOptimized VMDK size next to Boxfuse's figures and our targets.
func appTable(w io.Writer, m map[string][]appSample) {
	fmt.Fprintln(w, "| app | build time | of Boxfuse's | peak RSS | streamOptimized VMDK | of Boxfuse's | Boxfuse: build, image | target | build | VMDK |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range appRefs {
		ss := m[r.app]
		if len(ss) == 0 {
			continue
		}
		f := figures(ss)
		build, ratioS, okS := "n/a", "", "n/a"
		if f.n > 0 {
			build = fmt.Sprintf("%.2f s (%.2f-%.2f)", f.med, f.lo, f.hi)
			ratioS = fmt.Sprintf("%.2fx", f.med/r.boxfuseS)
			okS = verdict(f.med, r.targetS)
		}
		rss := fmt.Sprintf("%.0f MB", f.rssMB)
		if f.rssBound {
			rss = "<= " + rss
		}
		vmdk, ratioMB, okMB := "n/a", "", verdict(0, r.targetMB)
		if f.haveVMDK {
			vmdk = fmt.Sprintf("%.1f MB", f.vmdkMB)
			ratioMB = fmt.Sprintf("%.2fx", f.vmdkMB/r.boxfuseMB)
			okMB = verdict(f.vmdkMB, r.targetMB)
		} else if r.targetMB != 0 {
			okMB = "n/a"
		}
		var target []string
		if r.targetS != 0 {
			target = append(target, fmt.Sprintf("build <= %g s", r.targetS))
		}
		if r.targetMB != 0 {
			target = append(target, fmt.Sprintf("VMDK <= %g MB", r.targetMB))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %g s, %g MB | %s | %s | %s |\n",
			r.label, build, ratioS, rss, vmdk, ratioMB, r.boxfuseS, r.boxfuseMB, strings.Join(target, ", "), okS, okMB)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| app | input | runtime | first build of the run | vmdk-stream build (boot disk only) | root file system (initramfs) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range appRefs {
		ss := m[r.app]
		if len(ss) == 0 {
			continue
		}
		f := figures(ss)
		rt := f.runtime
		if rt == "" {
			rt = "none (native)"
		}
		first, vb, root, input := "n/a", "n/a", "n/a", f.input
		if f.haveWarmup {
			first = fmt.Sprintf("%.2f s", f.warmupS)
		}
		if f.haveVMDK {
			vb = fmt.Sprintf("%.2f s", f.vmdkBuildS)
			root = fmt.Sprintf("%.1f MB", f.rootfsMB)
			input = fmt.Sprintf("%s, %s", f.input, humanMB(f.appMB))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.label, input, rt, first, vb, root)
	}
}

// humanMB formats a size in MB, small ones in kB.
func humanMB(mb float64) string {
	if mb < 0.1 {
		return fmt.Sprintf("%.1f kB", mb*1e3)
	}
	return fmt.Sprintf("%.1f MB", mb)
}

// appBars draws our median build time and VMDK size beside Boxfuse's and
// the target, per app, as two bar charts side by side in one PNG.
func appBars(path string, m map[string][]appSample) error {
	var labels []string
	var ours, box, target [2]plotter.Values
	for _, r := range appRefs {
		if len(m[r.app]) == 0 {
			continue
		}
		f := figures(m[r.app])
		labels = append(labels, r.label)
		ours[0], box[0], target[0] = append(ours[0], f.med), append(box[0], r.boxfuseS), append(target[0], r.targetS)
		ours[1], box[1], target[1] = append(ours[1], f.vmdkMB), append(box[1], r.boxfuseMB), append(target[1], r.targetMB)
	}
	if len(labels) == 0 {
		return fmt.Errorf("no app samples")
	}
	titles := [2]string{"Build time, fresh process, warm cache (s)", "Boot image, streamOptimized VMDK (MB)"}
	plots := [][]*plot.Plot{make([]*plot.Plot, 2)}
	for i := range 2 {
		p := plot.New()
		p.Title.Text = titles[i]
		w := vg.Points(18)
		for j, series := range []struct {
			name string
			v    plotter.Values
		}{{"bootapp", ours[i]}, {"Boxfuse (published)", box[i]}, {"target (0: none)", target[i]}} {
			bar, err := plotter.NewBarChart(series.v, w)
			if err != nil {
				return err
			}
			bar.Color = plotutil.Color(j)
			bar.LineStyle.Width = 0
			bar.Offset = vg.Length(j-1) * w
			p.Add(bar)
			p.Legend.Add(series.name, bar)
		}
		p.Add(plotter.NewGrid())
		p.NominalX(labels...)
		p.Legend.Top = true
		p.Y.Max *= 1.4 // room for the legend
		plots[0][i] = p
	}
	img := vgimg.New(11*vg.Inch, 4.5*vg.Inch)
	dc := draw.New(img)
	t := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, t, dc)
	for i := range 2 {
		plots[0][i].Draw(canvases[0][i])
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
