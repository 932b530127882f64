package fetch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/bootapp/bootapp/internal/cache"
)

// systemPackages are the packages the builder takes system files from:
// the CA bundle (ca-certificates, by default in every image) and the time
// zones (tzdata, when a build asks for some). Both are architecture
// independent and small (about 0.2 and 0.3 MB).
var systemPackages = []struct{ pkg, glob string }{
	{"ca-certificates", cache.CACertificatesPattern},
	{"tzdata", cache.TzdataPattern},
}

// fetchSystem downloads the system packages that dir lacks.
func fetchSystem(ctx context.Context, dir string, progress io.Writer) error {
	var missing []string
	for _, p := range systemPackages {
		if c, err := cache.Newest(dir, p.glob); err == nil {
			fmt.Fprintf(progress, "cached: %s\n", c)
			continue
		}
		missing = append(missing, p.pkg)
	}
	if len(missing) == 0 {
		return nil
	}
	fmt.Fprintf(progress, "apt-get download %s (into %s)\n", strings.Join(missing, " "), dir)
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"download", "-q"}, missing...)...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get download %s: %w\n%s\n(run `apt-get update` first if the package lists are missing)", strings.Join(missing, " "), err, strings.TrimSpace(out.String()))
	}
	for _, p := range systemPackages {
		c, err := cache.Newest(dir, p.glob)
		if err != nil {
			return fmt.Errorf("apt-get download %s left no %s in %s", p.pkg, p.glob, dir)
		}
		fmt.Fprintf(progress, "downloaded: %s\n", c)
	}
	return nil
}
