package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bootapp/bootapp/image"
)

// Config describes a virtual machine to start. Zero values select the
// documented defaults.
type Config struct {
	// Disks are attached in order, each on its Bus; the first one is the
	// boot disk. At least one is required.
	Disks []Disk
	// NIC is the network card's model: NICVirtio (the default),
	// NICVMXNET3, NICE1000 or NICE1000E.
	NIC string
	// UEFI boots with OVMF firmware (found with FindOVMF). It is the
	// default: UEFI is used unless BIOS is set, so setting UEFI only
	// states the intent. Setting both is an error.
	UEFI bool
	// BIOS boots with QEMU's built-in SeaBIOS instead of OVMF.
	BIOS bool
	// Direct, when set, boots Direct.Kernel with Direct.Initrd and
	// Direct.Cmdline directly (QEMU's -kernel, -initrd, -append; its
	// Loader and Title are not used) instead of the firmware and boot
	// loader on the first disk: no UEFI firmware and no boot loader run,
	// so OVMF is not needed. The disks are attached as without it, in
	// order, and the guest sees the same machine and devices. Start
	// writes the kernel and initramfs into WorkDir and removes them when
	// QEMU exits. Setting it with UEFI is an error.
	Direct *image.BootFiles
	// MemoryMB is the guest memory in MiB. Default: 512.
	MemoryMB int
	// CPUs is the number of virtual CPUs. Default: 2.
	CPUs int
	// Forwards are TCP ports forwarded from the host into the guest.
	Forwards []Forward
	// Console receives the serial console output as it arrives. A bounded
	// tail of it is also kept for VM.ConsoleTail. Nil discards it (the
	// tail is still kept). Write errors are ignored.
	Console io.Writer
	// Accel is the accelerator: "kvm", "tcg" or "auto" (the default: KVM
	// when /dev/kvm opens and its virtual CPU has the x86-64-v2 features
	// of hardware virtualisation, else TCG; when QEMU fails to start with
	// KVM, Start says so in one line on Console, retries with TCG, and
	// every later "auto" Start of the process uses TCG at once).
	Accel string
	// Binary is the QEMU program. Default: qemu-system-x86_64 from PATH.
	Binary string
	// WorkDir holds the QMP socket and the copy of the OVMF variable store.
	// Start creates its files in it and removes them when QEMU exits.
	// Default: a new temporary directory, removed when QEMU exits. Keep the
	// path short: unix socket paths are limited to 107 bytes.
	WorkDir string
	// FwCfg passes named strings to the guest through QEMU's firmware
	// configuration device (-fw_cfg name=NAME,string=VALUE). Names of
	// guest software start with "opt/": bootapp-init reads its run-time
	// configuration from opt/bootapp/config.
	FwCfg []FwCfg
	// UserNet is the address range of QEMU's user-mode network (its
	// net= option). Default: 10.0.2.0/24, the guest at .15. A range
	// holding 169.254.169.254 lets GuestForwards serve a metadata service
	// at the address clouds use.
	UserNet string
	// GuestForwards connect TCP addresses inside the user-mode network
	// to a host command (QEMU's guestfwd); they must lie inside UserNet.
	GuestForwards []GuestForward
	// ExtraArgs are appended to QEMU's command line unchanged (e.g.
	// "-smbios", "type=1,manufacturer=Amazon EC2").
	ExtraArgs []string
}

// FwCfg is one fw_cfg entry: the guest reads Value from
// /sys/firmware/qemu_fw_cfg/by_name/NAME/raw (module qemu_fw_cfg).
type FwCfg struct {
	Name  string
	Value string
}

// GuestForward forwards connections the guest makes to Addr ("IP:PORT"
// inside Config.UserNet) to a new process of Cmd, which talks to the
// connection on its standard input and output. QEMU splits Cmd at spaces
// and quotes nothing.
type GuestForward struct {
	Addr string
	Cmd  string
}

