package untar

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzExtract feeds arbitrary bytes to Extract: it must never panic and
// never create anything outside dst.
func FuzzExtract(f *testing.F) {
	seeds := [][]ent{
		{dir("d", 0o555), reg("d/f", 0o4755, "hello")},
		{reg("f", 0o644, "x"), hard("h", "f")},
		{sym("l", "/etc"), reg("l/passwd", 0o644, "x")},
		{sym("s", "d"), dir("d", 0o755)},
		{reg("../x", 0o644, "x")},
	}
	for i, s := range seeds {
		f.Add(mkTar(f, []tar.Format{tar.FormatUSTAR, tar.FormatPAX, tar.FormatGNU}[i%3], s...))
	}
	plain := mkTar(f, tar.FormatUSTAR, seeds[0]...)
	for _, z := range compressors[1:] {
		f.Add(z.wrap(f, plain))
	}
	// One parent and one dst per worker process, made afresh only after an
	// input wrote something: a directory per input costs more than most
	// inputs do.
	parent := f.TempDir()
	dst := filepath.Join(parent, "dst")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.Mkdir(dst, 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		Extract(ctx, bytes.NewReader(data), dst)
		checkInside(t, dst) // nothing outside dst, whatever the input
		if es, err := os.ReadDir(dst); err != nil || len(es) > 0 {
			makeWritable(dst)
			if err := os.RemoveAll(dst); err != nil {
				t.Fatal(err)
			}
		}
	})
}
