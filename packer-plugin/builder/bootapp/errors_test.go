package bootapp

import (
	"errors"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/internal/testutil/specpaths"
)

// TestEverySpecFieldHasAnOption keeps specFields complete, so that no engine
// error reaches a Packer user under the engine's field name.
func TestEverySpecFieldHasAnOption(t *testing.T) {
	for _, p := range specpaths.All() {
		if _, ok := specFields[p]; !ok {
			t.Errorf("Spec field %s has no entry in specFields", p)
		}
	}
}

func TestRenderEngineError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
		not  []string
	}{
		{"invalid field", &builder.FieldError{Field: "data_volume.size", Msg: "too small", Err: builder.ErrInvalidSpec},
			[]string{"data_volume_size: too small"}, []string{"data_volume.size", "--"}},
		{"not cached", &builder.FieldError{Field: "kernel.deb", Msg: "no kernel package in /c/debs", Err: builder.ErrNotCached},
			[]string{"kernel_path: no kernel package", "kernel_url", "mkbootapp fetch"}, []string{"--kernel"}},
		{"bad app", &builder.FieldError{Field: "app.path", Msg: "dynamically linked", Err: builder.ErrBadApp},
			[]string{"app_path: dynamically linked"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := renderEngineError(tc.err)
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
