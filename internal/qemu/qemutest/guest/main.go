//go:build linux

// Command guest is a tiny PID 1 for the qemu package's boot tests. It is not
// the product's init (cmd/bootapp-init): it does only what the tests need,
// so the QEMU harness can be proven without the rest of bootapp.
//
// It reads its mode from the kernel command line:
//
//	qemutest.mode=poweroff   print the marker and power off at once
//	qemutest.mode=serve      load the modules listed in /etc/modules.order,
//	                         configure 10.0.2.15/24 on the NIC, serve HTTP on
//	                         qemutest.port (default 8080), and power off
//	                         when the ACPI power button is pressed
//
// Every stage prints a line starting with "qemutest:" on the console.
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Marker is printed once the guest runs.
const Marker = "qemutest: guest init running"

func main() {
	setup()
	fmt.Println(Marker)
	args := cmdline()
	switch args["qemutest.mode"] {
	case "serve":
		if err := serve(args); err != nil {
			fmt.Println("qemutest: error:", err)
		}
	default:
	}
	poweroff()
}

// setup mounts the pseudo filesystems and connects stdio to the console.
func setup() {
	os.MkdirAll("/dev", 0o755)
	os.MkdirAll("/proc", 0o755)
	os.MkdirAll("/sys", 0o755)
	unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	unix.Mount("proc", "/proc", "proc", 0, "")
	unix.Mount("sysfs", "/sys", "sysfs", 0, "")
	if f, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
		for fd := 0; fd < 3; fd++ {
			unix.Dup2(int(f.Fd()), fd)
		}
	}
}

func cmdline() map[string]string {
	m := map[string]string{}
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func poweroff() {
	fmt.Println("qemutest: powering off")
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func loadModules() error {
	f, err := os.Open("/etc/modules.order")
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		p := strings.TrimSpace(s.Text())
		if p == "" {
			continue
		}
		m, err := os.Open(p)
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(m.Fd()), "", 0)
		m.Close()
		if err != nil && err != unix.EEXIST {
			return fmt.Errorf("load %s: %w", p, err)
		}
	}
	return s.Err()
}

func network() error {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		netlink.LinkSetUp(lo)
	}
	var nic netlink.Link
	for i := 0; i < 100 && nic == nil; i++ {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().Name != "lo" {
				nic = l
				break
			}
		}
		if nic == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if nic == nil {
		return fmt.Errorf("no network interface")
	}
	addr, _ := netlink.ParseAddr("10.0.2.15/24")
	if err := netlink.AddrAdd(nic, addr); err != nil {
		return fmt.Errorf("address %s: %w", nic.Attrs().Name, err)
	}
	if err := netlink.LinkSetUp(nic); err != nil {
		return fmt.Errorf("up %s: %w", nic.Attrs().Name, err)
	}
	return nil
}

func serve(args map[string]string) error {
	if err := loadModules(); err != nil {
		return err
	}
	if err := network(); err != nil {
		return err
	}
	// Listen to the power button before serving: a test that reaches the
	// port presses the button at once, and a press before the device is
	// open would be lost.
	button := openPowerButton()
	port := args["qemutest.port"]
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from qemutest guest")
	}))
	fmt.Println("qemutest: listening on port", port)
	waitPowerPress(button)
	fmt.Println("qemutest: power button pressed")
	return nil
}

// openPowerButton waits for the "Power Button" input device and opens it.
func openPowerButton() *os.File {
	var dev string
	for dev == "" {
		names, _ := filepath.Glob("/sys/class/input/event*/device/name")
		for _, n := range names {
			b, _ := os.ReadFile(n)
			if strings.TrimSpace(string(b)) == "Power Button" {
				dev = "/dev/input/" + filepath.Base(filepath.Dir(filepath.Dir(n)))
			}
		}
		if dev == "" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	f, err := os.Open(dev)
	if err != nil {
		fmt.Println("qemutest: error:", err)
		select {}
	}
	return f
}

// waitPowerPress blocks until the power button device f reports KEY_POWER.
func waitPowerPress(f *os.File) {
	var ev [24]byte // struct input_event on amd64
	for {
		if _, err := f.Read(ev[:]); err != nil {
			fmt.Println("qemutest: error:", err)
			select {}
		}
		typ := binary.LittleEndian.Uint16(ev[16:])
		code := binary.LittleEndian.Uint16(ev[18:])
		val := int32(binary.LittleEndian.Uint32(ev[20:]))
		if typ == 1 && code == 116 && val == 1 {
			return
		}
	}
}
