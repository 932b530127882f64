package qemu

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRuntimeArgs checks the fw_cfg, user-network and extra options on
// QEMU's command line.
func TestRuntimeArgs(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "boot.raw")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := resolve(Config{
		Disks:         []Disk{{Path: disk}},
		FwCfg:         []FwCfg{{Name: "opt/bootapp/config", Value: `{"env":{"A":"1","B":"2"}}`}},
		UserNet:       "169.254.0.0/16",
		GuestForwards: []GuestForward{{Addr: "169.254.169.254:80", Cmd: "/bin/proxy 127.0.0.1:1,2"}},
		ExtraArgs:     []string{"-smbios", "type=1,manufacturer=Amazon EC2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	l.accel, l.qmpPath = "tcg", "/q"
	a := l.args()
	line := strings.Join(a, " ")
	for _, want := range []string{
		`-fw_cfg name=opt/bootapp/config,string={"env":{"A":"1",,"B":"2"}}`,
		",net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:/bin/proxy 127.0.0.1:1,,2",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	if !slices.Equal(a[len(a)-2:], []string{"-smbios", "type=1,manufacturer=Amazon EC2"}) {
		t.Errorf("extra args not last: %q", a[len(a)-4:])
	}
	for _, bad := range []Config{
		{Disks: []Disk{{Path: disk}}, FwCfg: []FwCfg{{Name: "bootapp/config"}}},
		{Disks: []Disk{{Path: disk}}, FwCfg: []FwCfg{{Name: "opt/a,b"}}},
		{Disks: []Disk{{Path: disk}}, UserNet: "10.0.2"},
		{Disks: []Disk{{Path: disk}}, GuestForwards: []GuestForward{{Addr: "169.254.169.254", Cmd: "x"}}},
	} {
		if _, err := resolve(bad); err == nil {
			t.Errorf("resolve(%+v) accepted", bad)
		}
	}
}
