package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/qemu"
	"github.com/spf13/cobra"
)

// runFlags are the flags of `mkbootapp run`.
type runFlags struct {
	memory int
	cpus   int
	ports  []string
	data   string
	noData bool
	accel  string
	grace  time.Duration
	direct bool
	env    []string
	args   []string
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run <output dir | manifest.json | boot image>",
		Short: "Boot an image in QEMU with its data volume, ports forwarded to loopback",
		Long: `Boot a built image in QEMU (KVM when usable, else TCG; UEFI with OVMF), with
the data volume attached read-write, the app's ports forwarded to 127.0.0.1
(the same port number when it is free, else a free one), and the serial
console streamed to stdout. Ctrl-C presses the ACPI power button and waits
for the guest to power off (then kills QEMU after --grace); a second Ctrl-C
kills QEMU at once.

From an output directory or manifest the boot disk (raw preferred), the data
volume and the ports come from the manifest. A boot image given directly
uses the manifest beside it when it lists the image.

--direct is for the edit-build-run loop (QEMU's direct kernel boot): it
reads the kernel, initramfs and command line out of the boot disk's EFI
system partition (read-only, into a temporary directory removed afterwards)
and has QEMU load them itself (-kernel, -initrd, -append). The guest gets
the same machine, disks (the boot disk attached read-only), data volume,
NIC and ports, but neither UEFI firmware (with its GPT and FAT drivers) nor
systemd-boot runs, which saves most of the boot time under emulation. So it
does not catch a boot disk that firmware cannot boot (a broken partition
table, file system, loader or entry): it is no substitute for a plain run or
` + "`mkbootapp build --verify`" + ` before a release. It needs the raw boot disk.`,
		Example: `  mkbootapp run output
  mkbootapp run --direct output             # the fast loop: no firmware, no boot loader
  mkbootapp run output/hello.manifest.json --memory 1024 --port 18080:8080
  mkbootapp run hello.qcow2 --data hello-data.raw --port 8080`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImage(cmd.Context(), args[0], f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.memory, "memory", 0, "guest memory in MiB (default: what the build chose for the image, see its manifest's memory_mib; 512 without a manifest)")
	fl.IntVar(&f.cpus, "cpus", 2, "number of virtual CPUs")
	fl.StringArrayVar(&f.ports, "port", nil, "forward a port: HOST:GUEST, or PORT for the same number (repeatable; HOST 0 picks a free port)")
	fl.StringVar(&f.data, "data", "", "data volume image to attach (default: the manifest's)")
	fl.BoolVar(&f.noData, "no-data", false, "attach no data volume")
	fl.StringVar(&f.accel, "accel", "auto", "QEMU accelerator: auto, kvm or tcg")
	fl.BoolVar(&f.direct, "direct", false, "boot the disk's kernel and initramfs directly, without UEFI firmware and boot loader (faster; does not test the boot disk, see above)")
	fl.DurationVar(&f.grace, "grace", 0, "how long to wait for the guest to power off after Ctrl-C before killing QEMU (default: the app's stop timeout + 20s)")
	fl.StringArrayVar(&f.env, "env", nil, "KEY=VALUE for the app's environment on this boot, over the built-in one (repeatable; no rebuild: passed through QEMU's fw_cfg)")
	fl.StringArrayVar(&f.args, "arg", nil, "argument for the app on this boot; any --arg replaces the built-in arguments (repeatable)")
	return cmd
}

// runPlan is what runImage boots, resolved from the argument and flags.
type runPlan struct {
	boot     qemu.Disk
	data     *qemu.Disk
	forwards []qemu.Forward
	grace    time.Duration
	memory   int // MiB
	warnings []string
}

