package kernel

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/bootapp/bootapp/internal/deb"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// unpack extracts the kernel package at debPath (whose sha256 is sum) into
// root/<sum[:keyLen]> through a temporary directory, and loads it.
func unpack(ctx context.Context, debPath, root, sum string) (*Kernel, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create kernel cache: %w", err)
	}
	removeStaleTemps(root)
	tmp, err := os.MkdirTemp(root, ".tmp-"+sum[:keyLen]+"-")
	if err != nil {
		return nil, fmt.Errorf("create kernel cache: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()
	ix, err := extract(ctx, debPath, tmp)
	if err != nil {
		return nil, err
	}
	ix.DebSHA256 = sum
	if err := writeIndex(tmp, ix); err != nil {
		return nil, fmt.Errorf("write kernel index in %s: %w", tmp, err)
	}
	dir := filepath.Join(root, sum[:keyLen])
	if err := os.Rename(tmp, dir); err != nil {
		// Another Open of the same package won the race: use its copy.
		if k, lerr := load(dir, sum); lerr == nil {
			return k, nil
		}
		return nil, fmt.Errorf("move unpacked kernel into %s: %w", dir, err)
	}
	committed = true
	return load(dir, sum)
}

// staleAfter is the age after which a temporary unpack directory is taken
// to be left over by a process that died; a real unpack takes seconds.
const staleAfter = time.Hour

// removeStaleTemps removes temporary unpack directories that a killed
// process left behind. Failures are ignored: they only waste disk space.
func removeStaleTemps(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAfter {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

// job is one module file handed from the tar reader to the writer.
type job struct {
	rel  string // path relative to lib/modules/<release>/
	dest string // absolute destination path
	data []byte
}

// extract streams the .deb's data archive into dir: boot/vmlinuz-* as
// dir/vmlinuz, and lib/modules/<release>/{modules.builtin,**/*.ko} below
// dir/lib/modules/<release>/. Module files are written and their
// .modinfo parsed by a second goroutine while this one pulls the tar
// stream (decompression, block-parallel for dpkg's xz, is the bottleneck).
func extract(ctx context.Context, debPath, dir string) (*index, error) {
	f, err := os.Open(debPath)
	if err != nil {
		return nil, fmt.Errorf("open kernel package: %w", err)
	}
	defer f.Close()
	rd, err := deb.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read kernel package %s: %w", debPath, err)
	}
	defer rd.Close()
	ctl, err := rd.Control()
	if err != nil {
		return nil, fmt.Errorf("read kernel package %s: %w", debPath, err)
	}
	tr, err := rd.Data()
	if err != nil {
		return nil, fmt.Errorf("read kernel package %s: %w", debPath, err)
	}

	ix := &index{Format: indexFormat, Package: ctl.Package, PackageVersion: ctl.Version, Modules: map[string]indexModule{}}
	jobs := make(chan job, 32)
	results := make(chan error, 1)
	go func() { results <- writeModules(ctx, jobs, ix) }()
	readErr := readData(ctx, rd, tr, debPath, dir, ix, jobs)
	close(jobs)
	writeErr := <-results
	if readErr != nil {
		return nil, readErr
	}
	if writeErr != nil {
		return nil, writeErr
	}
	if ix.Release == "" {
		what := ctl.Package
		if what == "" {
			what = "this package"
		}
		return nil, fmt.Errorf("%w: %s (%s) has no boot/vmlinuz-*; pass a linux-image-<release> package, not a meta-package", ErrNotKernel, debPath, what)
	}
	return ix, nil
}

// readData pulls the tar stream and sends module files to jobs.
func readData(ctx context.Context, rd *deb.Reader, tr *tar.Reader, debPath, dir string, ix *index, jobs chan<- job) error {
	modRelease := "" // the release directory the modules live in
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("unpack kernel package %s: %w", debPath, err)
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read kernel package %s: %w", debPath, asTruncated(err))
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if deb.IsSparse(h) {
			// Read whole, a few bytes of sparse map would become gigabytes.
			return fmt.Errorf("kernel package %s: %s: %w: a sparse tar entry (dpkg writes none)", debPath, h.Name, errors.ErrUnsupported)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if rel, ok := strings.CutPrefix(name, "boot/vmlinuz-"); ok && !strings.Contains(rel, "/") {
			if ix.Release != "" {
				return fmt.Errorf("kernel package %s holds two kernels (%s and %s); bootapp needs one", debPath, ix.Release, rel)
			}
			data, err := readEntry(tr, debPath, name)
			if err != nil {
				return err
			}
			if _, err := ParseBzImage(bytes.NewReader(data)); err != nil {
				return fmt.Errorf("kernel package %s: %s: %w", debPath, name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, imageName), data, 0o644); err != nil {
				return fmt.Errorf("unpack kernel: %w", err)
			}
			ix.Release = rel
			continue
		}
		name = strings.TrimPrefix(name, "usr/") // merged-/usr packages use usr/lib/modules
		rest, ok := strings.CutPrefix(name, "lib/modules/")
		if !ok {
			continue
		}
		release, sub, ok := strings.Cut(rest, "/")
		if !ok || (sub != "modules.builtin" && !isModuleFile(sub)) {
			continue
		}
		if modRelease == "" {
			modRelease = release
		} else if release != modRelease {
			return fmt.Errorf("kernel package %s holds modules for two releases (%s and %s); bootapp needs one", debPath, modRelease, release)
		}
		if ix.Release != "" && release != ix.Release {
			return fmt.Errorf("kernel package %s: modules are for release %s but the kernel is %s", debPath, release, ix.Release)
		}
		data, err := readEntry(tr, debPath, name)
		if err != nil {
			return err
		}
		dest := filepath.Join(dir, "lib", "modules", release, filepath.FromSlash(sub))
		if sub == "modules.builtin" {
			ix.Builtin = parseBuiltin(data)
			if err := writeFile(dest, data); err != nil {
				return err
			}
			continue
		}
		select {
		case jobs <- job{rel: sub, dest: dest, data: data}:
		case <-ctx.Done():
			return fmt.Errorf("unpack kernel package %s: %w", debPath, ctx.Err())
		}
	}
	if err := rd.Finish(); err != nil {
		return fmt.Errorf("read kernel package %s: %w", debPath, asTruncated(err))
	}
	if modRelease != "" && ix.Release != "" && modRelease != ix.Release {
		return fmt.Errorf("kernel package %s: modules are for release %s but the kernel is %s", debPath, modRelease, ix.Release)
	}
	return nil
}

// writeModules writes module files and records their metadata in ix. It
// drains jobs even after an error, so the reader never blocks.
func writeModules(ctx context.Context, jobs <-chan job, ix *index) error {
	var first error
	for j := range jobs {
		if first != nil {
			continue
		}
		if err := writeFile(j.dest, j.data); err != nil {
			first = err
			continue
		}
		raw, err := decompressModule(j.rel, j.data)
		if err != nil {
			first = err
			continue
		}
		mi, err := ReadModInfo(bytes.NewReader(raw))
		if err != nil {
			first = fmt.Errorf("kernel module %s: %w", j.rel, err)
			continue
		}
		name := mi.Name
		if name == "" {
			name = NormalizeName(j.rel)
		}
		if _, dup := ix.Modules[name]; dup {
			continue // the first one wins, as in depmod's search order
		}
		ix.Modules[name] = indexModule{Path: j.rel, Depends: mi.Depends, SoftPre: mi.SoftPre, SoftPost: mi.SoftPost}
	}
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// readEntry reads the current tar entry.
func readEntry(tr *tar.Reader, debPath, name string) ([]byte, error) {
	data, err := io.ReadAll(tr)
	if err != nil {
		return nil, fmt.Errorf("read %s from kernel package %s: %w", name, debPath, asTruncated(err))
	}
	return data, nil
}

// writeFile writes data to dest, creating its directory.
func writeFile(dest string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("unpack kernel: %w", err)
	}
	if err := os.WriteFile(dest, data, 0o644); err != nil {
		return fmt.Errorf("unpack kernel: %w", err)
	}
	return nil
}

// decompressModule returns the ELF bytes of a possibly compressed module.
func decompressModule(name string, data []byte) ([]byte, error) {
	var r io.Reader
	switch {
	case strings.HasSuffix(name, ".ko"):
		return data, nil
	case strings.HasSuffix(name, ".xz"):
		z, err := xz.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("decompress kernel module %s: %w", name, err)
		}
		r = z
	case strings.HasSuffix(name, ".zst"):
		z, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("decompress kernel module %s: %w", name, err)
		}
		defer z.Close()
		r = z
	case strings.HasSuffix(name, ".gz"):
		z, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("decompress kernel module %s: %w", name, err)
		}
		r = z
	default:
		return nil, fmt.Errorf("kernel module %s: unknown compression", name)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decompress kernel module %s: %w", name, err)
	}
	return raw, nil
}

// asTruncated makes an io.ErrUnexpectedEOF from the data stream match
// ErrTruncated too.
func asTruncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrTruncated) {
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	return err
}
