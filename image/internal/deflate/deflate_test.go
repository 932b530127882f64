package deflate

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
	kflate "github.com/klauspost/compress/flate"
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
		e := NewEncoder(level)
		for range 2 { // a new Encoder, then the same again (older entries in its tables)
			out := e.Encode(nil, data, start, true)
			got, err := io.ReadAll(flate.NewReaderDict(bytes.NewReader(out), data[:start]))
			if err != nil || !bytes.Equal(got, data[start:]) {
				t.Fatalf("round trip differs: %v", err)
			}
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

// grains returns the 64 KiB grains of the file at path that a
// streamOptimized VMDK compresses: not all zeros, not Incompressible.
func grains(b *testing.B, path string) (gs [][]byte, n int64) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for off := 0; off < len(data); off += 64 << 10 {
		g := data[off:min(off+64<<10, len(data))]
		if !bytes.Equal(g, make([]byte, len(g))) && !Incompressible(g) {
			gs = append(gs, g)
			n += int64(len(g))
		}
	}
	return gs, n
}

// BenchmarkPrevious compresses the grains of a real boot disk (the raw
// disk at $BOOTAPP_BENCH_DISK: make bench passes the hello disk it
// builds) and of the cached kernel alone, one grain after another on one
// core, with this encoder at levels 5 (streamOptimized VMDK's default)
// and 6 (GCE's) and with the encoder it replaced, klauspost/compress's at
// level 7: ns/op and out-bytes of each, for make bench's ratios.
func BenchmarkPrevious(b *testing.B) {
	disk := os.Getenv("BOOTAPP_BENCH_DISK")
	if disk == "" {
		b.Fatal("BOOTAPP_BENCH_DISK is not set: give it a raw boot disk (make bench builds one)")
	}
	inputs := []struct{ name, path string }{{"disk", disk}, {"kernel", kerneltest.Open(b).ImagePath}}
	for _, in := range inputs {
		gs, n := grains(b, in.path)
		var buf bytes.Buffer
		kw, _ := kflate.NewWriter(&buf, 7)
		encs := map[string]func() int{"level5": nil, "level6": nil, "klauspost7": nil}
		for name := range encs {
			var e *Encoder
			switch name {
			case "level5":
				e = NewEncoder(5)
			case "level6":
				e = NewEncoder(6)
			}
			var out []byte
			encs[name] = func() (total int) { // every grain once: the output's size
				for _, g := range gs {
					if e != nil {
						out = e.Encode(out[:0], g, 0, true)
						total += len(out)
						continue
					}
					buf.Reset()
					kw.Reset(&buf)
					kw.Write(g)
					kw.Close()
					total += buf.Len()
				}
				return total
			}
			encs[name]() // warm: memory touched, the heap grown
		}
		runtime.GC()
		for _, name := range []string{"level5", "level6", "klauspost7"} {
			b.Run(in.name+"/"+name, func(b *testing.B) {
				b.SetBytes(n)
				total := 0
				for b.Loop() {
					total = encs[name]()
				}
				b.ReportMetric(float64(total), "out-bytes")
			})
		}
	}
}

// edgeCases are inputs at the limits of the format and of the encoder:
// matches of exactly 258 bytes and at distance 32768, runs across block
// and segment ends, every byte value, stored-block sizes.
func edgeCases() map[string][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	far := rnd(windowSize + 300) // repeats its start at distance 32768
	copy(far[windowSize:], far[:300])
	tooFarBy1 := rnd(windowSize + 301) // a repeat at 32769: out of reach
	copy(tooFarBy1[windowSize+1:], tooFarBy1[:300])
	all := make([]byte, 0, 256*40)
	for r := range 40 {
		for c := range 256 {
			all = append(all, byte(c*(r+1)))
		}
	}
	three := make([]byte, 0, 200<<10) // 3-byte repeats only, near and far
	for len(three) < 200<<10 {
		w := rnd(3)
		three = append(three, w...)
		three = append(three, rnd(rng.IntN(5000))...)
		three = append(three, w...)
	}
	tokens := make([]byte, 0, 3*blockTokens) // literal tokens across block ends
	for len(tokens) < cap(tokens) {
		tokens = append(tokens, byte(rng.IntN(16)))
	}
	return map[string][]byte{
		"258":             bytes.Repeat([]byte{9}, 259),
		"258x2+1":         bytes.Repeat([]byte{9}, 2*258+1+1),
		"dist32768":       far,
		"dist32769":       tooFarBy1,
		"all-bytes":       all,
		"3-byte":          three,
		"tokens":          tokens,
		"stored-65535":    rnd(65535),
		"stored-65536":    rnd(65536),
		"stored-200k":     rnd(200 << 10),
		"zeros-then-rand": append(make([]byte, 100<<10), rnd(150<<10)...),
		"rand-then-text":  append(rnd(70<<10), bytes.Repeat([]byte("abcdefgh"), 20000)...),
	}
}

