package qemu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/testutil"
)

// fakeQEMU returns the path of testdata/fakeqemu.py, a stand-in for QEMU
// that serves QMP, and a disk image for Config.Disks.
func fakeQEMU(t *testing.T) (bin, disk string) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 is needed for the fake QEMU: %v", err)
	}
	bin, err := filepath.Abs("testdata/fakeqemu.py")
	if err != nil {
		t.Fatal(err)
	}
	disk = filepath.Join(t.TempDir(), "boot.raw")
	if err := os.WriteFile(disk, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	return bin, disk
}

// checkGone fails when the process still exists or the work dir has files.
func checkGone(t *testing.T, vm *VM, work string) {
	t.Helper()
	if err := vm.cmd.Process.Signal(syscall.Signal(0)); err == nil {
		t.Errorf("QEMU process %d still exists", vm.cmd.Process.Pid)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("work dir %s not cleaned: %v", work, left)
	}
}

func TestFakeLifecycle(t *testing.T) {
	tests := []struct {
		name        string
		accel       string
		kvm         bool
		ignoreACPI  bool
		kvmError    bool // KVM starts, then stops with an internal error
		kvmAbort    bool // QEMU aborts with KVM (an assertion and a dump)
		end         func(ctx context.Context, cancel context.CancelFunc, vm *VM) error
		wantAccel   string
		wantEndErr  error
		wantWaitErr error
	}{
		{name: "auto falls back from KVM to TCG, ACPI stop", accel: "auto", kvm: true, wantAccel: "tcg",
			end: func(ctx context.Context, _ context.CancelFunc, vm *VM) error { return vm.Stop(ctx, 10*time.Second) }},
		{name: "auto falls back when KVM stops with an internal error", accel: "auto", kvm: true, kvmError: true, wantAccel: "tcg",
			end: func(ctx context.Context, _ context.CancelFunc, vm *VM) error { return vm.Stop(ctx, 10*time.Second) }},
		{name: "auto falls back when QEMU aborts with KVM", accel: "auto", kvm: true, kvmAbort: true, wantAccel: "tcg",
			end: func(ctx context.Context, _ context.CancelFunc, vm *VM) error { return vm.Stop(ctx, 10*time.Second) }},
		{name: "powerdown then wait", accel: "tcg", wantAccel: "tcg",
			end: func(ctx context.Context, _ context.CancelFunc, vm *VM) error {
				if err := vm.Powerdown(ctx); err != nil {
					return err
				}
				return vm.Wait()
			}},
		{name: "guest ignores ACPI: killed after grace", ignoreACPI: true, wantAccel: "tcg",
			end: func(ctx context.Context, _ context.CancelFunc, vm *VM) error {
				return vm.Stop(ctx, 1500*time.Millisecond)
			},
			wantEndErr: ErrKilled, wantWaitErr: ErrKilled},
		{name: "kill", wantAccel: "tcg",
			end:         func(ctx context.Context, _ context.CancelFunc, vm *VM) error { vm.Kill(); return nil },
			wantWaitErr: ErrKilled},
		{name: "context cancelled", wantAccel: "tcg",
			end: func(ctx context.Context, cancel context.CancelFunc, vm *VM) error {
				cancel()
				<-vm.Done()
				return nil
			},
			wantWaitErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bin, disk := fakeQEMU(t)
			for suffix, on := range map[string]bool{".kvm-internal-error": tt.kvmError, ".kvm-abort": tt.kvmAbort, ".ignore-acpi": tt.ignoreACPI} {
				if on {
					fakeMode(t, disk, suffix)
				}
			}
			work := t.TempDir()
			var console strings.Builder
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			vm, err := start(ctx, Config{Disks: []Disk{{Path: disk}}, Binary: bin, Accel: tt.accel, WorkDir: work,
				Console: &console, Forwards: []Forward{{GuestPort: 80}}}, &kvmState{usable: func() (bool, string) { return tt.kvm, "test" }})
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Kill()
			if vm.Accel() != tt.wantAccel {
				t.Errorf("Accel = %q, want %q", vm.Accel(), tt.wantAccel)
			}
			switch why := vm.WhyNotKVM(); {
			case tt.accel == "tcg" && why != "":
				t.Errorf("WhyNotKVM with Accel tcg = %q, want empty", why)
			case tt.accel != "tcg" && tt.kvm && !strings.HasPrefix(why, "QEMU failed with KVM: "):
				t.Errorf("WhyNotKVM after the KVM failure = %q, want QEMU's failure", why)
			case tt.accel != "tcg" && !tt.kvm && why != "test":
				t.Errorf("WhyNotKVM without KVM = %q, want the probe's reason", why)
			}
			if !strings.HasPrefix(vm.Forwarded(80), "127.0.0.1:") {
				t.Errorf("Forwarded(80) = %q", vm.Forwarded(80))
			}
			err = tt.end(context.Background(), cancel, vm)
			if tt.wantEndErr == nil && err != nil || tt.wantEndErr != nil && !errors.Is(err, tt.wantEndErr) {
				t.Errorf("end = %v, want %v", err, tt.wantEndErr)
			}
			werr := vm.Wait()
			if tt.wantWaitErr == nil && werr != nil || tt.wantWaitErr != nil && !errors.Is(werr, tt.wantWaitErr) {
				t.Errorf("Wait = %v, want %v", werr, tt.wantWaitErr)
			}
			if !strings.Contains(vm.ConsoleTail(), "fake console: booted") {
				t.Errorf("ConsoleTail = %q", vm.ConsoleTail())
			}
			if !strings.Contains(console.String(), "fake console: booted") {
				t.Errorf("Console = %q", console.String())
			}
			if tt.kvm {
				checkKVMNotice(t, console.String())
			}
			checkGone(t, vm, work)
			// Methods after exit are harmless.
			vm.Kill()
			if err := vm.Powerdown(context.Background()); err != nil {
				t.Errorf("Powerdown after exit: %v", err)
			}
		})
	}
}

