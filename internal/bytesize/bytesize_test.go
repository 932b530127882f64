package bytesize

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		def  Unit
		want int64
	}{
		{"0", Byte, 0},
		{"1073741824", Byte, 1 << 30},
		{"1073741824", MiB, 1073741824 << 20},
		{"100", MiB, 100 << 20},
		{"9223372036854775807", Byte, 1<<63 - 1},
		{"512B", MiB, 512},
		{"512b", Byte, 512},
		{"64K", Byte, 64 << 10},
		{"64k", Byte, 64 << 10},
		{"64Ki", Byte, 64 << 10},
		{"64KiB", Byte, 64 << 10},
		{"64kib", Byte, 64 << 10},
		{"512M", Byte, 512 << 20},
		{"512Mi", Byte, 512 << 20},
		{"512MiB", MiB, 512 << 20},
		{"512MIB", Byte, 512 << 20},
		{"2G", Byte, 2 << 30},
		{"2g", MiB, 2 << 30},
		{"2GiB", Byte, 2 << 30},
		{"1T", Byte, 1 << 40},
		{"1TiB", Byte, 1 << 40},
		{"1.5G", Byte, 3 << 29},
		{"1.5", MiB, 3 << 19},
		{"0.5K", Byte, 512},
		{"1.50", KiB, 1536},
		{"007M", Byte, 7 << 20},
		{"8388607T", Byte, 8388607 << 40},
		{" 3G ", MiB, 3 << 30},
		{"\t3G\n", Byte, 3 << 30},
		{"1 GiB", Byte, 1 << 30},
		{"1\tG", Byte, 1 << 30},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, tt.def)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q, %v) = %d, %v; want %d", tt.in, tt.def, got, err, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		def  Unit
		want string
	}{
		{"", Byte, "empty size"},
		{"   ", Byte, "is empty"},
		{"inf", Byte, "does not start with a number"},
		{"Inf", MiB, "does not start with a number"},
		{"+Inf", Byte, "has a sign"},
		{"nan", Byte, "does not start with a number"},
		{"NaN", MiB, "does not start with a number"},
		{"-1", Byte, "is negative"},
		{"-1G", MiB, "is negative"},
		{"-0", Byte, "is negative"},
		{"+1G", Byte, "has a sign"},
		{"99999999999T", Byte, "too large"},
		{"9223372036854775808", Byte, "too large"},
		{"9223372036854775807", MiB, "too large"},
		{"8388608T", Byte, "too large"},
		{"100000000000000000000000000000000000000000", Byte, "too large"},
		{"0.4", Byte, "not a whole number of bytes"},
		{"0.1K", Byte, "not a whole number of bytes"},
		{"1.0000001", MiB, "not a whole number of bytes"},
		{"1.5", Byte, "not a whole number of bytes"},
		{".5G", Byte, "digits on both sides"},
		{"1.G", Byte, "digits on both sides"},
		{"1..5G", Byte, "more than one decimal point"},
		{"1.2.3", Byte, "more than one decimal point"},
		{"G", Byte, "does not start with a number"},
		{"KiB", MiB, "does not start with a number"},
		{"1X", MiB, `unknown unit "X"`},
		{"1GG", Byte, `unknown unit "GG"`},
		{"1Gb", Byte, "decimal unit Gb"},
		{"100MB", Byte, "decimal unit MB"},
		{"2gb", MiB, "decimal unit gb"},
		{"64KB", Byte, "decimal unit KB"},
		{"1TB", Byte, "decimal unit TB"},
		{"1P", Byte, `unknown unit "P"`},
		{"1e9", Byte, `unknown unit "e9"`},
		{"0x10", Byte, `unknown unit "x10"`},
		{"1_000", Byte, `unknown unit "_000"`},
		{"1,5G", Byte, `unknown unit ",5G"`},
		{"1 000", Byte, `unknown unit "000"`},
		{"1G 2M", Byte, `unknown unit "G 2M"`},
		{"1\nG", Byte, `unknown unit "\nG"`},
		{"lots", Byte, "does not start with a number"},
		{"1iB", Byte, `unknown unit "iB"`},
		{"1", 0, "default unit"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, tt.def)
		if err == nil {
			t.Errorf("Parse(%q, %v) = %d, want an error", tt.in, tt.def, got)
			continue
		}
		msg := err.Error()
		if got != 0 || !errors.Is(err, ErrInvalid) || !strings.Contains(msg, tt.want) {
			t.Errorf("Parse(%q, %v) = %d, %q; want 0 and an ErrInvalid mentioning %q", tt.in, tt.def, got, msg, tt.want)
		}
		if tt.def > 0 && !strings.Contains(msg, "want a number of "+tt.def.String()) {
			t.Errorf("Parse(%q, %v) error %q does not say what is accepted", tt.in, tt.def, msg)
		}
		var e *Error
		if !errors.As(err, &e) || e.Input != tt.in {
			t.Errorf("Parse(%q) error %#v is not an *Error holding the input", tt.in, err)
		}
	}
}

func TestSyntax(t *testing.T) {
	if got := Syntax(Byte); !strings.HasPrefix(got, "a number of bytes, ") {
		t.Errorf("Syntax(Byte) = %q", got)
	}
	if got := Syntax(MiB); !strings.HasPrefix(got, "a number of MiB, ") {
		t.Errorf("Syntax(MiB) = %q", got)
	}
}

// FuzzParse checks that Parse never panics, that what it accepts is a
// non-negative whole number of bytes, and that the result parses back the
// same when written as a bare number of bytes.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "1", "512M", "1.5G", "1 GiB", " 2t ", "0.4", "inf", "nan", "-1G",
		"99999999999T", "9223372036854775807", "100MB", "1e9", ".5", "1.", "1..2", "\x00", "1\u00a0G"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, mib bool) {
		def := Byte
		if mib {
			def = MiB
		}
		n, err := Parse(s, def)
		if err != nil {
			if n != 0 || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %d, %v: an error must return 0 and match ErrInvalid", s, n, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("Parse(%q) = %d, negative", s, n)
		}
		back := strconv.FormatInt(n, 10)
		if m, err := Parse(back+"B", def); err != nil || m != n {
			t.Fatalf("Parse(%q) = %d, but Parse(%q) = %d, %v", s, n, back+"B", m, err)
		}
	})
}