// Disk is one disk image attached to the VM.
type Disk struct {
	// Path of the image file.
	Path string
	// Format is the image's format (default image.Raw). QEMU's driver
	// for it comes from DriveFormatOf; a format that QEMU cannot write
	// (image.VMDKStream) must be attached ReadOnly.
	Format image.Format
	// ReadOnly attaches the disk read-only.
	ReadOnly bool
	// Bus is the controller the disk hangs on: BusVirtio (virtio-blk, the
	// default), BusSCSI (virtio-scsi), BusNVMe, BusPVSCSI (VMware's
	// paravirtual SCSI) or BusSATA (q35's AHCI). Debian's OVMF has no
	// PVSCSI driver: a boot disk there does not boot.
	Bus string
	// Serial is the disk's serial number, as the guest sees it; NVMe
	// disks without one get "d<index>" (QEMU requires one).
	Serial string
}

// The disk buses of Disk.Bus.
const (
	BusVirtio = "virtio"
	BusSCSI   = "scsi"
	BusNVMe   = "nvme"
	BusPVSCSI = "pvscsi"
	BusSATA   = "sata"
)

// The NIC models of Config.NIC.
const (
	NICVirtio  = "virtio"
	NICVMXNET3 = "vmxnet3"
	NICE1000   = "e1000"
	NICE1000E  = "e1000e"
)

// Forward forwards a TCP port on the host to a port in the guest (QEMU user
// networking, guest address 10.0.2.15).
type Forward struct {
	// HostAddr is the host address to listen on. Default: 127.0.0.1.
	HostAddr string
	// HostPort is the host port; 0 picks a free one (see VM.Forwarded).
	HostPort int
	// GuestPort is the TCP port in the guest.
	GuestPort int
}

// ErrKilled reports that QEMU was killed rather than left to exit by itself:
// by VM.Kill, or by VM.Stop when the guest did not power off in time.
var ErrKilled = errors.New("QEMU was killed")

// ErrUnsupportedHost reports that Start cannot run QEMU on this operating
// system (only Linux is supported). Building images works everywhere;
// booting them needs Linux.
var ErrUnsupportedHost = errors.New("running images needs a Linux host with QEMU")

// consoleTailBytes bounds the console kept in memory for error messages.
const consoleTailBytes = 256 << 10

// kvmSettle is how long Start watches a VM started with automatically
// chosen KVM for an emulation failure before it returns.
const kvmSettle = 3 * time.Second

// startTimeout bounds how long QEMU may take to answer on its QMP socket.
const startTimeout = 60 * time.Second

// VM is a running QEMU process. Its methods are safe for concurrent use.
type VM struct {
	cmd      *exec.Cmd
	accel    string
	tcgWhy   string
	qmpPath  string
	forwards []Forward
	console  *tailBuffer
	stderr   *tailBuffer
	cleanup  func()

	exited   chan struct{} // closed when the QEMU process has exited
	done     chan struct{} // closed when QEMU has exited and files are gone
	mu       sync.Mutex
	killedBy error // why QEMU was killed, if it was
	waitErr  error
	stopCtx  func() bool
}

// Start boots a VM as c describes and returns once QEMU answers on its
// control socket. QEMU runs until the guest powers off, the VM is stopped
// or killed, or ctx is cancelled (which kills it). The returned errors wrap
// ErrNoQEMU or ErrNoOVMF when those are missing, and ErrUnsupportedHost on
// an operating system other than Linux.
func Start(ctx context.Context, c Config) (*VM, error) {
	return start(ctx, c, hostKVM)
}

