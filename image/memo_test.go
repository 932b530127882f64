package image

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/bootapp/bootapp/image/memo"
	"github.com/bootapp/bootapp/internal/testutil"
)

// memoImage writes a sparse raw image of text, random bytes and a hole,
// with a repeat of its first MiB later on (the same grains at other
// offsets).
func memoImage(t *testing.T, path string, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	text := bytes.Repeat([]byte("bootapp turns an app into a bootable disk image; "), 25000)
	rnd := make([]byte, 1<<20)
	for i := range rnd {
		rnd[i] = byte(rng.Uint32())
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(12 << 20)
	for _, w := range []struct {
		off int64
		p   []byte
	}{{0, text[:1<<20]}, {1 << 20, rnd}, {2<<20 + 4096, text[7:]}, {9 << 20, text[:1<<20]}} {
		if _, err := f.WriteAt(w.p, w.off); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEncodeMemo encodes the Compressed formats, which use a memo.Store,
// without one, with an empty one, with the filled one and with every entry
// damaged, and wants the same bytes each time; the filled Store is read,
// not written. The other formats must not write to it.
func TestEncodeMemo(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	memoImage(t, src, 1)
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			if !f.Compressed() {
				// An uncompressed format leaves the memo untouched.
				m, err := memo.Open(filepath.Join(t.TempDir(), "memo"))
				if err != nil {
					t.Fatal(err)
				}
				if err := EncodeWith(context.Background(), f, filepath.Join(t.TempDir(), "disk"+f.Ext()), src, EncodeOptions{Memo: m}); err != nil {
					t.Fatal(err)
				}
				if m.Written() != 0 {
					t.Errorf("%s is not Compressed but wrote %d bytes to the memo", f, m.Written())
				}
				return
			}
			encode := func(name string, m *memo.Store) string {
				t.Helper()
				out := filepath.Join(t.TempDir(), "disk"+f.Ext()) // the name is in the output
				if err := EncodeWith(context.Background(), f, out, src, EncodeOptions{Memo: m}); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				return testutil.FileSHA256(t, out)
			}
			want := encode("plain", nil)
			mdir := filepath.Join(t.TempDir(), "memo")
			cold, err := memo.Open(mdir)
			if err != nil {
				t.Fatal(err)
			}
			if got := encode("cold", cold); got != want {
				t.Errorf("with an empty memo: %s, want %s", got, want)
			}
			if cold.Written() == 0 {
				t.Error("an empty memo was not filled")
			}
			warm, _ := memo.Open(mdir)
			if got := encode("warm", warm); got != want {
				t.Errorf("with a filled memo: %s, want %s", got, want)
			}
			if warm.Written() != 0 {
				t.Errorf("a filled memo was written again (%d bytes)", warm.Written())
			}
			// Damage every entry: each one is a miss and is compressed
			// again, into the same output.
			entries, _ := filepath.Glob(filepath.Join(mdir, "*", "*"))
			if len(entries) == 0 {
				t.Fatal("no entries")
			}
			for _, e := range entries {
				b, _ := os.ReadFile(e)
				b[len(b)-1] ^= 0xff
				os.WriteFile(e, b, 0o644)
			}
			damaged, _ := memo.Open(mdir)
			if got := encode("damaged", damaged); got != want {
				t.Errorf("with damaged entries: %s, want %s", got, want)
			}
			if damaged.Written() == 0 {
				t.Error("damaged entries were not replaced")
			}
		})
	}
}
