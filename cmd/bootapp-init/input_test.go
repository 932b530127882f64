package main

import (
	"encoding/binary"
	"testing"
)

func event(typ, code uint16, value int32) []byte {
	b := make([]byte, inputEventSize)
	binary.LittleEndian.PutUint64(b, 1700000000) // tv_sec
	binary.LittleEndian.PutUint64(b[8:], 123456) // tv_usec
	binary.LittleEndian.PutUint16(b[16:], typ)
	binary.LittleEndian.PutUint16(b[18:], code)
	binary.LittleEndian.PutUint32(b[20:], uint32(value))
	return b
}

func TestParseInputEvents(t *testing.T) {
	var press []byte
	press = append(press, event(evKey, keyPower, 1)...)
	press = append(press, event(0, 0, 0)...) // EV_SYN
	tests := []struct {
		name       string
		b          []byte
		wantEvents int
		wantPower  bool
	}{
		{"press and syn", press, 2, true},
		{"release", event(evKey, keyPower, 0), 1, false},
		{"repeat", event(evKey, keyPower, 2), 1, false},
		{"other key", event(evKey, 115, 1), 1, false},
		{"other type", event(4, keyPower, 1), 1, false},
		{"partial event ignored", append(event(evKey, keyPower, 1), 1, 2, 3), 1, true},
		{"too short", make([]byte, 23), 0, false},
		{"negative value", event(3, 0, -5), 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := parseInputEvents(tt.b)
			if len(evs) != tt.wantEvents {
				t.Fatalf("got %d events, want %d", len(evs), tt.wantEvents)
			}
			power := false
			for _, e := range evs {
				power = power || e.isPowerPress()
			}
			if power != tt.wantPower {
				t.Errorf("power press = %v, want %v", power, tt.wantPower)
			}
		})
	}
	if e := parseInputEvents(event(3, 0, -5))[0]; e.Value != -5 {
		t.Errorf("value = %d, want -5", e.Value)
	}
}
