package main

import (
	"slices"
	"testing"

	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
	"github.com/bootapp/bootapp/kernel"
)

func TestMatchAlias(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", true},
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v000015ADd000007C0sv000015ADsd000007C0bc01sc00i00", false},
		{"virtio:d00000002v*", "virtio:d00000002v00001AF4", true},
		{"virtio:d00000002v*", "virtio:d00000004v00001AF4", false},
		{"scsi:t-0x00*", "scsi:t-0x00", true},
		{"scsi:t-0x00*", "scsi:t-0x05", false},
		{"acpi*:VMBUS:*", "acpi:VMBUS:", true},
		{"acpi*:PNP0C0C:*", "acpi:PNP0C0C:", true},
		{"acpi*:PNP0C0C:*", "acpi:PNP0C0D:", false},
		{"input:b*v*p*e*-e*k*r*a*m*l*s*f*w*", "input:b0019v0000p0001e0000-e0,1,k74,ramlsfw", true},
		{"xen:vbd", "xen:vbd", true},
		{"xen:vbd", "xen:vbd2", false},
		{"xen:vbd", "xen:vb", false},
		{"", "", true},
		{"*", "", true},
		{"*", "anything/with/slashes", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a[bc]d", "acd", true},
		{"a[!bc]d", "acd", false},
		{"a[^bc]d", "aed", true},
		{"a[0-9]", "a5", true},
		{"a[0-9]", "ax", false},
		{"a[]]b", "a]b", true},
		{"a[x-]", "a-", true},
		{"a[", "a[", true},     // no complete set: a literal '['
		{"a[b", "a[b", true},   // the same
		{`a\*b`, "a*b", true},  // escaped star
		{`a\*b`, "axb", false}, // is no wildcard
		{`a\`, `a\`, true},     // a trailing backslash is literal
		{"*a*b*c*", "xaybzc", true},
		{"*a*b*c*", "xaybz", false},
		{"pci:v*d*sv*sd*bc01sc08i02*", "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02", true},
		{"pci:v*d*sv*sd*bc01sc06i01*", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", true},
		{"pci:v*d*sv*sd*bc01sc06i01*", "pci:v00008086d00002918sv00001AF4sd00001100bc06sc01i00", false},
	}
	for _, tt := range tests {
		if got := matchAlias(tt.pattern, tt.s); got != tt.want {
			t.Errorf("matchAlias(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// TestMatchRealAliases matches the aliases of the cached kernel's drivers
// (the default platform's set, as the builder writes it) against the
// modaliases of the devices QEMU, EC2, GCE, Azure and vSphere present.
// A driver the kernel lacks is dropped from the expectation.
func TestMatchRealAliases(t *testing.T) {
	k := kerneltest.Open(t)
	ds, err := k.Drivers(kernel.PlatformAll)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		device, modalias string
		want             []string
	}{
		{"virtio-blk-pci (transitional)", "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", []string{"virtio_pci"}},
		{"virtio-net-pci (modern)", "pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00", []string{"virtio_pci"}},
		{"virtio disk", "virtio:d00000002v00001AF4", []string{"virtio_blk"}},
		{"virtio scsi host", "virtio:d00000008v00001AF4", []string{"virtio_scsi"}},
		{"virtio nic", "virtio:d00000001v00001AF4", []string{"virtio_net"}},
		{"virtio rng", "virtio:d00000004v00001AF4", []string{"virtio_rng"}},
		{"virtio console", "virtio:d00000003v00001AF4", nil},
		{"scsi disk", "scsi:t-0x00", []string{"sd_mod"}},
		{"scsi cd-rom", "scsi:t-0x05", nil},
		{"pvscsi", "pci:v000015ADd000007C0sv000015ADsd000007C0bc01sc00i00", []string{"vmw_pvscsi"}},
		{"vmxnet3", "pci:v000015ADd000007B0sv000015ADsd000007B0bc02sc00i00", []string{"vmxnet3"}},
		{"ena", "pci:v00001D0Fd0000EC20sv00001D0Fsd0000EC20bc02sc00i00", []string{"ena"}},
		{"gvnic", "pci:v00001AE0d00000042sv00001AE0sd00000058bc02sc00i00", []string{"gve"}},
		{"nvme", "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02", []string{"nvme"}},
		{"vmbus", "acpi:VMBUS:", []string{"hv_vmbus"}},
		{"netvsc", "vmbus:635161f83edfc546913ff2d2f965ed0e", []string{"hv_netvsc"}},
		{"storvsc", "vmbus:d96361baa104294db60572e2ffb1dc7f", []string{"hv_storvsc"}},
		{"xen disk", "xen:vbd", []string{"xen_blkfront"}},
		{"xen nic", "xen:vif", []string{"xen_netfront"}},
		{"e1000", "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", []string{"e1000"}},
		{"e1000e", "pci:v00008086d000010D3sv00001AF4sd00001100bc02sc00i00", []string{"e1000e"}},
		{"ich9 ahci", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", []string{"ahci"}},
		{"q35 host bridge", "pci:v00008086d000029C0sv00001AF4sd00001100bc06sc00i00", nil},
		{"power button", "acpi:LNXPWRBN:", nil}, // button is loaded always, not matched
	}
	for _, tt := range tests {
		t.Run(tt.device, func(t *testing.T) {
			var want []string
			for _, n := range tt.want {
				if k.Has(n) && !k.Builtin(n) {
					want = append(want, n)
				}
			}
			var got []string
			for _, d := range ds.Drivers {
				if matchesAny(d.Aliases, tt.modalias) {
					got = append(got, d.Name)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s matches %q, want %q", tt.modalias, got, want)
			}
		})
	}
}

func BenchmarkMatchAlias(b *testing.B) {
	for range b.N {
		matchAlias("pci:v*d*sv*sd*bc01sc08i02*", "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02")
	}
}
