package qemu

import (
	"strings"
	"sync"
)

// tailBuffer keeps the last max bytes written to it. It is safe for
// concurrent use. Hand-written: a ring of bytes this small is simpler than
// any dependency, and container/ring works on elements, not byte slices.
type tailBuffer struct {
	mu        sync.Mutex
	buf       []byte
	max       int
	truncated bool
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

// Write appends p, dropping the oldest bytes beyond max. It never fails.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		t.truncated = true
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.truncated = true
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the kept bytes. When older output was dropped, the first
// (possibly partial) line is removed so that the tail starts at a line.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.buf)
	if t.truncated {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s
}

// LastLines returns the last n lines of s (all of s when it has fewer).
// A trailing newline does not count as an empty last line.
func LastLines(s string, n int) string {
	if n <= 0 {
		return ""
	}
	end := len(s)
	if end > 0 && s[end-1] == '\n' {
		end--
	}
	i := end
	for c := 0; c < n; c++ {
		j := strings.LastIndexByte(s[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
		if c == n-1 {
			return s[i+1:]
		}
	}
	return s[i+1:]
}
