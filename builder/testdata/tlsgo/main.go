// Command tlsgo is the static Go app of the end-to-end TLS test
// (TestEndToEndTLS). It listens on :8080 and serves
//
//	GET /healthz        200 "ok"
//	GET /fetch?url=URL  GETs URL with crypto/tls and the system roots (the
//	                    image's CA bundle): 200 "ok STATUS", or 502 with
//	                    the error
//	GET /write          tries to create a file in each of /etc, /, /usr,
//	                    /tmp and /data and answers, as JSON, "ok" or the
//	                    error for each path
//
// SIGTERM logs "SIGTERM: shutting down" and stops the server.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// writePaths are the files /write tries to create.
var writePaths = []string{"/etc/x", "/x", "/usr/x", "/tmp/x", "/data/x"}

func main() {
	client := &http.Client{Timeout: 60 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /fetch", func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		fmt.Fprintf(w, "ok %d\n", resp.StatusCode)
	})
	mux.HandleFunc("GET /write", func(w http.ResponseWriter, r *http.Request) {
		res := map[string]string{}
		for _, p := range writePaths {
			if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
				res[p] = err.Error()
			} else {
				res[p] = "ok"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(res)
	})
	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		<-c
		log.Print("SIGTERM: shutting down")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	log.Printf("tlsgo: listening on %s", srv.Addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
