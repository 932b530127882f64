package builder

import (
	"errors"
	"fmt"
)

// Sentinel errors that callers can test with errors.Is. Most reach the
// caller inside a *FieldError that names the Spec field at fault.
var (
	// ErrInvalidSpec is wrapped by every error about a Spec field whose
	// value is wrong in itself (a negative size, an unknown format).
	ErrInvalidSpec = errors.New("invalid build spec")
	// ErrNotFound is wrapped when an input (kernel, boot loader, app) is
	// missing.
	ErrNotFound = errors.New("not found")
	// ErrNotCached is wrapped (together with ErrNotFound) when a Spec field
	// was left empty and its default, the newest package in the cache
	// directory, is missing: fetching the packages (builder/fetch,
	// `mkbootapp fetch`) fixes it.
	ErrNotCached = fmt.Errorf("%w in the cache", ErrNotFound)
	// ErrBadApp is wrapped when the app cannot run on the target machine.
	ErrBadApp = errors.New("app cannot be booted")
	// ErrOutputConflict is wrapped when the output directory holds files
	// that the build cannot replace or keep, such as a data volume in other
	// formats than the ones requested.
	ErrOutputConflict = errors.New("output directory conflict")
)

// FieldError reports a Spec field whose value cannot be built. Field is the
// field's path in the Spec's JSON form ("data_volume.size", "kernel.deb",
// "app.path"), so that each front door can name its own option (a CLI flag,
// a Packer setting) instead of the engine's. Msg says what is wrong and what
// value would be right, without naming any front door's option.
type FieldError struct {
	// Field is the JSON path of the Spec field, e.g. "boot_disk.size".
	Field string
	// Msg describes the problem and the fix in terms of the value.
	Msg string
	// Err is the kind of problem: ErrInvalidSpec, ErrNotFound, ErrNotCached,
	// ErrBadApp, or an error of another package (image.ErrTooSmall,
	// kernel.ErrNotKernel, ...).
	Err error
}

// Error returns "FIELD: MSG".
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns the kind of problem.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr returns a *FieldError for field with a formatted message.
func fieldErr(kind error, field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Err: kind}
}

// specErr reports a field whose value is wrong in itself.
func specErr(field, format string, args ...any) error {
	return fieldErr(ErrInvalidSpec, field, format, args...)
}
