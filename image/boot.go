package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/google/uuid"
)

// BootFiles are the contents of the EFI system partition.
type BootFiles struct {
	Loader  []byte // UEFI boot loader, written as /EFI/BOOT/BOOTX64.EFI (systemd-bootx64.efi)
	Kernel  []byte // bzImage, written as /bootapp/linux
	Initrd  []byte // initramfs, written as /bootapp/initrd
	Cmdline string // kernel command line for the loader entry
	Title   string // boot entry title, e.g. "bootapp: hello"

	// InitrdReader, if not nil, holds the initramfs instead of Initrd
	// (which must then be empty): InitrdSize bytes from offset 0, read
	// in bounded chunks, so that an initramfs of any size costs no more
	// than a few MiB of memory. WriteBootDisk reads it twice at once
	// (io.ReaderAt allows parallel calls): to write it and to hash it.
	// An *os.File of a staged initramfs serves. It must not change until
	// WriteBootDisk returns.
	InitrdReader io.ReaderAt
	// InitrdSize is the size of InitrdReader's initramfs in bytes.
	InitrdSize int64
}

// initrdSize returns the size of the initramfs f holds, in either form.
func (f *BootFiles) initrdSize() int64 {
	if f.InitrdReader != nil {
		return f.InitrdSize
	}
	return int64(len(f.Initrd))
}

// ErrBadBootFiles is wrapped when BootFiles cannot make a bootable disk:
// a missing loader or kernel, a file that is not a PE/EFI image, or a
// title or command line spanning several lines.
var ErrBadBootFiles = errors.New("invalid boot files")

// Layout of the boot disk. Everything is aligned to 1 MiB, which suits every
// hypervisor and cloud (Azure even requires whole MiB disk sizes).
const (
	// espStart is where the ESP begins: LBA 2048.
	espStart = 1 * mib
	// minESPSize keeps the ESP FAT32 with at least 65525 clusters: EDK2
	// (OVMF) rejects smaller FAT32 volumes as corrupt.
	minESPSize = 64 * mib
	// diskTail is left after the ESP for the backup GPT (33 sectors),
	// rounded up to keep the disk size a whole number of MiB.
	diskTail = 1 * mib
	// maxBootDiskSize is the largest disk the protective MBR can describe
	// (a 32-bit sector count).
	maxBootDiskSize = (1 << 32) * sectorSize
	// minFAT32Clusters is the FAT32 minimum cluster count (FAT spec).
	minFAT32Clusters = 65525
)

// The files on the ESP, as systemd-boot finds them.
const (
	loaderPath     = "/EFI/BOOT/BOOTX64.EFI"
	loaderConfPath = "/loader/loader.conf"
	entryPath      = "/loader/entries/bootapp.conf"
	kernelPath     = "/bootapp/linux"
	initrdPath     = "/bootapp/initrd"
	padPath        = "/bootapp/pad"
	// kernelAlign is where on the disk the kernel starts: a multiple of
	// 64 KiB, the VMDK grain. Then the kernel, the initramfs's base and
	// runtime segments after it fill the same grains (and GCE chunks) in
	// every disk built with them, whatever the ESP's size, and the
	// cache's compressed grains (image/memo) serve the next release.
	// padPath, a file of zeros before the kernel, moves it there.
	kernelAlign     = 64 << 10
	espLabel        = "ESP"
	espPartName     = "EFI System Partition"
	defaultTitle    = "bootapp"
	fatClusterDirs  = 6 * 2 // six directories, two clusters each at most
	fatClusterSlack = 16
)

// loaderConf is /loader/loader.conf. random-seed-mode off stops
// systemd-boot (252 understands the option) from writing
// /loader/random-seed into the ESP: the boot disk must stay immutable.
const loaderConf = "timeout 0\ndefault bootapp.conf\neditor no\nrandom-seed-mode off\n"

// entryConf returns /loader/entries/bootapp.conf.
func entryConf(f *BootFiles) []byte {
	title := f.Title
	if title == "" {
		title = defaultTitle
	}
	var b strings.Builder
	fmt.Fprintf(&b, "title %s\nlinux %s\n", title, kernelPath)
	if f.initrdSize() > 0 {
		fmt.Fprintf(&b, "initrd %s\n", initrdPath)
	}
	if f.Cmdline != "" {
		fmt.Fprintf(&b, "options %s\n", f.Cmdline)
	}
	return []byte(b.String())
}

