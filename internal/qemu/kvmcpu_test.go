package qemu

import (
	"encoding/binary"
	"testing"
)

func TestMissingV2(t *testing.T) {
	const all = 1<<0 | 1<<9 | 1<<13 | 1<<19 | 1<<20 | 1<<23
	tests := []struct {
		name string
		ecx  uint32
		want string
	}{
		{"hardware KVM", all | 1<<31, ""},
		// What KVM_GET_SUPPORTED_CPUID gives on this project's CI machines.
		{"emulated KVM", 0x81202000, "SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT"},
		{"nothing", 0, "SSE3, SSSE3, CMPXCHG16B, SSE4.1, SSE4.2, POPCNT"},
		{"no POPCNT", all &^ (1 << 23), "POPCNT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := missingV2(tt.ecx); got != tt.want {
				t.Errorf("missingV2(%#x) = %q, want %q", tt.ecx, got, tt.want)
			}
		})
	}
}

func TestCPUIDLeaf1ECX(t *testing.T) {
	entry := func(fn, idx, ecx uint32) []byte {
		e := make([]byte, 40)
		binary.LittleEndian.PutUint32(e, fn)
		binary.LittleEndian.PutUint32(e[4:], idx)
		binary.LittleEndian.PutUint32(e[20:], ecx)
		return e
	}
	table := func(nent uint32, entries ...[]byte) []byte {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, nent)
		for _, e := range entries {
			b = append(b, e...)
		}
		return b
	}
	tests := []struct {
		name  string
		buf   []byte
		want  uint32
		found bool
	}{
		{"leaf 1 second", table(3, entry(0, 0, 7), entry(1, 0, 0x1234), entry(7, 0, 9)), 0x1234, true},
		{"leaf 1 index 1 is not leaf 1", table(1, entry(1, 1, 5)), 0, false},
		{"nent past the buffer", table(9, entry(0, 0, 1)), 0, false},
		{"short", []byte{1, 0}, 0, false},
		{"empty table", table(0), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found := cpuidLeaf1ECX(tt.buf)
			if got != tt.want || found != tt.found {
				t.Errorf("cpuidLeaf1ECX = %#x, %v; want %#x, %v", got, found, tt.want, tt.found)
			}
		})
	}
}
