package main

import (
	"fmt"

	"github.com/bootapp/bootapp/builder"
	"github.com/spf13/cobra"
)

func newCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check [output dir or manifest]",
		Short: "Check the files of a build against the checksums in its manifest",
		Long: `Check reads NAME.manifest.json (default: the one in ./output) and verifies
every file it lists that has a checksum: the SHA-256 of the whole file (what
sha256sum prints) for boot disks and encoded images, and for a new data
volume's raw and VHD files its block digest, the SHA-256 of its non-zero
4 KiB blocks with their indexes, which costs time in proportion to the data
and not to the volume's size. A kept data volume has no checksum: it holds
live state.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := builder.DefaultOutputDir
			if len(args) == 1 {
				path = args[0]
			}
			res, err := builder.ReadManifest(path)
			if err != nil {
				return err
			}
			if err := res.Check(cmd.Context()); err != nil {
				return fmt.Errorf("check %s: %w", res.Manifest, err)
			}
			out := cmd.OutOrStdout()
			for _, f := range res.Files {
				switch {
				case f.Reused:
					fmt.Fprintf(out, "kept  %s (live data, no checksum)\n", f.Path)
				case f.BlockSHA256 != "":
					fmt.Fprintf(out, "ok    %s (block sha256 %s)\n", f.Path, f.BlockSHA256)
				default:
					fmt.Fprintf(out, "ok    %s (sha256 %s)\n", f.Path, f.SHA256)
				}
			}
			return nil
		},
	}
}