func TestFakeExplicitKVMFails(t *testing.T) {
	bin, disk := fakeQEMU(t)
	work := t.TempDir()
	_, err := start(context.Background(), Config{Disks: []Disk{{Path: disk}}, Binary: bin, Accel: "kvm", WorkDir: work},
		&kvmState{usable: func() (bool, string) { return true, "" }})
	if err == nil || !strings.Contains(err.Error(), "Could not access KVM") {
		t.Fatalf("err = %v, want QEMU's KVM message", err)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("work dir %s not cleaned: %v", work, left)
	}
}

// fakeMode switches a behaviour of the fake QEMU on (see fakeqemu.py).
func fakeMode(t *testing.T, disk, suffix string) {
	t.Helper()
	if err := os.WriteFile(disk+suffix, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkKVMNotice fails unless the console says in exactly one line, with
// no dump, that KVM failed and TCG is used.
func checkKVMNotice(t *testing.T, console string) {
	t.Helper()
	if n := strings.Count(console, "KVM is present but failed ("); n != 1 {
		t.Errorf("console has %d KVM notices, want 1:\n%s", n, console)
	}
	if !strings.Contains(console, "); using TCG]\n") {
		t.Errorf("the KVM notice does not say TCG is used:\n%s", console)
	}
	if strings.Contains(console, "RAX=") || strings.Contains(console, "emulation failure") {
		t.Errorf("QEMU's dump reached the console:\n%s", console)
	}
}

// TestFakeKVMFailureRemembered checks that after QEMU failed with KVM once,
// later VMs of the process (sharing the host's KVM state) start with TCG
// at once and say nothing more, also when started concurrently.
func TestFakeKVMFailureRemembered(t *testing.T) {
	bin, disk := fakeQEMU(t)
	fakeMode(t, disk, ".kvm-abort")
	kvm := &kvmState{usable: func() (bool, string) { return true, "" }}
	boot := func(t *testing.T) (accel, console string) {
		var out testutil.SyncBuffer
		vm, err := start(context.Background(), Config{Disks: []Disk{{Path: disk}}, Binary: bin, WorkDir: t.TempDir(), Console: &out}, kvm)
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Stop(context.Background(), 10*time.Second); err != nil {
			t.Errorf("Stop: %v", err)
		}
		return vm.Accel(), out.String()
	}
	accel, console := boot(t)
	if accel != "tcg" {
		t.Fatalf("first VM: accel %q, want tcg", accel)
	}
	checkKVMNotice(t, console)
	why := kvm.failure()
	if !strings.Contains(why, "Assertion") || strings.Contains(why, "\n") {
		t.Errorf("remembered reason %q, want the assertion line", why)
	}
	if !strings.Contains(console, why) {
		t.Errorf("the notice does not quote %q:\n%s", why, console)
	}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			accel, console := boot(t)
			if accel != "tcg" || strings.Contains(console, "KVM") {
				t.Errorf("later VM: accel %q, console %q; want tcg without trying KVM", accel, console)
			}
		}()
	}
	wg.Wait()
}

func TestFirstLine(t *testing.T) {
	tests := map[string]string{
		"":                     "",
		"one":                  "one",
		"\n  \n two \nthree\n": "two",
	}
	for in, want := range tests {
		if got := firstLine(in); got != want {
			t.Errorf("firstLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStartDefaultWorkDirRemoved(t *testing.T) {
	bin, disk := fakeQEMU(t)
	t.Setenv("TMPDIR", t.TempDir())
	vm, err := Start(context.Background(), Config{Disks: []Disk{{Path: disk}}, Binary: bin, Accel: "tcg"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(vm.qmpPath)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("work dir missing while running: %v", err)
	}
	if err := vm.Stop(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary work dir %s still exists: %v", dir, err)
	}
}

// TestFakeDirectBoot starts the fake QEMU with a direct kernel boot: the
// kernel and initramfs are files in the work directory while QEMU runs,
// with the command line passed verbatim and no firmware attached, and
// they are gone once it exited, on a clean stop and on a kill.
func TestFakeDirectBoot(t *testing.T) {
	for _, end := range []string{"stop", "kill"} {
		t.Run(end, func(t *testing.T) {
			bin, disk := fakeQEMU(t)
			work := t.TempDir()
			var console testutil.SyncBuffer
			bf := &image.BootFiles{Kernel: make([]byte, 1234), Initrd: make([]byte, 567),
				Cmdline: "console=ttyS0,115200 panic=-1 a='b c'", Loader: []byte("unused"), Title: "unused"}
			vm, err := start(context.Background(), Config{Disks: []Disk{{Path: disk, ReadOnly: true}}, Direct: bf,
				Binary: bin, Accel: "tcg", WorkDir: work, Console: &console}, &kvmState{usable: func() (bool, string) { return false, "test" }})
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Kill()
			for _, f := range []string{"linux", "initrd"} {
				if _, err := os.Stat(filepath.Join(work, f)); err != nil {
					t.Errorf("while QEMU runs: %v", err)
				}
			}
			if end == "stop" {
				if err := vm.Stop(context.Background(), 10*time.Second); err != nil {
					t.Errorf("Stop: %v", err)
				}
			} else {
				vm.Kill()
			}
			want := `fake console: direct boot: kernel 1234 bytes, initrd 567 bytes, append "console=ttyS0,115200 panic=-1 a='b c'", pflash False`
			if !strings.Contains(console.String(), want) {
				t.Errorf("console:\n%s\nwant a line %s", console.String(), want)
			}
			checkGone(t, vm, work)
		})
	}
}
