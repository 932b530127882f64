package qemu

import (
	"encoding/binary"
	"strings"
)

// x86-64-v2's CPUID leaf 1 ECX features.
var v2Features = []struct {
	bit  uint
	name string
}{
	{0, "SSE3"}, {9, "SSSE3"}, {13, "CMPXCHG16B"}, {19, "SSE4.1"}, {20, "SSE4.2"}, {23, "POPCNT"},
}

// missingV2 names the x86-64-v2 features a CPUID leaf 1 ECX lacks, joined
// with commas, or "" when it has them all.
func missingV2(ecx uint32) string {
	var missing []string
	for _, f := range v2Features {
		if ecx&(1<<f.bit) == 0 {
			missing = append(missing, f.name)
		}
	}
	return strings.Join(missing, ", ")
}

// cpuidLeaf1ECX finds leaf 1's ECX in a filled struct kvm_cpuid2: nent,
// padding, then entries of function, index, flags, eax, ebx, ecx, edx and
// three words of padding.
func cpuidLeaf1ECX(buf []byte) (uint32, bool) {
	if len(buf) < 8 {
		return 0, false
	}
	n := int(binary.LittleEndian.Uint32(buf))
	for i := 0; i < n && 8+40*(i+1) <= len(buf); i++ {
		e := buf[8+40*i:]
		if binary.LittleEndian.Uint32(e) == 1 && binary.LittleEndian.Uint32(e[4:]) == 0 {
			return binary.LittleEndian.Uint32(e[20:]), true
		}
	}
	return 0, false
}
