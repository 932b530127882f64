// Command poweroff is the trivial init of the boot-time limit benchmarks
// (BenchmarkBootLimit): as PID 1 it prints one line with the kernel's clock
// on the console, in the guest init's format, and powers the machine off at
// once. What a boot with it costs is what QEMU, the firmware, the boot
// loader and the kernel cost before any init can do anything.
package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	_ = os.Mkdir("/dev", 0o755)
	_ = unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	if c, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		fmt.Fprintf(c, "bootapp-init: [%12.6f] starting\n", time.Duration(ts.Nano()).Seconds())
		c.Close()
	}
	unix.Sync()
	for {
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		time.Sleep(time.Second)
	}
}
