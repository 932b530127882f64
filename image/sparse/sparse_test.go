package sparse

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestExtents(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		size   int64
		writes []int64 // offsets of 4 KiB writes
		want   []Extent
	}{
		{"empty file", 0, nil, []Extent{}},
		{"all hole", 10 << 20, nil, []Extent{}},
		{"start and end", 10 << 20, []int64{0, 10<<20 - 4096}, []Extent{{0, 4096}, {10<<20 - 4096, 4096}}},
		{"middle", 8 << 20, []int64{1 << 20, 1<<20 + 4096}, []Extent{{1 << 20, 8192}}},
		{"odd size", 3<<20 + 5, []int64{3 << 20}, []Extent{{3 << 20, 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(tc.size); err != nil {
				t.Fatal(err)
			}
			for _, off := range tc.writes {
				n := min(4096, tc.size-off)
				if _, err := f.WriteAt(bytes.Repeat([]byte{1}, int(n)), off); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.Seek(123, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got, err := Extents(f)
			if err != nil {
				t.Fatal(err)
			}
			if pos, _ := f.Seek(0, io.SeekCurrent); pos != 123 {
				t.Errorf("Extents left the offset at %d, want 123", pos)
			}
			if got == nil {
				t.Fatal("Extents = nil, which encoders read as the whole file; want a non-nil slice")
			}
			want := tc.want
			if !findsHoles && tc.size > 0 {
				want = []Extent{{0, tc.size}}
			}
			// File systems without SEEK_HOLE report one extent: accept
			// that, but it must still cover the data.
			if findsHoles && len(got) == 1 && got[0] == (Extent{0, tc.size}) && !reflect.DeepEqual(got, want) {
				t.Logf("file system reports no holes; got the whole-file fallback")
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Extents = %v, want %v", got, want)
			}
		})
	}
}

func TestExtentsErrors(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "closed"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Extents(f); err == nil || !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Extents of a closed file: %v, want os.ErrClosed", err)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		ext  []Extent
		size int64
		ok   bool
	}{
		{"nil", nil, 100, true},
		{"empty", []Extent{}, 100, true},
		{"fine", []Extent{{0, 10}, {10, 5}, {50, 50}}, 100, true},
		{"zero length", []Extent{{100, 0}}, 100, true},
		{"overlap", []Extent{{0, 10}, {5, 10}}, 100, false},
		{"unsorted", []Extent{{50, 10}, {0, 10}}, 100, false},
		{"past end", []Extent{{90, 11}}, 100, false},
		{"negative", []Extent{{-1, 5}}, 100, false},
		{"negative length", []Extent{{5, -1}}, 100, false},
		{"overflow", []Extent{{1, 1<<63 - 1}}, 100, false},
		{"negative size", nil, -1, false},
	} {
		err := Check(tc.ext, tc.size)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrRange)) {
			t.Errorf("%s: Check = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestEnd(t *testing.T) {
	if got := (Extent{Off: 10, Len: 5}).End(); got != 15 {
		t.Fatalf("End = %d, want 15", got)
	}
}