// TestEdgeCases inflates with compress/flate what every level encodes
// from the edge cases, whole and as chunks with dictionaries, with and
// without StoreIncompressible, reusing one Encoder throughout.
func TestEdgeCases(t *testing.T) {
	for name, data := range edgeCases() {
		for level := 1; level <= 9; level++ {
			for _, store := range []bool{false, true} {
				e := NewEncoder(level)
				e.StoreIncompressible = store
				out := e.Encode(nil, data, 0, true)
				if got := inflate(t, out); !bytes.Equal(got, data) {
					t.Fatalf("%s level %d store %v: round trip differs", name, level, store)
				}
				if again := e.Encode(nil, data, 0, true); !bytes.Equal(again, out) {
					t.Fatalf("%s level %d store %v: a reused Encoder gives other bytes", name, level, store)
				}
				if len(out) > len(data)+len(data)/1000+64 {
					t.Errorf("%s level %d store %v: %d bytes from %d", name, level, store, len(out), len(data))
				}
				for _, chunk := range []int{1, 1000, 40000} {
					if chunk == 1 && len(data) > 5000 {
						continue
					}
					var out []byte
					for off := 0; off < len(data); off += chunk {
						d := max(0, off-windowSize)
						out = e.Encode(out, data[d:min(off+chunk, len(data))], off-d, false)
					}
					out = append(out, 0x03, 0x00)
					if got := inflate(t, out); !bytes.Equal(got, data) {
						t.Fatalf("%s level %d store %v chunk %d: round trip differs", name, level, store, chunk)
					}
				}
			}
		}
	}
}

// TestFreshEncoder encodes with a new Encoder each time, whose tables are
// empty: an empty entry must not pass for a string before the input (a
// 3-byte match at distance position+1 once did, where the bytes after the
// input were zeros like the first three). FuzzRoundTrip found it.
func TestFreshEncoder(t *testing.T) {
	grain := make([]byte, 64<<10)
	grain[3] = '0'
	for i := 4; i < len(grain)-1; i++ {
		grain[i] = byte(i * 7)
	}
	for _, in := range [][]byte{[]byte("\x00\x00\x00000"), []byte("\x00\x00\x00\x01\x02\x03"), []byte("aaab"), grain} {
		for level := 1; level <= 9; level++ {
			out := NewEncoder(level).Encode(nil, in, 0, true)
			if got := inflate(t, out); !bytes.Equal(got, in) {
				t.Errorf("%.8q, level %d: round trip differs", in, level)
			}
		}
	}
}

// TestBaseWraps runs an Encoder across the point where its position
// numbering starts again (the hash table is cleared): the output must not
// depend on what came before.
func TestBaseWraps(t *testing.T) {
	data := samples()["mixed"]
	want := NewEncoder(6).Encode(nil, data, 0, true)
	e := NewEncoder(6)
	e.Encode(nil, data, 0, true)
	e.base = 1<<30 - len(data)/2
	for range 3 {
		if got := e.Encode(nil, data, 0, true); !bytes.Equal(got, want) {
			t.Fatalf("base %d: output differs", e.base)
		}
	}
}

