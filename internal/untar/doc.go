// Package untar unpacks a tar archive given by a user (the app payload, or a
// JDK or Node.js distribution tarball) into a directory, safely and
// faithfully, so that the builder can treat it as a directory afterwards.
//
// The data flow is:
//
//	io.Reader -> 64 KiB buffer -> decompressor (none, gzip, xz or zstd) -> *tar.Reader -> dst
//
// The compression is detected from the stream's magic bytes (gzip 1f 8b,
// xz fd 37 7a 58 5a 00, zstd 28 b5 2f fd; anything else is read as plain
// tar), never from the file name; IsArchive is the name test a front door
// uses to decide whether a path is an archive at all. bzip2, lz4 and zip
// input is recognised only to say so (ErrUnsupportedCompression). The zstd
// window and the xz dictionary of the first block are bounded (128 MiB, as
// the zstd command's default, and 256 MiB, four times xz -9's), so that a
// hostile header cannot make the decompressor allocate gigabytes up front.
//
// What Extract writes:
//
//   - Entry names are cleaned and a leading "/" or "./" is dropped, so
//     "/abs/x" lands at dst/abs/x. A name that leaves dst after cleaning
//     ("../x", "a/../../x") is an ErrUnsafePath naming the entry. Names and
//     link targets longer than 4095 bytes (Linux's PATH_MAX) are refused.
//   - Regular files keep their permission bits (mode & 0o777); setuid,
//     setgid and sticky bits are dropped and counted in Stats.SetIDDropped.
//     Modification times, owners and extended attributes are not restored.
//     Sparse files read back as written; their holes are skipped on disk.
//   - Directories keep their mode, setgid and sticky bits included. They are
//     created owner-writable and get their final modes at the very end,
//     deepest first, so that a read-only directory can still be filled.
//     Parents that the archive does not list (or lists only after their
//     contents) are created implicitly with mode 0755.
//   - Symbolic links are created with their target exactly as written,
//     relative or absolute: they are meant for the guest, not the host.
//   - Hard links must name an earlier regular file of the same archive and
//     are created with os.Link (ErrHardLink otherwise).
//   - Character and block devices and FIFOs are an ErrDevice naming the
//     entry; other unknown entry types are ErrUnsupportedType. PAX global
//     headers and GNU volume labels are skipped.
//   - A later entry replaces an earlier one of the same name, as GNU tar
//     does, except that a directory entry for an existing directory only
//     updates its mode. A non-empty directory cannot be replaced by a
//     non-directory (GNU tar refuses that too).
//
// The extractor never writes through a symbolic link: every parent
// component of every entry is checked with Lstat (and cached once known to
// be a directory this extraction made or checked), and an entry below a
// symbolic link is an ErrSymlinkParent, whether the link points inside dst
// or out of it. Underneath that, all file-system calls go through an
// os.Root opened on dst, so that nothing can be created outside dst even
// if the checks had a hole.
//
// Nothing in a header is trusted for allocation: file contents are streamed
// through a fixed buffer. The context is checked between entries and about
// every megabyte of a copy. On error Extract returns at once and leaves dst
// as it is, half filled, with its directories still owner-writable; the
// caller, which made dst as a temporary directory, removes it. After a
// successful Extract the directories have the archive's modes, so a caller
// that removes a tree with read-only directories must make them writable
// first (as root this does not matter).
package untar
