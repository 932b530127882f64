package builder

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResolveAppDir checks the app directory layouts that would fail in the
// guest: each must be refused at build time with the file and the fix.
func TestResolveAppDir(t *testing.T) {
	bin, err := os.ReadFile(buildGoApp(t, "../examples/hello"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		setup     func(t *testing.T, dir string) string // returns the entrypoint
		wantGuest string
		wantIs    error
		wantMsg   []string
	}{
		{"plain file", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "bin", "app"), bin, 0o755)
			return "bin/app"
		}, "/app/bin/app", nil, nil},
		{"relative symlink inside", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "lib", "app-1.2"), bin, 0o755)
			symlink(t, "../lib/app-1.2", filepath.Join(dir, "bin", "app"))
			return "bin/app"
		}, "/app/bin/app", nil, nil},
		{"absolute symlink", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "real"), bin, 0o755)
			symlink(t, filepath.Join(dir, "real"), filepath.Join(dir, "app"))
			return "app"
		}, "", ErrInvalidSpec, []string{"absolute path", "make the link relative"}},
		{"symlink out of the directory", func(t *testing.T, dir string) string {
			outside := filepath.Join(t.TempDir(), "outside")
			write(t, outside, bin, 0o755)
			rel, _ := filepath.Rel(dir, outside)
			symlink(t, rel, filepath.Join(dir, "app"))
			return "app"
		}, "", ErrInvalidSpec, []string{"leads out of the app directory"}},
		{"not executable by others", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "app"), bin, 0o700)
			return "app"
		}, "", ErrBadApp, []string{"mode 0700", "chmod o+rx"}},
		{"directory closed to others", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "priv", "app"), bin, 0o755)
			if err := os.Chmod(filepath.Join(dir, "priv"), 0o700); err != nil {
				t.Fatal(err)
			}
			return "priv/app"
		}, "", ErrBadApp, []string{"priv has mode 0700", "chmod o+rx"}},
		{"dangling symlink", func(t *testing.T, dir string) string {
			symlink(t, "nothing-here", filepath.Join(dir, "app"))
			return "app"
		}, "", ErrNotFound, []string{"nothing-here"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			entry := tc.setup(t, dir)
			l, err := resolveApp(App{Path: dir, Entrypoint: entry})
			if tc.wantIs == nil {
				if err != nil {
					t.Fatal(err)
				}
				if l.guestPath != tc.wantGuest {
					t.Errorf("guest path %s, want %s", l.guestPath, tc.wantGuest)
				}
				return
			}
			var fe *FieldError
			if !errors.Is(err, tc.wantIs) || !errors.As(err, &fe) || fe.Field != "app.entrypoint" {
				t.Fatalf("error %v, want a FieldError for app.entrypoint wrapping %v", err, tc.wantIs)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

// TestSpecRefusesNUL checks that strings execve cannot pass are refused.
func TestSpecRefusesNUL(t *testing.T) {
	for _, tc := range []struct {
		field string
		mod   func(*Spec)
	}{
		{"app.env", func(s *Spec) { s.App.Env = []string{"A=1", "B=x\x00y"} }},
		{"app.args", func(s *Spec) { s.App.Args = []string{"-v", "a\x00"} }},
		{"app.work_dir", func(s *Spec) { s.App.WorkDir = "/data\x00" }},
		{"cmdline", func(s *Spec) { s.Cmdline = "quiet\x00" }},
	} {
		s := Spec{App: App{Path: "app"}}
		tc.mod(&s)
		_, err := s.WithDefaults()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("%s with a NUL byte: %v", tc.field, err)
		}
	}
}

func write(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // not narrowed by the umask
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
