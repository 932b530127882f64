// Package bytesize parses the sizes people type for disks and volumes
// ("512M", "1.5G", "10GiB") into a number of bytes, with one strict rule
// shared by every front door of bootapp.
//
// A size is a decimal number, optionally followed by a unit:
//
//	B                  bytes
//	K, Ki, KiB         1024 bytes
//	M, Mi, MiB         1024^2 bytes
//	G, Gi, GiB         1024^3 bytes
//	T, Ti, TiB         1024^4 bytes
//
// Units are binary and case-insensitive ("1g", "1GIB" and "1GiB" are equal).
// The decimal units KB, MB, GB and TB are refused rather than guessed: tools
// disagree on whether they mean 1000 or 1024, and a volume that is 7% smaller
// or larger than intended is worse than an error.
//
// A number without a unit is in the caller's default unit: the mkbootapp CLI
// reads bytes, the Packer plugin MiB (the convention of Packer's QEMU
// builder). The number may have a fraction when the result is a whole number
// of bytes ("1.5G" is 1610612736; "0.4" bytes and "0.1K" are errors). White
// space around the size, and spaces or tabs between the number and the unit
// ("1 GiB"), are ignored; no other white space is.
//
// Everything else is an error that says what was wrong and what is accepted:
// an empty string, a sign ("-1G", "+1G"), exponents, hexadecimal, "inf" and
// "nan", a number without digits (".5G", "1.G"), an unknown unit, and a size
// above the largest int64 (8 EiB - 1). Errors match ErrInvalid with errors.Is;
// callers prefix them with the name of their option.
package bytesize
