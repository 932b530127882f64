// Command escapeapp is the app of the bootapp-init security test. Started
// as the unprivileged app, it tries each known way from the app to root in
// the guest, and serves what happened on :8080:
//
//	GET /healthz  answers "ok" once every attempt is done
//	GET /report   answers the report as JSON
//
// Each attempt is also printed as one "escape: NAME ok|FAIL detail" line. Run as "modprobe" (its name when the kernel would start it as the
// module helper) it writes a marker with its credentials; run with
// "whoami" it prints its real and effective user IDs.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// marker is where the fake module helper writes when the kernel runs it.
const marker = "/tmp/modprobe-ran"

// Check is one attempt. OK is the wanted outcome: the escalation failed
// (or, for the places the app must be able to write, the write worked).
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report is what GET /report answers.
type Report struct {
	Checks []Check           `json:"checks"`
	Status map[string]string `json:"status"` // from /proc/self/status
	Kernel map[string]string `json:"kernel"` // sysctls and mount flags
	Marker string            `json:"marker"` // the helper's marker, if any
	Modes  map[string]string `json:"modes"`  // stat of interesting paths
}

func main() {
	log.SetFlags(0)
	switch {
	case filepath.Base(os.Args[0]) == "modprobe":
		b, _ := os.ReadFile("/proc/self/status")
		os.WriteFile(marker, []byte(fmt.Sprintf("uid=%d euid=%d args=%q\n%s", os.Getuid(), os.Geteuid(), os.Args[1:], b)), 0o644)
		os.WriteFile("/etc/pwned", []byte("root was here\n"), 0o644)
		return
	case len(os.Args) > 1 && os.Args[1] == "whoami":
		fmt.Printf("uid=%d euid=%d gid=%d egid=%d\n", os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid())
		return
	case len(os.Args) > 1 && os.Args[1] == "true":
		return
	}
	r := attack()
	for _, c := range r.Checks {
		state := "FAIL"
		if c.OK {
			state = "ok"
		}
		log.Printf("escape: %s %s %s", c.Name, state, c.Detail)
	}
	body, _ := json.MarshalIndent(r, "", "  ")
	http.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("GET /report", func(w http.ResponseWriter, _ *http.Request) { w.Write(body) })
	log.Printf("listening on :8080 as uid %d", os.Getuid())
	log.Fatal(http.ListenAndServe(":8080", nil))
}

