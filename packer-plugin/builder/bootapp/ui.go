package bootapp

import (
	"bytes"
	"strings"
	"sync"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// uiWriter turns the engine's progress stream (builder.Spec.Progress) into
// Packer UI messages, one per line. It is safe for concurrent use.
type uiWriter struct {
	ui  packersdk.Ui
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write sends every complete line in p to the UI and keeps the rest.
func (w *uiWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(w.buf.Next(i + 1))
		w.say(line)
	}
	return len(p), nil
}

// Flush sends a trailing partial line, if any.
func (w *uiWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.say(w.buf.String())
		w.buf.Reset()
	}
}

func (w *uiWriter) say(line string) {
	line = strings.TrimRight(line, "\r\n")
	if strings.TrimSpace(line) != "" {
		w.ui.Say(line)
	}
}
