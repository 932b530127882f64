package builder

// The JSON form of a Spec: what `mkbootapp build --config` reads (through
// ParseSpec) and what the manifest records as Result.Spec.
//
// Durations (app.stop_timeout, health.timeout, a Result's duration) are read
// from a Go duration string ("10s", "1m30s") or, as every earlier release
// wrote them, an integer number of nanoseconds. Sizes (boot_disk.size,
// data_volume.size) are read from a size string ("512M", "1.5G"; the rules of
// internal/bytesize, a bare number being bytes) or an integer number of
// bytes. Encoding is unchanged, integers throughout, so a manifest written by
// this release is still readable by earlier ones.
//
// The methods below are on the small structs, not on Spec, and keep the
// exported field types: each decodes into an alias type (which has no
// methods, so no recursion) whose flexible fields are shadowed by
// json.RawMessage fields of the same key, then converts those.

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bootapp/bootapp/internal/bytesize"
)

// ParseSpec decodes a build spec from a JSON document, as `mkbootapp build
// --config` reads it. It is stricter than json.Unmarshal: a key that is not a
// Spec field (matched exactly: "app", not "App") is an error naming its path,
// and so is anything after the document. Errors about a field's value are
// *FieldError values wrapping ErrInvalidSpec; JSON syntax and type errors are
// encoding/json's. Defaults are not applied (see Spec.WithDefaults).
func ParseSpec(data []byte) (Spec, error) {
	var s Spec
	var tree any
	if err := json.Unmarshal(data, &tree); err != nil {
		return s, err
	}
	if err := checkKeys(tree, reflect.TypeFor[Spec](), ""); err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// UnmarshalJSON decodes an App, reading stop_timeout as a duration string
// or integer nanoseconds.
func (a *App) UnmarshalJSON(data []byte) error {
	type plain App
	aux := struct {
		*plain
		StopTimeout json.RawMessage `json:"stop_timeout"`
	}{plain: (*plain)(a)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return hideAlias(err)
	}
	return decodeDuration("app.stop_timeout", aux.StopTimeout, &a.StopTimeout)
}

// UnmarshalJSON decodes a HealthCheck, reading timeout as a duration string
// or integer nanoseconds.
func (h *HealthCheck) UnmarshalJSON(data []byte) error {
	type plain HealthCheck
	aux := struct {
		*plain
		Timeout json.RawMessage `json:"timeout"`
	}{plain: (*plain)(h)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return hideAlias(err)
	}
	return decodeDuration("health.timeout", aux.Timeout, &h.Timeout)
}

// UnmarshalJSON decodes a Disk (the boot disk), reading size as a size
// string or integer bytes.
func (d *Disk) UnmarshalJSON(data []byte) error {
	type plain Disk
	aux := struct {
		*plain
		Size json.RawMessage `json:"size"`
	}{plain: (*plain)(d)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return hideAlias(err)
	}
	return decodeSize("boot_disk.size", aux.Size, &d.Size)
}

// UnmarshalJSON decodes a DataVolume, reading size as a size string or
// integer bytes.
func (v *DataVolume) UnmarshalJSON(data []byte) error {
	type plain DataVolume
	aux := struct {
		*plain
		Size json.RawMessage `json:"size"`
	}{plain: (*plain)(v)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return hideAlias(err)
	}
	return decodeSize("data_volume.size", aux.Size, &v.Size)
}

// UnmarshalJSON decodes a Result (a manifest), reading duration as a
// duration string or integer nanoseconds.
func (r *Result) UnmarshalJSON(data []byte) error {
	type plain Result
	aux := struct {
		*plain
		Duration json.RawMessage `json:"duration"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return hideAlias(err)
	}
	return decodeDuration("duration", aux.Duration, &r.Duration)
}

// decodeDuration sets *d from raw, a JSON string holding a Go duration or a
// JSON integer of nanoseconds. An absent key or null leaves *d as it is.
func decodeDuration(field string, raw json.RawMessage, d *time.Duration) error {
	const want = `want a Go duration string such as "10s" or "1m30s", or an integer number of nanoseconds`
	if isAbsent(raw) {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return specErr(field, "%s is not a JSON string: %v", raw, err)
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return specErr(field, "%q is not a duration; %s", s, want)
		}
		*d = v
		return nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return specErr(field, "%s is not a duration; %s", raw, want)
	}
	*d = time.Duration(n)
	return nil
}

// decodeSize sets *n from raw, a JSON string holding a size ("10G", a bare
// number being bytes) or a JSON integer of bytes. An absent key or null
// leaves *n as it is.
func decodeSize(field string, raw json.RawMessage, n *int64) error {
	if isAbsent(raw) {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return specErr(field, "%s is not a JSON string: %v", raw, err)
		}
		v, err := bytesize.Parse(s, bytesize.Byte)
		if err != nil {
			return specErr(field, "%v", err)
		}
		*n = v
		return nil
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return specErr(field, "%s is not a size; want an integer number of bytes or a size string: %s", raw, bytesize.Syntax(bytesize.Byte))
	}
	*n = v
	return nil
}

// hideAlias removes the alias type's embedded field name from the path
// in a type error ("app.plain.ports" would otherwise be reported).
func hideAlias(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		te.Field = strings.TrimPrefix(te.Field, "plain.")
	}
	return err
}

// isAbsent reports whether a shadowed key was missing or null.
func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// checkKeys reports the first key in the decoded JSON value v (in sorted
// order, depth first) that is not the exact JSON name of a field of the Go
// type t. path is v's position, as in FieldError.Field.
func checkKeys(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil // a type mismatch, which json.Unmarshal reports
		}
		fields := jsonFields(t)
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			at := key
			if key == "" {
				at = `""` // so that the error still names a path
			}
			if path != "" {
				at = path + "." + at
			}
			f, ok := fields[key]
			if !ok {
				where := "the spec"
				if path != "" {
					where = path
				}
				return specErr(at, "unknown key; %s has the keys %s", where, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
			}
			if err := checkKeys(obj[key], f, at); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, _ := v.([]any)
		for i, e := range arr {
			if err := checkKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonFields maps the JSON keys of struct type t's fields to their types.
// Spec has no embedded structs, so they get no special treatment.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