// runImage boots the image at target until the guest powers off or ctx is
// cancelled, which powers it off through ACPI.
func runImage(ctx context.Context, target string, f runFlags, stdout, stderr io.Writer) error {
	plan, err := planRun(target, f)
	if err != nil {
		return err
	}
	for _, w := range plan.warnings {
		fmt.Fprintf(stderr, "mkbootapp: warning: %s\n", w)
	}
	disks := []qemu.Disk{plan.boot}
	if plan.data != nil {
		disks = append(disks, *plan.data)
	}
	var direct *image.BootFiles
	if f.direct {
		// QEMU gets its own copies of the kernel and initramfs in its
		// work directory (removed when it exits); the disk is only read.
		if direct, err = image.ReadBootDisk(plan.boot.Path); err != nil {
			return fmt.Errorf("run --direct: %w", err)
		}
	}
	// QEMU must outlive ctx: cancelling ctx (Ctrl-C) means "power off
	// cleanly", not "kill", so the VM gets a context of its own.
	vmCtx, cancelVM := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelVM()
	fwCfg, err := runConfig(f.env, f.args)
	if err != nil {
		return err
	}
	vm, err := qemu.Start(vmCtx, qemu.Config{
		FwCfg:    fwCfg,
		Disks:    disks,
		MemoryMB: plan.memory,
		CPUs:     f.cpus,
		Forwards: plan.forwards,
		Console:  stdout,
		Accel:    f.accel,
		Direct:   direct,
	})
	if err != nil {
		return fmt.Errorf("run %s: %w", target, err)
	}
	defer vm.Kill()
	how := ""
	if direct != nil {
		how = ", direct kernel boot: no UEFI firmware or boot loader"
	}
	fmt.Fprintf(stderr, "mkbootapp: booting %s (accel %s%s)", plan.boot.Path, vm.Accel(), how)
	if plan.data != nil {
		fmt.Fprintf(stderr, " with data volume %s", plan.data.Path)
	}
	fmt.Fprintln(stderr)
	if why := vm.WhyNotKVM(); why != "" {
		fmt.Fprintf(stderr, "mkbootapp: TCG, not KVM: %s\n", why)
	}
	for _, fw := range vm.Forwards() {
		fmt.Fprintf(stderr, "mkbootapp: port %d -> %s:%d\n", fw.GuestPort, fw.HostAddr, fw.HostPort)
	}
	fmt.Fprintln(stderr, "mkbootapp: press Ctrl-C to power off")

	select {
	case <-vm.Done():
		if err := vm.Wait(); err != nil {
			return fmt.Errorf("run %s: %w", target, err)
		}
		if err := guestFailed(target, vm); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "mkbootapp: the guest powered off")
		return nil
	case <-ctx.Done():
	}

	// Ctrl-C: ACPI power-off; a second Ctrl-C kills at once.
	fmt.Fprintf(stderr, "\nmkbootapp: powering off (ACPI), waiting up to %s; Ctrl-C again to kill\n", plan.grace)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	stopCtx, stopCancel := context.WithCancel(context.Background())
	defer stopCancel()
	go func() {
		select {
		case <-sig:
			fmt.Fprintln(stderr, "mkbootapp: killing QEMU")
			stopCancel()
		case <-stopCtx.Done():
		}
	}()
	start := time.Now()
	if err := vm.Stop(stopCtx, plan.grace); err != nil {
		return fmt.Errorf("run %s: %w", target, err)
	}
	if err := guestFailed(target, vm); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "mkbootapp: the guest powered off in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// guestFailed returns an error when the guest, which has powered off,
// reported a fatal error on its console (bootapp-init's "fatal: ..." line,
// or a kernel panic): QEMU exits 0 then, but the app did not run as asked.
func guestFailed(target string, vm *qemu.VM) error {
	if msg, ok := qemu.GuestFatal(vm.ConsoleTail()); ok {
		return fmt.Errorf("run %s: the guest stopped with a fatal error: %s", target, msg)
	}
	return nil
}

// planRun resolves the disks, ports and grace period.
func planRun(target string, f runFlags) (*runPlan, error) {
	var res *builder.Result
	plan := &runPlan{}
	fi, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	if fi.IsDir() || strings.HasSuffix(target, ".json") {
		res, err = builder.ReadManifest(target)
		if err != nil {
			return nil, fmt.Errorf("run: %w", err)
		}
		boot, ok := pickFile(res.Files, builder.RoleBoot)
		if !ok {
			return nil, fmt.Errorf("run: manifest %s lists no boot disk QEMU can boot (raw, qcow2 or vmdk): rebuild with --format raw", res.Manifest)
		}
		plan.boot = qemu.Disk{Path: boot.Path, Format: boot.Format, ReadOnly: true}
	} else {
		format, err := formatOf(target)
		if err != nil {
			return nil, err
		}
		plan.boot = qemu.Disk{Path: target, Format: format, ReadOnly: true}
		// Use the manifest beside the image when it lists it.
		if r, err := builder.ReadManifest(filepath.Dir(target)); err == nil {
			for _, file := range r.Files {
				if sameFile(file.Path, target) {
					res = r
				}
			}
		}
	}

	if f.direct && plan.boot.Format != image.Raw {
		return nil, fmt.Errorf("run --direct: %s is a %s image: --direct reads the kernel from a raw boot disk; build with --format raw (or convert it: qemu-img convert -O raw %s boot.raw), or run without --direct", plan.boot.Path, plan.boot.Format, plan.boot.Path)
	}

	switch {
	case f.noData:
	case f.data != "":
		if res != nil && noGuestVolume(res.Spec.DataVolume) {
			return nil, fmt.Errorf("run --data %s: %s was built with --no-data, so its guest mounts no data volume and %s would be a tmpfs, everything written lost at power-off: rebuild without --no-data (or with --data-serial/--data-uuid naming the volume), or drop --data", f.data, res.Manifest, res.Spec.DataVolume.MountPoint)
		}
		format, err := formatOf(f.data)
		if err != nil {
			return nil, err
		}
		plan.data = &qemu.Disk{Path: f.data, Format: format}
	case res != nil:
		if d, ok := pickFile(res.Files, builder.RoleData); ok {
			plan.data = &qemu.Disk{Path: d.Path, Format: d.Format}
		}
	}

	explicit, err := parsePorts(f.ports)
	if err != nil {
		return nil, err
	}
	var guest []int
	if res != nil {
		guest = append(guest, res.Spec.App.Ports...)
		if h := res.Spec.Health; h != nil && h.Port != 0 {
			guest = append(guest, h.Port)
		}
	}
	plan.forwards = forwardsFor(guest, explicit, func(p int) bool { return qemu.PortFree("127.0.0.1", p) })

	plan.memory = f.memory
	if res != nil {
		var warning string
		if plan.memory, warning = res.GuestMemory(f.memory); warning != "" {
			plan.warnings = append(plan.warnings, warning)
		}
	} else if plan.memory <= 0 {
		plan.memory = 512
	}
	plan.grace = f.grace
	if plan.grace <= 0 {
		stop := 10 * time.Second
		if res != nil && res.Spec.App.StopTimeout > 0 {
			stop = res.Spec.App.StopTimeout
		}
		plan.grace = stop + 20*time.Second
	}
	return plan, nil
}

