package main

import "encoding/binary"

// Linux input events (linux/input.h) as evdev delivers them on x86_64:
// struct input_event { struct timeval time; __u16 type; __u16 code; __s32 value; }
// is 24 bytes, 16 of them the timestamp.
const (
	inputEventSize = 24
	evKey          = 1   // EV_KEY
	keyPower       = 116 // KEY_POWER
	keyPressed     = 1   // value of a key press (0 release, 2 repeat)
)

// powerButtonName is the name the kernel's ACPI button driver gives the power
// button's input device (/sys/class/input/eventN/device/name).
const powerButtonName = "Power Button"

// inputEvent is the part of struct input_event the init looks at.
type inputEvent struct {
	Type  uint16
	Code  uint16
	Value int32
}

// parseInputEvents decodes the complete events in b (a multiple of
// inputEventSize bytes as read(2) from evdev returns; a trailing partial
// event is ignored).
func parseInputEvents(b []byte) []inputEvent {
	var evs []inputEvent
	for len(b) >= inputEventSize {
		evs = append(evs, inputEvent{
			Type:  binary.LittleEndian.Uint16(b[16:]),
			Code:  binary.LittleEndian.Uint16(b[18:]),
			Value: int32(binary.LittleEndian.Uint32(b[20:])),
		})
		b = b[inputEventSize:]
	}
	return evs
}

// isPowerPress reports whether e is a press of the power key.
func (e inputEvent) isPowerPress() bool {
	return e.Type == evKey && e.Code == keyPower && e.Value == keyPressed
}
