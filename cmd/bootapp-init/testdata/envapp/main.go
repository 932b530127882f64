// Command envapp is the app of the run-time configuration end-to-end
// tests, an HTTP server on :8080:
//
//	GET /healthz     answers "ok"
//	GET /env?k=NAME  answers the value of $NAME ("<unset>" when unset)
//	GET /args        answers the arguments, one per line
//	GET /clock       answers the time in RFC 3339
//
// With the argument "crash" it exits with status 1 at once.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "crash" {
		log.Printf("crashing as asked")
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		v, ok := os.LookupEnv(r.URL.Query().Get("k"))
		if !ok {
			v = "<unset>"
		}
		fmt.Fprintln(w, v)
	})
	mux.HandleFunc("GET /args", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, strings.Join(os.Args[1:], "\n"))
	})
	mux.HandleFunc("GET /clock", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, time.Now().UTC().Format(time.RFC3339))
	})
	log.Printf("listening on :8080 with GREETING=%q", os.Getenv("GREETING"))
	log.Fatal(http.ListenAndServe(":8080", mux))
}
