package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
)

func TestLaunchArgs(t *testing.T) {
	base := []string{"-machine", "q35", "-accel", "tcg,thread=single", "-nodefaults", "-display", "none", "-no-reboot",
		"-m", "512", "-smp", "2", "-cpu", tcgCPU,
		"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
		"-qmp", "unix:/w/qmp.sock,server=on,wait=off"}
	tail := []string{"-device", "virtio-rng-pci"}
	tests := []struct {
		name string
		l    launch
		want []string
	}{{
		name: "uefi one raw disk no forwards",
		l: launch{accel: "tcg", memoryMB: 512, cpus: 2, qmpPath: "/w/qmp.sock",
			ovmfCode: "/ovmf/CODE.fd", ovmfVars: "/w/VARS.fd",
			disks: []Disk{{Path: "/img/boot.raw", Format: "raw"}}},
		want: concat(base,
			[]string{"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/ovmf/CODE.fd",
				"-drive", "if=pflash,format=raw,unit=1,file=/w/VARS.fd",
				"-drive", "if=none,id=d0,file=/img/boot.raw,format=raw", "-device", "virtio-blk-pci,drive=d0,bootindex=0",
				"-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"}, tail),
	}, {
		name: "bios kvm two disks read-only forwards a comma in a path and a VHD",
		l: launch{accel: "kvm", memoryMB: 1024, cpus: 4, qmpPath: "/w/qmp.sock",
			disks:    []Disk{{Path: "/img/a,b.qcow2", Format: "qcow2", ReadOnly: true}, {Path: "/img/data.vhd", Format: image.VHD}},
			forwards: []Forward{{HostAddr: "127.0.0.1", HostPort: 18080, GuestPort: 8080}, {HostAddr: "127.0.0.1", HostPort: 2222, GuestPort: 22}}},
		want: concat([]string{"-machine", "q35", "-accel", "kvm", "-nodefaults", "-display", "none", "-no-reboot",
			"-m", "1024", "-smp", "4", "-cpu", "host",
			"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
			"-qmp", "unix:/w/qmp.sock,server=on,wait=off",
			"-drive", "if=none,id=d0,file=/img/a,,b.qcow2,format=qcow2,readonly=on", "-device", "virtio-blk-pci,drive=d0,bootindex=0",
			"-drive", "if=none,id=d1,file=/img/data.vhd,format=vpc", "-device", "virtio-blk-pci,drive=d1",
			"-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:18080-:8080,hostfwd=tcp:127.0.0.1:2222-:22",
			"-device", "virtio-net-pci,netdev=n0"}, tail),
	}, {
		name: "direct kernel boot: no firmware, no boot index",
		l: launch{accel: "tcg", memoryMB: 512, cpus: 2, qmpPath: "/w/qmp.sock",
			disks:    []Disk{{Path: "/img/boot.raw", Format: "raw", ReadOnly: true}, {Path: "/img/data.raw", Format: "raw"}},
			forwards: []Forward{{HostAddr: "127.0.0.1", HostPort: 18080, GuestPort: 8080}},
			direct:   &directLaunch{kernel: "/w/linux", initrd: "/w/initrd", cmdline: "console=ttyS0,115200 quiet panic=-1"}},
		want: concat(base,
			[]string{"-drive", "if=none,id=d0,file=/img/boot.raw,format=raw,readonly=on", "-device", "virtio-blk-pci,drive=d0",
				"-drive", "if=none,id=d1,file=/img/data.raw,format=raw", "-device", "virtio-blk-pci,drive=d1",
				"-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:18080-:8080", "-device", "virtio-net-pci,netdev=n0"}, tail,
			[]string{"-kernel", "/w/linux", "-initrd", "/w/initrd", "-append", "console=ttyS0,115200 quiet panic=-1"}),
	}, {
		name: "direct kernel boot without initramfs or command line",
		l: launch{accel: "tcg", memoryMB: 512, cpus: 2, qmpPath: "/w/qmp.sock",
			disks:  []Disk{{Path: "/img/boot.raw", Format: "raw"}},
			direct: &directLaunch{kernel: "/w/linux"}},
		want: concat(base,
			[]string{"-drive", "if=none,id=d0,file=/img/boot.raw,format=raw", "-device", "virtio-blk-pci,drive=d0",
				"-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"}, tail,
			[]string{"-kernel", "/w/linux"}),
	}, {
		name: "disk buses: virtio boot disk, data on scsi, pvscsi, nvme and sata, one adapter per kind; vmxnet3 NIC",
		l: launch{accel: "tcg", memoryMB: 512, cpus: 2, qmpPath: "/w/qmp.sock", nic: NICVMXNET3,
			disks: []Disk{
				{Path: "/img/boot.raw", Format: "raw", ReadOnly: true, Bus: BusVirtio, Serial: "boot"},
				{Path: "/img/s1.raw", Format: "raw", Bus: BusSCSI},
				{Path: "/img/s2.raw", Format: "raw", Bus: BusSCSI, Serial: "a,b"},
				{Path: "/img/p.raw", Format: "raw", Bus: BusPVSCSI},
				{Path: "/img/n1.raw", Format: "raw", Bus: BusNVMe, Serial: "vol0123"},
				{Path: "/img/n2.raw", Format: "raw", Bus: BusNVMe},
				{Path: "/img/a1.raw", Format: "raw", Bus: BusSATA},
				{Path: "/img/a2.raw", Format: "raw", Bus: BusSATA},
			}},
		want: concat(base, []string{
			"-drive", "if=none,id=d0,file=/img/boot.raw,format=raw,readonly=on", "-device", "virtio-blk-pci,drive=d0,serial=boot,bootindex=0",
			"-drive", "if=none,id=d1,file=/img/s1.raw,format=raw", "-device", "virtio-scsi-pci,id=scsi0", "-device", "scsi-hd,drive=d1,bus=scsi0.0",
			"-drive", "if=none,id=d2,file=/img/s2.raw,format=raw", "-device", "scsi-hd,drive=d2,bus=scsi0.0,serial=a,,b",
			"-drive", "if=none,id=d3,file=/img/p.raw,format=raw", "-device", "pvscsi,id=pvscsi0", "-device", "scsi-hd,drive=d3,bus=pvscsi0.0",
			"-drive", "if=none,id=d4,file=/img/n1.raw,format=raw", "-device", "nvme,drive=d4,serial=vol0123",
			"-drive", "if=none,id=d5,file=/img/n2.raw,format=raw", "-device", "nvme,drive=d5,serial=d5",
			"-drive", "if=none,id=d6,file=/img/a1.raw,format=raw", "-device", "ide-hd,drive=d6,bus=ide.0",
			"-drive", "if=none,id=d7,file=/img/a2.raw,format=raw", "-device", "ide-hd,drive=d7,bus=ide.1",
			"-netdev", "user,id=n0", "-device", "vmxnet3,netdev=n0"}, tail),
	}, {
		name: "tcg with one vCPU: multi-threaded TCG is safe, one thread either way",
		l: launch{accel: "tcg", memoryMB: 512, cpus: 1, qmpPath: "/w/qmp.sock",
			disks: []Disk{{Path: "/img/boot.raw", Format: "raw"}}, direct: &directLaunch{kernel: "/w/linux"}},
		want: concat([]string{"-machine", "q35", "-accel", "tcg", "-nodefaults", "-display", "none", "-no-reboot",
			"-m", "512", "-smp", "1", "-cpu", tcgCPU,
			"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
			"-qmp", "unix:/w/qmp.sock,server=on,wait=off",
			"-drive", "if=none,id=d0,file=/img/boot.raw,format=raw", "-device", "virtio-blk-pci,drive=d0",
			"-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"}, tail,
			[]string{"-kernel", "/w/linux"}),
	}, {
		name: "boot disk on nvme, e1000 NIC",
		l: launch{accel: "tcg", memoryMB: 512, cpus: 2, qmpPath: "/w/qmp.sock", nic: NICE1000,
			disks: []Disk{{Path: "/img/boot.raw", Format: "raw", Bus: BusNVMe}}},
		want: concat(base, []string{
			"-drive", "if=none,id=d0,file=/img/boot.raw,format=raw", "-device", "nvme,drive=d0,serial=d0,bootindex=0",
			"-netdev", "user,id=n0", "-device", "e1000,netdev=n0"}, tail),
	}, {
		name: "e1000e NIC, scsi boot disk",
		l: launch{accel: "tcg", memoryMB: 512, cpus: 2, qmpPath: "/w/qmp.sock", nic: NICE1000E,
			disks: []Disk{{Path: "/img/boot.raw", Format: "raw", Bus: BusSCSI}}},
		want: concat(base, []string{
			"-drive", "if=none,id=d0,file=/img/boot.raw,format=raw", "-device", "virtio-scsi-pci,id=scsi0", "-device", "scsi-hd,drive=d0,bus=scsi0.0,bootindex=0",
			"-netdev", "user,id=n0", "-device", "e1000e,netdev=n0"}, tail),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.args(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("args:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func concat(s ...[]string) []string {
	var out []string
	for _, x := range s {
		out = append(out, x...)
	}
	return out
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "boot.raw")
	if err := os.WriteFile(img, make([]byte, 512), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		c       Config
		wantErr string
		check   func(t *testing.T, l *launch)
	}{
		{name: "defaults", c: Config{Disks: []Disk{{Path: img}}}, check: func(t *testing.T, l *launch) {
			if l.memoryMB != 512 || l.cpus != 2 || l.disks[0].Format != "raw" {
				t.Errorf("defaults not applied: %+v", l)
			}
		}},
		{name: "free host port picked", c: Config{Disks: []Disk{{Path: img}}, Forwards: []Forward{{GuestPort: 80}}}, check: func(t *testing.T, l *launch) {
			f := l.forwards[0]
			if f.HostAddr != "127.0.0.1" || f.HostPort == 0 || f.GuestPort != 80 {
				t.Errorf("forward not resolved: %+v", f)
			}
		}},
		{name: "explicit host port kept", c: Config{Disks: []Disk{{Path: img}}, Forwards: []Forward{{HostPort: 18080, GuestPort: 8080}}}, check: func(t *testing.T, l *launch) {
			if l.forwards[0].HostPort != 18080 {
				t.Errorf("host port changed: %+v", l.forwards[0])
			}
		}},
		{name: "no disks", c: Config{}, wantErr: "no disks"},
		{name: "both firmwares", c: Config{UEFI: true, BIOS: true, Disks: []Disk{{Path: img}}}, wantErr: "both set"},
		{name: "UEFI and direct boot", c: Config{UEFI: true, Direct: &image.BootFiles{Kernel: []byte("MZ")}, Disks: []Disk{{Path: img}}}, wantErr: "UEFI and Direct are both set"},
		{name: "direct boot without a kernel", c: Config{Direct: &image.BootFiles{Initrd: []byte("x")}, Disks: []Disk{{Path: img}}}, wantErr: "Direct has no kernel"},
		{name: "missing disk", c: Config{Disks: []Disk{{Path: filepath.Join(dir, "nope.raw")}}}, wantErr: "nope.raw: not a regular file"},
		{name: "format QEMU cannot attach", c: Config{Disks: []Disk{{Path: img, Format: image.GCE}}}, wantErr: `format "gce": QEMU cannot attach`},
		{name: "read-only format attached writable", c: Config{Disks: []Disk{{Path: img, Format: image.VMDKStream}}}, wantErr: "QEMU can only read"},
		{name: "read-only format attached read-only", c: Config{Disks: []Disk{{Path: img, Format: image.VMDKStream, ReadOnly: true}}}, check: func(t *testing.T, l *launch) {
			if l.disks[0].Format != image.VMDKStream || !l.disks[0].ReadOnly {
				t.Errorf("disk changed: %+v", l.disks[0])
			}
		}},
		{name: "bad accel", c: Config{Accel: "hvf", Disks: []Disk{{Path: img}}}, wantErr: "unknown accelerator"},
		{name: "bad guest port", c: Config{Disks: []Disk{{Path: img}}, Forwards: []Forward{{GuestPort: 0}}}, wantErr: "out of range"},
		{name: "bad bus", c: Config{Disks: []Disk{{Path: img, Bus: "ide"}}}, wantErr: `unknown bus "ide"`},
		{name: "bad NIC", c: Config{NIC: "rtl8139", Disks: []Disk{{Path: img}}}, wantErr: `unknown NIC model "rtl8139"`},
		{name: "seven SATA disks", c: Config{Disks: slices.Repeat([]Disk{{Path: img, Bus: BusSATA, ReadOnly: true}}, 7)}, wantErr: "six SATA ports"},
		{name: "buses and NIC kept", c: Config{NIC: NICVMXNET3, Disks: []Disk{{Path: img}, {Path: img, Bus: BusPVSCSI, Serial: "s"}}}, check: func(t *testing.T, l *launch) {
			if l.nic != NICVMXNET3 || l.disks[1].Bus != BusPVSCSI || l.disks[1].Serial != "s" {
				t.Errorf("bus, serial or NIC lost: %+v", l)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := resolve(tt.c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, l)
		})
	}
}

func TestFindOVMF(t *testing.T) {
	empty := t.TempDir()
	full := t.TempDir()
	for _, n := range []string{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"} {
		if err := os.WriteFile(filepath.Join(full, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	half := t.TempDir()
	os.WriteFile(filepath.Join(half, "OVMF_CODE.fd"), []byte("x"), 0o644)
	tests := []struct {
		name     string
		dirs     []string
		wantCode string
	}{
		{name: "empty search path", dirs: nil},
		{name: "empty dir", dirs: []string{empty}},
		{name: "code without vars", dirs: []string{half}},
		{name: "found in second dir", dirs: []string{empty, full}, wantCode: filepath.Join(full, "OVMF_CODE_4M.fd")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, vars, err := findOVMF(tt.dirs)
			if tt.wantCode == "" {
				if !errors.Is(err, ErrNoOVMF) {
					t.Fatalf("err = %v, want ErrNoOVMF", err)
				}
				if !strings.Contains(err.Error(), "sudo apt-get install ovmf") {
					t.Errorf("error does not say how to install: %v", err)
				}
				return
			}
			if err != nil || code != tt.wantCode || vars != filepath.Join(full, "OVMF_VARS_4M.fd") {
				t.Fatalf("findOVMF = %q, %q, %v", code, vars, err)
			}
		})
	}
}

func TestFindQEMUMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := FindQEMU("")
	if !errors.Is(err, ErrNoQEMU) {
		t.Fatalf("err = %v, want ErrNoQEMU", err)
	}
	want := "qemu-system-x86_64 not found: install it with `sudo apt-get install qemu-system-x86`"
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
	// Start reports the same error and leaves nothing behind.
	img := filepath.Join(t.TempDir(), "boot.raw")
	os.WriteFile(img, make([]byte, 512), 0o644)
	work := t.TempDir()
	if _, err := Start(context.Background(), Config{Disks: []Disk{{Path: img}}, WorkDir: work}); !errors.Is(err, ErrNoQEMU) {
		t.Fatalf("Start err = %v, want ErrNoQEMU", err)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("Start left files in %s: %v", work, left)
	}
}

// TestStartQEMUFailsAtStart runs a fake "QEMU" that exits at once with an
// error: Start must fail with its message and remove its files.
func TestStartQEMUFailsAtStart(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fake-qemu")
	os.WriteFile(bin, []byte("#!/bin/sh\necho 'fake-qemu: -drive: Could not open disk' >&2\nexit 1\n"), 0o755)
	img := filepath.Join(t.TempDir(), "boot.raw")
	os.WriteFile(img, make([]byte, 512), 0o644)
	work := t.TempDir()
	_, err := Start(context.Background(), Config{Disks: []Disk{{Path: img}}, Binary: bin, BIOS: true, Accel: "tcg", WorkDir: work})
	if err == nil || !strings.Contains(err.Error(), "Could not open disk") || !strings.Contains(err.Error(), "exited at start") {
		t.Fatalf("err = %v", err)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("Start left files in %s: %v", work, left)
	}
}

// fakeQMP serves one QMP connection on a unix socket and records the
// commands it receives.
func fakeQMP(t *testing.T, replies map[string]string) (path string, got chan []string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan []string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintln(conn, `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}`)
		var cmds []string
		r := bufio.NewScanner(conn)
		for r.Scan() {
			var req struct{ Execute string }
			json.Unmarshal(r.Bytes(), &req)
			cmds = append(cmds, req.Execute)
			// An event before the answer must be skipped by the client.
			fmt.Fprintln(conn, `{"event": "POWERDOWN", "timestamp": {"seconds": 1, "microseconds": 2}}`)
			if rep, ok := replies[req.Execute]; ok {
				fmt.Fprintln(conn, rep)
			} else {
				fmt.Fprintln(conn, `{"return": {}}`)
			}
		}
		got <- cmds
	}()
	return path, got
}

func TestQMPPowerdown(t *testing.T) {
	tests := []struct {
		name     string
		replies  map[string]string
		wantErr  string
		wantCmds []string
	}{
		{name: "ok", wantCmds: []string{"qmp_capabilities", "system_powerdown"}},
		{name: "command error", replies: map[string]string{"system_powerdown": `{"error": {"class": "GenericError", "desc": "nope"}}`},
			wantErr: "GenericError: nope", wantCmds: []string{"qmp_capabilities", "system_powerdown"}},
		{name: "handshake error", replies: map[string]string{"qmp_capabilities": `{"error": {"class": "CommandNotFound", "desc": "x"}}`},
			wantErr: "handshake", wantCmds: []string{"qmp_capabilities"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, got := fakeQMP(t, tt.replies)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			err := powerdownQMP(ctx, path, 200*time.Millisecond)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d < 200*time.Millisecond {
					t.Errorf("closed the connection after %s, before the linger", d)
				}
			}
			select {
			case cmds := <-got:
				if !reflect.DeepEqual(cmds, tt.wantCmds) {
					t.Errorf("commands = %q, want %q", cmds, tt.wantCmds)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("fake QMP server did not see the connection close")
			}
		})
	}
}

func TestQMPNoServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := powerdownQMP(ctx, filepath.Join(t.TempDir(), "none.sock"), 0); err == nil {
		t.Fatal("powerdown without a server succeeded")
	}
}

func TestTailBufferAndLastLines(t *testing.T) {
	tb := newTailBuffer(16)
	tb.Write([]byte("line1\nline2\n"))
	if got := tb.String(); got != "line1\nline2\n" {
		t.Errorf("tail = %q", got)
	}
	tb.Write([]byte("line3\nline4\n"))
	if got := tb.String(); got != "line3\nline4\n" {
		t.Errorf("tail after overflow = %q, want whole lines only", got)
	}
	tb.Write([]byte(strings.Repeat("x", 40) + "\nend\n"))
	if got := tb.String(); got != "end\n" {
		t.Errorf("tail after a huge write = %q", got)
	}
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\n", 5, "a\nb\n"},
		{"", 3, ""},
		{"a\nb\n", 0, ""},
	}
	for _, tt := range tests {
		if got := LastLines(tt.s, tt.n); got != tt.want {
			t.Errorf("LastLines(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestWaitHTTP(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch {
		case r.URL.Path == "/bad":
			w.WriteHeader(500)
		case n < 3:
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitHTTP(ctx, srv.URL+"/ok", nil); err != nil {
		t.Fatalf("WaitHTTP: %v", err)
	}
	if n := calls.Load(); n < 3 {
		t.Errorf("returned after %d calls, before the server answered 2xx", n)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer scancel()
	err := WaitHTTP(sctx, srv.URL+"/bad", nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 500 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitHTTP(/bad) = %v, want a StatusError with 500 and DeadlineExceeded", err)
	}
	if err := WaitHTTP(ctx, srv.URL+"/bad", func(s int) bool { return s == 500 }); err != nil {
		t.Errorf("custom want: %v", err)
	}
}

func TestWaitTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, like a real server
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := WaitTCP(ctx, ln.Addr().String()); err != nil {
		t.Fatalf("WaitTCP on a listener: %v", err)
	}

	// A listener that closes every connection at once (what QEMU's user
	// networking does when nothing listens in the guest) is not healthy.
	closer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	go func() {
		for {
			c, err := closer.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sctx, scancel := context.WithTimeout(context.Background(), time.Second)
	defer scancel()
	if err := WaitTCP(sctx, closer.Addr().String()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitTCP on a closing listener = %v, want DeadlineExceeded", err)
	}
	port, _ := FreePort("127.0.0.1")
	sctx2, scancel2 := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer scancel2()
	if err := WaitTCP(sctx2, fmt.Sprintf("127.0.0.1:%d", port)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitTCP on a closed port = %v", err)
	}
}

func TestPortFree(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if PortFree("127.0.0.1", port) {
		t.Errorf("PortFree(%d) = true while listening", port)
	}
	ln.Close()
	if !PortFree("127.0.0.1", port) {
		t.Errorf("PortFree(%d) = false after close", port)
	}
}

func TestGuestFatal(t *testing.T) {
	tests := []struct {
		name    string
		console string
		want    string
	}{
		{name: "clean power-off", console: "bootapp-init: [   0.500000] starting\nbootapp-init: [   9.000000] power off\n"},
		{name: "init fatal", console: "bootapp-init: [   0.500000] starting\r\n" +
			"bootapp-init: [   1.234567] fatal: data volume: mount /dev/vdb: invalid argument\r\n" +
			"bootapp-init: [   1.300000] power off\r\n",
			want: "data volume: mount /dev/vdb: invalid argument"},
		{name: "first fatal wins, panic stack cut", console: "bootapp-init: [  12.000001] fatal: panic: boom\ngoroutine 1 [running]:\n" +
			"bootapp-init: [  12.000002] fatal: panic in network: later\n",
			want: "panic: boom"},
		{name: "app lines do not count", console: "app: bootapp-init: [   1.000000] fatal: not the init\n"},
		{name: "the word fatal alone does not count", console: "bootapp-init: [   1.000000] app: fatal: config missing, retrying\n"},
		{name: "kernel panic", console: "[    2.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n[    2.2] Kernel Offset: disabled\n",
			want: "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"},
		{name: "init fatal before a kernel panic", console: "[ 1.0] Kernel panic - not syncing: x\nbootapp-init: [   1.5] fatal: y\n", want: "y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := GuestFatal(tt.console)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("GuestFatal = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}
