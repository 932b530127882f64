package deflate

import (
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
)

func inflate(t testing.TB, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

func samples() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog; "), 3000)
	small := make([]byte, 100<<10) // few symbols: skewed codes
	for i := range small {
		small[i] = byte(rng.IntN(3)) * byte(rng.IntN(2))
	}
	mixed := append(append(append([]byte{}, text[:50000]...), random[:70000]...), make([]byte, 40000)...)
	return map[string][]byte{
		"empty": {}, "one": {7}, "two": {7, 7}, "zeros": make([]byte, 300<<10),
		"random": random, "text": text, "small-alphabet": small, "mixed": mixed,
	}
}

func TestRoundTrip(t *testing.T) {
	for name, data := range samples() {
		for _, level := range []int{1, 6, 9} {
			e := NewEncoder(level)
			out := e.Encode(nil, data, 0, true)
			if got := inflate(t, out); !bytes.Equal(got, data) {
				t.Fatalf("%s level %d: round trip differs (%d bytes back of %d)", name, level, len(got), len(data))
			}
			if len(data) > 1000 && len(out) > len(data)+len(data)/1000+64 {
				t.Errorf("%s level %d: %d bytes from %d", name, level, len(out), len(data))
			}
		}
	}
}

// TestChunks compresses a stream in chunks, each with the previous 32 KiB
// as its dictionary, concatenates them and inflates the whole.
func TestChunks(t *testing.T) {
	data := samples()["mixed"]
	data = append(data, samples()["text"]...)
	for _, chunk := range []int{7, 1000, 65536, 100000} {
		var out []byte
		e := NewEncoder(6)
		for off := 0; off < len(data); off += chunk {
			end := min(off+chunk, len(data))
			dict := max(0, off-windowSize)
			out = e.Encode(out, data[dict:end], off-dict, false)
		}
		out = append(out, 0x03, 0x00) // final empty fixed block
		if got := inflate(t, out); !bytes.Equal(got, data) {
			t.Fatalf("chunk %d: round trip differs", chunk)
		}
	}
}

// TestKernel compresses the cached kernel in 64 KiB grains, as the VMDK
// encoder does, and logs the size (zlib 6 gives 11.28 MB on the bookworm cloud kernel).
func TestKernel(t *testing.T) {
	path := kerneltest.Open(t).ImagePath
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEncoder(6)
	total := 0
	var out []byte
	for off := 0; off < len(data); off += 64 << 10 {
		g := data[off:min(off+64<<10, len(data))]
		out = e.Encode(out[:0], g, 0, true)
		if off < 1<<20 {
			if got := inflate(t, out); !bytes.Equal(got, g) {
				t.Fatalf("grain at %d differs", off)
			}
		}
		total += len(out)
	}
	t.Logf("%s: %d bytes in 64 KiB grains, %d deflated", path, len(data), total)
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello hello hello"), 0, 6)
	f.Add(bytes.Repeat([]byte{1, 2, 3}, 100), 5, 9)
	f.Fuzz(func(t *testing.T, data []byte, start, level int) {
		if start < 0 || start > len(data) {
			start = 0
		}
		out := NewEncoder(level).Encode(nil, data, start, true)
		got, err := io.ReadAll(flate.NewReaderDict(bytes.NewReader(out), data[:start]))
		if err != nil || !bytes.Equal(got, data[start:]) {
			t.Fatalf("round trip differs: %v", err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	data := samples()["mixed"]
	e := NewEncoder(6)
	b.SetBytes(int64(len(data)))
	var out []byte
	for b.Loop() {
		out = e.Encode(out[:0], data, 0, true)
	}
}

func BenchmarkKernelGrains(b *testing.B) {
	data, err := os.ReadFile(kerneltest.Open(b).ImagePath)
	if err != nil {
		b.Fatal(err)
	}
	for _, level := range []int{1, 2, 3, 4, 6} {
		b.Run(strconv.Itoa(level), func(b *testing.B) {
			e := NewEncoder(level)
			b.SetBytes(int64(len(data)))
			var out []byte
			total := 0
			for b.Loop() {
				total = 0
				for off := 0; off < len(data); off += 64 << 10 {
					out = e.Encode(out[:0], data[off:min(off+64<<10, len(data))], 0, true)
					total += len(out)
				}
			}
			b.ReportMetric(float64(total), "out-bytes")
		})
	}
}
