package vmdk

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/bootapp/bootapp/image/memo"
)

// AdapterType is the virtual disk controller the descriptor names
// (ddb.adapterType). It also decides the BIOS geometry.
type AdapterType string

// The adapter types VMware knows.
const (
	// LSILogic is the LSI Logic parallel SCSI controller, what vSphere and
	// most OVF tools expect by default.
	LSILogic AdapterType = "lsilogic"
	// BusLogic is the BusLogic SCSI controller.
	BusLogic AdapterType = "buslogic"
	// IDE is an IDE controller.
	IDE AdapterType = "ide"
	// LSISAS is the LSI Logic SAS controller.
	LSISAS AdapterType = "lsisas1068"
	// PVSCSI is VMware's paravirtual SCSI controller.
	PVSCSI AdapterType = "pvscsi"
)

// Options tunes the encoders. The zero value gives the documented defaults.
type Options struct {
	// AdapterType goes into the descriptor. Default: LSILogic.
	AdapterType AdapterType
	// ExtentName is the file name the descriptor's extent line carries.
	// VMware expects the VMDK's own base name. Default: "disk.vmdk".
	ExtentName string
	// CID is the content ID. Zero derives it from the content, which keeps
	// the output reproducible.
	CID uint32
	// Level is the zlib level for streamOptimized grains (1 fastest, 9
	// smallest). Zero selects DefaultLevel.
	Level int
	// Workers is how many grains are compressed in parallel. Zero selects
	// GOMAXPROCS.
	Workers int
	// Memo, if not nil, keeps compressed grains across encodes: a grain
	// compressed before (the kernel's, in the next release's image) is
	// copied from it instead of compressed again. The output is the same
	// with or without it.
	Memo *memo.Store
}

// DefaultLevel is the zlib level used for streamOptimized grains when
// Options.Level is zero. Grains are compressed by package
// image/internal/deflate, which matches 3-byte strings as zlib does (Go's
// encoders match 4 bytes or more: 12.2 MB at any level on the Debian 6.1
// cloud kernel, an LZ4 image, in 64 KiB grains; 11.27 MB here) and ends
// Huffman blocks where the statistics change. At its level 5 the grains
// of the hello boot disk take 18.05 MB, against 19.26 MB with
// klauspost/compress level 7 (this package's encoder before), in about
// 0.95 times its time; the VMDK is 18.32 MB, qemu-img's (zlib level 6)
// 18.38 MB. Level 6 gives 0.15% less for about 8% more time. Levels 1 to
// 3 match greedily as zlib's do, and come out larger than qemu-img's.
const DefaultLevel = 5

const (
	sector       = 512
	grainSectors = 128 // 64 KiB grains, what VMware and QEMU use
	grainSize    = grainSectors * sector
	gtEntries    = 512 // grain table entries: one table covers 32 MiB
	gtSectors    = gtEntries * 4 / sector

	magic = 0x564d444b // "KDMV" little-endian

	flagNewlineTest = 1 << 0
	flagRedundantGD = 1 << 1
	flagCompressed  = 1 << 16
	flagMarkers     = 1 << 17

	gdAtEnd = ^uint64(0)

	markerEOS    = 0
	markerGT     = 1
	markerGD     = 2
	markerFooter = 3
)

// header is the 512-byte SparseExtentHeader.
type header struct {
	Version          uint32
	Flags            uint32
	Capacity         uint64 // sectors
	GrainSize        uint64 // sectors
	DescriptorOffset uint64
	DescriptorSize   uint64
	NumGTEsPerGT     uint32
	RGDOffset        uint64
	GDOffset         uint64
	Overhead         uint64
	CompressAlg      uint16
}

func (h *header) marshal() []byte {
	b := make([]byte, sector)
	le := binary.LittleEndian
	le.PutUint32(b[0:], magic)
	le.PutUint32(b[4:], h.Version)
	le.PutUint32(b[8:], h.Flags)
	le.PutUint64(b[12:], h.Capacity)
	le.PutUint64(b[20:], h.GrainSize)
	le.PutUint64(b[28:], h.DescriptorOffset)
	le.PutUint64(b[36:], h.DescriptorSize)
	le.PutUint32(b[44:], h.NumGTEsPerGT)
	le.PutUint64(b[48:], h.RGDOffset)
	le.PutUint64(b[56:], h.GDOffset)
	le.PutUint64(b[64:], h.Overhead)
	b[72] = 0 // uncleanShutdown
	b[73], b[74], b[75], b[76] = '\n', ' ', '\r', '\n'
	le.PutUint16(b[77:], h.CompressAlg)
	return b
}

