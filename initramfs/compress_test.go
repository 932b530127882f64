package initramfs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

func TestParseCompression(t *testing.T) {
	tests := []struct {
		in   string
		want Compression
		ext  string
		err  bool
	}{
		{"zstd", Zstd, ".zst", false},
		{"ZSTD", Zstd, ".zst", false},
		{"zst", Zstd, ".zst", false},
		{" xz ", XZ, ".xz", false},
		{"gzip", Gzip, ".gz", false},
		{"gz", Gzip, ".gz", false},
		{"none", None, "", false},
		{"", "", "", true},
		{"lz4", "", "", true},
		{"bzip2", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCompression(tt.in)
			if tt.err {
				if !errors.Is(err, ErrUnsupportedCompression) {
					t.Fatalf("ParseCompression(%q) error = %v, want ErrUnsupportedCompression", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCompression(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if got.Ext() != tt.ext {
				t.Fatalf("%q.Ext() = %q, want %q", got, got.Ext(), tt.ext)
			}
		})
	}
	if _, err := NewCompressor(io.Discard, "lz4"); !errors.Is(err, ErrUnsupportedCompression) {
		t.Fatalf("NewCompressor(lz4) error = %v, want ErrUnsupportedCompression", err)
	}
}

// decompress undoes c with the Go decoders.
func decompress(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var r io.Reader
	switch c {
	case None:
		return data
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case XZ:
		xr, err := xz.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		r = xr
	case Zstd:
		zr, err := zstd.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompress %s: %v", c, err)
	}
	return out
}

// compressed returns data compressed by NewCompressor, without padding.
func compressed(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewCompressor(&buf, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCompressionTools checks each compressed segment with the real tools:
// the integrity test, the decompressed bytes, and for xz the check type the
// kernel needs.
func TestCompressionTools(t *testing.T) {
	plain := sample(t, Options{})
	tests := []struct {
		c         Compression
		tool, pkg string
		magic     []byte
	}{
		{Gzip, "gzip", "gzip", []byte{0x1f, 0x8b}},
		{XZ, "xz", "xz-utils", []byte{0xfd, '7', 'z', 'X', 'Z', 0}},
		{Zstd, "zstd", "zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}},
	}
	for _, tt := range tests {
		t.Run(string(tt.c), func(t *testing.T) {
			tool := lookTool(t, tt.tool, tt.pkg)
			// The stream as NewCompressor makes it (Writer pads it).
			stream := compressed(t, tt.c, plain)
			seg := sample(t, Options{Compression: tt.c})
			if !bytes.HasPrefix(seg, stream) || len(seg)-len(stream) > 3 || strings.Trim(string(seg[len(stream):]), "\x00") != "" {
				t.Fatalf("segment (%d bytes) is not the stream (%d bytes) plus zero padding", len(seg), len(stream))
			}
			if !bytes.HasPrefix(stream, tt.magic) {
				t.Fatalf("stream starts % x, want % x", stream[:8], tt.magic)
			}
			if got := decompress(t, tt.c, stream); !bytes.Equal(got, plain) {
				t.Fatalf("Go decoder: round trip differs")
			}
			f := filepath.Join(t.TempDir(), "initrd"+tt.c.Ext())
			if err := os.WriteFile(f, stream, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(tool, "-t", f).CombinedOutput(); err != nil {
				t.Fatalf("%s -t: %v\n%s", tt.tool, err, out)
			}
			out, err := exec.Command(tool, "-dc", f).Output()
			if err != nil {
				t.Fatalf("%s -dc: %v", tt.tool, err)
			}
			if !bytes.Equal(out, plain) {
				t.Fatalf("%s -dc gives %d bytes that differ from the archive (%d bytes)", tt.tool, len(out), len(plain))
			}
			if tt.c == XZ {
				out, err := exec.Command(tool, "--robot", "--list", f).Output()
				if err != nil {
					t.Fatalf("xz --list: %v", err)
				}
				if !strings.Contains(string(out), "\tCRC32\t") || strings.Contains(string(out), "CRC64") {
					t.Fatalf("xz check is not CRC32 only:\n%s", out)
				}
			}
			if tt.c == Zstd {
				// The frame's window must stay within what the kernel
				// is asked to allocate: 8 MiB, even for a big segment.
				// (Small ones are single-segment frames without a
				// window descriptor.)
				big := bytes.Repeat([]byte("bootapp initramfs window test "), 12<<20/30)
				if err := os.WriteFile(f, compressed(t, Zstd, big), 0o644); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(tool, "-lv", f).CombinedOutput()
				if err != nil {
					t.Fatalf("zstd -lv: %v\n%s", err, out)
				}
				if !strings.Contains(string(out), "Window Size: 8.00 MiB") || !strings.Contains(string(out), "Check: XXH64") {
					t.Fatalf("unexpected zstd frame parameters:\n%s", out)
				}
			}
		})
	}
}

// TestConcatenated writes segments with every compression into one stream
// and checks that each starts 4-byte aligned, is its own complete archive
// and holds what was written to it.
func TestConcatenated(t *testing.T) {
	order := []Compression{Zstd, None, Gzip, XZ, None, Zstd}
	var stream bytes.Buffer
	var bounds []int
	for i, c := range order {
		w, err := NewWriterOptions(&stream, Options{Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		// Later segments repeat /seg, as the kernel allows: a directory
		// entry again, and a new file beneath it.
		if err := w.WriteFile("/seg/"+string(rune('a'+i)), 0o644, []byte(c)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		bounds = append(bounds, stream.Len())
		if stream.Len()%4 != 0 {
			t.Fatalf("segment %d (%s) ends at %d, not 4-byte aligned", i, c, stream.Len())
		}
	}
	start := 0
	for i, c := range order {
		seg := stream.Bytes()[start:bounds[i]]
		start = bounds[i]
		plain := build(t, Options{}, file("/seg/"+string(rune('a'+i)), 0o644, string(c)))
		if c != None {
			// A compressed segment is the deterministic stream plus
			// at most three zero bytes.
			want := compressed(t, c, plain)
			if !bytes.HasPrefix(seg, want) || len(seg)-len(want) > 3 || strings.Trim(string(seg[len(want):]), "\x00") != "" {
				t.Fatalf("segment %d (%s): %d bytes, want the %d-byte stream plus padding", i, c, len(seg), len(want))
			}
			seg = decompress(t, c, want)
		}
		got := readArchive(t, seg)
		if len(got) != 3 || got[0].Name != "." || got[1].Name != "seg" || got[2].Name != "seg/"+string(rune('a'+i)) || got[2].Body != string(c) {
			t.Fatalf("segment %d (%s) holds %+v", i, c, got)
		}
	}
}

// TestCompressorDeterministic checks that the compressed bytes depend only
// on the data: not on how it is split into writes, nor on GOMAXPROCS (the
// zstd encoder runs concurrently), so builds reproduce across machines.
func TestCompressorDeterministic(t *testing.T) {
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i*i>>7) ^ byte(i>>13) // compressible, not trivial
	}
	for _, c := range []Compression{Zstd, Gzip, XZ} {
		t.Run(string(c), func(t *testing.T) {
			data := data
			if c == XZ {
				data = data[:256<<10] // ulikunitz/xz is slow; one block is enough
			}
			want := compressed(t, c, data)
			for _, procs := range []int{1, 4} {
				for _, chunk := range []int{1000, 77777} {
					prev := runtime.GOMAXPROCS(procs)
					var buf bytes.Buffer
					w, err := NewCompressor(&buf, c)
					if err != nil {
						t.Fatal(err)
					}
					for i := 0; i < len(data); i += chunk {
						if _, err := w.Write(data[i:min(len(data), i+chunk)]); err != nil {
							t.Fatal(err)
						}
					}
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
					runtime.GOMAXPROCS(prev)
					if !bytes.Equal(buf.Bytes(), want) {
						t.Fatalf("GOMAXPROCS=%d, %d-byte writes: output differs", procs, chunk)
					}
				}
			}
		})
	}
}
