// Command verifyapp is a test app for verify.Run. Its first argument
// selects how it misbehaves:
//
//	healthy     serve 200 on /healthz at :8080 and stop on SIGTERM
//	exit        exit with status 3 at once
//	wrongport   serve 200 on /healthz, but at :8081
//	status500   serve 500 on /healthz at :8080
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	mode := "healthy"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	fmt.Println("verifyapp: mode", mode)
	addr, status := ":8080", http.StatusOK
	switch mode {
	case "exit":
		fmt.Println("verifyapp: exiting at start")
		os.Exit(3)
	case "wrongport":
		addr = ":8081"
	case "status500":
		status = http.StatusInternalServerError
	}
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprintln(w, mode)
	})}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	fmt.Println("verifyapp: listening on", addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Println("verifyapp:", err)
		os.Exit(1)
	}
	fmt.Println("verifyapp: stopped")
}
