package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/guestconfig"
	"github.com/bootapp/bootapp/internal/testutil"
)

// at returns a size-byte device with magic written at off.
func at(size int, off int, magic string) []byte {
	b := make([]byte, size)
	copy(b[off:], magic)
	return b
}

func TestProbe(t *testing.T) {
	const size = 4 << 20
	mbr := make([]byte, size)
	mbr[510], mbr[511] = 0x55, 0xaa
	mbr[446+4] = 0x83 // a Linux partition
	bootSector := make([]byte, size)
	bootSector[510], bootSector[511] = 0x55, 0xaa
	ext := make([]byte, size)
	copy(ext, superblockImage(ext4Magic, "bootapp-data"))
	tests := []struct {
		name string
		dev  []byte
		kind contentKind
		what string
	}{
		{"zeros", make([]byte, size), contentBlank, ""},
		{"tiny zeros", make([]byte, 4096), contentBlank, ""},
		{"empty", nil, contentBlank, ""},
		{"ext4", ext, contentExt4, "ext4"},
		{"xfs", at(size, 0, "XFSB"), contentForeign, "xfs"},
		{"btrfs", at(size, 0x10040, "_BHRfS_M"), contentForeign, "btrfs"},
		{"swap", at(size, 4086, "SWAPSPACE2"), contentForeign, "swap"},
		{"luks", at(size, 0, "LUKS\xba\xbe"), contentForeign, "LUKS"},
		{"gpt", at(size, 512, "EFI PART"), contentForeign, "gpt partition table"},
		{"mbr", mbr, contentForeign, "mbr partition table"},
		{"boot sector", bootSector, contentForeign, "boot sector (0x55AA)"},
		{"fat32", at(size, 82, "FAT32   "), contentForeign, "vfat (FAT32)"},
		{"ntfs", at(size, 3, "NTFS    "), contentForeign, "ntfs"},
		{"iso9660", at(size, 0x8001, "CD001"), contentForeign, "iso9660"},
		{"lvm", at(size, 512, "LABELONE"), contentForeign, "lvm2 physical volume"},
		{"data in the head", at(size, 1<<20-1, "x"), contentForeign, "non-zero data at byte 1048575"},
		{"data in the tail", at(size, size-1, "x"), contentForeign, "non-zero data at byte 4194303 (1 before the end)"},
		{"data in the middle", at(size, 2<<20, "x"), contentBlank, ""}, // not read: see blankSpan
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := probe(bytes.NewReader(tt.dev), int64(len(tt.dev)))
			if err != nil || c.kind != tt.kind || c.what != tt.what {
				t.Errorf("probe = %v %q, %v; want %v %q", c.kind, c.what, err, tt.kind, tt.what)
			}
		})
	}
	if _, err := probe(bytes.NewReader(make([]byte, 100)), 200); err == nil {
		t.Error("probe of a device shorter than its size: no error")
	}
}

// TestProbeMkfs probes what Debian's tools write.
func TestProbeMkfs(t *testing.T) {
	tools := []struct {
		cmd, fix string
		args     []string
		what     string
	}{
		{"mkfs.vfat", "apt-get install -y dosfstools", []string{"-F", "32"}, "vfat (FAT32)"},
		{"mkfs.vfat", "apt-get install -y dosfstools", []string{"-F", "16"}, "vfat (FAT16)"},
		{"mkswap", "apt-get install -y util-linux", nil, "swap"},
		{"mkfs.ext4", "apt-get install -y e2fsprogs", []string{"-q", "-F", "-b", "4096", "-L", "other"}, "ext4"},
	}
	for _, tt := range tools {
		t.Run(tt.cmd+strings.Join(tt.args, ""), func(t *testing.T) {
			bin := testutil.NeedCommand(t, tt.cmd, tt.fix)
			img := filepath.Join(t.TempDir(), "disk.raw")
			if err := os.WriteFile(img, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, 64<<20); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, append(tt.args, img)...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tt.cmd, err, out)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c, err := probe(f, 64<<20)
			if err != nil || c.what != tt.what {
				t.Errorf("probe = %v %q, %v; want %q", c.kind, c.what, err, tt.what)
			}
			if tt.what == "ext4" && (c.label != "other" || c.blockSize != 4096 || c.blocks != 16384) {
				t.Errorf("ext4: label %q, %d blocks of %d", c.label, c.blocks, c.blockSize)
			}
		})
	}
}

func FuzzProbe(f *testing.F) {
	f.Add(superblockImage(ext4Magic, "bootapp-data"), int64(2048))
	f.Add([]byte{}, int64(0))
	f.Add(at(5000, 4086, "SWAPSPACE2"), int64(5000))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		if size > int64(len(b)) || size < 0 {
			size = int64(len(b))
		}
		c, err := probe(bytes.NewReader(b), size)
		if err != nil {
			t.Fatalf("probe of %d bytes with size %d: %v", len(b), size, err)
		}
		if c.kind == contentBlank && firstNonZero(b[:min(size, blankSpan)]) >= 0 {
			t.Fatalf("blank, but the head holds data")
		}
		resizeTarget(c, size) // must not panic
	})
}