// attack runs every attempt.
func attack() *Report {
	r := &Report{Status: map[string]string{}, Kernel: map[string]string{}, Modes: map[string]string{}}
	add := func(name string, ok bool, detail string) {
		r.Checks = append(r.Checks, Check{name, ok, detail})
	}
	// failed records an attempt that must fail, with its error.
	failed := func(name string, err error) {
		if err != nil {
			add(name, true, err.Error())
		} else {
			add(name, false, "succeeded")
		}
	}
	self, _ := os.Executable()
	selfBin, _ := os.ReadFile(self)

	// 1. Plant the module helper and make the kernel run it.
	modprobe := strings.TrimSpace(readFile("/proc/sys/kernel/modprobe"))
	r.Kernel["kernel.modprobe"] = modprobe
	os.Mkdir("/sbin", 0o755)
	errSbin := os.WriteFile("/sbin/modprobe", selfBin, 0o755)
	failed("create /sbin/modprobe", errSbin)
	if modprobe != "" && modprobe != "/sbin/modprobe" {
		os.MkdirAll(filepath.Dir(modprobe), 0o755)
		failed("create "+modprobe+" (kernel.modprobe)", os.WriteFile(modprobe, selfBin, 0o755))
	}
	fd, err := unix.Socket(5, unix.SOCK_DGRAM, 0) // AF_APPLETALK: net-pf-5
	if err == nil {
		unix.Close(fd)
	}
	time.Sleep(200 * time.Millisecond)
	r.Marker = readFile(marker)
	add("module helper runs as root", r.Marker == "", fmt.Sprintf("socket(AF 5): %v; marker %q", err, r.Marker))

	// 2. Write the root file system.
	for _, p := range []string{"/escape", "/etc/escape", "/app/escape", "/sbin/escape", "/lib/escape", "/run/escape", "/dev/escape"} {
		failed("write "+p, os.WriteFile(p, []byte("x"), 0o644))
	}
	failed("mkdir /sbin", os.Mkdir("/sbin", 0o755))
	failed("mkdir /usr", os.Mkdir("/usr", 0o755))
	f, err := os.OpenFile("/etc/passwd", os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		f.Close()
	}
	failed("open /etc/passwd for writing", err)
	failed("replace /etc/resolv.conf", os.Remove("/etc/resolv.conf"))
	failed("chmod /app", os.Chmod("/app", 0o777))
	failed("remount / read-write", unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND, ""))

	// 3. Setuid files shipped with the app: one through AddTree (its bit
	// must be gone), one written setuid on purpose (exec must ignore it).
	for _, p := range []string{"/app/suid-tree", "/app/suid-forced"} {
		st, err := os.Stat(p)
		if err != nil {
			add("setuid "+p, false, err.Error())
			continue
		}
		r.Modes[p] = st.Mode().String()
		out, err := exec.Command(p, "whoami").CombinedOutput()
		line := strings.TrimSpace(string(out))
		add("setuid "+p+" runs as root", err == nil && !strings.Contains(line, "euid=0 "),
			fmt.Sprintf("mode %v: %s %v", st.Mode(), line, err))
	}

	// 4. Load kernel code.
	var mod string
	filepath.WalkDir("/lib/modules", func(p string, d os.DirEntry, err error) error {
		if err == nil && mod == "" && strings.HasSuffix(p, ".ko") {
			mod = p
		}
		return nil
	})
	if mf, err := os.Open(mod); err == nil {
		failed("finit_module "+mod, unix.FinitModule(int(mf.Fd()), "", 0))
		mf.Close()
	} else {
		add("finit_module", true, "no module to try: "+err.Error())
	}
	failed("init_module", unix.InitModule([]byte("\x7fELF not a module"), ""))

	// 5. Rewrite the helper paths and the hardening.
	for _, p := range []string{"/proc/sys/kernel/modprobe", "/proc/sys/kernel/core_pattern", "/sys/kernel/uevent_helper",
		"/proc/sys/kernel/hotplug", "/proc/sys/kernel/poweroff_cmd", "/proc/sys/kernel/modules_disabled",
		"/proc/sys/kernel/usermodehelper/bset", "/proc/sys/kernel/kptr_restrict", "/proc/sysrq-trigger"} {
		failed("write "+p, writeExisting(p, "|/tmp/x\n"))
	}

	// 6. Become root or gain capabilities directly.
	failed("setuid(0)", syscall.Setuid(0))
	failed("setgid(0)", syscall.Setgid(0))
	failed("setresuid(0,0,0)", syscall.Setresuid(0, 0, 0))
	cmd := exec.Command(self, "true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}}
	failed("user namespace (root inside)", cmd.Run())
	fd, err = unix.Open("/dev/kmsg", unix.O_RDONLY, 0)
	if err == nil {
		unix.Close(fd)
	}
	failed("read /dev/kmsg", err)
	_, err = unix.Klogctl(3, make([]byte, 64)) // SYSLOG_ACTION_READ_ALL
	failed("syslog(READ_ALL)", err)
	attr := make([]byte, 128)
	_, _, errno := unix.Syscall(unix.SYS_BPF, 0 /* BPF_MAP_CREATE */, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
	failed("bpf(BPF_MAP_CREATE)", errnoErr(errno))
	pa := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK}
	pa.Size = uint32(unsafe.Sizeof(pa))
	pfd, err := unix.PerfEventOpen(&pa, 0, -1, -1, 0)
	if err == nil {
		unix.Close(pfd)
	}
	failed("perf_event_open", err)
	ks := firstLine(readFile("/proc/kallsyms"))
	add("kernel addresses in /proc/kallsyms", ks == "" || strings.HasPrefix(ks, "0000000000000000 "), ks)

	// What the app is left with.
	for _, line := range strings.Split(readFile("/proc/self/status"), "\n") {
		k, v, ok := strings.Cut(line, ":")
		switch k {
		case "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp":
			if ok {
				r.Status[k] = strings.Join(strings.Fields(v), " ")
			}
		}
	}
	for _, s := range []string{"kernel/modules_disabled", "kernel/kptr_restrict", "kernel/dmesg_restrict",
		"kernel/unprivileged_bpf_disabled", "kernel/perf_event_paranoid", "kernel/kexec_load_disabled",
		"kernel/yama/ptrace_scope", "fs/suid_dumpable", "fs/protected_symlinks", "fs/protected_regular",
		"kernel/core_pattern", "kernel/poweroff_cmd", "kernel/hotplug", "user/max_user_namespaces"} {
		r.Kernel[strings.ReplaceAll(s, "/", ".")] = strings.TrimSpace(readFile("/proc/sys/" + s))
	}
	r.Kernel["uevent_helper"] = strings.TrimSpace(readFile("/sys/kernel/uevent_helper"))
	for _, line := range strings.Split(readFile("/proc/self/mountinfo"), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 {
			r.Kernel["mount "+f[4]] = f[5]
		}
	}
	for _, p := range []string{"/", "/etc", "/app", "/tmp", "/run", "/dev/shm", "/data", "/etc/resolv.conf"} {
		if st, err := os.Lstat(p); err == nil {
			s := st.Sys().(*syscall.Stat_t)
			r.Modes[p] = fmt.Sprintf("%v %d:%d", st.Mode(), s.Uid, s.Gid)
		}
	}
	// The writable places the app must keep.
	for _, d := range []string{"/tmp", "/dev/shm", "/data"} {
		p := filepath.Join(d, "app-can-write")
		err := os.WriteFile(p, []byte("x"), 0o644)
		add("write "+p+" (wanted)", err == nil, fmt.Sprint(err))
	}
	return r
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// writeExisting writes s to an existing file.
func writeExisting(p, s string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(s)
	return err
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
