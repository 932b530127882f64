package qemu_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/qemu"
	"github.com/bootapp/bootapp/internal/qemu/qemutest"
	"github.com/bootapp/bootapp/internal/testutil"
)

func needE2E(t *testing.T) {
	t.Helper()
	testutil.NeedE2E(t, "boots QEMU (about 10 s under TCG)")
	if _, err := qemu.FindQEMU(""); err != nil {
		t.Fatal(err)
	}
}

// TestE2EBootPowerOff boots a UEFI disk whose init prints a marker and
// powers off: QEMU must exit by itself with the marker on the console, and
// leave no files behind.
func TestE2EBootPowerOff(t *testing.T) {
	needE2E(t)
	disk := qemutest.BuildDisk(t, t.TempDir(), qemutest.Options{Mode: qemutest.PowerOff})
	work := t.TempDir()
	var console testutil.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	vm, err := qemu.Start(ctx, qemu.Config{
		Disks:   []qemu.Disk{{Path: disk, Format: "raw"}},
		Console: &console,
		WorkDir: work,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(); err != nil {
		t.Fatalf("Wait: %v\nconsole:\n%s", err, console.String())
	}
	t.Logf("boot to power-off: %s (accel %s)", time.Since(start).Round(time.Millisecond), vm.Accel())
	if !strings.Contains(console.String(), qemutest.Marker) {
		t.Fatalf("console lacks %q:\n%s", qemutest.Marker, console.String())
	}
	if !strings.Contains(vm.ConsoleTail(), qemutest.Marker) {
		t.Errorf("ConsoleTail lacks the marker")
	}
	left, _ := os.ReadDir(work)
	if len(left) != 0 {
		t.Errorf("work dir %s not cleaned: %v", work, left)
	}
}

// TestE2EServeForwardStop boots a guest that serves HTTP, reaches it through
// the forwarded port, then stops it through ACPI: the guest must power off
// by itself (no kill).
func TestE2EServeForwardStop(t *testing.T) {
	needE2E(t)
	disk := qemutest.BuildDisk(t, t.TempDir(), qemutest.Options{Mode: qemutest.Serve, Port: 8080})
	var console testutil.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	vm, err := qemu.Start(ctx, qemu.Config{
		Disks:    []qemu.Disk{{Path: disk}},
		Forwards: []qemu.Forward{{GuestPort: 8080}},
		Console:  &console,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Kill()
	addr := vm.Forwarded(8080)
	if addr == "" || vm.Forwarded(9999) != "" {
		t.Fatalf("Forwarded(8080) = %q, Forwarded(9999) = %q", addr, vm.Forwarded(9999))
	}
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	defer wcancel()
	if err := qemu.WaitHTTP(wctx, "http://"+addr+"/", nil); err != nil {
		t.Fatalf("WaitHTTP: %v\nconsole:\n%s", err, console.String())
	}
	if err := qemu.WaitTCP(wctx, addr); err != nil {
		t.Fatalf("WaitTCP: %v", err)
	}
	t.Logf("boot to HTTP 200: %s (accel %s)", time.Since(start).Round(time.Millisecond), vm.Accel())
	stopStart := time.Now()
	if err := vm.Stop(ctx, 30*time.Second); err != nil {
		t.Fatalf("Stop: %v\nconsole:\n%s", err, console.String())
	}
	t.Logf("ACPI stop: %s", time.Since(stopStart).Round(time.Millisecond))
	if !strings.Contains(console.String(), "qemutest: power button pressed") {
		t.Fatalf("guest did not see the power button:\n%s", console.String())
	}
	if err := vm.Wait(); err != nil {
		t.Fatalf("Wait after Stop: %v", err)
	}
}

// TestE2EContextCancelKills checks that cancelling Start's context kills
// QEMU and that Wait reports it.
func TestE2EContextCancelKills(t *testing.T) {
	needE2E(t)
	disk := qemutest.BuildDisk(t, t.TempDir(), qemutest.Options{Mode: qemutest.Serve})
	ctx, cancel := context.WithCancel(context.Background())
	vm, err := qemu.Start(ctx, qemu.Config{Disks: []qemu.Disk{{Path: disk}}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-vm.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("QEMU still running 10 s after the context was cancelled")
	}
	if err := vm.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
}

// BenchmarkBootPowerOff measures QEMU start to guest power-off for the
// smallest UEFI guest (firmware, systemd-boot, kernel, a Go init): the
// floor under every boot-based check (Verify, `mkbootapp run`).
func BenchmarkBootPowerOff(b *testing.B) {
	testutil.NeedE2E(b, "boots QEMU")
	disk := qemutest.BuildDisk(b, b.TempDir(), qemutest.Options{Mode: qemutest.PowerOff})
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		vm, err := qemu.Start(context.Background(), qemu.Config{Disks: []qemu.Disk{{Path: disk, ReadOnly: true}}})
		if err != nil {
			b.Fatal(err)
		}
		if err := vm.Wait(); err != nil {
			b.Fatalf("%v\n%s", err, vm.ConsoleTail())
		}
		total += time.Since(start)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/boot")
}
