package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/internal/testutil/specpaths"
)

// TestEverySpecFieldHasAFlag keeps specFlags complete: a new Spec field
// needs a flag (or an explicit "config file only").
func TestEverySpecFieldHasAFlag(t *testing.T) {
	for _, p := range specpaths.All() {
		if _, ok := specFlags[p]; !ok {
			t.Errorf("Spec field %s has no entry in specFlags", p)
		}
	}
}

func TestRenderError(t *testing.T) {
	other := errors.New("disk full")
	tests := []struct {
		name string
		err  error
		want []string
		not  []string
	}{
		{"invalid field", fmt.Errorf("build: %w", &builder.FieldError{Field: "data_volume.size", Msg: "1048576 bytes is too small", Err: builder.ErrInvalidSpec}),
			[]string{"--data-size: 1048576 bytes is too small"}, []string{"data_volume.size", "fetch"}},
		{"not cached", &builder.FieldError{Field: "kernel.deb", Msg: "no kernel package in /c/debs", Err: builder.ErrNotCached},
			[]string{"--kernel: no kernel package in /c/debs", "mkbootapp fetch", "or pass --kernel"}, nil},
		{"config-only field", &builder.FieldError{Field: "data_volume.mount_point", Msg: `"x" must be absolute`, Err: builder.ErrInvalidSpec},
			[]string{"data_volume.mount_point (in the --config file)"}, nil},
		{"not a field error", other, []string{"disk full"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := renderError(tc.err)
			for _, w := range tc.want {
				if !strings.Contains(got.Error(), w) {
					t.Errorf("%q does not contain %q", got, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got.Error(), n) {
					t.Errorf("%q contains %q", got, n)
				}
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("rendered error does not wrap the original")
			}
		})
	}
}
