package elfdeps

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParse feeds Parse arbitrary bytes: it must return an error or an
// Info, never panic or hang.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"/bin/true", "/lib/x86_64-linux-gnu/libc.so.6"} {
		if data, err := os.ReadFile(p); err == nil && len(data) < 64<<10 {
			f.Add(data)
		}
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Parse(bytes.NewReader(data))
		if err == nil && info == nil {
			t.Fatal("nil info without error")
		}
	})
}
