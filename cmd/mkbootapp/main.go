// Command mkbootapp turns an application into a bootable VM image.
//
//	mkbootapp fetch                      # download kernel and boot loader into the cache
//	mkbootapp build --app ./hello        # boot disk + data volume in ./output
//	mkbootapp run output                 # boot it in QEMU, ports forwarded to loopback
//
// The command is a thin shell over the builder package: every flag maps onto
// one builder.Spec field.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at release time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		err = renderError(err)
		fmt.Fprintf(os.Stderr, "mkbootapp: %v\n", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "mkbootapp",
		Short:         "Turn an application into a minimal, immutable, bootable VM image",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newBuildCmd(), newFetchCmd(), newRunCmd(), newCheckCmd())
	root.AddCommand(newPublishCmd())
	return root
}
