package memo

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestKeys(t *testing.T) {
	a := NewKey("step", 6, []byte("ab"), []byte("c"))
	tests := []struct {
		name string
		k    Key
	}{
		{"other split of the same bytes", NewKey("step", 6, []byte("a"), []byte("bc"))},
		{"one part", NewKey("step", 6, []byte("abc"))},
		{"other parameters", NewKey("step", 7, []byte("ab"), []byte("c"))},
		{"other step", NewKey("step2", 6, []byte("ab"), []byte("c"))},
		{"step and input run together", NewKey("stepa", 6, []byte("b"), []byte("c"))},
	}
	for _, tt := range tests {
		if tt.k == a {
			t.Errorf("%s: same key", tt.name)
		}
	}
	if NewKey("step", 6, []byte("ab"), []byte("c")) != a {
		t.Error("the same inputs give another key")
	}
}

func TestGetPut(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	k := NewKey("t", 0, []byte("in"))
	if v, ok := s.Get(k, nil); ok || v != nil {
		t.Fatalf("Get before Put = %q, %v", v, ok)
	}
	val := bytes.Repeat([]byte("value"), 1000)
	s.Put(k, val)
	if s.Written() != int64(headerSize+len(val)) {
		t.Errorf("Written = %d, want %d", s.Written(), headerSize+len(val))
	}
	v, ok := s.Get(k, []byte("prefix:"))
	if !ok || !bytes.Equal(v, append([]byte("prefix:"), val...)) {
		t.Fatalf("Get appended %d bytes, %v", len(v), ok)
	}
	s.Put(k, []byte("new")) // replaces
	if v, ok := s.Get(k, nil); !ok || string(v) != "new" {
		t.Errorf("Get after a second Put = %q, %v", v, ok)
	}
	s.Put(NewKey("t", 0, []byte("empty")), nil)
	if v, ok := s.Get(NewKey("t", 0, []byte("empty")), nil); !ok || len(v) != 0 {
		t.Errorf("empty value: %q, %v", v, ok)
	}
	// No temporary files stay behind.
	tmps, _ := filepath.Glob(filepath.Join(s.Dir(), "*", tmpPrefix+"*"))
	if len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

// TestDamaged: an entry that is not whole or not what was written is a
// miss, never a wrong value.
func TestDamaged(t *testing.T) {
	val := bytes.Repeat([]byte{1, 2, 3, 4}, 500)
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"truncated value", func(b []byte) []byte { return b[:len(b)-1] }},
		{"truncated header", func(b []byte) []byte { return b[:headerSize-1] }},
		{"empty file", func(b []byte) []byte { return nil }},
		{"flipped value bit", func(b []byte) []byte { b[headerSize+100] ^= 4; return b }},
		{"flipped checksum bit", func(b []byte) []byte { b[len(magic)] ^= 1; return b }},
		{"other format", func(b []byte) []byte { b[0] = 'x'; return b }},
		{"longer", func(b []byte) []byte { return append(b, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			k := NewKey("t", 1, val)
			s.Put(k, val)
			b, err := os.ReadFile(s.path(k))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(s.path(k), tt.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			if v, ok := s.Get(k, []byte("dst")); ok || string(v) != "dst" {
				t.Errorf("damaged entry read as %d bytes (%v), want dst unchanged", len(v), ok)
			}
			s.Put(k, val) // a Put repairs it
			if v, ok := s.Get(k, nil); !ok || !bytes.Equal(v, val) {
				t.Errorf("after a new Put: %d bytes, %v", len(v), ok)
			}
		})
	}
}

func TestNil(t *testing.T) {
	var s *Store
	k := NewKey("t", 0)
	s.Put(k, []byte("x"))
	if _, ok := s.Get(k, nil); ok {
		t.Error("a nil Store remembered")
	}
	if n, err := s.Prune(0); n != 0 || err != nil || s.Written() != 0 {
		t.Errorf("nil Store: Prune = %d, %v; Written = %d", n, err, s.Written())
	}
}

func TestUnwritable(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A file where the entry's directory should be: Put fails quietly.
	k := NewKey("t", 0, []byte("x"))
	sub := filepath.Dir(s.path(k))
	if err := os.WriteFile(sub, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Put(k, []byte("v"))
	if _, ok := s.Get(k, nil); ok || s.Written() != 0 {
		t.Errorf("Put into a blocked directory: Get ok %v, Written %d", ok, s.Written())
	}
	if _, err := Open(filepath.Join(sub, "deeper")); err == nil {
		t.Error("Open under a file: no error")
	}
}

func TestPrune(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	var keys []Key
	for i := range 10 {
		k := NewKey("t", 0, fmt.Appendf(nil, "%d", i))
		keys = append(keys, k)
		s.Put(k, make([]byte, 1000))
		// Entry i was last used i hours before the newest.
		at := old.Add(time.Duration(i) * time.Hour)
		os.Chtimes(s.path(k), at, at)
	}
	// Using entry 0 makes it the newest.
	if _, ok := s.Get(keys[0], nil); !ok {
		t.Fatal("entry 0 missing")
	}
	stale := filepath.Join(filepath.Dir(s.path(keys[1])), tmpPrefix+"killed")
	fresh := filepath.Join(filepath.Dir(s.path(keys[2])), tmpPrefix+"writing")
	for _, p := range []string{stale, fresh} {
		os.WriteFile(p, make([]byte, 5000), 0o644)
	}
	os.Chtimes(stale, old, old)

	per := int64(headerSize + 1000)
	n, err := s.Prune(4 * per)
	if err != nil || n != 6 {
		t.Fatalf("Prune = %d, %v; want 6 removed", n, err)
	}
	for i, k := range keys {
		_, ok := s.Get(k, nil)
		if want := i == 0 || i >= 7; ok != want {
			t.Errorf("entry %d kept = %v, want %v", i, ok, want)
		}
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("an hour-old temporary file was kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a temporary file being written was removed")
	}
	if n, err := s.Prune(100 * per); n != 0 || err != nil {
		t.Errorf("Prune under the limit = %d, %v", n, err)
	}
}

// TestConcurrent has several goroutines put and get the same keys, as
// two builds sharing a cache do: every Get sees a whole value or none.
func TestConcurrent(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	val := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 20000+i) }
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 50 {
				i := (g + r) % 8
				k := NewKey("t", 0, []byte{byte(i)})
				if v, ok := s.Get(k, nil); ok && !bytes.Equal(v, val(i)) {
					t.Errorf("key %d: a wrong value of %d bytes", i, len(v))
				}
				s.Put(k, val(i))
			}
		}()
	}
	wg.Wait()
}
