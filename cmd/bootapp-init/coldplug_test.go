package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/guestconfig"
)

// fakeBus is a machine whose devices appear as drivers load: devices maps
// a driver name to the devices its loading adds (the empty name: those
// present at boot).
type fakeBus struct {
	devices map[string][]device
	loaded  []string
	fail    map[string]bool
	scans   int
}

func (b *fakeBus) list() ([]device, error) {
	b.scans++
	out := slices.Clone(b.devices[""])
	for _, n := range b.loaded {
		out = append(out, b.devices[n]...)
	}
	return out, nil
}

type listerFunc func() ([]device, error)

func (f listerFunc) devices() ([]device, error) { return f() }

func (b *fakeBus) load(path string) error {
	name := strings.TrimSuffix(filepath.Base(path), ".ko")
	if b.fail[name] {
		return errors.New("Unknown symbol in module")
	}
	b.loaded = append(b.loaded, name)
	return nil
}

// testTable is a small driver table shaped like the builder's: virtio over
// PCI, SCSI disks after a host adapter, a NIC, and helpers without aliases.
func testTable(t *testing.T) *driverTable {
	t.Helper()
	d := func(name string, aliases, needs, then []string) guestconfig.Driver {
		return guestconfig.Driver{Name: name, Path: "/lib/modules/k/" + name + ".ko", Aliases: aliases, Needs: needs, Then: then}
	}
	tab, err := newDriverTable([]guestconfig.Driver{
		d("virtio_ring", nil, nil, nil),
		d("virtio", nil, []string{"virtio_ring"}, nil),
		d("virtio_pci", []string{"pci:v00001AF4d*sv*sd*bc*sc*i*"}, []string{"virtio_ring", "virtio"}, nil),
		d("virtio_blk", []string{"virtio:d00000002v*"}, []string{"virtio_ring", "virtio"}, nil),
		d("virtio_net", []string{"virtio:d00000001v*"}, []string{"virtio_ring", "virtio"}, nil),
		d("scsi_mod", nil, nil, nil),
		d("virtio_scsi", []string{"virtio:d00000008v*"}, []string{"scsi_mod", "virtio_ring", "virtio"}, []string{"sd_mod"}),
		d("sd_mod", []string{"scsi:t-0x00*"}, []string{"scsi_mod"}, nil),
		d("vmw_pvscsi", []string{"pci:v000015ADd000007C0sv*sd*bc*sc*i*"}, []string{"scsi_mod"}, []string{"sd_mod"}),
		d("vmxnet3", []string{"pci:v000015ADd000007B0sv*sd*bc*sc*i*"}, nil, nil),
		d("ena", []string{"pci:v00001D0Fd0000EC20sv*sd*bc*sc*i*"}, nil, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestColdplug(t *testing.T) {
	virtioPCI := func(slot, id string) device {
		return device{"pci0000:00/0000:00:0" + slot + ".0", "pci:v00001AF4d0000" + id + "sv00001AF4sd00001100bc01sc00i00"}
	}
	tests := []struct {
		name    string
		devices map[string][]device
		fail    []string
		want    []string // loaded, in order
		scans   int
		logs    []string // substrings of the log, in order
	}{
		{
			name: "virtio disk and nic",
			devices: map[string][]device{
				"":           {virtioPCI("2", "1042"), virtioPCI("3", "1041"), {"pci0000:00/0000:00:00.0", "pci:v00008086d000029C0sv00001AF4sd00001100bc06sc00i00"}},
				"virtio_pci": {{"pci0000:00/0000:00:02.0/virtio0", "virtio:d00000002v00001AF4"}, {"pci0000:00/0000:00:03.0/virtio1", "virtio:d00000001v00001AF4"}},
			},
			want:  []string{"virtio_ring", "virtio", "virtio_pci", "virtio_blk", "virtio_net"},
			scans: 3,
			logs: []string{
				"drivers: pci0000:00/0000:00:02.0 pci:v00001AF4d00001042sv00001AF4sd00001100bc01sc00i00 -> virtio_pci (+virtio_ring virtio)",
				"drivers: pci0000:00/0000:00:02.0/virtio0 virtio:d00000002v00001AF4 -> virtio_blk",
				"drivers: pci0000:00/0000:00:03.0/virtio1 virtio:d00000001v00001AF4 -> virtio_net",
			},
		},
		{
			name: "virtio-scsi loads sd_mod with it, three bus levels",
			devices: map[string][]device{
				"":            {virtioPCI("4", "1048")},
				"virtio_pci":  {{"pci0000:00/0000:00:04.0/virtio2", "virtio:d00000008v00001AF4"}},
				"virtio_scsi": {{"pci0000:00/0000:00:04.0/virtio2/host0/target0:0:0/0:0:0:0", "scsi:t-0x00"}},
			},
			want:  []string{"virtio_ring", "virtio", "virtio_pci", "scsi_mod", "virtio_scsi", "sd_mod"},
			scans: 3,
			logs:  []string{"-> virtio_pci", "virtio:d00000008v00001AF4 -> virtio_scsi (+scsi_mod sd_mod)"},
		},
		{
			name: "a scsi disk found late still gets sd_mod by its alias",
			devices: map[string][]device{
				"":       {{"pci0000:00/0000:00:05.0/host1/target1:0:0/1:0:0:0", "scsi:t-0x00"}},
				"sd_mod": nil,
			},
			want:  []string{"scsi_mod", "sd_mod"},
			scans: 2,
			logs:  []string{"scsi:t-0x00 -> sd_mod (+scsi_mod)"},
		},
		{
			name: "vmware: pvscsi and vmxnet3",
			devices: map[string][]device{
				"": {
					{"pci0000:00/0000:00:06.0", "pci:v000015ADd000007C0sv000015ADsd000007C0bc01sc00i00"},
					{"pci0000:00/0000:00:07.0", "pci:v000015ADd000007B0sv000015ADsd000007B0bc02sc00i00"},
				},
			},
			want:  []string{"scsi_mod", "vmw_pvscsi", "sd_mod", "vmxnet3"},
			scans: 2,
			logs:  []string{"-> vmw_pvscsi (+scsi_mod sd_mod)", "-> vmxnet3"},
		},
		{
			name:    "no matching hardware loads nothing",
			devices: map[string][]device{"": {{"LNXSYSTM:00/LNXPWRBN:00", "acpi:LNXPWRBN:"}}},
			scans:   1,
		},
		{
			name: "a failing driver is logged and not retried",
			devices: map[string][]device{
				"": {{"pci0000:00/0000:00:08.0", "pci:v00001D0Fd0000EC20sv00001D0Fsd0000EC20bc02sc00i00"}, {"pci0000:00/0000:00:09.0", "pci:v00001D0Fd0000EC20sv00001D0Fsd0000EC20bc02sc00i00"}},
			},
			fail:  []string{"ena"},
			scans: 1,
			logs:  []string{"drivers: module ena: ", "-> ena: failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := &fakeBus{devices: tt.devices, fail: map[string]bool{}}
			for _, n := range tt.fail {
				bus.fail[n] = true
			}
			var log []string
			c := newColdplug(testTable(t), listerFunc(bus.list), bus.load, func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) })
			c.run()
			if !slices.Equal(c.loaded, tt.want) || !slices.Equal(bus.loaded, tt.want) {
				t.Errorf("loaded %q (bus saw %q), want %q", c.loaded, bus.loaded, tt.want)
			}
			if c.scans != tt.scans || bus.scans != tt.scans {
				t.Errorf("%d scans (bus saw %d), want %d", c.scans, bus.scans, tt.scans)
			}
			all := strings.Join(log, "\n")
			rest := all
			for _, want := range tt.logs {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Errorf("log lacks %q (in order):\n%s", want, all)
					break
				}
				rest = rest[i+len(want):]
			}
			if c.failed != len(tt.fail) {
				t.Errorf("%d failed, want %d", c.failed, len(tt.fail))
			}
		})
	}
}

// TestColdplugBound stops a machine whose every scan shows a device for a
// driver not loaded yet.
func TestColdplugBound(t *testing.T) {
	var ds []guestconfig.Driver
	for i := range maxScans + 4 {
		ds = append(ds, guestconfig.Driver{Name: fmt.Sprint("d", i), Path: fmt.Sprintf("/d%d.ko", i), Aliases: []string{fmt.Sprint("x:", i)}})
	}
	tab, err := newDriverTable(ds)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	list := listerFunc(func() ([]device, error) {
		n++
		return []device{{fmt.Sprint("dev", n), fmt.Sprint("x:", n)}}, nil
	})
	var log []string
	c := newColdplug(tab, list, func(string) error { return nil }, func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) })
	c.run()
	if c.scans != maxScans || len(c.loaded) != maxScans {
		t.Errorf("%d scans loaded %q, want the bound %d", c.scans, c.loaded, maxScans)
	}
	if last := log[len(log)-1]; !strings.Contains(last, "stopped after 8 scans") {
		t.Errorf("last log line %q does not report the bound", last)
	}
}

