// Command bootinit is the /init of the initramfs boot test: it prints the
// contents of /etc/marker to the console and powers the machine off.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	console, err := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if err != nil {
		// No /dev/console in the rootfs: mount devtmpfs and retry.
		_ = os.MkdirAll("/dev", 0o755)
		_ = syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
		if console, err = os.OpenFile("/dev/console", os.O_WRONLY, 0); err != nil {
			console = os.Stdout
		}
	}
	marker, err := os.ReadFile("/etc/marker")
	if err != nil {
		fmt.Fprintf(console, "BOOTAPP-INITRAMFS-FAIL %v\n", err)
	} else {
		fmt.Fprintf(console, "BOOTAPP-INITRAMFS-OK %s\n", marker)
	}
	syscall.Sync()
	if err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(console, "poweroff: %v\n", err)
	}
	select {}
}