// forwardsFor returns the forwards: the explicit ones, then each other guest
// port on the same host port when free (else a free one), sorted by guest
// port and without duplicates.
func forwardsFor(guest []int, explicit []qemu.Forward, free func(int) bool) []qemu.Forward {
	seen := map[int]bool{}
	var out []qemu.Forward
	for _, fw := range explicit {
		if !seen[fw.GuestPort] {
			seen[fw.GuestPort] = true
			out = append(out, fw)
		}
	}
	sort.Ints(guest)
	for _, p := range guest {
		if seen[p] {
			continue
		}
		seen[p] = true
		host := 0
		if free(p) {
			host = p
		}
		out = append(out, qemu.Forward{HostAddr: "127.0.0.1", HostPort: host, GuestPort: p})
	}
	return out
}

// parsePorts parses --port values: "HOST:GUEST" or "PORT".
func parsePorts(vals []string) ([]qemu.Forward, error) {
	var out []qemu.Forward
	for _, v := range vals {
		hs, gs, ok := strings.Cut(v, ":")
		if !ok {
			gs = hs
		}
		h, err1 := strconv.Atoi(hs)
		g, err2 := strconv.Atoi(gs)
		if err1 != nil || err2 != nil || h < 0 || h > 65535 || g < 1 || g > 65535 {
			return nil, fmt.Errorf("--port %q: want HOST:GUEST or PORT, with ports 1-65535 (HOST 0 picks a free port)", v)
		}
		out = append(out, qemu.Forward{HostAddr: "127.0.0.1", HostPort: h, GuestPort: g})
	}
	return out, nil
}

// pickFile returns the file of role in the format QEMU boots best (the
// first of qemu.BootFormats).
func pickFile(files []builder.File, role builder.Role) (builder.File, bool) {
	for _, want := range qemu.BootFormats() {
		for _, file := range files {
			if file.Role == role && file.Format == want {
				return file, true
			}
		}
	}
	return builder.File{}, false
}

// formatOf guesses a disk image's format from its file name. A .vmdk is
// taken for monolithicSparse: QEMU reads both VMDK flavours with one
// driver, and refuses writes into a streamOptimized one itself.
func formatOf(path string) (image.Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".raw", ".img":
		return image.Raw, nil
	case ".qcow2":
		return image.QCOW2, nil
	case ".vmdk":
		return image.VMDKSparse, nil
	case ".vhd":
		return image.VHD, nil
	}
	return "", fmt.Errorf("run: cannot tell the format of %s from its name: want .raw, .img, .qcow2, .vmdk or .vhd", path)
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// runConfigName is the fw_cfg entry bootapp-init reads its run-time
// configuration from.
const runConfigName = "opt/bootapp/config"

// runConfig returns the fw_cfg entry for --env and --arg: the run-time
// configuration document {"env": {...}, "args": [...]} that the guest init
// applies over the image's own (docs/architecture.md, "Run-time
// configuration"), or nil when neither flag was given.
func runConfig(env, args []string) ([]qemu.FwCfg, error) {
	if len(env) == 0 && len(args) == 0 {
		return nil, nil
	}
	doc := struct {
		Env  map[string]string `json:"env,omitempty"`
		Args []string          `json:"args,omitempty"`
	}{Args: args}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\n") {
			return nil, fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
		if strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("--env %q holds a NUL byte", kv)
		}
		if doc.Env == nil {
			doc.Env = map[string]string{}
		}
		doc.Env[k] = v
	}
	for _, a := range args {
		if strings.ContainsRune(a, 0) {
			return nil, fmt.Errorf("--arg %q holds a NUL byte", a)
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode --env/--arg: %w", err)
	}
	return []qemu.FwCfg{{Name: runConfigName, Value: string(b)}}, nil
}

// noGuestVolume reports whether an image's guest mounts no data volume: it
// was built without one and selects none by UUID or serial.
func noGuestVolume(dv builder.DataVolume) bool {
	return dv.Disabled && dv.UUID == "" && dv.Serial == ""
}
