package image

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestSparseFile replays write sequences against sparseFile and a plain
// in-memory model and compares the results: the combining buffer and the
// hole punching must never change what the file reads back.
func TestSparseFile(t *testing.T) {
	const size = 8 << 20
	type w struct {
		off int64
		n   int
		val byte // 0 writes zeros
	}
	tests := []struct {
		name      string
		writes    []w
		wantAlloc int64 // upper bound on allocated bytes
	}{
		{"contiguous small writes combine", []w{{0, 512, 1}, {512, 512, 2}, {1024, 3000, 3}}, 8 << 10},
		{"zeros stay holes", []w{{0, 4 << 20, 0}, {5 << 20, 64 << 10, 0}}, 0},
		{"zeros over data punch it out", []w{{1 << 20, 1 << 20, 7}, {1 << 20, 1 << 20, 0}}, 0},
		{"unaligned zero run keeps edges", []w{{100, 20000, 9}, {1000, 12000, 0}}, 24 << 10},
		{"read back pending", []w{{4096, 100, 5}, {4196, 100, 6}}, 4 << 10},
		{"big write beyond limit", []w{{0, combineLimit + 4096, 3}}, combineLimit + 16<<10},
		{"mixed big write", []w{{0, combineLimit, 0}, {combineLimit, 8192, 4}}, 16 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			s, err := createSparse(p, size)
			if err != nil {
				t.Fatal(err)
			}
			model := make([]byte, size)
			for _, op := range tt.writes {
				b := bytes.Repeat([]byte{op.val}, op.n)
				if n, err := s.WriteAt(b, op.off); n != op.n || err != nil {
					t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", op.n, op.off, n, err)
				}
				copy(model[op.off:], b)
				// Reads see everything written so far.
				got := make([]byte, op.n)
				if _, err := s.ReadAt(got, op.off); err != nil || !bytes.Equal(got, b) {
					t.Fatalf("ReadAt after WriteAt at %d: err %v, equal %v", op.off, err, bytes.Equal(got, b))
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, model) {
				t.Error("file contents differ from the model")
			}
			if a := allocated(t, p); holePunching && a > tt.wantAlloc {
				t.Errorf("allocated %d bytes, want at most %d", a, tt.wantAlloc)
			}
		})
	}
}

// TestSparseFileRandom replays random writes (data, zeros, overlaps).
func TestSparseFileRandom(t *testing.T) {
	const size = 4 << 20
	r := rand.New(rand.NewPCG(1, 2))
	p := filepath.Join(t.TempDir(), "f")
	s, err := createSparse(p, size)
	if err != nil {
		t.Fatal(err)
	}
	model := make([]byte, size)
	for i := 0; i < 2000; i++ {
		n := 1 + r.IntN(64<<10)
		off := r.Int64N(size - int64(n))
		if r.IntN(3) == 0 {
			off = off / 512 * 512 // sector-aligned like go-diskfs
		}
		b := make([]byte, n)
		if r.IntN(2) == 0 {
			for j := range b {
				b[j] = byte(r.UintN(256))
			}
		}
		if _, err := s.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
		copy(model[off:], b)
		if i%97 == 0 {
			got := make([]byte, 1<<16)
			roff := r.Int64N(size - int64(len(got)))
			if _, err := s.ReadAt(got, roff); err != nil || !bytes.Equal(got, model[roff:roff+int64(len(got))]) {
				t.Fatalf("step %d: ReadAt(%d) differs from the model (err %v)", i, roff, err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, model) {
		t.Error("file contents differ from the model")
	}
}
