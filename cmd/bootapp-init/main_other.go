//go:build !linux

package main

import (
	"fmt"
	"os"
)

// main refuses to run: the init drives the Linux kernel directly.
func main() {
	fmt.Fprintln(os.Stderr, "bootapp-init: this program is a Linux PID 1 and only runs on Linux")
	os.Exit(1)
}
