package main

import (
	"fmt"
	"io"

	"github.com/bootapp/bootapp/builder/fetch"
	"github.com/spf13/cobra"
)

func newFetchCmd() *cobra.Command {
	var o fetch.Options
	cmd := &cobra.Command{
		Use:   "fetch",
		Short: "Download the Debian packages builds take by default into the cache (apt-get download): cloud kernel, systemd-boot, e2fsck-static, ca-certificates, tzdata",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Progress = cmd.ErrOrStderr()
			k, l, err := fetch.Packages(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kernel:      %s\nboot loader: %s\n", k, l)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.CacheDir, "cache", "", "cache directory (default $BOOTAPP_CACHE or ~/.cache/bootapp)")
	cmd.Flags().StringVar(&o.KernelPackage, "kernel-package", "", "kernel package or metapackage (default linux-image-cloud-amd64)")
	return cmd
}

// verboseWriter returns where console output goes: stderr unless quiet.
func verboseWriter(cmd *cobra.Command, quiet bool) io.Writer {
	if quiet {
		return nil
	}
	return cmd.ErrOrStderr()
}