// start is Start with the host's KVM state as a parameter, so tests can
// exercise the fallback from KVM to TCG on machines without KVM.
func start(ctx context.Context, c Config, kvm *kvmState) (*VM, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := hostSupported(); err != nil {
		return nil, err
	}
	l, err := resolve(c)
	if err != nil {
		return nil, err
	}
	bin, err := FindQEMU(c.Binary)
	if err != nil {
		return nil, err
	}
	var vars string
	if !c.BIOS && c.Direct == nil {
		code, v, err := FindOVMF()
		if err != nil {
			return nil, err
		}
		l.ovmfCode, vars = code, v
	}

	work, removeWork, err := workDir(c.WorkDir)
	if err != nil {
		return nil, err
	}
	l.qmpPath = filepath.Join(work, "qmp.sock")
	if len(l.qmpPath) > 107 {
		removeWork()
		return nil, fmt.Errorf("QMP socket path %s is longer than 107 bytes: use a shorter Config.WorkDir", l.qmpPath)
	}
	if l.ovmfCode != "" {
		l.ovmfVars = filepath.Join(work, "OVMF_VARS.fd")
	}
	if c.Direct != nil {
		if l.direct, err = writeDirect(work, c.Direct); err != nil {
			removeWork()
			return nil, err
		}
	}
	cleanup := func() {
		os.Remove(l.qmpPath)
		if l.ovmfVars != "" {
			os.Remove(l.ovmfVars)
		}
		l.direct.remove()
		removeWork()
	}

	accel := strings.ToLower(c.Accel)
	auto := accel == "" || accel == "auto"
	var tcgWhy string
	if auto {
		accel = "tcg"
		ok, why := kvm.worth()
		if ok {
			accel = "kvm"
		}
		tcgWhy = why
	}
	l.accel, l.tcgWhy = accel, tcgWhy
	vm, err := l.start(ctx, bin, vars, c.Console, cleanup, auto)
	if err != nil && auto && accel == "kvm" && ctx.Err() == nil {
		// QEMU's message can be a register or assertion dump: one line
		// says enough, and later VMs of this process go straight to TCG.
		why := firstLine(err.Error())
		kvm.failed(why)
		if c.Console != nil {
			fmt.Fprintf(c.Console, "\n[bootapp: KVM is present but failed (%s); using TCG]\n", why)
		}
		l.accel, l.tcgWhy = "tcg", "QEMU failed with KVM: "+why
		vm, err = l.start(ctx, bin, vars, c.Console, cleanup, auto)
		if err != nil {
			err = fmt.Errorf("%w (after QEMU also failed with KVM)", err)
		}
	}
	if err != nil {
		cleanup()
		return nil, err
	}
	return vm, nil
}

// resolve validates c and fills in defaults and free host ports.
func resolve(c Config) (*launch, error) {
	if c.UEFI && c.BIOS {
		return nil, errors.New("qemu config: UEFI and BIOS are both set: choose one")
	}
	if err := checkDirect(c); err != nil {
		return nil, err
	}
	if len(c.Disks) == 0 {
		return nil, errors.New("qemu config: no disks: the first disk is the boot disk")
	}
	l := &launch{memoryMB: c.MemoryMB, cpus: c.CPUs, nic: c.NIC}
	switch c.NIC {
	case "", NICVirtio, NICVMXNET3, NICE1000, NICE1000E:
	default:
		return nil, fmt.Errorf("qemu config: unknown NIC model %q (want virtio, vmxnet3, e1000 or e1000e)", c.NIC)
	}
	if l.memoryMB <= 0 {
		l.memoryMB = 512
	}
	if l.cpus <= 0 {
		l.cpus = 2
	}
	switch a := strings.ToLower(c.Accel); a {
	case "", "auto", "kvm", "tcg":
	default:
		return nil, fmt.Errorf("qemu config: unknown accelerator %q (want auto, kvm or tcg)", c.Accel)
	}
	sata := 0
	for _, d := range c.Disks {
		if d.Format == "" {
			d.Format = image.Raw
		}
		df, err := DriveFormatOf(d.Format)
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", d.Path, err)
		}
		if !df.Writable && !d.ReadOnly {
			return nil, fmt.Errorf("disk %s: format %s: %w: attach it read-only, or convert it to raw or qcow2 first", d.Path, d.Format, ErrReadOnlyFormat)
		}
		switch d.Bus {
		case "", BusVirtio, BusSCSI, BusNVMe, BusPVSCSI:
		case BusSATA:
			if sata++; sata > 6 {
				return nil, fmt.Errorf("disk %s: q35's AHCI controller has six SATA ports, this is disk %d on it", d.Path, sata)
			}
		default:
			return nil, fmt.Errorf("disk %s: unknown bus %q (want virtio, scsi, nvme, pvscsi or sata)", d.Path, d.Bus)
		}
		if !isFile(d.Path) {
			return nil, fmt.Errorf("disk %s: not a regular file: check the path", d.Path)
		}
		l.disks = append(l.disks, d)
	}
	for _, f := range c.Forwards {
		if f.HostAddr == "" {
			f.HostAddr = "127.0.0.1"
		}
		if f.GuestPort <= 0 || f.GuestPort > 65535 || f.HostPort < 0 || f.HostPort > 65535 {
			return nil, fmt.Errorf("qemu config: port forward %s:%d -> %d is out of range", f.HostAddr, f.HostPort, f.GuestPort)
		}
		if f.HostPort == 0 {
			p, err := FreePort(f.HostAddr)
			if err != nil {
				return nil, err
			}
			f.HostPort = p
		}
		l.forwards = append(l.forwards, f)
	}
	for _, f := range c.FwCfg {
		if !strings.HasPrefix(f.Name, "opt/") || strings.ContainsAny(f.Name, ",=") || len(f.Name) > 55 {
			return nil, fmt.Errorf("qemu config: fw_cfg name %q: want opt/..., at most 55 bytes, without ',' or '='", f.Name)
		}
		l.extra = append(l.extra, "-fw_cfg", "name="+f.Name+",string="+escapeOpt(f.Value))
	}
	if c.UserNet != "" {
		if _, _, err := net.ParseCIDR(c.UserNet); err != nil {
			return nil, fmt.Errorf("qemu config: user network %q: %w", c.UserNet, err)
		}
		l.netdevExtra += ",net=" + c.UserNet
	}
	for _, g := range c.GuestForwards {
		if _, _, err := net.SplitHostPort(g.Addr); err != nil || g.Cmd == "" {
			return nil, fmt.Errorf("qemu config: guest forward %q -> %q: want IP:PORT and a command", g.Addr, g.Cmd)
		}
		l.netdevExtra += ",guestfwd=tcp:" + g.Addr + "-cmd:" + escapeOpt(g.Cmd)
	}
	l.extra = append(l.extra, c.ExtraArgs...)
	return l, nil
}

