// Command countapp is the app of the bootapp-init end-to-end test: an HTTP
// server on :8080 whose GET / appends a line to $DATA_DIR/count (default
// /data) and answers with the number of lines, and whose GET /healthz
// answers "ok" without touching the file. It stops cleanly on SIGTERM.
package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(0)
	dir := os.Getenv("DATA_DIR")
	if dir == "" {
		dir = "/data"
	}
	path := filepath.Join(dir, "count")
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		if _, err := f.WriteString("hit\n"); err == nil {
			err = f.Sync()
		}
		b, err := os.ReadFile(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		n := bytes.Count(b, []byte("\n"))
		log.Printf("count %d", n)
		fmt.Fprintf(w, "%d\n", n)
	})
	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		log.Printf("SIGTERM: shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Printf("listening on :8080 as uid %d, counting in %s", os.Getuid(), path)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	log.Printf("stopped")
}
