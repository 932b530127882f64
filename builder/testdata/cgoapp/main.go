//go:debug netdns=cgo

// Command cgoapp is a dynamically linked (cgo) HTTP server for the
// end-to-end test of dynamically linked apps: it counts requests to / in
// a file on the data volume like examples/hello, and /machine reports
// what it finds of its machine through glibc (the cgo resolver, NSS user
// lookups) and Go (the system CA roots, time zones).
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	var mu sync.Mutex
	countFile := filepath.Join(os.Getenv("HOME"), "count")
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		b, _ := os.ReadFile(countFile)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		n++
		if err := os.WriteFile(countFile, []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "count: %d\n", n)
	})
	mux.HandleFunc("/machine", func(w http.ResponseWriter, r *http.Request) {
		m := map[string]any{}
		if pool, err := x509.SystemCertPool(); err != nil {
			m["roots_error"] = err.Error()
		} else {
			m["roots"] = len(pool.Subjects()) //nolint:staticcheck // the system pool on Linux lists them
		}
		if u, err := user.Current(); err != nil {
			m["user_error"] = err.Error()
		} else {
			m["user"] = u.Username
		}
		if u, err := user.LookupId("0"); err == nil {
			m["root"] = u.Username
		}
		host, _ := os.Hostname()
		m["hostname"] = host
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if addrs, err := net.DefaultResolver.LookupHost(ctx, "localhost"); err != nil {
			m["localhost_error"] = err.Error()
		} else {
			m["localhost"] = addrs
		}
		if addrs, err := net.DefaultResolver.LookupHost(ctx, host); err == nil {
			m["self"] = addrs
		}
		if loc, err := time.LoadLocation("Europe/Berlin"); err != nil {
			m["zone_error"] = err.Error()
		} else {
			m["zone"] = loc.String()
		}
		m["home"] = os.Getenv("HOME")
		if err := os.WriteFile("/tmp/probe", []byte("x"), 0o600); err != nil {
			m["tmp_error"] = err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(m)
	})
	srv := &http.Server{Addr: ":8080", Handler: mux}
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		<-c
		log.Print("SIGTERM: shutting down")
		srv.Shutdown(context.Background())
	}()
	log.Print("cgoapp listening on :8080")
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
