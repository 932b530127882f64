package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/bootapp/bootapp/builder/fetch"
	"github.com/spf13/cobra"
)

func newFetchCmd() *cobra.Command {
	var o fetch.Options
	var runtimes []string
	cmd := &cobra.Command{
		Use:   "fetch",
		Short: "Download the Debian packages builds take by default into the cache (apt-get download): cloud kernel, systemd-boot, e2fsck-static, ca-certificates, tzdata; with --runtime also Node.js or Java",
		Long: `Download the Debian packages builds take by default into the cache with
apt-get download: the cloud kernel, systemd-boot-efi, e2fsck-static,
ca-certificates and tzdata. Packages already in the cache are not
downloaded again.

--runtime node,java (repeatable or comma-separated) also fetches a language
runtime for Node.js or Java apps: Debian's nodejs, or the OpenJDK runtime
and development kit that default-jre-headless and default-jdk-headless
name, at the archive's newest version (never the host's installed one),
together with the packages of the shared libraries their programs need;
they are unpacked into one tree in the cache, from which builds take the
runtime and its libraries.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, r := range runtimes {
				for _, n := range strings.Split(r, ",") {
					if n = strings.TrimSpace(n); n == "" || slices.Contains(names, n) {
						continue
					}
					if !slices.Contains(fetch.Runtimes, n) {
						return fmt.Errorf("--runtime %q: want one of %s", n, strings.Join(fetch.Runtimes, ", "))
					}
					names = append(names, n)
				}
			}
			o.Progress = cmd.ErrOrStderr()
			k, l, err := fetch.Packages(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kernel:      %s\nboot loader: %s\n", k, l)
			for _, n := range names {
				ix, err := fetch.Runtime(cmd.Context(), o, n)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "runtime %s: %s and %d library packages\n", n, strings.Join(ix.Roots, ", "), len(ix.Packages)-len(ix.Roots))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.CacheDir, "cache", "", "cache directory (default $BOOTAPP_CACHE or ~/.cache/bootapp)")
	cmd.Flags().StringVar(&o.KernelPackage, "kernel-package", "", "kernel package or metapackage (default linux-image-cloud-amd64)")
	cmd.Flags().StringSliceVar(&runtimes, "runtime", nil, "also fetch a language runtime and its libraries: node, java (repeatable or comma-separated)")
	return cmd
}

// verboseWriter returns where console output goes: stderr unless quiet.
func verboseWriter(cmd *cobra.Command, quiet bool) io.Writer {
	if quiet {
		return nil
	}
	return cmd.ErrOrStderr()
}
