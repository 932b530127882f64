package main

import (
	"bytes"
	"errors"
	"net"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/guestconfig"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzSettings decodes arbitrary /etc/bootapp/init.json files and checks
// them as the init does at boot: a refusal wraps errBadConfig, and accepted
// settings hold no zero value the rest of the init would trip over.
func FuzzSettings(f *testing.F) {
	full, _ := guestconfig.Marshal(&guestconfig.Config{
		Version: guestconfig.Version, Hostname: "web", Modules: []string{"/lib/modules/virtio_net.ko"},
		App:     guestconfig.App{Path: "/app/web", Args: []string{"-v"}, Env: []string{"A=1", "PATH=/bin"}, UID: 1000, GID: 1000},
		Data:    guestconfig.Data{Label: "bootapp-data", MountPoint: "/data/", Required: true},
		Network: guestconfig.Network{DHCP: true}, Restart: "always",
	})
	f.Add(full)
	f.Add([]byte(`{"version":1,"app":{"path":"/a"}}`))
	f.Add([]byte(`{"version":1,"app":{"path":"/a","dir":"/srv","env":["HOME=/h"]},"data":{"mount_point":"/.."},"stop_timeout_seconds":-5}`))
	f.Add([]byte(`{"version":1,"app":{"path":"a"},"modules":["x.ko"],"restart":"on-failure"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := guestconfig.Unmarshal(b)
		if err != nil {
			return
		}
		s, err := newSettings(c)
		if err != nil {
			if !errors.Is(err, errBadConfig) {
				t.Fatalf("newSettings error %v does not wrap errBadConfig", err)
			}
			return
		}
		if !path.IsAbs(s.appPath) || s.uid < 0 || s.gid < 0 {
			t.Fatalf("app %q as %d:%d", s.appPath, s.uid, s.gid)
		}
		if s.mountPoint != path.Clean(s.mountPoint) || !path.IsAbs(s.mountPoint) || s.mountPoint == "/" {
			t.Fatalf("mount point %q", s.mountPoint)
		}
		if s.dataWait <= 0 || s.dhcpTimeout <= 0 || s.stopTimeout <= 0 || s.appDir == "" {
			t.Fatalf("zero value left: %+v", s)
		}
		if r := s.restart.String(); r != "no" && r != "on-failure" && r != "always" {
			t.Fatalf("restart policy %s", r)
		}
		for _, m := range s.modules {
			if !path.IsAbs(m) {
				t.Fatalf("module %q", m)
			}
		}
		if !slices.Equal(s.appEnv[:len(c.App.Env)], c.App.Env) {
			t.Fatalf("environment %q does not start with the configured %q", s.appEnv, c.App.Env)
		}
		for _, k := range []string{"PATH=", "HOME="} {
			if !slices.ContainsFunc(s.appEnv, func(kv string) bool { return strings.HasPrefix(kv, k) }) {
				t.Fatalf("environment %q has no %s", s.appEnv, k)
			}
		}
	})
}

// FuzzParseCmdline: the last bootapp.fatal= word that names an action wins.
func FuzzParseCmdline(f *testing.F) {
	f.Add("console=ttyS0 panic=-1 bootapp.fatal=halt")
	f.Add("bootapp.fatal=halt\tbootapp.fatal=poweroff bootapp.fatal=reboot")
	f.Fuzz(func(t *testing.T, cmdline string) {
		want := fatalPowerOff
		for _, w := range strings.Fields(cmdline) {
			if w == "bootapp.fatal=halt" {
				want = fatalHalt
			} else if w == "bootapp.fatal=poweroff" {
				want = fatalPowerOff
			}
		}
		if got := parseCmdline(cmdline); got != want {
			t.Fatalf("parseCmdline(%q) = %d, want %d", cmdline, got, want)
		}
	})
}

// FuzzPasswd runs ensurePasswd and ensureGroup on arbitrary /etc/passwd and
// /etc/group files (the app's own): afterwards the ID has an entry, the
// original text is kept as a prefix, and a second call changes nothing.
func FuzzPasswd(f *testing.F) {
	f.Add("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", 1000, 1000, "/data")
	f.Add("root:x:0:0::/root:/bin/sh", 0, 0, "/")
	f.Add("app:x:5:5::/:/bin/false\napp1000:x:7:7::/:\n", 1000, 100, "/srv")
	f.Add("", 65534, 65534, "")
	f.Fuzz(func(t *testing.T, db string, uid, gid int, home string) {
		if uid < 0 || gid < 0 {
			return // newSettings refuses them
		}
		p, added := ensurePasswd(db, uid, gid, home)
		if !strings.HasPrefix(p, db) || added == (p == db) {
			t.Fatalf("ensurePasswd(%q) = %q, %v", db, p, added)
		}
		if added {
			name, _, _ := strings.Cut(p[len(db):], ":")
			name = strings.TrimPrefix(name, "\n")
			for _, line := range strings.Split(db, "\n") {
				if n, _, ok := strings.Cut(line, ":"); ok && n == name {
					t.Fatalf("new entry %q reuses a name of %q", name, db)
				}
			}
		}
		if !hasID(p, uid) {
			t.Fatalf("ensurePasswd(%q, %d) = %q has no entry for %d", db, uid, p, uid)
		}
		if p2, again := ensurePasswd(p, uid, gid, home); again || p2 != p {
			t.Fatalf("second ensurePasswd changed %q to %q", p, p2)
		}
		g, added := ensureGroup(db, gid)
		if !strings.HasPrefix(g, db) || added == (g == db) || !hasID(g, gid) {
			t.Fatalf("ensureGroup(%q, %d) = %q, %v", db, gid, g, added)
		}
		if g2, again := ensureGroup(g, gid); again || g2 != g {
			t.Fatalf("second ensureGroup changed %q to %q", g, g2)
		}
	})
}

// FuzzParseInputEvents decodes arbitrary evdev reads: one event per
// complete 24 bytes, a trailing partial event ignored.
func FuzzParseInputEvents(f *testing.F) {
	f.Add(append(event(evKey, keyPower, keyPressed), event(0, 0, 0)...))
	f.Add(append(event(evKey, keyPower, 0), 1, 2, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs := parseInputEvents(b)
		if len(evs) != len(b)/inputEventSize {
			t.Fatalf("%d events from %d bytes", len(evs), len(b))
		}
		for i, e := range evs {
			if !bytes.Equal(event(e.Type, e.Code, e.Value)[16:], b[i*inputEventSize+16:(i+1)*inputEventSize]) {
				t.Fatalf("event %d decoded as %+v", i, e)
			}
		}
	})
}

// FuzzDecompressModule feeds arbitrary module files: decompression fails
// cleanly or returns at most maxModuleSize bytes, plain modules unchanged.
func FuzzDecompressModule(f *testing.F) {
	ko := []byte("\x7fELF\x02\x01\x01" + strings.Repeat("module body ", 100))
	for _, c := range []moduleCompression{modXZ, modZstd, modGzip} {
		f.Add(uint8(c), compress(f, c, ko))
	}
	f.Add(uint8(modPlain), ko)
	f.Add(uint8(9), []byte{})
	f.Fuzz(func(t *testing.T, c uint8, data []byte) {
		out, err := decompressModule(moduleCompression(c), bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(out) > maxModuleSize {
			t.Fatalf("%d bytes decompressed", len(out))
		}
		if moduleCompression(c) == modPlain && !bytes.Equal(out, data) {
			t.Fatal("a plain module changed")
		}
	})
}

// FuzzExt4Superblock reads labels from arbitrary superblocks: a label is
// at most 16 bytes without NUL, and a device without the magic is
// errNotExt4.
func FuzzExt4Superblock(f *testing.F) {
	f.Add(uint16(ext4Magic), "bootapp-data", []byte{})
	f.Add(uint16(ext4Magic), "0123456789abcdef", []byte{1, 2})
	f.Add(uint16(0x1234), "x", []byte{})
	f.Fuzz(func(t *testing.T, magic uint16, label string, tail []byte) {
		dev := append(superblockImage(magic, label), tail...)
		got, err := ext4Label(bytes.NewReader(dev))
		if magic != ext4Magic {
			if !errors.Is(err, errNotExt4) {
				t.Fatalf("magic %#x: %q, %v; want errNotExt4", magic, got, err)
			}
			return
		}
		want := label[:min(len(label), labelSize)]
		if i := strings.IndexByte(want, 0); i >= 0 {
			want = want[:i]
		}
		if err != nil || got != want {
			t.Fatalf("ext4Label = %q, %v; want %q", got, err, want)
		}
	})
}

// FuzzDHCPResolvConf decodes arbitrary DHCP replies and renders
// /etc/resolv.conf from them as the init does (net_linux.go): the file is
// its comment, at most one search line and nameserver lines, nothing a
// DHCP option could smuggle in.
func FuzzDHCPResolvConf(f *testing.F) {
	ack, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithDNS(net.IPv4(10, 0, 2, 3), net.IPv4(1, 1, 1, 1)),
		dhcpv4.WithDomainSearchList("ec2.internal", "example.com"),
		dhcpv4.WithOption(dhcpv4.OptDomainName("corp.example")),
		dhcpv4.WithOption(dhcpv4.OptHostName("web")))
	f.Add(ack.ToBytes())
	ack2, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithDNS(net.IPv4zero, net.IPv4(8, 8, 8, 8)),
		dhcpv4.WithOption(dhcpv4.OptDomainName("lan")))
	f.Add(ack2.ToBytes())
	inject, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithDNS(net.IPv4(10, 0, 2, 3)),
		dhcpv4.WithDomainSearchList("a b\nnameserver 6.6.6.6"))
	f.Add(inject.ToBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		dns := m.DNS()
		if len(dns) == 0 {
			return // the init keeps its resolv.conf
		}
		var search []string
		if l := m.DomainSearch(); l != nil {
			search = l.Labels
		} else if d := m.DomainName(); d != "" {
			search = []string{d}
		}
		checkResolvConf(t, resolvConf(dns, search))
	})
}

// checkResolvConf fails unless conf is what resolvConf means to write.
func checkResolvConf(t *testing.T, conf string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(conf, "\n"), "\n")
	if lines[0] != "# written by bootapp-init from DHCP" {
		t.Fatalf("resolv.conf %q", conf)
	}
	for i, l := range lines[1:] {
		if ip, ok := strings.CutPrefix(l, "nameserver "); ok && net.ParseIP(ip) != nil {
			continue
		}
		if _, ok := strings.CutPrefix(l, "search "); ok && i == 0 {
			continue
		}
		t.Fatalf("resolv.conf line %q in %q", l, conf)
	}
}
