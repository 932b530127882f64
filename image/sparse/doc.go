// Package sparse describes where a raw disk image holds data, so that the
// encoders in image/vmdk, image/qcow2, image/vhd and image/gce read only
// those byte ranges and never the holes.
//
// An Extent is a byte range [Off, Off+Len) of a raw image that may hold
// data. Extents finds them for an *os.File: with lseek(2) SEEK_DATA and
// SEEK_HOLE on Linux, macOS and FreeBSD; elsewhere (Windows), or on a file
// system that cannot tell, it reports the whole file as one extent.
//
// The encoders take a []Extent next to the image and its size, with these
// rules:
//
//   - nil means the whole image [0, size) may hold data. It is always
//     correct, only slower for a sparse file: every byte is read. The
//     encoders still leave all-zero grains and clusters out wherever the
//     format allows, so the output is as sparse as with exact extents.
//   - An empty, non-nil slice means the image holds no data: it is
//     encoded as all zeros. Extents returns one for a file that is all
//     hole.
//   - Otherwise the extents must be sorted, must not overlap and must lie
//     inside [0, size) (Check; adjacent extents are fine). Encoders reject
//     anything else with an error matching ErrRange rather than guess.
//     Bytes outside the extents are not read: they count as zeros, so
//     extents that miss data lose it. Pass nil when unsure.
//
// A typical caller:
//
//	f, _ := os.Open("disk.raw")
//	fi, _ := f.Stat()
//	ext, err := sparse.Extents(f)
//	...
//	err = qcow2.Write(ctx, out, f, fi.Size(), ext, qcow2.Options{})
//
// or image.Encode, which does all of that from two paths.
package sparse
