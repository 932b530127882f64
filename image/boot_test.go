package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/testutil"
)

func TestMinBootDiskSize(t *testing.T) {
	tests := []struct {
		name string
		f    *BootFiles
		want int64
	}{
		{"nil", nil, 66 * mib},
		{"small", fakeBootFiles(), 66 * mib},
		// 70 MB of kernel does not fit a 64 MiB ESP: 512-byte clusters,
		// plus FAT overhead, so the ESP grows to whole MiB beyond it.
		{"70MB kernel", &BootFiles{Kernel: make([]byte, 70_000_000)}, 2*mib + 68*mib},
		// 300 MB: the ESP passes 260 MiB and switches to 4 KiB clusters.
		{"300MB initrd", &BootFiles{Initrd: make([]byte, 300_000_000)}, 2*mib + 287*mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MinBootDiskSize(tt.f)
			if got != tt.want {
				t.Errorf("MinBootDiskSize = %s, want %s", fmtSize(got), fmtSize(tt.want))
			}
			if got%mib != 0 {
				t.Errorf("MinBootDiskSize = %d, not a whole MiB", got)
			}
		})
	}
}

// TestFAT32Layout checks the ESP size arithmetic against the FAT rules
// for every ESP size from 64 MiB to 600 MiB: enough clusters for FAT32,
// and a FAT that addresses all of them (the go-diskfs sizing bug that
// fat32FSSize works around).
func TestFAT32Layout(t *testing.T) {
	for s := int64(minESPSize); s <= 600*mib; s += mib {
		fsSize := fat32FSSize(s)
		clusters, entries := fat32Layout(fsSize)
		if clusters+2 > entries {
			t.Errorf("ESP of %s: FAT has %d entries for %d clusters", fmtSize(s), entries, clusters)
		}
		if clusters < minFAT32Clusters {
			t.Errorf("ESP of %s: %d clusters, FAT32 needs %d", fmtSize(s), clusters, minFAT32Clusters)
		}
		if fsSize > s || s-fsSize >= 64*sectorSize {
			t.Errorf("ESP of %s: file system of %d bytes", fmtSize(s), fsSize)
		}
	}
}

func TestWriteBootDiskErrors(t *testing.T) {
	good := fakeBootFiles()
	with := func(mod func(f *BootFiles)) *BootFiles {
		f := *good
		mod(&f)
		return &f
	}
	tests := []struct {
		name    string
		f       *BootFiles
		size    int64
		wantErr error
		wantMsg string
	}{
		{"nil files", nil, 0, ErrBadBootFiles, "no boot files"},
		{"no loader", with(func(f *BootFiles) { f.Loader = nil }), 0, ErrBadBootFiles, "boot loader is empty"},
		{"loader not PE", with(func(f *BootFiles) { f.Loader = []byte("!<arch>\n") }), 0, ErrBadBootFiles, "not an EFI (PE) image"},
		{"no kernel", with(func(f *BootFiles) { f.Kernel = nil }), 0, ErrBadBootFiles, "kernel is empty"},
		{"kernel not PE", with(func(f *BootFiles) { f.Kernel = []byte{0x7f, 'E', 'L', 'F'} }), 0, ErrBadBootFiles, "not an EFI-stub image"},
		{"cmdline newline", with(func(f *BootFiles) { f.Cmdline = "a\ninitrd /evil" }), 0, ErrBadBootFiles, "spans several lines"},
		{"title newline", with(func(f *BootFiles) { f.Title = "x\r" }), 0, ErrBadBootFiles, "spans several lines"},
		{"too small", good, 65 * mib, ErrTooSmall, "boot disk of 65 MiB cannot hold kernel+initramfs (4.0 MiB); use at least 66 MiB"},
		{"unaligned", good, 66*mib + 100, ErrBadSize, "not a positive multiple of 512"},
		{"negative", good, -512, ErrBadSize, "not a positive multiple of 512"},
		{"huge", good, 4 << 40, ErrBadSize, "exceeds the 2 TiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "boot.raw")
			err := WriteBootDisk(context.Background(), p, tt.f, tt.size)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
			if _, serr := os.Stat(p); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("%s left behind after error (stat: %v)", p, serr)
			}
		})
	}
}

func TestWriteBootDiskCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := filepath.Join(t.TempDir(), "boot.raw")
	if err := WriteBootDisk(ctx, p, fakeBootFiles(), 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind after cancellation", p)
	}
}

// TestWriteBootDisk writes boot disks of several sizes and checks them with
// the real tools: sfdisk and sgdisk for the GPT, fsck.fat for the ESP,
// mtools for its contents.
func TestWriteBootDisk(t *testing.T) {
	sfdisk := needTool(t, "sfdisk", "fdisk")
	sgdisk := needTool(t, "sgdisk", "gdisk")
	fsck := needTool(t, "fsck.fat", "dosfstools")
	mdir := needTool(t, "mdir", "mtools")

	f := fakeBootFiles()
	tests := []struct {
		name     string
		f        *BootFiles
		size     int64
		wantSize int64
	}{
		{"minimum", f, 0, 66 * mib},
		{"explicit minimum", f, 66 * mib, 66 * mib},
		{"1 GiB disk", f, 1 << 30, 1 << 30},
		{"odd sectors", f, 100*mib + 7*512, 100*mib + 7*512},
		{"no initrd, no cmdline", &BootFiles{Loader: f.Loader, Kernel: f.Kernel}, 0, 66 * mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, "boot.raw")
			if err := WriteBootDisk(context.Background(), p, tt.f, tt.size); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != tt.wantSize {
				t.Errorf("size = %d, want %d", fi.Size(), tt.wantSize)
			}
			contents := int64(len(tt.f.Loader) + len(tt.f.Kernel) + len(tt.f.Initrd))
			if a := allocated(t, p); holePunching && a > contents+2*mib {
				t.Errorf("allocated %s for %s of contents: not sparse", fmtSize(a), fmtSize(contents))
			}

			// Partition table.
			out, code := run(t, sfdisk, "--json", p)
			if code != 0 {
				t.Fatalf("sfdisk --json: exit %d: %s", code, out)
			}
			var pt struct {
				PartitionTable struct {
					Label      string
					SectorSize int
					Partitions []struct {
						Start, Size int64
						Type, Name  string
					}
				}
			}
			if err := json.Unmarshal([]byte(out), &pt); err != nil {
				t.Fatalf("sfdisk --json: %v: %s", err, out)
			}
			tab := pt.PartitionTable
			if tab.Label != "gpt" || len(tab.Partitions) != 1 {
				t.Fatalf("want one GPT partition, got %+v", tab)
			}
			esp := tab.Partitions[0]
			if esp.Type != "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" {
				t.Errorf("partition type %s, want EFI System", esp.Type)
			}
			if esp.Start*512%mib != 0 || esp.Size*512%mib != 0 {
				t.Errorf("ESP start %d size %d sectors: not 1 MiB aligned", esp.Start, esp.Size)
			}
			if esp.Size*512 < minESPSize {
				t.Errorf("ESP of %d sectors, want >= 64 MiB", esp.Size)
			}
			out, code = run(t, sgdisk, "-v", p)
			if code != 0 || !strings.Contains(out, "No problems found") {
				t.Errorf("sgdisk -v: exit %d: %s", code, out)
			}
			// Protective MBR: one partition of type 0xEE from LBA 1.
			disk, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer disk.Close()
			raw := make([]byte, 512)
			if _, err := disk.ReadAt(raw, 0); err != nil {
				t.Fatal(err)
			}
			if raw[450] != 0xee || raw[510] != 0x55 || raw[511] != 0xaa {
				t.Errorf("no protective MBR: type %#x, signature %#x %#x", raw[450], raw[510], raw[511])
			}

			// ESP file system.
			espImg := filepath.Join(dir, "esp.img")
			espData := make([]byte, esp.Size*512)
			if _, err := disk.ReadAt(espData, esp.Start*512); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(espImg, espData, 0o644); err != nil {
				t.Fatal(err)
			}
			out, code = run(t, fsck, "-n", "-v", espImg)
			if code != 0 || strings.Contains(out, "Fixing") || strings.Contains(out, "should be") {
				t.Errorf("fsck.fat -n: exit %d: %s", code, out)
			}
			if !strings.Contains(out, "32 bit entries") {
				t.Errorf("ESP is not FAT32: %s", out)
			}

			// Contents, byte for byte.
			want := map[string][]byte{
				"/EFI/BOOT/BOOTX64.EFI":        tt.f.Loader,
				"/bootapp/linux":               tt.f.Kernel,
				"/loader/loader.conf":          []byte("timeout 0\ndefault bootapp.conf\neditor no\nrandom-seed-mode off\n"),
				"/loader/entries/bootapp.conf": entryConf(tt.f),
			}
			if len(tt.f.Initrd) > 0 {
				want["/bootapp/initrd"] = tt.f.Initrd
			}
			for name, data := range want {
				if got := readESPFile(t, p, name); !bytes.Equal(got, data) {
					t.Errorf("%s: %d bytes differ from the %d written", name, len(got), len(data))
				}
			}

			// Every entry carries the fixed timestamp; nothing else is there.
			out, code = run(t, mdir, "-/", "-a", "-i", p+"@@1M", "::")
			if code != 0 {
				t.Fatalf("mdir: exit %d: %s", code, out)
			}
			for _, d := range regexp.MustCompile(`\d{4}-\d\d-\d\d +\d+:\d\d`).FindAllString(out, -1) {
				if !strings.HasPrefix(d, "1980-01-01") || !strings.HasSuffix(d, " 0:00") {
					t.Errorf("entry stamped %q, want 1980-01-01 0:00", d)
				}
			}
			if n := strings.Count(out, "1980-01-01"); n < 9+len(want) {
				t.Errorf("mdir lists %d entries, want %d or more:\n%s", n, 9+len(want), out)
			}
		})
	}
}

