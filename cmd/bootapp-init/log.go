package main

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"time"
)

// logPrefix starts every line the init writes to the console.
const logPrefix = "bootapp-init: "

// appPrefix starts every line of the app's output on the console.
const appPrefix = "app: "

// maxLine is the longest app output line passed through in one piece.
const maxLine = 64 << 10

// logger writes timestamped lines to the console. It is safe for concurrent
// use; each line is written with a single Write so lines never interleave.
type logger struct {
	mu    sync.Mutex
	w     io.Writer
	clock func() time.Duration // time since boot
}

func newLogger(w io.Writer, clock func() time.Duration) *logger {
	return &logger{w: w, clock: clock}
}

// Printf logs one line, as "bootapp-init: [  1.234567] message".
func (l *logger) Printf(format string, args ...any) {
	d := l.clock()
	line := fmt.Sprintf("%s[%4d.%06d] %s", logPrefix, d/time.Second, (d%time.Second)/time.Microsecond, fmt.Sprintf(format, args...))
	if n := len(line); n == 0 || line[n-1] != '\n' {
		line += "\n"
	}
	l.write([]byte(line))
}

func (l *logger) write(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(b) // nowhere to report a console write error
}

// copyLines copies r to the console line by line, each line prefixed with
// prefix, until r reaches EOF or fails. Lines longer than maxLine are split.
func (l *logger) copyLines(prefix string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			b := make([]byte, 0, len(prefix)+len(line)+1)
			b = append(append(b, prefix...), line...)
			if b[len(b)-1] != '\n' {
				b = append(b, '\n')
			}
			l.write(b)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}
