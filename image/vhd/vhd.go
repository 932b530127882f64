package vhd

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/internal/blocks"
)

// Options tunes WriteFixed. The zero value gives the defaults.
type Options struct {
	// CreatorApp is the four-character creator application in the
	// footer. Default: DefaultCreatorApp. See its note before changing it.
	CreatorApp string
	// Time is the footer's creation time. Zero gives the VHD epoch
	// (2000-01-01 UTC), which keeps the output reproducible.
	Time time.Time
}

// DefaultCreatorApp is the creator application written by default.
//
// It is "win ", the value Hyper-V and Azure's own tools write, rather than
// a bootapp-specific tag, for a practical reason: QEMU (block/vpc.c) and
// tools built on it take a VHD's size from the footer's current-size field
// only for creators it knows ("win ", "qem2", "d2v ", "CTXS", "tap"); for
// any other creator they compute the size from the CHS geometry, which is
// smaller than the disk, hiding its last sectors and with them the backup
// GPT header. Azure reads the size field either way.
const DefaultCreatorApp = "win "

// MiB is the alignment of a VHD's virtual size that Azure requires.
const MiB = 1 << 20

// MaxSize is the largest virtual size a VHD holds: 2040 GiB, the limit of
// Hyper-V and of QEMU's vpc driver (which refuses 2041 GiB). Azure's own
// limits are larger (a managed disk upload takes up to 32 TiB plus the
// footer), so this one decides what an Azure VHD can be.
const MaxSize = 2040 << 30

// ErrTooLarge reports an image whose padded size exceeds MaxSize.
var ErrTooLarge = errors.New("vhd: image too large")

// ErrFooter reports a VHD footer that is missing, truncated or corrupt.
var ErrFooter = errors.New("vhd: bad footer")

const (
	footerSize = 512
	blockSize  = 64 << 10
	diskFixed  = 2
	maxCHS     = 65535 * 16 * 255
)

// vhdEpoch is the zero of VHD timestamps.
var vhdEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// PaddedSize returns the virtual size WriteFixed gives an image of size
// bytes: size rounded up to a multiple of 1 MiB.
func PaddedSize(size int64) int64 { return (size + MiB - 1) / MiB * MiB }

// Footer is the content of a VHD footer that WriteFixed sets and
// ParseFooter reads back.
type Footer struct {
	// Time is the creation time, stored in seconds since 2000-01-01 UTC.
	Time time.Time
	// CreatorApp is the four-character creator application.
	CreatorApp string
	// OriginalSize and CurrentSize are the disk's size in bytes.
	OriginalSize, CurrentSize int64
	// Cylinders, Heads and SectorsPT are the CHS geometry (see Geometry).
	Cylinders uint16
	Heads     uint8
	SectorsPT uint8
	// DiskType is 2 for a fixed disk.
	DiskType uint32
	// UniqueID identifies the disk.
	UniqueID [16]byte
}

// Geometry returns the CHS geometry the VHD specification assigns to a
// disk of size bytes.
func Geometry(size int64) (cyl uint16, heads, spt uint8) {
	total := size / 512
	if total > maxCHS {
		total = maxCHS
	}
	var s, h, cth int64
	if total >= 65535*16*63 {
		s, h = 255, 16
		cth = total / s
	} else {
		s = 17
		cth = total / s
		h = (cth + 1023) / 1024
		if h < 4 {
			h = 4
		}
		if cth >= h*1024 || h > 16 {
			s, h = 31, 16
			cth = total / s
		}
		if cth >= h*1024 {
			s, h = 63, 16
			cth = total / s
		}
	}
	return uint16(cth / h), uint8(h), uint8(s)
}

// Marshal encodes the footer with its checksum.
func (f *Footer) Marshal() []byte {
	b := make([]byte, footerSize)
	be := binary.BigEndian
	copy(b[0:], "conectix")
	be.PutUint32(b[8:], 2)           // features: reserved bit always set
	be.PutUint32(b[12:], 0x00010000) // format version 1.0
	be.PutUint64(b[16:], ^uint64(0)) // data offset: none for fixed disks
	ts := uint32(0)
	if !f.Time.IsZero() && f.Time.After(vhdEpoch) {
		ts = uint32(f.Time.Sub(vhdEpoch) / time.Second)
	}
	be.PutUint32(b[24:], ts)
	copy(b[28:32], f.CreatorApp)
	be.PutUint32(b[32:], 0x00010000) // creator version
	copy(b[36:40], "Wi2k")
	be.PutUint64(b[40:], uint64(f.OriginalSize))
	be.PutUint64(b[48:], uint64(f.CurrentSize))
	be.PutUint16(b[56:], f.Cylinders)
	b[58], b[59] = f.Heads, f.SectorsPT
	be.PutUint32(b[60:], f.DiskType)
	copy(b[68:84], f.UniqueID[:])
	be.PutUint32(b[64:], checksum(b))
	return b
}

func checksum(b []byte) uint32 {
	var sum uint32
	for i, c := range b {
		if i >= 64 && i < 68 {
			continue
		}
		sum += uint32(c)
	}
	return ^sum
}

