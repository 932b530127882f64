package builder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/testutil"
)

// TestFromPackage: what is extracted from a package is kept under a key of
// its path, size and modification time, and extracted again when one of
// them changes; a failed extraction and an empty cache folder keep
// nothing.
func TestFromPackage(t *testing.T) {
	dir := t.TempDir()
	cacheDir := filepath.Join(dir, "cache")
	pkg := filepath.Join(dir, "p.deb")
	if err := os.WriteFile(pkg, []byte("package"), 0o644); err != nil {
		t.Fatal(err)
	}
	calls := 0
	extract := func() ([]byte, error) { calls++; return []byte("derived"), nil }
	steps := []struct {
		name      string
		before    func()
		wantCalls int
	}{
		{"first: extracts", nil, 1},
		{"second: from the cache", nil, 1},
		{"package touched: extracts again", func() {
			if err := os.Chtimes(pkg, time.Now(), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, 2},
		{"again: from the cache", nil, 2},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		b, err := fromPackage(cacheDir, pkg, ".x", extract)
		if err != nil || string(b) != "derived" || calls != s.wantCalls {
			t.Errorf("%s: %q, %v, %d extractions (want %d)", s.name, b, err, calls, s.wantCalls)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(cacheDir, "*.x")); len(m) != 2 {
		t.Errorf("cache entries %v, want one per version of the package", m)
	}

	failed := errors.New("broken package")
	other := filepath.Join(dir, "q.deb")
	os.WriteFile(other, []byte("other"), 0o644)
	if _, err := fromPackage(cacheDir, other, ".y", func() ([]byte, error) { return nil, failed }); !errors.Is(err, failed) {
		t.Errorf("failed extraction: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(cacheDir, "*.y")); len(m) != 0 {
		t.Errorf("a failed extraction left %v", m)
	}

	wd, _ := os.Getwd()
	before, _ := os.ReadDir(wd)
	for range 2 {
		if _, err := fromPackage("", pkg, ".z", extract); err != nil {
			t.Fatal(err)
		}
	}
	if after, _ := os.ReadDir(wd); len(after) != len(before) || calls != 4 {
		t.Errorf("no cache folder: %d extractions (want 4), %d -> %d entries in the working directory", calls, len(before), len(after))
	}
}

// TestPackageInputCached: a package's description comes out the same from
// the cache as from the package, and a damaged or stale entry is not
// believed.
func TestPackageInputCached(t *testing.T) {
	ldeb := testutil.LoaderDeb(t)
	ctx := context.Background()
	want, err := readPackageInput(ctx, ldeb, "")
	if err != nil || want.Name != "systemd-boot-efi" || len(want.SHA256) != 64 {
		t.Fatalf("readPackageInput: %+v, %v", want, err)
	}
	cacheDir := t.TempDir()
	for _, step := range []string{"extracted", "cached"} {
		if got, err := packageInput(ctx, cacheDir, ldeb, ""); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, %v; want %+v", step, got, err, want)
		}
	}
	entries, _ := filepath.Glob(filepath.Join(cacheDir, "*.json"))
	if len(entries) != 1 {
		t.Fatalf("cache entries %v", entries)
	}
	for _, bad := range []string{"{not json", `{"path":"x","size":1,"sha256":"` + want.SHA256[:63] + `0"}`} {
		if err := os.WriteFile(entries[0], []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		// The stale entry's checksum differs from the one the caller knows.
		if got, err := packageInput(ctx, cacheDir, ldeb, want.SHA256); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("entry %q: %+v, %v; want %+v", bad, got, err, want)
		}
	}
}
