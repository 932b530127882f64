// Command httpapp is a stand-in for a typical Go web app: the benchmarks
// build it to get a realistic 8 MB static binary to compress.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "host": r.Host})
	})
	addr := ":8080"
	if a := os.Getenv("ADDR"); a != "" {
		addr = a
	}
	log.Fatal(http.ListenAndServeTLS(addr, "cert.pem", "key.pem", nil))
}