// espFiles lists what goes on the ESP, in write order.
func espFiles(f *BootFiles) []espFile {
	files := []espFile{
		bytesFile(loaderPath, f.Loader),
		bytesFile(loaderConfPath, []byte(loaderConf)),
		bytesFile(entryPath, entryConf(f)),
		alignedFile(bytesFile(kernelPath, f.Kernel)),
	}
	switch {
	case f.InitrdReader != nil && f.InitrdSize > 0:
		files = append(files, espFile{path: initrdPath, r: f.InitrdReader, size: f.InitrdSize})
	case f.InitrdReader == nil && len(f.Initrd) > 0:
		files = append(files, bytesFile(initrdPath, f.Initrd))
	}
	return files
}

// espFile is one file on the ESP: size bytes read from r.
type espFile struct {
	path string
	r    io.ReaderAt
	size int64
	// align, if not 0, is where on the disk the file should start: a
	// multiple of it, after a pad file (see padTo).
	align int64
}

// alignedFile returns fl to be written at a multiple of kernelAlign.
func alignedFile(fl espFile) espFile {
	fl.align = kernelAlign
	return fl
}

// bytesFile returns an espFile holding b.
func bytesFile(path string, b []byte) espFile {
	return espFile{path: path, r: bytes.NewReader(b), size: int64(len(b))}
}

// MinBootDiskSize returns the smallest boot disk that holds f: 1 MiB for
// the GPT and alignment, the ESP (at least 64 MiB, more if the files need
// it) and 1 MiB for the backup GPT. It returns 66 MiB for small contents
// and for a nil f.
func MinBootDiskSize(f *BootFiles) int64 {
	if f == nil {
		f = &BootFiles{}
	}
	return espStart + minESPSizeFor(espFiles(f)) + diskTail
}

// minESPSizeFor returns the smallest ESP, in whole MiB, that holds files.
func minESPSizeFor(files []espFile) int64 {
	var total int64
	for _, fl := range files {
		total += fl.size
	}
	s := max(minESPSize, (total+mib-1)/mib*mib)
	for ; s < maxBootDiskSize; s += mib {
		if espFits(files, s) {
			return s
		}
	}
	return s
}

// espFits reports whether a FAT32 file system in a partition of size bytes
// holds files.
func espFits(files []espFile, size int64) bool {
	fsSize := fat32FSSize(size)
	c := fat32ClusterSize(fsSize)
	need := int64(fatClusterDirs + fatClusterSlack)
	for _, fl := range files {
		need += max(1, (fl.size+c-1)/c)
		if fl.align > 0 {
			need += fl.align / c // the pad file
		}
	}
	have, _ := fat32Layout(fsSize)
	return have >= minFAT32Clusters && have >= need
}

// fat32FSSize returns the size of the FAT32 file system written into a
// partition of partSize bytes: the largest size, at most a few sectors
// short of the partition, whose FAT can address every data cluster.
//
// go-diskfs v1.9.4 fat32.Create sizes the FAT with a closed formula that,
// for some sizes (64 MiB among them), gives a FAT two entries short of the
// cluster count; fsck.fat then reports "Filesystem has N clusters but only
// space for N-2 FAT entries" and firmware may reject the volume. Leaving
// the partition's last sector or two unused avoids those sizes.
func fat32FSSize(partSize int64) int64 {
	for s := partSize; s > partSize-64*sectorSize; s -= sectorSize {
		if clusters, entries := fat32Layout(s); clusters+2 <= entries {
			return s
		}
	}
	return partSize
}

// fat32ClusterSize mirrors go-diskfs v1.9.4 fat32.Create.
func fat32ClusterSize(size int64) int64 {
	switch {
	case size <= 260*mib:
		return 512
	case size <= 8<<30:
		return 4 << 10
	case size <= 16<<30:
		return 8 << 10
	case size <= 32<<30:
		return 16 << 10
	}
	return 32 << 10
}

// fat32Layout mirrors go-diskfs v1.9.4 fat32.Create for a volume of size
// bytes (32 reserved sectors, two FATs): it returns the number of data
// clusters and the number of entries one FAT holds.
func fat32Layout(size int64) (clusters, entries int64) {
	const reserved = 32
	spc := fat32ClusterSize(size) / sectorSize
	total := size / sectorSize
	if total <= reserved {
		return 0, 0
	}
	denom := sectorSize*spc + 8
	spf := (4*(total-reserved) + denom - 1) / denom
	data := total - reserved - 2*spf
	if data <= 0 {
		return 0, 0
	}
	return data / spc, spf * sectorSize / 4
}