// FreePort returns a TCP port on host that was free a moment ago.
func FreePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// PortFree reports whether TCP port on host can be listened on now.
func PortFree(host string, port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func workDir(dir string) (path string, remove func(), err error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "bootapp-qemu-")
		if err != nil {
			return "", nil, fmt.Errorf("create QEMU work directory: %w", err)
		}
		return d, func() { os.RemoveAll(d) }, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("create QEMU work directory %s: %w", dir, err)
	}
	return dir, func() {}, nil
}

// kvmState decides whether Accel "auto" tries KVM: when /dev/kvm is usable
// and QEMU has not failed with KVM yet. Its methods are safe for concurrent
// use.
type kvmState struct {
	usable func() (bool, string) // probes /dev/kvm; the string says why not

	mu     sync.Mutex
	reason string // the first line of QEMU's failure with KVM; "" while none
}

// hostKVM is the KVM state of this host, shared by every Start of the
// process: /dev/kvm can exist while KVM fails (nested virtualisation that
// aborts or stops with an emulation failure), and that does not get better
// within a process, so one failed attempt sends every later VM straight to
// TCG instead of paying the failed start (and its console noise) again.
var hostKVM = &kvmState{usable: kvmUsable}

// worth reports whether starting QEMU with KVM is worth a try and, when it
// is not, why in one line.
func (k *kvmState) worth() (bool, string) {
	k.mu.Lock()
	reason := k.reason
	k.mu.Unlock()
	if reason != "" {
		return false, "QEMU failed with KVM: " + reason
	}
	return k.usable()
}

// failed records that QEMU failed with KVM, and why.
func (k *kvmState) failed(reason string) {
	if reason == "" {
		reason = "unknown error"
	}
	k.mu.Lock()
	if k.reason == "" {
		k.reason = reason
	}
	k.mu.Unlock()
}

// failure returns why QEMU failed with KVM, or "" when it has not.
func (k *kvmState) failure() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reason
}

// firstLine returns the first non-blank line of s, trimmed.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy OVMF variables: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("copy OVMF variables: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy OVMF variables %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy OVMF variables to %s: %w", dst, err)
	}
	return nil
}