// ParseFooter decodes a 512-byte VHD footer (the last 512 bytes of a fixed
// VHD). It returns an error wrapping ErrFooter when the cookie or the
// checksum is wrong or b is short.
func ParseFooter(b []byte) (*Footer, error) {
	if len(b) < footerSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrFooter, len(b), footerSize)
	}
	b = b[:footerSize]
	if string(b[:8]) != "conectix" {
		return nil, fmt.Errorf("%w: cookie %q, want \"conectix\"", ErrFooter, b[:8])
	}
	be := binary.BigEndian
	if got, want := be.Uint32(b[64:]), checksum(b); got != want {
		return nil, fmt.Errorf("%w: checksum %#x, want %#x", ErrFooter, got, want)
	}
	f := &Footer{
		Time:         vhdEpoch.Add(time.Duration(be.Uint32(b[24:])) * time.Second),
		CreatorApp:   string(b[28:32]),
		OriginalSize: int64(be.Uint64(b[40:])),
		CurrentSize:  int64(be.Uint64(b[48:])),
		Cylinders:    be.Uint16(b[56:]),
		Heads:        b[58],
		SectorsPT:    b[59],
		DiskType:     be.Uint32(b[60:]),
	}
	copy(f.UniqueID[:], b[68:84])
	if f.CurrentSize < 0 || f.OriginalSize < 0 {
		return nil, fmt.Errorf("%w: negative size", ErrFooter)
	}
	return f, nil
}

// WriteFixed writes the raw image src of size bytes as a fixed VHD to w:
// the data padded with zeros to PaddedSize(size), then the footer. extents
// lists where src may hold data, nil meaning all of it; bytes outside them
// are taken as zeros and not read (the rules are in package image/sparse).
// When w is an io.Seeker (an *os.File) zero regions are skipped by seeking
// forward from w's current offset, keeping the output sparse; otherwise
// zeros are written. An image larger than MaxSize gives an error wrapping
// ErrTooLarge.
func WriteFixed(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, extents []sparse.Extent, opts Options) error {
	if size <= 0 {
		return fmt.Errorf("vhd: image size %d must be positive", size)
	}
	app := opts.CreatorApp
	if app == "" {
		app = DefaultCreatorApp
	}
	if len(app) != 4 {
		return fmt.Errorf("vhd: creator app %q must be 4 bytes", app)
	}
	if size > MaxSize {
		return fmt.Errorf("%w: %d bytes (%.1f GiB), the format holds at most %d bytes (2040 GiB)", ErrTooLarge, size, float64(size)/(1<<30), int64(MaxSize))
	}
	extents, err := blocks.Data(extents, size)
	if err != nil {
		return fmt.Errorf("vhd: %w", err)
	}
	padded := PaddedSize(size)
	seeker, _ := w.(io.Seeker)
	out := &gapWriter{w: w, seeker: seeker}
	h := sha256.New()
	var num [8]byte
	binary.BigEndian.PutUint64(num[:], uint64(padded))
	h.Write(num[:])
	err = blocks.Walk(ctx, src, size, extents, blockSize, func(idx int64, data []byte) error {
		n := int64(len(data))
		if off := idx * blockSize; off+n > size {
			n = size - off // the tail past size belongs to the padding
		}
		binary.BigEndian.PutUint64(num[:], uint64(idx))
		h.Write(num[:])
		h.Write(data[:n])
		return out.writeAt(data[:n], idx*blockSize)
	})
	if err != nil {
		return fmt.Errorf("vhd: copy data: %w", err)
	}
	f := Footer{
		Time: opts.Time, CreatorApp: app,
		OriginalSize: padded, CurrentSize: padded, DiskType: diskFixed,
	}
	f.Cylinders, f.Heads, f.SectorsPT = Geometry(padded)
	copy(f.UniqueID[:], h.Sum(nil))
	f.UniqueID[6] = f.UniqueID[6]&0x0f | 0x80 // RFC 9562 version 8 (custom)
	f.UniqueID[8] = f.UniqueID[8]&0x3f | 0x80 // variant 10
	if err := out.writeAt(f.Marshal(), padded); err != nil {
		return fmt.Errorf("vhd: write footer: %w", err)
	}
	if err := out.flush(); err != nil {
		return fmt.Errorf("vhd: write: %w", err)
	}
	return nil
}

// gapWriter writes blocks at increasing logical offsets, coalescing
// adjacent ones into large writes and filling gaps by seeking or, without
// a seeker, with zeros.
type gapWriter struct {
	w      io.Writer
	seeker io.Seeker
	pos    int64 // logical offset w is at
	buf    []byte
	bufOff int64
}

const coalesce = 1 << 20

func (g *gapWriter) writeAt(p []byte, off int64) error {
	if len(g.buf) > 0 && (g.bufOff+int64(len(g.buf)) != off || len(g.buf)+len(p) > coalesce) {
		if err := g.flush(); err != nil {
			return err
		}
	}
	if len(g.buf) == 0 {
		g.bufOff = off
	}
	g.buf = append(g.buf, p...)
	return nil
}

func (g *gapWriter) flush() error {
	if len(g.buf) == 0 {
		return nil
	}
	if gap := g.bufOff - g.pos; gap > 0 {
		if g.seeker != nil {
			if _, err := g.seeker.Seek(gap, io.SeekCurrent); err != nil {
				return err
			}
		} else if _, err := io.CopyN(g.w, zeroReader{}, gap); err != nil {
			return err
		}
	}
	if _, err := g.w.Write(g.buf); err != nil {
		return err
	}
	g.pos = g.bufOff + int64(len(g.buf))
	g.buf = g.buf[:0]
	return nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
