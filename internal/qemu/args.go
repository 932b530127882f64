package qemu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bootapp/bootapp/image"
)

// launch holds everything that goes into one QEMU command line once the
// Config has been resolved: firmware and socket paths, the accelerator and
// the concrete host ports.
type launch struct {
	accel    string // "kvm" or "tcg"
	tcgWhy   string // with Accel "auto" and TCG chosen: why not KVM
	memoryMB int
	cpus     int
	disks    []Disk
	nic      string        // Config.NIC
	ovmfCode string        // empty for BIOS and direct boot
	ovmfVars string        // the writable copy
	direct   *directLaunch // direct kernel boot; nil boots the first disk
	qmpPath  string
	forwards []Forward // HostAddr and HostPort resolved
	// netdevExtra is appended to the user-mode netdev (net=, guestfwd=);
	// extra to the command line (fw_cfg entries, Config.ExtraArgs).
	netdevExtra string
	extra       []string
}

// nicDevice returns QEMU's device for a NIC model, which resolve has
// checked.
// tcgCPU is the CPU the emulator offers: everything TCG implements but
// the AVX family. QEMU 7.2's (Debian bookworm's) emulation of AVX and AVX2
// is new and wrong in places; a JVM, whose JIT uses AVX2 for its string
// intrinsics when the CPU has it, crashed in the guest with SIGSEGV in
// JIT-compiled java.lang.StringLatin1.equals under "-cpu max". Without
// AVX it takes the SSE paths, as Go, glibc and Node.js do too.
const tcgCPU = "max,avx=off,avx2=off,fma=off,f16c=off,avx512f=off"

func nicDevice(model string) string {
	switch model {
	case "", NICVirtio:
		return "virtio-net-pci"
	}
	return model // vmxnet3, e1000 and e1000e are QEMU's names
}

// escapeOpt doubles commas, QEMU's escape inside an option value.
func escapeOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// driver returns QEMU's block driver for f, which resolve has checked.
func driver(f image.Format) string {
	d, err := DriveFormatOf(f)
	if err != nil {
		return string(f) // unreachable after resolve; QEMU names the problem
	}
	return d.Driver
}

// accelArg returns the -accel option. Under TCG a guest of several vCPUs
// gets them all on one host thread (thread=single), taking turns, rather
// than a thread each: QEMU 7.2's multi-threaded TCG translates a vCPU's
// instructions byte by byte while another vCPU may be storing to them,
// which hardware never shows. A JVM does exactly that when it makes a
// compiled method not entrant: it overwrites the method's first
// instruction with a jump by one aligned 4-byte store while other threads
// run into it. In the guest that came out as SIGILL and SIGSEGV in
// compiled code (one boot of the Java example in about 20 under load, and
// on an idle host too); the JVM's report showed an instruction decoded
// from two bytes of the old stack bang and three of the new jump, its
// fault address exactly that instruction's operand. Taking turns costs
// the example boots about a fifth (Go) to a quarter (Java) of their time
// to the first HTTP 200.
func (l *launch) accelArg() string {
	if l.accel == "tcg" && l.cpus > 1 {
		return "tcg,thread=single"
	}
	return l.accel
}

// args returns QEMU's command-line arguments (without the program name).
func (l *launch) args() []string {
	a := []string{
		"-machine", "q35",
		"-accel", l.accelArg(),
		"-nodefaults",
		"-display", "none",
		"-no-reboot",
		"-m", strconv.Itoa(l.memoryMB),
		"-smp", strconv.Itoa(l.cpus),
	}
	if l.accel == "kvm" {
		a = append(a, "-cpu", "host")
	} else {
		a = append(a, "-cpu", tcgCPU)
	}
	a = append(a,
		// The serial console goes to QEMU's stdout, which Start reads.
		// signal=off: a Ctrl-C typed into the console is not QEMU's.
		"-chardev", "stdio,id=con0,signal=off",
		"-serial", "chardev:con0",
		"-qmp", "unix:"+escapeOpt(l.qmpPath)+",server=on,wait=off",
	)
	if l.ovmfCode != "" {
		a = append(a,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+escapeOpt(l.ovmfCode),
			"-drive", "if=pflash,format=raw,unit=1,file="+escapeOpt(l.ovmfVars),
		)
	}
	controllers := map[string]bool{}
	sata := 0
	for i, d := range l.disks {
		drive := fmt.Sprintf("if=none,id=d%d,file=%s,format=%s", i, escapeOpt(d.Path), driver(d.Format))
		if d.ReadOnly {
			drive += ",readonly=on"
		}
		a = append(a, "-drive", drive)
		var dev string
		switch d.Bus {
		case "", BusVirtio:
			dev = fmt.Sprintf("virtio-blk-pci,drive=d%d", i)
		case BusSCSI, BusPVSCSI:
			// One host adapter of each kind carries all of its disks.
			hba, model := "scsi0", "virtio-scsi-pci"
			if d.Bus == BusPVSCSI {
				hba, model = "pvscsi0", "pvscsi"
			}
			if !controllers[hba] {
				controllers[hba] = true
				a = append(a, "-device", model+",id="+hba)
			}
			dev = fmt.Sprintf("scsi-hd,drive=d%d,bus=%s.0", i, hba)
		case BusNVMe:
			serial := d.Serial
			if serial == "" {
				serial = fmt.Sprintf("d%d", i) // QEMU requires one
			}
			dev = fmt.Sprintf("nvme,drive=d%d,serial=%s", i, escapeOpt(serial))
		case BusSATA:
			// q35's built-in AHCI controller has six ports, ide.0 to ide.5.
			dev = fmt.Sprintf("ide-hd,drive=d%d,bus=ide.%d", i, sata)
			sata++
		}
		if d.Serial != "" && d.Bus != BusNVMe {
			dev += ",serial=" + escapeOpt(d.Serial)
		}
		if i == 0 && l.direct == nil {
			dev += ",bootindex=0"
		}
		a = append(a, "-device", dev)
	}
	netdev := "user,id=n0"
	for _, f := range l.forwards {
		netdev += fmt.Sprintf(",hostfwd=tcp:%s:%d-:%d", f.HostAddr, f.HostPort, f.GuestPort)
	}
	netdev += l.netdevExtra
	nic := nicDevice(l.nic) + ",netdev=n0"
	a = append(a,
		"-netdev", netdev,
		"-device", nic,
		"-device", "virtio-rng-pci",
	)
	if l.direct != nil {
		a = append(a, l.direct.args()...)
	}
	return append(a, l.extra...)
}