// consoleWriter feeds the tail and the caller's writer; the caller's errors
// are ignored so that a closed terminal never stalls QEMU.
type consoleWriter struct {
	tail *tailBuffer
	out  io.Writer
}

func (w consoleWriter) Write(p []byte) (int, error) {
	w.tail.Write(p)
	if w.out != nil {
		w.out.Write(p)
	}
	return len(p), nil
}

// start runs QEMU once with l and waits until its QMP socket answers.
func (l *launch) start(ctx context.Context, bin, varsTemplate string, console io.Writer, cleanup func(), autoAccel bool) (*VM, error) {
	if l.ovmfVars != "" {
		if err := copyFile(l.ovmfVars, varsTemplate); err != nil {
			return nil, err
		}
	}
	os.Remove(l.qmpPath)
	vm := &VM{
		accel:    l.accel,
		tcgWhy:   l.tcgWhy,
		qmpPath:  l.qmpPath,
		forwards: l.forwards,
		console:  newTailBuffer(consoleTailBytes),
		stderr:   newTailBuffer(16 << 10),
		cleanup:  cleanup,
		done:     make(chan struct{}),
	}
	cmd := exec.Command(bin, l.args()...)
	cmd.Stdin = nil
	cmd.Stdout = consoleWriter{tail: vm.console, out: console}
	cmd.Stderr = vm.stderr
	cmd.SysProcAttr = procAttr()
	cmd.WaitDelay = 2 * time.Second
	vm.cmd = cmd
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	vm.exited = exited
	go func() {
		err := cmd.Wait()
		vm.mu.Lock()
		vm.waitErr = err
		vm.mu.Unlock()
		close(exited)
	}()
	vm.stopCtx = context.AfterFunc(ctx, func() { vm.kill(fmt.Errorf("QEMU killed: %w", context.Cause(ctx))) })

	// With KVM chosen automatically, watch the first seconds too: KVM
	// may start and then fail to emulate (nested virtualisation).
	var settle time.Duration
	if l.accel == "kvm" && autoAccel {
		settle = kvmSettle
	}
	if err := vm.waitReady(ctx, exited, settle); err != nil {
		vm.stopCtx()
		vm.kill(ErrKilled)
		<-exited
		return nil, err
	}
	go func() {
		<-exited
		vm.stopCtx()
		cleanup()
		close(vm.done)
	}()
	return vm, nil
}

// waitReady polls the QMP socket until QEMU answers query-status, QEMU
// exits, or startTimeout passes. With settle > 0 it then keeps asking for
// that long and fails when the machine stops with an internal error, which
// is how KVM reports an emulation failure (nested virtualisation) after a
// successful start.
func (vm *VM) waitReady(ctx context.Context, exited <-chan struct{}, settle time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var settleEnd time.Time
	for {
		select {
		case <-exited:
			vm.mu.Lock()
			err := vm.waitErr
			vm.mu.Unlock()
			return fmt.Errorf("QEMU (accel %s) exited at start (%v): %s", vm.accel, err, strings.TrimSpace(vm.stderr.String()))
		case <-ctx.Done():
			return fmt.Errorf("QEMU did not answer on %s: %w", vm.qmpPath, ctx.Err())
		case <-tick.C:
		}
		if _, err := os.Stat(vm.qmpPath); err != nil {
			continue
		}
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		var status json.RawMessage
		c, err := dialQMP(dctx, vm.qmpPath)
		if err == nil {
			status, err = c.executeCtx(dctx, "query-status")
			c.Close()
		}
		dcancel()
		if err != nil {
			continue
		}
		var st struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(status, &st)
		if st.Status == "internal-error" {
			return fmt.Errorf("QEMU (accel %s) stopped with an internal error: %s", vm.accel, strings.TrimSpace(vm.stderr.String()))
		}
		if settle <= 0 {
			return nil
		}
		if settleEnd.IsZero() {
			settleEnd = time.Now().Add(settle)
			tick.Reset(250 * time.Millisecond)
		} else if time.Now().After(settleEnd) {
			return nil
		}
	}
}

