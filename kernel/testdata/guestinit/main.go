// Command guestinit is the PID 1 of the kernel package's QEMU test: it
// loads the modules listed in /modules.list in order with finit_module(2),
// checks that the qemu platform's devices appeared, prints a RESULT line
// on the serial console and powers off.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	unix.Mount("proc", "/proc", "proc", 0, "")
	unix.Mount("sysfs", "/sys", "sysfs", 0, "")
	unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	fmt.Println("RESULT", run())
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	time.Sleep(time.Hour)
}

func run() string {
	list, err := os.ReadFile("/modules.list")
	if err != nil {
		return "FAIL " + err.Error()
	}
	for _, p := range strings.Fields(string(list)) {
		f, err := os.Open(p)
		if err != nil {
			return "FAIL " + err.Error()
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil {
			return fmt.Sprintf("FAIL load %s: %v", p, err)
		}
		fmt.Println("loaded", p)
	}
	// Devices appear asynchronously after the drivers bind.
	var missing []string
	for i := 0; i < 50; i++ {
		missing = missing[:0]
		if _, err := os.Stat("/sys/block/vda"); err != nil {
			missing = append(missing, "virtio disk /sys/block/vda")
		}
		if !netDevice() {
			missing = append(missing, "virtio network interface")
		}
		if !powerButton() {
			missing = append(missing, "Power Button input device")
		}
		if b, _ := os.ReadFile("/sys/class/misc/hw_random/rng_current"); !strings.HasPrefix(string(b), "virtio_rng") {
			missing = append(missing, "virtio_rng hw_random")
		}
		if len(missing) == 0 {
			return "OK"
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "FAIL missing: " + strings.Join(missing, ", ")
}

func netDevice() bool {
	links, _ := filepath.Glob("/sys/class/net/*/device/driver")
	for _, l := range links {
		if t, err := os.Readlink(l); err == nil && strings.HasSuffix(t, "virtio_net") {
			return true
		}
	}
	return false
}

func powerButton() bool {
	names, _ := filepath.Glob("/sys/class/input/event*/device/name")
	for _, n := range names {
		b, _ := os.ReadFile(n)
		if strings.TrimSpace(string(b)) == "Power Button" {
			if _, err := os.Stat(filepath.Join("/dev/input", filepath.Base(filepath.Dir(filepath.Dir(n))))); err == nil {
				return true
			}
		}
	}
	return false
}
