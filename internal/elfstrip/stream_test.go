package elfstrip

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

// TestStripStreams checks that Strip on a file gives the bytes StripDebug
// gives, whatever the reads' sizes, and that Size is their length.
func TestStripStreams(t *testing.T) {
	full := buildHello(t, "amd64", "")
	want, ok, err := StripDebug(full)
	if err != nil || !ok {
		t.Fatalf("StripDebug: ok %v, %v", ok, err)
	}
	p := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(p, full, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, ok, err := Strip(f, int64(len(full)))
	if err != nil || !ok {
		t.Fatalf("Strip: ok %v, %v", ok, err)
	}
	if s.Size() != int64(len(want)) {
		t.Errorf("Size() = %d, want %d", s.Size(), len(want))
	}
	var buf bytes.Buffer
	if n, err := s.WriteTo(&buf); err != nil || n != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("WriteTo: %d bytes, %v; equal to StripDebug: %v", n, err, bytes.Equal(buf.Bytes(), want))
	}
	if err := iotest.TestReader(s.NewReader(), want); err != nil {
		t.Error(err)
	}
	got, err := io.ReadAll(iotest.HalfReader(s.NewReader()))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("read in small pieces: %v; equal: %v", err, bytes.Equal(got, want))
	}
	// Nothing to strip: ok is false and no plan is made.
	if s, ok, err := Strip(bytes.NewReader(want), int64(len(want))); s != nil || ok || err != nil {
		t.Errorf("Strip of a stripped file: %v %v %v", s, ok, err)
	}
}
