package qemu

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// kvmGetSupportedCPUID is KVM_GET_SUPPORTED_CPUID, _IOWR(0xAE, 0x05,
// struct kvm_cpuid2): the CPUID leaves KVM can give a guest.
const kvmGetSupportedCPUID = 0xc008ae05

// kvmCPUIDEntries bounds the leaves asked for; KVM returns E2BIG when it
// has more, which no known KVM does.
const kvmCPUIDEntries = 256

// kvmUsable reports whether /dev/kvm can be opened for reading and writing
// and gives guests a hardware-backed x86-64 CPU; when it cannot, why says
// why in one line.
//
// A KVM whose virtual CPU lacks the x86-64-v2 features (SSE3, SSSE3,
// SSE4.1, SSE4.2, POPCNT, CMPXCHG16B) that every VT-x or AMD-V host since
// 2009 has is nested or emulated: on the machines this project is tested
// on, it starts QEMU without an error and then runs the kernel's
// decompressor thousands of times slower than TCG, so a boot never
// finishes. "auto" must not pick such a KVM.
func kvmUsable() (ok bool, why string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Sprintf("cannot open /dev/kvm: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 8+40*kvmCPUIDEntries) // struct kvm_cpuid2 with its entries
	binary.LittleEndian.PutUint32(buf, kvmCPUIDEntries)
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmGetSupportedCPUID, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
		return false, fmt.Sprintf("/dev/kvm does not list its CPU features (KVM_GET_SUPPORTED_CPUID: %v)", errno)
	}
	ecx, found := cpuidLeaf1ECX(buf)
	if !found {
		return false, "/dev/kvm lists no CPUID leaf 1"
	}
	if missing := missingV2(ecx); missing != "" {
		return false, "the virtual CPU of /dev/kvm lacks " + missing + " (nested or emulated KVM, slower than TCG)"
	}
	return true, ""
}
