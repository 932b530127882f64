// Package image writes the two disks of a bootable app: the immutable boot
// disk and the persistent data volume, as sparse raw images. Encoders into
// other formats (Format: VMDK, qcow2, VHD, GCE) live beside it and take
// those raw images as input, with the byte ranges that hold data (package
// image/sparse; nil means the whole image). Encode does it from two paths;
// EncodeWith takes a memo.Store (package image/memo) that keeps compressed
// grains across encodes.
//
// The package follows go-diskfs's layering: layout (partitions) separate
// from contents (file systems) separate from encoding.
//
// # Boot disk
//
// WriteBootDisk takes BootFiles (the UEFI loader, the kernel, the
// initramfs, the command line and a title) and lays them out as
//
//	LBA 0        protective MBR (one 0xEE partition)
//	LBA 1..33    GPT header and partition array
//	1 MiB        partition 1, EFI system partition, FAT32, >= 64 MiB:
//	               /EFI/BOOT/BOOTX64.EFI          systemd-boot
//	               /loader/loader.conf            timeout 0, default bootapp.conf,
//	                                              editor no, random-seed-mode off
//	               /loader/entries/bootapp.conf   title, linux, initrd, options
//	               /bootapp/pad                   zeros, < 64 KiB: the kernel then starts
//	                                              at a multiple of 64 KiB of the disk
//	               /bootapp/linux                 the kernel (bzImage, EFI stub)
//	               /bootapp/initrd                the initramfs
//	end - 1 MiB  unused, then the backup GPT in the last 33 sectors
//
// UEFI firmware starts BOOTX64.EFI from the ESP; systemd-boot reads its
// configuration, loads the kernel and the initramfs and passes the command
// line. Nothing on the disk is written at boot (random-seed-mode off), so
// the boot disk can be shared, cached and replaced on every deploy.
// MinBootDiskSize says how large the disk must be (66 MiB for usual
// contents). The output is byte-reproducible: identifiers derive from a
// hash of the contents and every FAT timestamp is fixed.
//
// # Data volume
//
// WriteDataVolume writes an ext4 file system over the whole file (no
// partition table) with a label the guest init looks for; it holds only an
// empty root and lost+found. The guest mounts it at /data.
//
// # How the bytes reach the disk
//
// Both writers use go-diskfs (github.com/diskfs/go-diskfs) for the
// partition table and the file systems, through a storage backend of ours
// (sparseFile) that combines small sequential writes, turns zero blocks
// into holes and never fsyncs mid-build. Images therefore stay sparse: a
// 1 GiB data volume occupies about 150 KB, a 66 MiB boot disk about as
// much as its files. The few fields go-diskfs v1.9.4 gets wrong or leaves
// unset on FAT32 are corrected afterwards (fixFAT32), so fsck.fat, sgdisk
// and e2fsck find nothing to fix.
package image
