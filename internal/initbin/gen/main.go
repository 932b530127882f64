// Command gen rebuilds the prebuilt guest init embedded by internal/initbin.
// It runs through "go generate ./internal/initbin":
//
//	go run ./gen -arch amd64 -o bootapp-init-linux-amd64
//
// and builds with initbin.BuildCommand, the same command the package's
// freshness test uses.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/bootapp/bootapp/internal/initbin"
)

func main() {
	arch := flag.String("arch", "amd64", "GOARCH of the init to build")
	out := flag.String("o", "", "output file (default bootapp-init-linux-ARCH)")
	flag.Parse()
	if *out == "" {
		*out = "bootapp-init-linux-" + *arch
	}
	cmd, err := initbin.BuildCommand(context.Background(), *arch, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %s: %v\n", cmd, err)
		os.Exit(1)
	}
	st, err := os.Stat(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Printf("gen: wrote %s (%d bytes)\n", *out, st.Size())
}
