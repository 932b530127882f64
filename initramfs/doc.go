// Package initramfs writes the initial RAM file system that the Linux kernel
// unpacks into its rootfs before it runs /init: deterministic "newc" cpio
// archives, optionally compressed with a method the kernel can decompress.
//
// # Concept
//
// An initramfs is a stream of one or more segments. Each segment is a newc
// cpio archive ending in its own "TRAILER!!!" record, either stored as is or
// compressed as one gzip, xz or zstd stream. The kernel unpacks the segments
// in order into the same tmpfs; a later entry for the same path replaces an
// earlier one (for a directory, only its mode and owner change). bootapp uses
// this to keep what rarely changes (the guest init, the kernel modules) in a
// cached segment and to append a small per-build segment with the app.
//
// # Data flow
//
//	entries (Mkdir, WriteFile, CopyFile, CopyFileLinks and Link, Symlink, AddTree)
//	  -> Writer: validates names, adds missing parent directories, assigns
//	     inode numbers, fixes mtime/uid/gid (github.com/cavaliergopher/cpio)
//	  -> buffered newc byte stream
//	  -> compressor (NewCompressor: zstd, xz with CRC32 check, gzip, none)
//	  -> the caller's io.Writer (a file, a hash, an ESP file, a pipe)
//
// Nothing touches the host file system except AddTree, which reads the tree
// it is given. Output depends only on the calls made: no host metadata (mtime,
// owner, inode or device numbers) leaks in, so identical input gives
// byte-identical archives.
//
// # Concatenating segments
//
// Write several segments into one stream by creating one Writer per segment
// on the same destination, one after the other:
//
//	base, _ := initramfs.NewWriterOptions(f, initramfs.Options{Compression: initramfs.Zstd})
//	... add init and modules ...
//	base.Close()
//	app, _ := initramfs.NewWriterOptions(f, initramfs.Options{Compression: initramfs.Zstd})
//	... add the app ...
//	app.Close()
//
// Writer.Close ends the archive, finishes the compressed stream and pads the
// destination with zero bytes to a multiple of four, which the kernel skips
// between segments; so segments may be freely mixed and one may be cached as
// bytes and copied in front of another. Close never closes the destination.
//
// Every segment starts with an entry for the root directory itself (".",
// mode 0755): the kernel creates its rootfs with mode 1777, which would let
// any user of the guest add files at the top of the tree. Each segment
// writes the parent directories it needs (mode 0755) again,
// and the kernel applies the last mode it sees for a directory. A segment
// that adds files beneath a directory with another mode (a sticky /tmp, a
// 0700 home) should therefore Mkdir that directory first, with its mode.
package initramfs