// geometry returns the BIOS geometry VMware puts in the descriptor for a
// disk of the given number of sectors.
func geometry(a AdapterType, sectors uint64) (cyl uint64, heads, secs int) {
	heads, secs = 255, 63
	maxCyl := uint64(65535)
	if a == IDE {
		heads, maxCyl = 16, 16383
	}
	cyl = sectors / uint64(heads*secs)
	if cyl > maxCyl {
		cyl = maxCyl
	}
	if cyl == 0 {
		cyl = 1
	}
	return cyl, heads, secs
}

func (o Options) withDefaults() Options {
	if o.AdapterType == "" {
		o.AdapterType = LSILogic
	}
	if o.ExtentName == "" {
		o.ExtentName = "disk.vmdk"
	}
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
	return o
}

func (o Options) validate() error {
	switch o.AdapterType {
	case LSILogic, BusLogic, IDE, LSISAS, PVSCSI:
	default:
		return fmt.Errorf("vmdk: unknown adapter type %q (want lsilogic, buslogic, ide, lsisas1068 or pvscsi)", o.AdapterType)
	}
	if strings.ContainsAny(o.ExtentName, "\"\n\r") {
		return fmt.Errorf("vmdk: extent name %q must not hold quotes or newlines", o.ExtentName)
	}
	if o.Level < 1 || o.Level > 9 {
		return fmt.Errorf("vmdk: zlib level %d out of range 1..9", o.Level)
	}
	return nil
}

// descriptor returns the embedded text descriptor.
func descriptor(o Options, createType string, cid uint32, sectors uint64) string {
	cyl, heads, secs := geometry(o.AdapterType, sectors)
	var b strings.Builder
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nCID=%08x\nparentCID=ffffffff\ncreateType=%q\n\n", cid, createType)
	fmt.Fprintf(&b, "# Extent description\nRW %d SPARSE %q\n\n", sectors, o.ExtentName)
	fmt.Fprintf(&b, "# The Disk Data Base\n#DDB\n\n")
	fmt.Fprintf(&b, "ddb.virtualHWVersion = \"4\"\n")
	fmt.Fprintf(&b, "ddb.geometry.cylinders = \"%d\"\nddb.geometry.heads = \"%d\"\nddb.geometry.sectors = \"%d\"\n", cyl, heads, secs)
	fmt.Fprintf(&b, "ddb.adapterType = %q\n", string(o.AdapterType))
	return b.String()
}

// cidFrom derives a CID from a content checksum; VMware reserves
// 0xffffffff (no parent) and treats 0 as unset, so both are avoided.
func cidFrom(sum uint32) uint32 {
	if sum == 0 || sum == 0xffffffff {
		return 0x62617070 // "bapp"
	}
	return sum
}

// countingWriter tracks the output offset on top of a buffered writer.
type countingWriter struct {
	w   *bufio.Writer
	off int64
}

func newCountingWriter(w io.Writer) *countingWriter {
	return &countingWriter{w: bufio.NewWriterSize(w, 1<<20)}
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.off += int64(n)
	return n, err
}

// zeros writes n zero bytes.
func (c *countingWriter) zeros(n int64) error {
	var z [sector]byte
	for n > 0 {
		k := min(n, int64(len(z)))
		if _, err := c.Write(z[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// padSector pads the output to the next sector boundary.
func (c *countingWriter) padSector() error {
	if r := c.off % sector; r != 0 {
		return c.zeros(sector - r)
	}
	return nil
}

func sectorsFor(n int64) int64 { return (n + sector - 1) / sector }

func checkSize(size int64) error {
	if size <= 0 {
		return fmt.Errorf("vmdk: image size %d must be positive", size)
	}
	return nil
}