// WriteBootDisk writes a sparse raw GPT disk of the given size
// (0 = MinBootDiskSize) to path: a protective MBR, a GPT whose only
// partition is the EFI system partition (FAT32, from 1 MiB), holding
// systemd-boot as /EFI/BOOT/BOOTX64.EFI, its configuration in /loader, and
// the kernel and initramfs in /bootapp. The rest of a disk larger than the
// minimum stays unpartitioned.
//
// The output is reproducible: the same BootFiles and size give
// byte-identical disks, whichever form the initramfs has. The disk and
// partition GUIDs and the FAT volume ID derive from a SHA-256 of the
// contents (computed while the files are written), and every FAT
// timestamp is 1980-01-01 00:00:00.
//
// A size below MinBootDiskSize fails with ErrTooSmall. The file at path is
// created or truncated; on error it is removed.
func WriteBootDisk(ctx context.Context, path string, f *BootFiles, size int64) (err error) {
	if err := checkBootFiles(f); err != nil {
		return fmt.Errorf("boot disk %s: %w", path, err)
	}
	files := espFiles(f)
	espSize := minESPSizeFor(files)
	need := espStart + espSize + diskTail
	switch {
	case size == 0:
		size = need
	case size < 0 || size%sectorSize != 0:
		return fmt.Errorf("boot disk %s: size %d is not a positive multiple of %d bytes: %w", path, size, sectorSize, ErrBadSize)
	case size > maxBootDiskSize:
		return fmt.Errorf("boot disk %s: size %s exceeds the 2 TiB a protective MBR can describe: %w", path, fmtSize(size), ErrBadSize)
	case size < need:
		return fmt.Errorf("boot disk of %s cannot hold kernel+initramfs (%s); use at least %s: %w",
			fmtSize(size), fmtSize(int64(len(f.Kernel))+f.initrdSize()), fmtSize(need), ErrTooSmall)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boot disk %s: %w", path, err)
	}
	// The identities hash the contents, on another core while the ESP is
	// written; the partition table, which holds the GUIDs, is written
	// after the ESP.
	hctx, stopHash := context.WithCancel(ctx)
	hashed := make(chan idResult, 1)
	go func() {
		ids, err := hashIDs(hctx, f, files, size)
		hashed <- idResult{ids, err}
	}()
	waitIDs := sync.OnceValue(func() idResult { return <-hashed })
	defer func() { stopHash(); waitIDs() }() // on every return, the hashing has ended

	sf, err := createSparse(path, size)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sf.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()

	if err := writeESPFiles(ctx, sf, espStart, espSize, files); err != nil {
		return fmt.Errorf("boot disk %s: %w", path, err)
	}
	r := waitIDs()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boot disk %s: %w", path, err)
	}
	if r.err != nil {
		return fmt.Errorf("boot disk %s: read the initramfs: %w", path, r.err)
	}
	ids := r.diskIDs
	table := &gpt.Table{
		LogicalSectorSize:  sectorSize,
		PhysicalSectorSize: sectorSize,
		ProtectiveMBR:      true,
		GUID:               ids.disk.String(),
		Partitions: []*gpt.Partition{{
			Index: 1,
			Start: uint64(espStart / sectorSize),
			End:   uint64((espStart+espSize)/sectorSize - 1),
			Type:  gpt.EFISystemPartition,
			Name:  espPartName,
			GUID:  ids.esp.String(),
		}},
	}
	if err := table.Write(sf, size); err != nil {
		return fmt.Errorf("write partition table of boot disk %s: %w", path, err)
	}
	if err := fixFAT32(sf, espStart, ids.fatSerial); err != nil {
		return fmt.Errorf("boot disk %s: %w", path, err)
	}
	return nil
}

