package builder

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/qemu"
	"github.com/bootapp/bootapp/internal/testutil"
)

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
// disk plus a 1 GiB raw data volume, and reports the output sizes.
func BenchmarkBuild(b *testing.B) {
	cache, kdeb, ldeb := benchInputs(b)
	app := benchApp(b)
	for _, tc := range []struct {
		name    string
		formats []image.Format
		data    bool
	}{
		{"raw+data", []image.Format{image.Raw}, true},
		{"raw", []image.Format{image.Raw}, false},
		{"vmdk-stream", []image.Format{image.VMDKStream}, false},
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
// from examples/hello.
func BenchmarkBootToHTTP(b *testing.B) {
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
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		start := time.Now()
		vm, err := qemu.Start(ctx, qemu.Config{
			Disks:    []qemu.Disk{{Path: res.Files[0].Path, ReadOnly: true}, {Path: res.Files[1].Path}},
			Forwards: []qemu.Forward{{GuestPort: 8080}},
		})
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		if err := qemu.WaitHTTP(ctx, "http://"+vm.Forwarded(8080)+"/healthz", func(s int) bool { return s == 200 }); err != nil {
			vm.Kill()
			cancel()
			b.Fatalf("%v\n%s", err, vm.ConsoleTail())
		}
		total += time.Since(start)
		b.StopTimer()
		vm.Stop(ctx, 30*time.Second)
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-200")
}

// BenchmarkBootToHTTPDirect measures QEMU start to the first HTTP 200 from
// examples/hello with a direct kernel boot (`mkbootapp run --direct`): the
// kernel, initramfs and command line read from the boot disk's ESP, no
// firmware and no boot loader, the same disks attached. Reading the ESP
// (a few milliseconds) is outside the timed part.
func BenchmarkBootToHTTPDirect(b *testing.B) {
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
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		start := time.Now()
		vm, err := qemu.Start(ctx, qemu.Config{
			Disks:    []qemu.Disk{{Path: res.Files[0].Path, ReadOnly: true}, {Path: res.Files[1].Path}},
			Forwards: []qemu.Forward{{GuestPort: 8080}},
			Direct:   boot,
		})
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		if err := qemu.WaitHTTP(ctx, "http://"+vm.Forwarded(8080)+"/healthz", func(s int) bool { return s == 200 }); err != nil {
			vm.Kill()
			cancel()
			b.Fatalf("%v\n%s", err, vm.ConsoleTail())
		}
		total += time.Since(start)
		b.StopTimer()
		vm.Stop(ctx, 30*time.Second)
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-200")
}