func TestNewDriverTableErrors(t *testing.T) {
	for _, ds := range [][]guestconfig.Driver{
		{{Name: "", Path: "/a.ko"}},
		{{Name: "a", Path: "a.ko"}},
		{{Name: "a", Path: "/a.ko"}, {Name: "a", Path: "/b.ko"}},
		{{Name: "a", Path: "/a.ko", Needs: []string{"b"}}},
		{{Name: "a", Path: "/a.ko", Then: []string{"b"}}},
	} {
		if _, err := newDriverTable(ds); !errors.Is(err, errBadConfig) {
			t.Errorf("newDriverTable(%+v) = %v, want errBadConfig", ds, err)
		}
	}
}

// TestSysfsDevices lists a small sysfs-shaped tree: bus device links to
// device directories with modalias files.
func TestSysfsDevices(t *testing.T) {
	root := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(bus, dev string) {
		dir := filepath.Join(root, "bus", bus, "devices")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../../../devices/"+dev, filepath.Join(dir, filepath.Base(dev))); err != nil {
			t.Fatal(err)
		}
	}
	write("devices/pci0000:00/0000:00:02.0/modalias", "pci:v00001AF4d00001042sv00001AF4sd00001100bc01sc00i00\n")
	write("devices/pci0000:00/0000:00:02.0/virtio0/modalias", "virtio:d00000002v00001AF4\n")
	write("devices/platform/serial8250/modalias", "\n")
	write("devices/system/cpu/cpu0/online", "1\n")
	link("pci", "pci0000:00/0000:00:02.0")
	link("virtio", "pci0000:00/0000:00:02.0/virtio0")
	link("platform", "platform/serial8250")
	link("cpu", "system/cpu/cpu0")
	if err := os.MkdirAll(filepath.Join(root, "bus", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	sys := &sysfsDevices{root: root}
	got, err := sys.devices()
	if err != nil {
		t.Fatal(err)
	}
	want := []device{
		{"pci0000:00/0000:00:02.0", "pci:v00001AF4d00001042sv00001AF4sd00001100bc01sc00i00"},
		{"pci0000:00/0000:00:02.0/virtio0", "virtio:d00000002v00001AF4"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("devices = %q, want %q", got, want)
	}
	// A rescan reads only new links: a changed modalias file is not
	// read again, a new device is.
	write("devices/pci0000:00/0000:00:02.0/modalias", "changed\n")
	write("devices/pci0000:00/0000:00:03.0/modalias", "pci:v000015ADd000007B0sv000015ADsd000007B0bc02sc00i00\n")
	link("pci", "pci0000:00/0000:00:03.0")
	got, _ = sys.devices()
	want = slices.Insert(want, 1, device{"pci0000:00/0000:00:03.0", "pci:v000015ADd000007B0sv000015ADsd000007B0bc02sc00i00"})
	if !slices.Equal(got, want) {
		t.Errorf("rescan: devices = %q, want %q", got, want)
	}
	// The bus filter of a table skips buses no alias can match.
	tab, _ := newDriverTable([]guestconfig.Driver{{Name: "v", Path: "/v.ko", Aliases: []string{"virtio:d00000002v*"}}, {Name: "b", Path: "/b.ko", Aliases: []string{"acpi*:VMBUS:*"}}})
	only := &sysfsDevices{root: root, bus: tab.busFilter()}
	got, _ = only.devices()
	if want := []device{{"pci0000:00/0000:00:02.0/virtio0", "virtio:d00000002v00001AF4"}}; !slices.Equal(got, want) {
		t.Errorf("filtered: devices = %q, want %q", got, want)
	}
	for bus, want := range map[string]bool{"acpi": true, "virtio": true, "pci": false, "cpu": false} {
		if got := tab.busFilter()(bus); got != want {
			t.Errorf("busFilter(%q) = %v, want %v", bus, got, want)
		}
	}
	if _, err := (&sysfsDevices{root: filepath.Join(root, "nope")}).devices(); err == nil {
		t.Error("a tree without bus/ gave no error")
	}
}
