package deb

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/bootapp/bootapp/internal/deb/debtest"
	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/ulikunitz/xz"
)

// testData returns n bytes that compress somewhat, like a tar of binaries.
func testData(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		if i%64 < 40 {
			b[i] = byte(i / 64)
		} else {
			b[i] = byte(r.IntN(256))
		}
	}
	return b
}

func decodeAll(t *testing.T, b []byte) ([]byte, bool, error) {
	t.Helper()
	z, err := newXZReader(bytes.NewReader(b))
	if err != nil {
		return nil, false, err
	}
	defer z.Close()
	_, parallel := z.(*xzBlocks)
	out, err := io.ReadAll(z)
	return out, parallel, err
}

func TestParallelXZ(t *testing.T) {
	data := testData(300_000)
	single := func() []byte {
		var b bytes.Buffer
		w, _ := xz.NewWriter(&b)
		w.Write(data)
		w.Close()
		return b.Bytes()
	}()
	tests := []struct {
		name         string
		in           func() ([]byte, error)
		want         []byte
		wantParallel bool
	}{
		{"blocks-64k", func() ([]byte, error) { return debtest.XZBlocks(data, 64<<10) }, data, true},
		{"one-block", func() ([]byte, error) { return debtest.XZBlocks(data, 1<<20) }, data, true},
		{"empty", func() ([]byte, error) { return debtest.XZBlocks(nil, 4096) }, []byte{}, true},
		{"no-sizes-falls-back", func() ([]byte, error) { return single, nil }, data, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := tc.in()
			if err != nil {
				t.Fatal(err)
			}
			got, parallel, err := decodeAll(t, in)
			if err != nil {
				t.Fatal(err)
			}
			if parallel != tc.wantParallel {
				t.Errorf("parallel path = %v, want %v", parallel, tc.wantParallel)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("decoded %d bytes, want %d identical bytes", len(got), len(tc.want))
			}
		})
	}
}

// TestParallelXZDamage flips bytes and cuts the stream everywhere: each
// must give an error (cuts: matching ErrTruncated), never wrong data.
func TestParallelXZDamage(t *testing.T) {
	data := testData(6_000)
	in, err := debtest.XZBlocks(data, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// Cuts start after the 12-byte stream header: a bare header goes to
	// the xz package's reader, which takes it for an empty stream (inside
	// a .deb, the ar member's length still reports the truncation).
	for cut := 13; cut < len(in); cut++ {
		got, _, err := decodeAll(t, in[:cut])
		if err == nil {
			t.Fatalf("cut at %d of %d: decoded %d bytes without error", cut, len(in), len(got))
		}
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: error %v does not match ErrTruncated", cut, err)
		}
	}
	// A flipped byte must never yield wrong data without an error. A few
	// flips (in the range coder's final bytes) leave the output intact,
	// as with xz(1); nearly all must be reported.
	flips, caught := 0, 0
	for i := 0; i < len(in); i += 3 {
		bad := bytes.Clone(in)
		bad[i] ^= 0x55
		got, _, err := decodeAll(t, bad)
		flips++
		if err != nil {
			caught++
		} else if !bytes.Equal(got, data) {
			t.Fatalf("flipped byte %d: wrong data without an error", i)
		}
	}
	if caught < flips*95/100 {
		t.Errorf("only %d of %d flipped bytes were reported", caught, flips)
	}
	// Closing early must not hang or leak: the producer stops.
	z, _ := newXZReader(bytes.NewReader(in))
	io.ReadFull(z, make([]byte, 10))
	z.Close()
}

// TestParallelXZAgainstXZUtils decodes what xz(1) writes with several
// threads (blocks with sizes, like dpkg-deb) and compares.
func TestParallelXZAgainstXZUtils(t *testing.T) {
	bin, err := exec.LookPath("xz")
	if err != nil {
		testutil.Missing(t, "xz is not installed, so the decoder cannot be cross-checked against the reference encoder", "apt-get install -y xz-utils (or make deps)")
	}
	data := testData(1 << 20)
	cmd := exec.Command(bin, "-T2", "--block-size=200KiB", "-6", "-c")
	cmd.Stdin = bytes.NewReader(data)
	in, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got, parallel, err := decodeAll(t, in)
	if err != nil || !parallel || !bytes.Equal(got, data) {
		t.Fatalf("parallel %v, %d bytes, err %v", parallel, len(got), err)
	}
}

// TestParallelXZRealKernel checks the parallel decoder against the xz
// package's on the real kernel package's data.tar.xz (5 blocks).
func TestParallelXZRealKernel(t *testing.T) {
	testutil.NeedE2E(t, "decodes 100 MB twice (many seconds)")
	realKernelDeb := testutil.KernelDeb(t)
	member := func() io.Reader {
		f, err := os.Open(realKernelDeb)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		rd, err := NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		for {
			name, size, err := rd.next()
			if err != nil {
				t.Fatal(err)
			}
			if name == "data.tar.xz" {
				return io.LimitReader(rd.r, size)
			}
		}
	}
	h1, h2 := sha256.New(), sha256.New()
	z, _ := xz.NewReader(member())
	n1, err := io.Copy(h1, z)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newXZReader(member())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(*xzBlocks); !ok {
		t.Error("the real package did not take the parallel path")
	}
	n2, err := io.Copy(h2, p)
	if err != nil || n1 != n2 || !bytes.Equal(h1.Sum(nil), h2.Sum(nil)) {
		t.Fatalf("parallel decoder: %d bytes, err %v; xz package: %d bytes; equal hashes %v", n2, err, n1, bytes.Equal(h1.Sum(nil), h2.Sum(nil)))
	}
}

func FuzzXZ(f *testing.F) {
	b, _ := debtest.XZBlocks(testData(10_000), 2048)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		z, err := newXZReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		io.Copy(io.Discard, io.LimitReader(z, 1<<24))
		z.Close()
	})
}