// kill sends SIGKILL to QEMU and records why, unless it already exited.
func (vm *VM) kill(reason error) {
	select {
	case <-vm.exited:
		return
	default:
	}
	vm.mu.Lock()
	if vm.killedBy == nil {
		vm.killedBy = reason
	}
	vm.mu.Unlock()
	if vm.cmd.Process != nil {
		_ = vm.cmd.Process.Kill()
	}
}

// Accel returns the accelerator QEMU runs with: "kvm" or "tcg".
func (vm *VM) Accel() string { return vm.accel }

// WhyNotKVM says in one line why Accel "auto" chose TCG ("cannot open
// /dev/kvm: ...", "the virtual CPU of /dev/kvm lacks SSE3, ...", "QEMU
// failed with KVM: ..."); it is "" with KVM or an explicit accelerator.
func (vm *VM) WhyNotKVM() string { return vm.tcgWhy }

// Forwarded returns the host address ("127.0.0.1:34567") that forwards to
// guestPort, or "" when guestPort is not forwarded.
func (vm *VM) Forwarded(guestPort int) string {
	for _, f := range vm.forwards {
		if f.GuestPort == guestPort {
			return net.JoinHostPort(f.HostAddr, strconv.Itoa(f.HostPort))
		}
	}
	return ""
}

// Forwards returns the port forwards with their host ports resolved.
func (vm *VM) Forwards() []Forward { return append([]Forward(nil), vm.forwards...) }

// ConsoleTail returns the last part of the serial console output (up to
// 256 KiB, starting at a line).
func (vm *VM) ConsoleTail() string { return vm.console.String() }

// Done is closed when QEMU has exited and its files are removed.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// Wait waits for QEMU to exit and returns nil when it exited by itself with
// status 0 (the guest powered off). It returns an error wrapping ErrKilled
// or the context's error when QEMU was killed, and an error with QEMU's
// messages when it failed.
func (vm *VM) Wait() error {
	<-vm.done
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.killedBy != nil {
		return vm.killedBy
	}
	if vm.waitErr != nil {
		msg := strings.TrimSpace(vm.stderr.String())
		if msg == "" {
			return fmt.Errorf("QEMU failed: %w", vm.waitErr)
		}
		return fmt.Errorf("QEMU failed: %w: %s", vm.waitErr, msg)
	}
	return nil
}

// Kill stops QEMU at once (SIGKILL) and waits until it has exited. Wait then
// returns an error wrapping ErrKilled.
func (vm *VM) Kill() {
	select {
	case <-vm.done:
		return
	default:
	}
	vm.kill(ErrKilled)
	<-vm.done
}

// Powerdown presses the ACPI power button (QMP system_powerdown) and returns
// without waiting for the guest to power off.
func (vm *VM) Powerdown(ctx context.Context) error {
	select {
	case <-vm.done:
		return nil
	default:
	}
	err := powerdownQMP(ctx, vm.qmpPath, qmpLinger)
	if err != nil {
		select {
		case <-vm.done:
			return nil // QEMU exited meanwhile: nothing left to power down
		default:
		}
		return fmt.Errorf("ACPI power-down: %w", err)
	}
	return nil
}

// Stop powers the guest off through ACPI and waits up to grace for QEMU to
// exit; then it kills QEMU. It returns nil when the guest powered off in
// time, an error wrapping ErrKilled when QEMU had to be killed, and ctx's
// error (after killing QEMU) when ctx ends first.
func (vm *VM) Stop(ctx context.Context, grace time.Duration) error {
	t := time.NewTimer(grace)
	defer t.Stop()
	pctx, cancel := context.WithTimeout(ctx, grace)
	perr := vm.Powerdown(pctx)
	cancel()
	select {
	case <-vm.done:
		return vm.Wait()
	case <-t.C:
		vm.kill(fmt.Errorf("guest did not power off within %s after ACPI power-down: %w", grace, ErrKilled))
	case <-ctx.Done():
		vm.kill(fmt.Errorf("stop VM: %w", ctx.Err()))
	}
	<-vm.done
	err := vm.Wait()
	if perr != nil {
		err = fmt.Errorf("%w (%v)", err, perr)
	}
	return err
}
