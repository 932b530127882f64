package bootapp

import (
	"errors"

	"github.com/bootapp/bootapp/builder"
)

// cacheHints says, for the Spec fields whose default comes from bootapp's
// package cache, which options of this builder set them instead.
var cacheHints = map[string]string{
	"kernel.deb": "set kernel_path, or kernel_url with kernel_checksum, or fill the cache with `mkbootapp fetch`",
	"bootloader": "set bootloader_path, or bootloader_url with bootloader_checksum, or fill the cache with `mkbootapp fetch`",
}

// engineError is an engine error worded for a Packer template: the Spec
// field replaced by this builder's option name.
type engineError struct {
	field string // the option, e.g. "data_volume_size"
	msg   string
	err   error
}

func (e *engineError) Error() string { return e.field + ": " + e.msg }
func (e *engineError) Unwrap() error { return e.err }

// renderEngineError words a builder error in this builder's option names.
// Errors that are not about a Spec field are returned unchanged.
func renderEngineError(err error) error {
	var fe *builder.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	name, ok := specFields[fe.Field]
	if !ok {
		name = fe.Field
	}
	msg := fe.Msg
	if errors.Is(fe, builder.ErrNotCached) {
		if h := cacheHints[fe.Field]; h != "" {
			msg += ": " + h
		}
	}
	return &engineError{field: name, msg: msg, err: err}
}
