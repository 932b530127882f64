package blocks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/bootapp/bootapp/image/sparse"
)

func TestData(t *testing.T) {
	for _, tc := range []struct {
		name string
		ext  []sparse.Extent
		size int64
		want []sparse.Extent
		err  error
	}{
		{"nil is the whole image", nil, 100, []sparse.Extent{{Off: 0, Len: 100}}, nil},
		{"nil of an empty image", nil, 0, nil, nil},
		{"empty is no data", []sparse.Extent{}, 100, []sparse.Extent{}, nil},
		{"kept", []sparse.Extent{{Off: 5, Len: 5}}, 100, []sparse.Extent{{Off: 5, Len: 5}}, nil},
		{"overlap", []sparse.Extent{{Off: 0, Len: 10}, {Off: 5, Len: 10}}, 100, nil, sparse.ErrRange},
		{"short image", []sparse.Extent{{Off: 0, Len: 10}}, 5, nil, sparse.ErrRange},
	} {
		got, err := Data(tc.ext, tc.size)
		if !errors.Is(err, tc.err) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Data = %v, %v; want %v, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestWalk(t *testing.T) {
	img := make([]byte, 10000)
	img[0] = 1    // block 0
	img[1030] = 2 // block 1 (1024-byte blocks)
	img[9999] = 3 // last, partial block 9
	whole := []sparse.Extent{{Off: 0, Len: 10000}}
	for _, tc := range []struct {
		name string
		ext  []sparse.Extent
		want []int64
	}{
		{"whole", whole, []int64{0, 1, 9}},
		{"unaligned extents", []sparse.Extent{{Off: 1, Len: 1}, {Off: 1029, Len: 2}, {Off: 9999, Len: 1}}, []int64{0, 1, 9}},
		{"same block twice", []sparse.Extent{{Off: 0, Len: 1}, {Off: 2, Len: 1}, {Off: 1030, Len: 1}}, []int64{0, 1}},
		{"data outside extents is not read", []sparse.Extent{{Off: 2048, Len: 4096}}, nil},
		{"nil extents: the whole image", nil, []int64{0, 1, 9}},
		{"no extents", []sparse.Extent{}, nil},
	} {
		var got []int64
		err := Walk(context.Background(), bytes.NewReader(img), int64(len(img)), tc.ext, 1024, func(idx int64, data []byte) error {
			if len(data) != 1024 {
				t.Errorf("%s: block %d is %d bytes", tc.name, idx, len(data))
			}
			if idx == 9 && (data[9999-9216] != 3 || !IsZero(data[9999-9216+1:])) {
				t.Errorf("%s: last block not zero-padded", tc.name)
			}
			got = append(got, idx)
			return nil
		})
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Walk = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

type failReader struct{}

func (failReader) ReadAt([]byte, int64) (int, error) { return 0, io.ErrClosedPipe }

func TestWalkErrors(t *testing.T) {
	stop := errors.New("stop")
	img := bytes.NewReader(bytes.Repeat([]byte{1}, 8192))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		src   io.ReaderAt
		size  int64
		ext   []sparse.Extent
		block int64
		fn    func(int64, []byte) error
		is    error
	}{
		{"block not power of two", context.Background(), img, 8192, nil, 1000, nil, nil},
		{"block too big", context.Background(), img, 8192, nil, MaxBlock * 2, nil, nil},
		{"bad extents", context.Background(), img, 8192, []sparse.Extent{{Off: 0, Len: 9000}}, 512, nil, sparse.ErrRange},
		{"short source", context.Background(), img, 16384, []sparse.Extent{{Off: 0, Len: 16384}}, 512, nil, io.EOF},
		{"read error", context.Background(), failReader{}, 8192, []sparse.Extent{{Off: 0, Len: 8192}}, 512, nil, io.ErrClosedPipe},
		{"callback error", context.Background(), img, 8192, []sparse.Extent{{Off: 0, Len: 8192}}, 512, func(int64, []byte) error { return stop }, stop},
		{"cancelled", cancelled, img, 8192, []sparse.Extent{{Off: 0, Len: 8192}}, 512, nil, context.Canceled},
	} {
		fn := tc.fn
		if fn == nil {
			fn = func(int64, []byte) error { return nil }
		}
		err := Walk(tc.ctx, tc.src, tc.size, tc.ext, tc.block, fn)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.is)
		}
	}
}

func TestScan(t *testing.T) {
	img := make([]byte, 1<<20)
	img[70000] = 9
	img[1<<20-1] = 9
	a, err := Scan(context.Background(), bytes.NewReader(img), int64(len(img)), []sparse.Extent{{Off: 0, Len: 1 << 20}}, 65536)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Scan(context.Background(), bytes.NewReader(img), int64(len(img)), []sparse.Extent{{Off: 65536, Len: 10000}, {Off: 1<<20 - 1, Len: 1}}, 65536)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Blocks, []int64{1, 15}) || !reflect.DeepEqual(a, b) {
		t.Fatalf("Scan = %+v and %+v, want blocks [1 15] for both", a, b)
	}
	if !a.Has(15) || a.Has(2) {
		t.Fatal("Has is wrong")
	}
	img[70001] = 1
	c, _ := Scan(context.Background(), bytes.NewReader(img), int64(len(img)), []sparse.Extent{{Off: 0, Len: 1 << 20}}, 65536)
	if c.Sum == a.Sum {
		t.Fatal("different content, same Sum")
	}
}

func TestIsZero(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want bool
	}{
		{nil, true},
		{make([]byte, 10000), true},
		{append(make([]byte, 9999), 1), false},
		{[]byte{1}, false},
	} {
		if got := IsZero(tc.b); got != tc.want {
			t.Errorf("IsZero(%d bytes) = %v", len(tc.b), got)
		}
	}
}

// BenchmarkWalk measures how fast Walk reads and zero-checks data.
func BenchmarkWalk(b *testing.B) {
	img := bytes.Repeat([]byte{0, 0, 0, 1}, 16<<20)
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		err := Walk(context.Background(), bytes.NewReader(img), int64(len(img)), []sparse.Extent{{Off: 0, Len: int64(len(img))}}, 65536, func(int64, []byte) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIsZero measures the zero check on a 64 KiB block of zeros.
func BenchmarkIsZero(b *testing.B) {
	blk := make([]byte, 65536)
	b.SetBytes(int64(len(blk)))
	for b.Loop() {
		if !IsZero(blk) {
			b.Fatal("not zero")
		}
	}
}
