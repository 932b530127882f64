// Package ova encodes a raw disk image as an OVA: the single-file form of
// an OVF package that vSphere (the vSphere Client's "Deploy OVF
// Template", ovftool, govc import.ova) imports.
//
// An OVA is a POSIX ustar archive whose first entry is the OVF descriptor
// (NAME.ovf), followed by the files it references, here one
// streamOptimized VMDK (NAME-disk1.vmdk, written by package vmdk), and a
// manifest (NAME.mf) with one `SHA256(file)= hex` line for the descriptor
// and the disk. The descriptor must state each file's exact size
// (ovf:size), which is known only once the VMDK is compressed, so Write
// first encodes the VMDK into a temporary file (Options.TempDir), hashing
// it on the way, then writes the archive in one forward pass.
//
// The virtual machine the descriptor asks for is the one our images need
// on vSphere:
//
//   - virtual hardware version vmx-14 (ESXi 6.7 and later), so every
//     vSphere still in support imports it;
//   - UEFI firmware (vmw:Config firmware = efi) with Secure Boot off: the
//     boot disk has only /EFI/BOOT/BOOTX64.EFI, an unsigned systemd-boot;
//   - the disk on a VMware paravirtual SCSI controller (ResourceSubType
//     VirtualSCSI): the Debian cloud kernel carries vmw_pvscsi but no LSI
//     Logic driver (mptspi), the default of most OVF tools. The VMDK's own
//     ddb.adapterType stays "lsilogic", as vSphere writes it for every
//     SCSI disk whatever the controller: the descriptor's adapter type
//     only decides the BIOS geometry (255 heads, 63 sectors for all SCSI
//     types) and the OVF's controller is what the VM gets;
//   - a vmxnet3 NIC (vmxnet3 is in the cloud kernel) on "VM Network";
//   - 2 vCPUs and 1024 MiB unless Options say otherwise, and the guest OS
//     type otherLinux64Guest ("Other Linux (64-bit)", CIM id 101), which
//     every hardware version accepts (debian12_64Guest needs vmx-20).
//
// Archive headers carry fixed times and owners, and the VMDK is
// reproducible, so the same input always gives the same bytes.
package ova
