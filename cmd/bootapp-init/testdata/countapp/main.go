// Command countapp is the app of the bootapp-init end-to-end test, an HTTP
// server on :8080:
//
//	GET /          appends a line to $DATA_DIR/count (default /data) and
//	               answers with the number of lines
//	GET /healthz   answers "ok"
//	GET /exit?code=N  answers, then exits with status N
//	GET /orphan    starts a grandchild that outlives its parent, so that
//	               PID 1 inherits it and must reap it when it exits
//	GET /zombies   answers the number of zombie processes in the system
//
// It stops cleanly on SIGTERM.
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "spawn": // the child: start the grandchild, then leave it
			self, _ := os.Executable()
			if _, err := os.StartProcess(self, []string{self, "sleep"}, &os.ProcAttr{}); err != nil {
				log.Fatal(err)
			}
			os.Exit(0)
		case "sleep": // the grandchild
			time.Sleep(300 * time.Millisecond)
			os.Exit(0)
		}
	}
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
	mux.HandleFunc("GET /exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		log.Printf("exiting with status %d", code)
		fmt.Fprintln(w, "bye")
		go func() { time.Sleep(100 * time.Millisecond); os.Exit(code) }()
	})
	mux.HandleFunc("GET /orphan", func(w http.ResponseWriter, r *http.Request) {
		self, _ := os.Executable()
		p, err := os.StartProcess(self, []string{self, "spawn"}, &os.ProcAttr{})
		if err == nil {
			_, err = p.Wait()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /zombies", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, zombies())
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

// zombies counts the processes in state Z.
func zombies() int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && strings.HasPrefix(s[i+1:], " Z") {
			n++
		}
	}
	return n
}
