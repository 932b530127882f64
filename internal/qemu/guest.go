package qemu

import (
	"regexp"
	"strings"
)

// guestFatalRE matches the line bootapp-init (cmd/bootapp-init, log.go and
// main_linux.go) writes to the console before it powers the machine off on
// a fatal error: "bootapp-init: [   1.234567] fatal: <error>". Only the
// init writes lines that start with its prefix; the app's lines start
// with "app: ".
var guestFatalRE = regexp.MustCompile(`^bootapp-init: \[\s*\d+\.\d+\] fatal: (.*)$`)

// kernelPanic starts the line of a kernel panic ("Kernel panic - not
// syncing: Attempted to kill init!"). With panic=-1 and QEMU's -no-reboot
// the VM then exits as if it had powered off.
const kernelPanic = "Kernel panic - not syncing: "

// GuestFatal returns the fatal error the guest reported on its serial
// console, and whether there was one: the first fatal error of
// bootapp-init (its message's first line), or else a kernel panic. Such a
// guest powers itself off, so QEMU exits with status 0 although the app
// never ran or died; callers use this to fail all the same.
func GuestFatal(console string) (string, bool) {
	panicMsg := ""
	for _, line := range strings.Split(console, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := guestFatalRE.FindStringSubmatch(line); m != nil {
			return strings.TrimSpace(m[1]), true
		}
		if i := strings.Index(line, kernelPanic); i >= 0 && panicMsg == "" {
			panicMsg = strings.TrimSpace(line[i:])
		}
	}
	return panicMsg, panicMsg != ""
}
