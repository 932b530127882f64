package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLoggerPrintf(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(&buf, func() time.Duration { return 3*time.Second + 149282*time.Microsecond })
	l.Printf("mounted %s", "/data")
	l.Printf("already terminated\n")
	want := "bootapp-init: [   3.149282] mounted /data\nbootapp-init: [   3.149282] already terminated\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestCopyLines(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name, in, want string
	}{
		{"lines", "a\nb\n", "app: a\napp: b\n"},
		{"no final newline", "a\nb", "app: a\napp: b\n"},
		{"empty", "", ""},
		{"empty line", "\n", "app: \n"},
		{"long line split", long + "\n", "app: " + long[:maxLine] + "\napp: " + long[maxLine:] + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newLogger(&buf, func() time.Duration { return 0 })
			l.copyLines(appPrefix, strings.NewReader(tt.in))
			if buf.String() != tt.want {
				t.Errorf("got %q, want %q", trunc(buf.String()), trunc(tt.want))
			}
		})
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:40] + "..." + s[len(s)-40:]
	}
	return s
}
