package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/qemu"
)

// ErrUnhealthy reports that a verified image never became healthy: the app
// did not answer the health check within its timeout, or the VM powered off
// before it did.
var ErrUnhealthy = errors.New("app never became healthy")

// ErrNoShutdown reports that a verified image became healthy but did not
// power off after the ACPI power button was pressed.
var ErrNoShutdown = errors.New("VM did not shut down on ACPI power-off")

// ErrNoBootDisk reports that a Result holds no boot disk QEMU can boot
// (raw, qcow2 or monolithicSparse VMDK).
var ErrNoBootDisk = errors.New("no bootable disk format in the build result")

// ConsoleLines is how many console lines a verification error shows.
const ConsoleLines = 100

// Options tune Run. The zero value is ready to use.
type Options struct {
	// Health overrides the result's Spec.Health. When both are nil, the
	// first of Spec.App.Ports is checked with a TCP connection.
	Health *builder.HealthCheck
	// Console receives the serial console as the VM runs. Nil discards
	// it; the report keeps it anyway.
	Console io.Writer
	// Accel is the QEMU accelerator: "auto" (default), "kvm" or "tcg".
	Accel string
	// MemoryMB and CPUs size the VM (defaults: the memory the build
	// chose, Result.GuestMemory, and 2 CPUs).
	MemoryMB int
	CPUs     int
	// ShutdownTimeout bounds the clean power-off after the app is healthy.
	// Default: the app's StopTimeout (10 s when unset) plus 30 s.
	ShutdownTimeout time.Duration
	// WorkDir holds the scratch data volume and QEMU's files. Default: a
	// temporary directory, removed afterwards.
	WorkDir string
}

// Report tells how a verification went. Run returns it also on failure,
// when the VM was started, so the console log is at hand.
type Report struct {
	// BootDisk is the image that was booted.
	BootDisk string
	// Health is the check that was applied, defaults filled in.
	Health builder.HealthCheck
	// Accel is the QEMU accelerator used: "kvm" or "tcg".
	Accel string
	// BootToHealthy is the time from QEMU's start to the first healthy
	// answer.
	BootToHealthy time.Duration
	// Shutdown is the time from the ACPI power button to QEMU's exit.
	Shutdown time.Duration
	// Total is the whole verification, scratch copy included.
	Total time.Duration
	// Console is the serial console output (its last 256 KiB).
	Console string
}

// Run boots the freshly built image of res in QEMU with a scratch copy of
// its data volume (the built one stays pristine), waits until the health
// check passes, then powers the VM off through ACPI and waits for QEMU to
// exit: an app that never becomes healthy, or a VM that does not shut down,
// fails verification with the last console lines in the error (wrapping
// ErrUnhealthy or ErrNoShutdown). A VM that powers off before the app is
// healthy (the app exited at start) fails at once rather than at the
// timeout. The boot disk is attached read-only.
func Run(ctx context.Context, res *builder.Result, opts Options) (rep *Report, err error) {
	start := time.Now()
	if res == nil {
		return nil, errors.New("verify: nil build result")
	}
	hc, err := healthCheck(res, opts.Health)
	if err != nil {
		return nil, err
	}
	boot, err := pickDisk(res.Files, builder.RoleBoot)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w: build a raw, qcow2 or vmdk boot disk", res.Manifest, err)
	}

	work, err := os.MkdirTemp(opts.WorkDir, "bootapp-verify-")
	if err != nil {
		return nil, fmt.Errorf("verify: create scratch directory: %w", err)
	}
	defer os.RemoveAll(work)

	disks := []qemu.Disk{{Path: boot.Path, Format: boot.Format, ReadOnly: true}}
	if data, err := pickDisk(res.Files, builder.RoleData); err == nil {
		scratch := filepath.Join(work, "data"+data.Format.Ext())
		if err := copyScratch(ctx, scratch, data); err != nil {
			return nil, err
		}
		disks = append(disks, qemu.Disk{Path: scratch, Format: data.Format})
	}

	mem, warning := res.GuestMemory(opts.MemoryMB)
	if warning != "" && opts.Console != nil {
		fmt.Fprintf(opts.Console, "verify: warning: %s\n", warning)
	}
	rep = &Report{BootDisk: boot.Path, Health: hc}
	defer func() { rep.Total = time.Since(start) }()
	bootStart := time.Now()
	vm, err := qemu.Start(ctx, qemu.Config{
		Disks:    disks,
		MemoryMB: mem,
		CPUs:     opts.CPUs,
		Forwards: []qemu.Forward{{GuestPort: hc.Port}},
		Console:  opts.Console,
		Accel:    opts.Accel,
		WorkDir:  filepath.Join(work, "qemu"),
	})
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", boot.Path, err)
	}
	defer vm.Kill() // a no-op once QEMU has exited
	rep.Accel = vm.Accel()
	defer func() { rep.Console = vm.ConsoleTail() }()

	// Wait for health, but give up as soon as QEMU exits.
	hctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	exited := make(chan struct{})
	go func() {
		select {
		case <-vm.Done():
			close(exited)
			cancel()
		case <-hctx.Done():
		}
	}()
	addr := vm.Forwarded(hc.Port)
	var herr error
	if hc.Path != "" {
		herr = qemu.WaitHTTP(hctx, "http://"+addr+hc.Path, nil)
	} else {
		herr = qemu.WaitTCP(hctx, addr)
	}
	if herr != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("verify %s: %w", boot.Path, ctx.Err())
		}
		select {
		case <-exited:
			<-vm.Done()
			werr := vm.Wait()
			why := "the guest powered off"
			if werr != nil {
				why = werr.Error()
			}
			return rep, verifyError(ErrUnhealthy, vm.ConsoleTail(),
				"VM stopped after %s before the app became healthy (%s: did the app exit at start?); expected %s",
				time.Since(bootStart).Round(time.Millisecond), why, describeHealth(hc))
		default:
		}
		last := ""
		var se *qemu.StatusError
		if errors.As(herr, &se) {
			last = "; last status " + strconv.Itoa(se.Status)
		}
		return rep, verifyError(ErrUnhealthy, vm.ConsoleTail(), "app never answered %s within %s%s",
			describeHealth(hc), hc.Timeout, last)
	}
	rep.BootToHealthy = time.Since(bootStart)

	grace := opts.ShutdownTimeout
	if grace <= 0 {
		stop := res.Spec.App.StopTimeout
		if stop <= 0 {
			stop = 10 * time.Second
		}
		grace = stop + 30*time.Second
	}
	downStart := time.Now()
	serr := vm.Stop(ctx, grace)
	rep.Shutdown = time.Since(downStart)
	if serr != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("verify %s: %w", boot.Path, ctx.Err())
		}
		return rep, verifyError(ErrNoShutdown, vm.ConsoleTail(),
			"app was healthy after %s, but the VM did not power off within %s of the ACPI power button (%v): the init must stop the app and power off",
			rep.BootToHealthy.Round(time.Millisecond), grace, serr)
	}
	return rep, nil
}

