package fetch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bootapp/bootapp/internal/cache"
)

// Options configures Packages.
type Options struct {
	// CacheDir is the cache to fill. Default: builder.DefaultCacheDir().
	CacheDir string
	// KernelPackage is the Debian kernel package, or a metapackage that
	// depends on one. Default: linux-image-cloud-amd64.
	KernelPackage string
	// Progress receives human-readable progress lines.
	Progress io.Writer
}

// Packages downloads the kernel, systemd-boot-efi, e2fsck-static,
// ca-certificates and tzdata packages into CacheDir/debs with `apt-get
// download` (Debian and Ubuntu hosts), unless they are there already. It
// returns the paths of the kernel and boot loader packages; the build
// finds the others in the cache itself.
func Packages(ctx context.Context, o Options) (kernelDeb, loaderDeb string, err error) {
	if o.CacheDir == "" {
		o.CacheDir = cache.DefaultDir()
	}
	if o.KernelPackage == "" {
		o.KernelPackage = "linux-image-cloud-amd64"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", "", fmt.Errorf("fetch needs apt-get (a Debian or Ubuntu host); elsewhere download a linux-image-*-cloud-amd64 and a systemd-boot-efi .deb from Debian and build with their paths as the kernel and boot loader")
	}
	dir := filepath.Join(o.CacheDir, cache.Debs)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("create cache %s: %w", dir, err)
	}
	var fsckDeb string
	pkg, err := resolveKernelPackage(ctx, o.KernelPackage)
	if err != nil {
		return "", "", err
	}
	want := []struct {
		pkg  string
		glob string
		out  *string
	}{
		{pkg, pkg + "_*.deb", &kernelDeb},
		{"systemd-boot-efi", cache.LoaderPattern, &loaderDeb},
		{"e2fsck-static", cache.FsckPattern, &fsckDeb}, // found in the cache by the build
	}
	var missing []string
	for _, w := range want {
		if p, err := cache.Newest(dir, w.glob); err == nil {
			*w.out = p
			fmt.Fprintf(o.Progress, "cached: %s\n", p)
			continue
		}
		missing = append(missing, w.pkg)
	}
	if len(missing) > 0 {
		fmt.Fprintf(o.Progress, "apt-get download %s (into %s)\n", strings.Join(missing, " "), dir)
		cmd := exec.CommandContext(ctx, "apt-get", append([]string{"download", "-q"}, missing...)...)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return "", "", fmt.Errorf("apt-get download %s: %w\n%s\n(run `apt-get update` first if the package lists are missing)", strings.Join(missing, " "), err, strings.TrimSpace(out.String()))
		}
		for _, w := range want {
			if *w.out != "" {
				continue
			}
			p, err := cache.Newest(dir, w.glob)
			if err != nil {
				return "", "", fmt.Errorf("apt-get download %s left no %s in %s", w.pkg, w.glob, dir)
			}
			*w.out = p
			fmt.Fprintf(o.Progress, "downloaded: %s\n", p)
		}
	}
	if err := fetchSystem(ctx, dir, o.Progress); err != nil {
		return "", "", err
	}
	return kernelDeb, loaderDeb, nil
}

// resolveKernelPackage follows a metapackage such as linux-image-cloud-amd64
// to the versioned linux-image package it depends on.
func resolveKernelPackage(ctx context.Context, name string) (string, error) {
	// A versioned package name has the release right after the prefix
	// (linux-image-6.1.0-57-cloud-amd64); a metapackage does not.
	if rest := strings.TrimPrefix(name, "linux-image-"); rest != name && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		return name, nil
	}
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "--important", name).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends %s: %w\n%s\n(run `apt-get update` first)", name, err, strings.TrimSpace(string(out)))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("%s does not depend on a linux-image package (apt-cache depends printed:\n%s)", name, out)
}