// TestSplitPays checks that a block ends where the statistics change:
// random digits then random letters cost no more than the two apart
// (within the 1% that ending blocks only every 4096 symbols may cost).
func TestSplitPays(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	a, b := make([]byte, 100000), make([]byte, 100000)
	for i := range a {
		a[i] = "0123456789"[rng.IntN(10)]
		b[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[rng.IntN(26)]
	}
	data := append(a, b...)
	out := NewEncoder(6).Encode(nil, data, 0, true)
	if got := inflate(t, out); !bytes.Equal(got, data) {
		t.Fatal("round trip differs")
	}
	// No more than the two parts compressed on their own.
	e := NewEncoder(6)
	if limit := (len(e.Encode(nil, a, 0, true)) + len(e.Encode(nil, b, 0, true))) * 101 / 100; len(out) > limit {
		t.Errorf("%d bytes, want <= %d", len(out), limit)
	}
}

// TestThreeByteMatches checks that strings which repeat only in 3 bytes
// are matched: the 4-byte hash chains cannot find them, the 3-byte table
// must. Words of 3 random bytes from a small vocabulary, each followed
// by a random byte: 4-byte repeats are rare, 3-byte ones everywhere.
// Go's compress/flate, which matches 4 bytes at least, is the reference.
func TestThreeByteMatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var vocab [16][3]byte
	for i := range vocab {
		for j := range vocab[i] {
			vocab[i][j] = byte(rng.Uint32())
		}
	}
	var data []byte
	for len(data) < 60000 {
		w := vocab[rng.IntN(len(vocab))]
		data = append(data, w[0], w[1], w[2], byte(rng.Uint32()))
	}
	out := NewEncoder(6).Encode(nil, data, 0, true)
	if got := inflate(t, out); !bytes.Equal(got, data) {
		t.Fatal("round trip differs")
	}
	var ref bytes.Buffer
	fw, _ := flate.NewWriter(&ref, 9)
	fw.Write(data)
	fw.Close()
	if len(out) > ref.Len()*90/100 {
		t.Errorf("%d bytes, want at least 10%% below compress/flate level 9's %d", len(out), ref.Len())
	}
	t.Logf("%d bytes from %d (compress/flate -9: %d)", len(out), len(data), ref.Len())
}

// golden is the SHA-256 of what goldenOutput encodes: when a change makes
// this test fail, the output has changed, and Version must change with
// this value.
const golden = "438d26d0d432d7c3d447326d091ab1efe753072fc3986c8563c6d3b1b98a96bb"

// goldenOutput encodes every sample at levels 1, 4, 5, 6 and 9, whole and in
// chunks with dictionaries, with and without StoreIncompressible.
func goldenOutput() []byte {
	s := samples()
	var out []byte
	for _, name := range []string{"empty", "one", "two", "zeros", "random", "text", "small-alphabet", "mixed"} {
		data := s[name]
		for _, level := range []int{1, 4, 5, 6, 9} {
			for _, store := range []bool{false, true} {
				e := NewEncoder(level)
				e.StoreIncompressible = store
				out = e.Encode(out, data, 0, true)
				for off := 0; off < len(data); off += 50000 {
					dict := max(0, off-windowSize)
					out = e.Encode(out, data[dict:min(off+50000, len(data))], off-dict, false)
				}
			}
		}
	}
	return out
}

func TestGolden(t *testing.T) {
	sum := sha256.Sum256(goldenOutput())
	if got := hex.EncodeToString(sum[:]); got != golden {
		t.Errorf("the encoder's output changed (SHA-256 %s, want %s): change Version (now %q) and golden together", got, golden, Version)
	}
}

func TestIncompressible(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"random", random, true},
		{"random, under 4 KiB", random[:4095], false},
		{"text", bytes.Repeat([]byte("bootapp grain "), len(random)/14), false},
		{"mostly zero", append(make([]byte, len(random)-100), random[:100]...), false},
		{"half random", append(append([]byte{}, random[:len(random)/2]...), make([]byte, len(random)/2)...), false},
	} {
		if got := Incompressible(tc.b); got != tc.want {
			t.Errorf("%s: Incompressible = %v, want %v", tc.name, got, tc.want)
		}
	}
}