func TestEntryConf(t *testing.T) {
	tests := []struct {
		name string
		f    BootFiles
		want string
	}{
		{"full", BootFiles{Title: "bootapp: hello", Cmdline: "console=ttyS0 quiet", Initrd: []byte{1}},
			"title bootapp: hello\nlinux /bootapp/linux\ninitrd /bootapp/initrd\noptions console=ttyS0 quiet\n"},
		{"defaults", BootFiles{}, "title bootapp\nlinux /bootapp/linux\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(entryConf(&tt.f)); got != tt.want {
				t.Errorf("entryConf = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWriteBootDiskReproducible checks that equal inputs give equal bytes
// and that different inputs give different disk identities.
func TestWriteBootDiskReproducible(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, f *BootFiles) string {
		p := filepath.Join(dir, name)
		if err := WriteBootDisk(context.Background(), p, f, 0); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := fakeBootFiles()
	a := write("a.raw", f)
	// go-diskfs stamps FAT entries with SOURCE_DATE_EPOCH when set, else
	// the clock: a different epoch stands in for building at another time
	// without sleeping, so any entry left unstamped shows up as a diff.
	t.Setenv("SOURCE_DATE_EPOCH", "1000000000")
	b := write("b.raw", f)
	if testutil.FileSHA256(t, a) != testutil.FileSHA256(t, b) {
		t.Fatal("two boot disks from the same inputs, built at different times, differ")
	}
	g := *f
	g.Cmdline += " quiet"
	c := write("c.raw", &g)
	ida, idc := deriveIDs(f, 66*mib), deriveIDs(&g, 66*mib)
	if ida.disk == idc.disk || ida.esp == idc.esp || ida.fatSerial == idc.fatSerial || ida.disk == ida.esp {
		t.Errorf("identities do not depend on contents: %+v vs %+v", ida, idc)
	}
	rawA, _ := os.ReadFile(a)
	rawC, _ := os.ReadFile(c)
	// The disk GUID sits at offset 56 of the primary GPT header (LBA 1).
	if bytes.Equal(rawA[512+56:512+72], rawC[512+56:512+72]) {
		t.Error("disks with different command lines share a disk GUID")
	}
}

// TestWriteESPLarge writes an ESP above 260 MiB, where go-diskfs switches
// to 4 KiB clusters, and checks it with fsck.fat and mtools.
func TestWriteESPLarge(t *testing.T) {
	fsck := needTool(t, "fsck.fat", "dosfstools")
	p := filepath.Join(t.TempDir(), "esp.img")
	const size = 300 * mib
	sf, err := createSparse(p, size)
	if err != nil {
		t.Fatal(err)
	}
	f := fakeBootFiles()
	if err := writeESP(context.Background(), sf, 0, size, espFiles(f), 0x12345678); err != nil {
		t.Fatal(err)
	}
	if err := sf.Close(); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, fsck, "-n", "-v", p)
	if code != 0 || strings.Contains(out, "Fixing") || strings.Contains(out, "should be") {
		t.Errorf("fsck.fat -n: exit %d: %s", code, out)
	}
	if !strings.Contains(out, "4096 bytes per cluster") {
		t.Errorf("want 4 KiB clusters: %s", out)
	}
	mcopy := needTool(t, "mcopy", "mtools")
	got, err := exec.Command(mcopy, "-n", "-i", p, "::/bootapp/linux", "-").Output()
	if err != nil || !bytes.Equal(got, f.Kernel) {
		t.Errorf("kernel read back: %d bytes, err %v; want the %d written", len(got), err, len(f.Kernel))
	}
	out, _ = run(t, "minfo", "-i", p, "::")
	if !strings.Contains(out, "serial number: 12345678") {
		t.Errorf("volume serial not set: %s", out)
	}
}

// TestKernelAligned writes boot disks whose ESPs differ in size (and so in
// the size of their FATs, which moves every file after them) and wants the
// kernel to start at a multiple of 64 KiB of the disk each time (within a
// cluster of it, with 4 KiB clusters), the file system clean and the
// kernel intact: then its grains are the same in every disk.
func TestKernelAligned(t *testing.T) {
	fsck := needTool(t, "fsck.fat", "dosfstools")
	base := fakeBootFiles()
	for _, initrd := range []int{0, 1 << 20, 80 << 20, 81<<20 + 4567, 300 << 20} {
		t.Run(fmtSize(int64(initrd)), func(t *testing.T) {
			t.Parallel()
			f := *base
			f.Initrd = make([]byte, initrd)
			copy(f.Initrd, "initrd")
			p := filepath.Join(t.TempDir(), "boot.raw")
			if err := WriteBootDisk(context.Background(), p, &f, 0); err != nil {
				t.Fatal(err)
			}
			disk, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer disk.Close()
			fi, _ := disk.Stat()
			part := io.NewSectionReader(disk, espStart, fi.Size()-espStart-diskTail)
			fs, err := openFAT32(part)
			if err != nil {
				t.Fatal(err)
			}
			e, err := fs.lookup(kernelPath)
			if err != nil {
				t.Fatal(err)
			}
			off := espStart + fs.dataStart + int64(e.cluster-2)*fs.clusterBytes
			if short := (kernelAlign - off%kernelAlign) % kernelAlign; short >= fs.clusterBytes {
				t.Errorf("ESP %s (%d-byte clusters): kernel at disk offset %d, %d bytes short of a multiple of 64 KiB", fmtSize(part.Size()), fs.clusterBytes, off, short)
			}
			got := make([]byte, len(f.Kernel))
			if _, err := disk.ReadAt(got, off); err != nil || !bytes.Equal(got, f.Kernel) {
				t.Errorf("kernel at %d: not the kernel (%v)", off, err)
			}
			esp := filepath.Join(t.TempDir(), "esp.img")
			if out, err := exec.Command("dd", "if="+p, "of="+esp, "bs=1M", "skip=1", fmt.Sprintf("count=%d", part.Size()>>20), "status=none").CombinedOutput(); err != nil {
				t.Fatalf("dd: %v: %s", err, out)
			}
			if out, code := run(t, fsck, "-n", esp); code != 0 || strings.Contains(out, "Fixing") {
				t.Errorf("fsck.fat -n: exit %d: %s", code, out)
			}
			t.Logf("ESP %s, %d-byte clusters: kernel at %d", fmtSize(part.Size()), fs.clusterBytes, off)
		})
	}
}
