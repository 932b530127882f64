package bytesize

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Unit is a size unit, as a number of bytes. It is also the default unit
// that Parse applies to a number written without one.
type Unit int64

// The units Parse accepts.
const (
	Byte Unit = 1
	KiB  Unit = 1 << 10
	MiB  Unit = 1 << 20
	GiB  Unit = 1 << 30
	TiB  Unit = 1 << 40
)

// String returns the unit's name: "bytes", "KiB", "MiB", "GiB" or "TiB".
func (u Unit) String() string {
	switch u {
	case Byte:
		return "bytes"
	case KiB:
		return "KiB"
	case MiB:
		return "MiB"
	case GiB:
		return "GiB"
	case TiB:
		return "TiB"
	}
	return fmt.Sprintf("units of %d bytes", int64(u))
}

// ErrInvalid is matched (errors.Is) by every error Parse returns.
var ErrInvalid = errors.New("invalid size")

// Error is a size that Parse refused.
type Error struct {
	// Input is the string as given.
	Input string
	// Reason says what is wrong with it ("is negative").
	Reason string
	// Default is the unit of a bare number, named in the hint.
	Default Unit
}

// Error describes the problem and the accepted forms.
func (e *Error) Error() string {
	var what string
	if e.Input == "" {
		what = "empty size"
	} else {
		what = fmt.Sprintf("%q %s", e.Input, e.Reason)
	}
	return what + "; want " + Syntax(e.Default)
}

// Is makes every Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Syntax describes the accepted sizes for a default unit, for errors and
// help texts: "a number of bytes, or a number with a binary unit K, M, G or
// T (also KiB, MiB, ...), e.g. 512M or 1.5G".
func Syntax(def Unit) string {
	return "a number of " + def.String() + ", or a number with a binary unit K, M, G or T (also KiB, MiB, ...), e.g. 512M or 1.5G"
}

// units maps the accepted unit spellings, upper-cased, to their size.
var units = map[string]Unit{
	"B": Byte,
	"K": KiB, "KI": KiB, "KIB": KiB,
	"M": MiB, "MI": MiB, "MIB": MiB,
	"G": GiB, "GI": GiB, "GIB": GiB,
	"T": TiB, "TI": TiB, "TIB": TiB,
}

// decimal lists the decimal unit spellings, refused with their own reason.
var decimal = map[string]string{"KB": "K", "MB": "M", "GB": "G", "TB": "T"}

var maxInt64 = big.NewInt(1<<63 - 1)

// Parse returns the number of bytes s stands for. A number without a unit is
// in unit def (Byte for the CLI, MiB for the Packer plugin). See the package
// documentation for the rules; every error is an *Error.
func Parse(s string, def Unit) (int64, error) {
	fail := func(reason string, args ...any) (int64, error) {
		return 0, &Error{Input: s, Reason: fmt.Sprintf(reason, args...), Default: def}
	}
	if def < 1 {
		return fail("cannot be read: default unit %d is not positive", int64(def))
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return fail("is empty")
	}
	switch t[0] {
	case '-':
		return fail("is negative")
	case '+':
		return fail("has a sign")
	}
	// The number: digits, optionally a point and more digits.
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimLeft(t[i:], " \t")
	whole, frac, hasPoint := strings.Cut(num, ".")
	switch {
	case num == "":
		return fail("does not start with a number")
	case strings.Contains(frac, "."):
		return fail("has more than one decimal point")
	case whole == "" || hasPoint && frac == "":
		return fail("needs digits on both sides of the decimal point")
	}
	mult := def
	if unit != "" {
		u := strings.ToUpper(unit)
		var ok bool
		if mult, ok = units[u]; !ok {
			if bin, dec := decimal[u]; dec {
				return fail("uses the decimal unit %s, refused as ambiguous: write %s%s or %s%siB (binary, 1%s = %d bytes)",
					unit, num, bin, num, bin, bin, units[bin])
			}
			return fail("has an unknown unit %q", unit)
		}
	}
	// Exact arithmetic: the number is whole.frac, a rational.
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return fail("is not a number")
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(mult)))
	if !r.IsInt() {
		return fail("is not a whole number of bytes")
	}
	if r.Num().Cmp(maxInt64) > 0 {
		return fail("is too large: the largest size is %d bytes (8 EiB - 1)", maxInt64)
	}
	return r.Num().Int64(), nil
}
