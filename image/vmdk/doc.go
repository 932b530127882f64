// Package vmdk encodes a raw disk image as a VMware virtual disk (VMDK) in
// one of two single-file flavours, streaming from the raw image without
// reading its holes:
//
//   - streamOptimized (WriteStreamOptimized): compressed, write-once, meant
//     for vSphere and OVA packages (not for AWS: EC2's VM Import rejects a
//     bootapp image, see docs/publish-aws.md). The output is produced in
//     one forward pass: header, embedded descriptor, then one marker plus
//     zlib-compressed data per non-zero 64 KiB grain, a grain table after
//     each 32 MiB group that holds data, the grain directory, a footer (a
//     copy of the header that points at the directory) and an end-of-stream
//     marker. Grains are compressed in parallel by a worker pool and written
//     in order, so the output is the same whatever the parallelism. The
//     deflate encoder is image/internal/deflate, which matches 3-byte
//     strings as zlib does and ends Huffman blocks where the statistics
//     change, so the output is a little smaller than qemu-img's; grains of
//     random-looking bytes are stored.
//   - monolithicSparse (WriteMonolithicSparse): uncompressed hosted sparse
//     extent (version 1) with a redundant grain directory and all grain
//     tables preallocated, so QEMU and VirtualBox can write into it. The
//     layout is computed by a first pass over the non-zero grains; the
//     second pass streams header, descriptor, directories, tables and the
//     grains themselves, again strictly forward.
//
// Both embed a descriptor with createType, a content-derived CID (so the
// same input always gives byte-identical output), the adapter type and a
// BIOS geometry computed as VMware does. The format follows VMware's
// "Virtual Disk Format 5.0" specification.
package vmdk
