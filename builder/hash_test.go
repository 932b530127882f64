package builder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/image"
)

// TestBlockDigest checks that the block digest depends on the content
// only: a sparse file and a dense file holding the same bytes agree, and a
// changed byte or a changed size changes it.
func TestBlockDigest(t *testing.T) {
	dir := t.TempDir()
	const size = 64<<20 + 1234 // a partial last block
	write := func(name string, dense bool, poke map[int64]byte) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if dense {
			if _, err := f.Write(make([]byte, size)); err != nil {
				t.Fatal(err)
			}
		} else if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		for off, b := range poke {
			if _, err := f.WriteAt([]byte{b}, off); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	digest := func(p string) string {
		f := File{Role: RoleData, Format: image.Raw}
		if err := hashFile(context.Background(), p, &f); err != nil {
			t.Fatal(err)
		}
		if f.SHA256 != "" || f.BlockSHA256 == "" {
			t.Fatalf("%s: %+v, want only a block digest", p, f)
		}
		return f.BlockSHA256
	}
	data := map[int64]byte{0: 1, 1 << 20: 2, 40<<20 + 7: 3, size - 1: 4}
	sparse := digest(write("sparse", false, data))
	if d := digest(write("dense", true, data)); d != sparse {
		t.Errorf("dense file digest %s != sparse file digest %s", d, sparse)
	}
	changed := map[int64]byte{0: 1, 1 << 20: 2, 40<<20 + 7: 5, size - 1: 4}
	if d := digest(write("changed", false, changed)); d == sparse {
		t.Errorf("a changed byte left the digest unchanged")
	}
	moved := map[int64]byte{0: 1, 1<<20 + 4096: 2, 40<<20 + 7: 3, size - 1: 4}
	if d := digest(write("moved", false, moved)); d == sparse {
		t.Errorf("a byte moved to another block left the digest unchanged")
	}
	if d := digest(write("empty", false, nil)); d == sparse {
		t.Errorf("an empty file has the digest of a full one")
	}
}

// TestResultCheck checks that Result.Check accepts untouched outputs and
// names a changed boot disk and a changed data volume.
func TestResultCheck(t *testing.T) {
	s := txSpec(t, filepath.Join(t.TempDir(), "out"))
	res, err := Build(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(context.Background()); err != nil {
		t.Fatalf("fresh build: %v", err)
	}
	m, err := ReadManifest(s.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(context.Background()); err != nil {
		t.Fatalf("fresh build through its manifest: %v", err)
	}
	for _, f := range res.Files {
		fd, err := os.OpenFile(f.Path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		// A byte far inside the data volume's holes, and one inside
		// the boot disk's ESP.
		if _, err := fd.WriteAt([]byte{0xff}, f.Size/2+3); err != nil {
			t.Fatal(err)
		}
		fd.Close()
	}
	err = m.Check(context.Background())
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("Check after changing every file: %v", err)
	}
	for _, f := range res.Files {
		if !strings.Contains(err.Error(), f.Path) {
			t.Errorf("Check's error does not name %s: %v", f.Path, err)
		}
	}
}