// verifyError formats a verification failure with the console tail.
func verifyError(kind error, console, format string, args ...any) error {
	tail := qemu.LastLines(console, ConsoleLines)
	if strings.TrimSpace(tail) == "" {
		tail = "(no console output)\n"
	} else if !strings.HasSuffix(tail, "\n") {
		tail += "\n"
	}
	return fmt.Errorf("verify: %w: %s\n--- console (last %d lines) ---\n%s--- end of console ---",
		kind, fmt.Sprintf(format, args...), ConsoleLines, tail)
}

// describeHealth says what a healthy app does, for error messages.
func describeHealth(h builder.HealthCheck) string {
	if h.Path == "" {
		return fmt.Sprintf("a TCP connection on port %d", h.Port)
	}
	return fmt.Sprintf("2xx on GET %s port %d", h.Path, h.Port)
}

// healthCheck picks the health check and fills in its defaults.
func healthCheck(res *builder.Result, override *builder.HealthCheck) (builder.HealthCheck, error) {
	var hc builder.HealthCheck
	switch {
	case override != nil:
		hc = *override
	case res.Spec.Health != nil:
		hc = *res.Spec.Health
	}
	if hc.Port == 0 && len(res.Spec.App.Ports) > 0 {
		hc.Port = res.Spec.App.Ports[0]
	}
	if hc.Port < 1 || hc.Port > 65535 {
		return hc, &builder.FieldError{Field: "health.port", Err: builder.ErrInvalidSpec,
			Msg: "no health check port for verify: give the health check a port, or the app one"}
	}
	if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
		return hc, &builder.FieldError{Field: "health.path", Err: builder.ErrInvalidSpec,
			Msg: fmt.Sprintf("health check path %q must start with '/'", hc.Path)}
	}
	if hc.Timeout <= 0 {
		hc.Timeout = builder.DefaultHealthTimeout
	}
	return hc, nil
}

// pickDisk returns the file of the given role in the most preferred of
// qemu.BootFormats.
func pickDisk(files []builder.File, role builder.Role) (builder.File, error) {
	for _, f := range qemu.BootFormats() {
		for _, file := range files {
			if file.Role == role && file.Format == f {
				return file, nil
			}
		}
	}
	if role == builder.RoleBoot {
		return builder.File{}, ErrNoBootDisk
	}
	return builder.File{}, fmt.Errorf("no %s disk in a format QEMU can attach", role)
}

// copyScratch copies the built data volume to dst, keeping raw images
// sparse, so the VM writes into a throw-away copy.
func copyScratch(ctx context.Context, dst string, f builder.File) error {
	if f.Format == image.Raw {
		if err := image.Encode(ctx, image.Raw, dst, f.Path); err != nil {
			return fmt.Errorf("verify: scratch copy of data volume %s: %w", f.Path, err)
		}
		return nil
	}
	in, err := os.Open(f.Path)
	if err != nil {
		return fmt.Errorf("verify: scratch copy of data volume: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("verify: scratch copy of data volume: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("verify: scratch copy of data volume %s to %s: %w", f.Path, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("verify: scratch copy of data volume to %s: %w", dst, err)
	}
	return nil
}
