// Command hello is the bootapp example: an HTTP server that counts requests
// in a file on the data volume, so that persistence across boot-disk
// replacements is visible.
//
//	GET /        increments the counter and returns it ("count: N")
//	GET /healthz returns 200 "ok" without touching the counter
//
// The counter lives in $DATA_DIR/count (default /data/count). Every update is
// written to a temporary file, fsync'd and renamed over the old one, and the
// directory is fsync'd, so a power cut never loses an acknowledged count.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// counter is a crash-safe integer persisted in one file.
type counter struct {
	mu   sync.Mutex
	path string
}

func (c *counter) read() (int, error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", c.path, err)
	}
	return n, nil
}

// increment adds one to the counter and returns the new value once it is on
// stable storage.
func (c *counter) increment() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.read()
	if err != nil {
		return 0, err
	}
	n++
	tmp := c.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	if _, err := fmt.Fprintf(f, "%d\n", n); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return 0, err
	}
	d, err := os.Open(filepath.Dir(c.path))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return n, d.Sync()
}

func main() {
	addr := os.Getenv("LISTEN_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	dir := os.Getenv("DATA_DIR")
	if dir == "" {
		dir = "/data"
	}
	c := &counter{path: filepath.Join(dir, "count")}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		n, err := c.increment()
		if err != nil {
			log.Printf("increment: %v", err)
			http.Error(w, "cannot persist counter: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "count: %d\n", n)
	})

	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		log.Printf("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Printf("hello: listening on %s, counter in %s", addr, c.path)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	log.Printf("stopped")
}