// checkBootFiles rejects contents that cannot boot.
func checkBootFiles(f *BootFiles) error {
	switch {
	case f == nil:
		return fmt.Errorf("%w: no boot files given", ErrBadBootFiles)
	case len(f.Loader) == 0:
		return fmt.Errorf("%w: the boot loader is empty (want systemd-bootx64.efi)", ErrBadBootFiles)
	case !isPE(f.Loader):
		return fmt.Errorf("%w: the boot loader is not an EFI (PE) image; pass systemd-bootx64.efi itself, not its package", ErrBadBootFiles)
	case len(f.Kernel) == 0:
		return fmt.Errorf("%w: the kernel is empty", ErrBadBootFiles)
	case !isPE(f.Kernel):
		return fmt.Errorf("%w: the kernel is not an EFI-stub image (no MZ header); pass the vmlinuz bzImage", ErrBadBootFiles)
	case strings.ContainsAny(f.Title, "\r\n"):
		return fmt.Errorf("%w: the boot entry title %q spans several lines", ErrBadBootFiles, f.Title)
	case strings.ContainsAny(f.Cmdline, "\r\n"):
		return fmt.Errorf("%w: the kernel command line %q spans several lines", ErrBadBootFiles, f.Cmdline)
	case f.InitrdReader != nil && len(f.Initrd) > 0:
		return fmt.Errorf("%w: the initramfs is given twice (Initrd and InitrdReader)", ErrBadBootFiles)
	case f.InitrdReader == nil && f.InitrdSize != 0:
		return fmt.Errorf("%w: InitrdSize %d without an InitrdReader", ErrBadBootFiles, f.InitrdSize)
	case f.InitrdSize < 0:
		return fmt.Errorf("%w: negative InitrdSize %d", ErrBadBootFiles, f.InitrdSize)
	}
	return nil
}

// isPE reports whether b starts like a PE/COFF image (DOS "MZ" header), as
// every UEFI executable and every EFI-stub kernel does.
func isPE(b []byte) bool { return bytes.HasPrefix(b, []byte("MZ")) }

// diskIDs are the identifiers of a boot disk, derived from its contents.
type diskIDs struct {
	disk, esp uuid.UUID
	fatSerial uint32
}

// idResult is what hashIDs returns.
type idResult struct {
	diskIDs
	err error
}

// hashIDs returns the identities of a disk of size bytes holding f, whose
// initramfs it reads from files (the ESP's files of f).
func hashIDs(ctx context.Context, f *BootFiles, files []espFile, size int64) (diskIDs, error) {
	h := newIDHash(f)
	for _, fl := range files {
		if fl.path == initrdPath {
			if err := copyESPFile(ctx, h, fl, make([]byte, 1<<20)); err != nil {
				return diskIDs{}, err
			}
		}
	}
	return h.ids(f, size), nil
}

// deriveIDs returns the identities WriteBootDisk gives a disk of size bytes
// holding f, whose initramfs is in memory (Initrd): the same inputs give the
// same GUIDs, while different builds still get different ones.
func deriveIDs(f *BootFiles, size int64) diskIDs {
	h := newIDHash(f)
	h.Write(f.Initrd)
	return h.ids(f, size)
}

// idHash is the hash the disk identities derive from: the length and the
// bytes of the loader, the kernel and the initramfs, then of the command
// line and the title, then the disk size. newIDHash hashes up to the
// initramfs's length; its bytes are to be written to the idHash.
type idHash struct{ h hash.Hash }

func newIDHash(f *BootFiles) *idHash {
	x := &idHash{h: sha256.New()}
	x.field(f.Loader)
	x.field(f.Kernel)
	x.length(f.initrdSize())
	return x
}

// Write hashes bytes of the initramfs.
func (x *idHash) Write(p []byte) (int, error) { return x.h.Write(p) }

func (x *idHash) length(n int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	x.h.Write(b[:])
}

func (x *idHash) field(b []byte) {
	x.length(int64(len(b)))
	x.h.Write(b)
}

// ids finishes the hash and derives the identities.
func (x *idHash) ids(f *BootFiles, size int64) diskIDs {
	x.field([]byte(f.Cmdline))
	x.field([]byte(f.Title))
	x.length(size)
	sum := x.h.Sum(nil)
	tagged := func(tag string) []byte { return append(append([]byte(nil), sum...), tag...) }
	// The namespace of bootapp boot disks: a name-based UUID of the
	// package's URL.
	ns := uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/bootapp/bootapp/image"))
	serial := sha256.Sum256(tagged("fat"))
	return diskIDs{
		disk:      uuid.NewSHA1(ns, tagged("disk")),
		esp:       uuid.NewSHA1(ns, tagged("esp")),
		fatSerial: binary.LittleEndian.Uint32(serial[:4]),
	}
}