func TestNormSerial(t *testing.T) {
	for in, want := range map[string]string{
		"vol-0123456789abcdef0":       "vol0123456789abcdef0",
		"vol0123456789abcdef0":        "vol0123456789abcdef0",
		" vol0123456789abcdef0    \n": "vol0123456789abcdef0",
		"d0":                          "d0",
		"":                            "",
	} {
		if got := normSerial(in); got != want {
			t.Errorf("normSerial(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChooseVolume(t *testing.T) {
	u1 := [16]byte{1}
	ext := func(name, label string, uuid [16]byte) *blockDev {
		return &blockDev{name: name, content: content{kind: contentExt4, label: label, uuid: uuid}}
	}
	blank := func(name, serial string) *blockDev {
		return &blockDev{name: name, serial: serial, content: content{kind: contentBlank}}
	}
	foreign := func(name, serial, what string) *blockDev {
		return &blockDev{name: name, serial: serial, content: content{kind: contentForeign, what: what}}
	}
	gpt := foreign("vda", "", "gpt partition table")
	esp := &blockDev{name: "vda1", partition: true, content: content{kind: contentForeign, what: "vfat (FAT32)"}}
	blankPart := &blockDev{name: "vdc1", partition: true, content: content{kind: contentBlank}}
	byLabel := volumeSel{label: "bootapp-data"}
	bySerial := volumeSel{label: "bootapp-data", serial: "vol0abc"}
	byUUID := volumeSel{label: "bootapp-data", uuid: guestconfig.FormatUUID(u1)}

	tests := []struct {
		name    string
		devs    []*blockDev
		sel     volumeSel
		final   bool
		want    string // device name, "" for none
		action  volumeAction
		wantErr error
	}{
		{"label match", []*blockDev{gpt, esp, ext("vdb", "bootapp-data", u1)}, byLabel, false, "vdb", actionMount, nil},
		{"label: other label only", []*blockDev{gpt, ext("vdb", "other", u1)}, byLabel, true, "", actionWait, errNoVolume},
		{"label: wait before formatting", []*blockDev{gpt, blank("vdb", "")}, byLabel, false, "", actionWait, nil},
		{"label: format the one blank disk", []*blockDev{gpt, esp, blank("vdb", "")}, byLabel, true, "vdb", actionFormat, nil},
		{"label: a match beats a blank disk", []*blockDev{blank("vdb", ""), ext("vdc", "bootapp-data", u1)}, byLabel, true, "vdc", actionMount, nil},
		{"label: two blank disks", []*blockDev{blank("vdb", ""), blank("vdc", "")}, byLabel, true, "", actionWait, errRefused},
		{"label: blank partition is not formatted", []*blockDev{blankPart}, byLabel, true, "", actionWait, errNoVolume},
		{"label: duplicate", []*blockDev{ext("vdb", "bootapp-data", u1), ext("vdc", "bootapp-data", [16]byte{2})}, byLabel, false, "", actionWait, errRefused},
		{"label: foreign disk untouched", []*blockDev{gpt, foreign("vdb", "", "vfat (FAT32)")}, byLabel, true, "", actionWait, errNoVolume},
		{"label: nothing yet", nil, byLabel, false, "", actionWait, nil},
		{"label: nothing at all", nil, byLabel, true, "", actionWait, errNoVolume},
		{"uuid match, other label", []*blockDev{ext("vdb", "bootapp-data", [16]byte{2}), ext("vdc", "x", u1)}, byUUID, false, "vdc", actionMount, nil},
		{"uuid: label alone is not enough", []*blockDev{ext("vdb", "bootapp-data", [16]byte{2})}, byUUID, true, "", actionWait, errNoVolume},
		{"uuid: format blank", []*blockDev{blank("vdb", "")}, byUUID, true, "vdb", actionFormat, nil},
		{"serial: blank formatted at once", []*blockDev{blank("nvme0n1", "vol0abc"), blank("nvme1n1", "vol0def")}, bySerial, false, "nvme0n1", actionFormat, nil},
		{"serial: ext4 with any label", []*blockDev{ext("vdb", "bootapp-data", u1), {name: "nvme1n1", serial: "vol0abc", content: content{kind: contentExt4, label: "old"}}}, bySerial, false, "nvme1n1", actionMount, nil},
		{"serial: foreign refused", []*blockDev{foreign("nvme1n1", "vol0abc", "xfs")}, bySerial, false, "nvme1n1", actionWait, errRefused},
		{"serial: absent", []*blockDev{blank("nvme1n1", "vol0def")}, bySerial, true, "", actionWait, errNoVolume},
		{"serial: not yet", []*blockDev{blank("nvme1n1", "vol0def")}, bySerial, false, "", actionWait, nil},
		{"serial and uuid: mismatch refused", []*blockDev{{name: "nvme1n1", serial: "vol0abc", content: content{kind: contentExt4, uuid: [16]byte{2}}}},
			volumeSel{label: "x", serial: "vol0abc", uuid: guestconfig.FormatUUID(u1)}, false, "nvme1n1", actionWait, errRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, action, err := chooseVolume(tt.devs, tt.sel, tt.final)
			got := ""
			if d != nil {
				got = d.name
			}
			if got != tt.want || action != tt.action || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("chooseVolume = %q, %v, %v; want %q, %v, %v", got, action, err, tt.want, tt.action, tt.wantErr)
			}
		})
	}
}

func TestFsckResult(t *testing.T) {
	for status, want := range map[int]fsckVerdict{
		-1: fsckNotRun, 0: fsckClean, 1: fsckFixed, 2: fsckFixed, 3: fsckFixed,
		4: fsckRefuse, 5: fsckRefuse, 8: fsckRefuse, 12: fsckRefuse, 32: fsckRefuse, 128: fsckRefuse,
	} {
		if got := fsckResult(status); got != want {
			t.Errorf("fsckResult(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestResizeTarget(t *testing.T) {
	ext := func(blocks uint64, bs uint32, incompat uint32) content {
		return content{kind: contentExt4, blocks: blocks, blockSize: bs, incompat: incompat}
	}
	tests := []struct {
		name   string
		c      content
		dev    int64
		want   uint64
		resize bool
	}{
		{"same size", ext(16384, 4096, incompat64Bit), 64 << 20, 0, false},
		{"mkfs left a short group out", ext(16384-500, 4096, incompat64Bit), 64 << 20, 0, false},
		{"grown 64 MiB to 256 MiB", ext(16384, 4096, incompat64Bit), 256 << 20, 65536, true},
		{"partial block ignored", ext(16384, 4096, incompat64Bit), 256<<20 + 100, 65536, true},
		{"shrunk disk", ext(65536, 4096, incompat64Bit), 64 << 20, 0, false},
		{"1 KiB blocks", ext(65536, 1024, 0), 128 << 20, 131072, true},
		{"no 64bit: stop at 2^32 blocks", ext(1<<32-2<<20, 4096, 0), 32 << 40, 1<<32 - 1, true},
		{"64bit: past 2^32 blocks", ext(1<<32-1, 4096, incompat64Bit), 32 << 40, 8 << 30, true},
		{"corrupt block size", ext(16384, 0, 0), 256 << 20, 0, false},
		{"not ext4", content{kind: contentBlank}, 256 << 20, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := resizeTarget(tt.c, tt.dev)
			if got != tt.want || ok != tt.resize {
				t.Errorf("resizeTarget = %d, %v; want %d, %v", got, ok, tt.want, tt.resize)
			}
		})
	}
}

func TestMountArgs(t *testing.T) {
	flags, data, err := mountArgs(nil)
	if err != nil || flags != msNoSUID|msNoDev|msNoATime || data != "" {
		t.Errorf("default: %#x %q %v", flags, data, err)
	}
	flags, data, err = mountArgs([]string{"relatime", "discard", "commit=30", "noexec"})
	if err != nil || flags != msNoSUID|msNoDev|msRelATime|msNoExec || data != "discard,commit=30" {
		t.Errorf("relatime,discard,commit=30,noexec: %#x %q %v", flags, data, err)
	}
	if _, _, err := mountArgs([]string{"suid"}); !errors.Is(err, errBadConfig) {
		t.Errorf("suid: %v, want errBadConfig", err)
	}
	for _, o := range guestconfig.MountFlagOptions {
		if mountFlags[o] == 0 {
			t.Errorf("guestconfig.MountFlagOptions has %q, which mountFlags lacks", o)
		}
	}
}

func TestNewSettingsData(t *testing.T) {
	base := func(d guestconfig.Data) *guestconfig.Config {
		return &guestconfig.Config{App: guestconfig.App{Path: "/app/x", UID: 1000, GID: 1000}, Data: d}
	}
	s, err := newSettings(base(guestconfig.Data{Label: "l", UUID: "0F4C2A8E-3B1D-4E5F-9A7B-6C8D9E0F1A2B", Serial: "vol-0abc", MountOptions: []string{"lazytime", "data=journal"}}))
	if err != nil {
		t.Fatal(err)
	}
	want := volumeSel{label: "l", uuid: "0f4c2a8e-3b1d-4e5f-9a7b-6c8d9e0f1a2b", serial: "vol0abc"}
	if s.dataSel != want || s.mountFlags != msNoSUID|msNoDev|msLazyTime || s.mountData != "data=journal" {
		t.Errorf("settings: %+v, %#x, %q", s.dataSel, s.mountFlags, s.mountData)
	}
	for _, d := range []guestconfig.Data{{Label: "l", UUID: "nope"}, {Label: "l", MountOptions: []string{"suid"}}} {
		if _, err := newSettings(base(d)); !errors.Is(err, errBadConfig) {
			t.Errorf("newSettings(%+v) = %v, want errBadConfig", d, err)
		}
	}
}
