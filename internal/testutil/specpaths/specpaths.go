// Package specpaths lists the fields of builder.Spec the way
// builder.FieldError names them (JSON paths such as "data_volume.size"), so
// that each front door's tests can check that it words every field in its
// own terms. It is imported only from _test.go files.
package specpaths

import (
	"reflect"
	"strings"
	"time"

	"github.com/bootapp/bootapp/builder"
)

// All returns the JSON path of every leaf field of builder.Spec.
func All() []string {
	var out []string
	walk(reflect.TypeOf(builder.Spec{}), "", &out)
	return out
}

func walk(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}) {
			walk(ft, prefix+name+".", out)
			continue
		}
		*out = append(*out, prefix+name)
	}
}
