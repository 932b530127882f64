// Package deb reads Debian binary packages (.deb) as a stream, in the shape
// of archive/tar: nothing touches the file system and the caller pulls.
//
// A .deb is an ar(1) archive with three members in a fixed order:
// "debian-binary" (the format version, "2.0\n"), "control.tar[.gz|.xz|.zst]"
// (package metadata) and "data.tar[.gz|.xz|.zst]" (the files to install).
// The data flow is:
//
//	io.Reader -> ar members -> decompressor (none, gzip, xz or zstd) -> *tar.Reader
//
// NewReader checks the ar magic and the debian-binary member. Control reads
// and caches the Package, Version and Architecture fields of the control
// file, and Data returns the data archive as a *tar.Reader; because the
// input is a stream, Control must be called before Data (Data caches the
// control fields it passes on the way). After the data archive's io.EOF,
// Finish reads the rest of the member (compressor index and checksums) to
// prove the package is complete; Close releases the decompressor.
// ExtractFile is a convenience that returns one file's contents from a
// .deb on disk.
//
// Errors: ErrNotDeb for input that is not a Debian package at all, and
// ErrTruncated for input that ends early anywhere. While the caller pulls
// from the *tar.Reader, archive/tar reports a cut-short stream as
// io.ErrUnexpectedEOF (the errors this package produces below it match
// both). The input is read through a 64 KiB buffer, because the xz
// decompressor reads byte by byte.
//
// xz members written by dpkg-deb (liblzma's multi-threaded encoder: blocks
// with their sizes in the headers) are decoded block-parallel on
// GOMAXPROCS goroutines, with each block's CRC64 and the stream index
// verified (xzpar.go); other xz streams go to github.com/ulikunitz/xz.
package deb
