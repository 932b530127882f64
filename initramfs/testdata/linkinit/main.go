// Command linkinit is the /init of the initramfs hard-link boot test: it
// checks that the kernel unpacked /app/bin/a, /app/bin/b and
// /app/lib/private/c as three names of one file holding "shared data",
// prints the verdict to the console and powers the machine off.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	console, err := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if err != nil {
		_ = os.MkdirAll("/dev", 0o755)
		_ = syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
		if console, err = os.OpenFile("/dev/console", os.O_WRONLY, 0); err != nil {
			console = os.Stdout
		}
	}
	fmt.Fprintln(console, check())
	syscall.Sync()
	if err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(console, "poweroff: %v\n", err)
	}
	select {}
}

func check() string {
	var first syscall.Stat_t
	for i, p := range []string{"/app/bin/a", "/app/bin/b", "/app/lib/private/c"} {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			return fmt.Sprintf("BOOTAPP-LINKS-FAIL %s: %v", p, err)
		}
		data, err := os.ReadFile(p)
		if err != nil || string(data) != "shared data" {
			return fmt.Sprintf("BOOTAPP-LINKS-FAIL %s holds %q (%v)", p, data, err)
		}
		if i == 0 {
			first = st
		}
		if st.Ino != first.Ino || st.Nlink != 3 {
			return fmt.Sprintf("BOOTAPP-LINKS-FAIL %s: inode %d, %d links; first name: inode %d", p, st.Ino, st.Nlink, first.Ino)
		}
	}
	return fmt.Sprintf("BOOTAPP-LINKS-OK inode %d, 3 links", first.Ino)
}
