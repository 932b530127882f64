package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bootapp/bootapp/internal/deb"
)

// Sentinel errors for Open; test for them with errors.Is.
var (
	// ErrNotKernel reports a Debian package that carries no kernel image
	// (no boot/vmlinuz-*), such as the linux-image-cloud-amd64
	// meta-package.
	ErrNotKernel = errors.New("not a kernel image package")
	// ErrNotDeb reports a kernel package file that is not a Debian package.
	ErrNotDeb = deb.ErrNotDeb
	// ErrTruncated reports a kernel package that ends early.
	ErrTruncated = deb.ErrTruncated
	// ErrUnknownModule reports a module name that is neither a loadable
	// module nor built into the kernel.
	ErrUnknownModule = errors.New("unknown kernel module")
	// ErrDependencyCycle reports modules whose depends= form a cycle.
	ErrDependencyCycle = errors.New("module dependency cycle")
)

// indexFormat is the version of the index file layout; an index of
// another version is rebuilt.
const indexFormat = 1

// Cache layout, below Options.CacheDir.
const (
	kernelsDir = "kernels"    // CacheDir/kernels/<key>/ holds one unpacked kernel
	lookupDir  = "lookup"     // CacheDir/kernels/lookup/<path hash>.json: stat -> sha256
	indexName  = "index.json" // the kernel's index, written last
	imageName  = "vmlinuz"    // the bzImage, at the top of the kernel's dir
	keyLen     = 16           // hex digits of the .deb's sha256 naming the dir
)

// Options configures Open.
type Options struct {
	// CacheDir is the cache root; kernels are unpacked below
	// CacheDir/kernels. It is created if missing. Required.
	CacheDir string
}

// Kernel is a Debian kernel package unpacked in the cache: the bzImage
// and the loadable modules with their dependency graph.
type Kernel struct {
	// Release is the kernel release (uname -r), e.g.
	// "6.1.0-56-cloud-amd64", from the boot/vmlinuz-<release> file name.
	Release string
	// Version is the bzImage's kernel_version string.
	Version string
	// Header is the bzImage's boot protocol header.
	Header *BzImage
	// ImagePath is the absolute path of the bzImage in the cache.
	ImagePath string
	// ModulesDir is the absolute path of lib/modules/<Release> in the
	// cache; Module.Path is relative to it.
	ModulesDir string
	// Package and PackageVersion are the .deb's control fields.
	Package        string
	PackageVersion string
	// SHA256 is the hex sha256 of the .deb.
	SHA256 string

	modules map[string]indexModule
	builtin map[string]bool
}

// Module is a loadable kernel module.
type Module struct {
	// Name is the normalised module name, e.g. "virtio_pci".
	Name string
	// Path is relative to lib/modules/<release>/, e.g.
	// "kernel/drivers/virtio/virtio.ko".
	Path string
	// File is the absolute path of the module in the cache.
	File string
	// Depends lists the modules this one needs (depends=), normalised.
	Depends []string
}

// index is the JSON file that makes a warm Open cheap.
type index struct {
	Format         int                    `json:"format"`
	Release        string                 `json:"release"`
	Package        string                 `json:"package"`
	PackageVersion string                 `json:"package_version"`
	DebSHA256      string                 `json:"deb_sha256"`
	Builtin        []string               `json:"builtin"`
	Modules        map[string]indexModule `json:"modules"`
}

type indexModule struct {
	Path     string   `json:"path"`
	Depends  []string `json:"depends,omitempty"`
	SoftPre  []string `json:"softdep_pre,omitempty"`
	SoftPost []string `json:"softdep_post,omitempty"`
}

// Open returns the kernel in the Debian package at debPath, unpacking it
// into opts.CacheDir on first use.
//
// The cache is keyed by the sha256 of the .deb. Hashing a 27 MB package
// costs tens of milliseconds, so a small lookup file per .deb path
// (CacheDir/kernels/lookup/) remembers the hash together with the file's
// size, modification time, inode and change time; when all still match,
// the warm path only stats the .deb and reads two small files (about a
// millisecond). Otherwise the .deb is hashed; an existing unpacked kernel
// with that hash is reused, and only a new one is unpacked.
//
// Unpacking writes into a temporary directory next to the final one and
// renames it into place when complete, so concurrent Opens are safe and
// a partially unpacked kernel is never visible; on error nothing is left.
func Open(ctx context.Context, debPath string, opts Options) (*Kernel, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("open kernel: Options.CacheDir is empty; set it to the bootapp cache directory")
	}
	abs, err := filepath.Abs(debPath)
	if err != nil {
		return nil, fmt.Errorf("open kernel package %s: %w", debPath, err)
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("kernel package %s not found; run `mkbootapp fetch` or pass --kernel: %w", debPath, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open kernel package: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("kernel package %s is not a regular file; pass the path of a linux-image-*.deb", debPath)
	}
	root := filepath.Join(opts.CacheDir, kernelsDir)
	key := statKeyOf(abs, fi)
	if sum, ok := readLookup(root, key); ok {
		if k, err := load(filepath.Join(root, sum[:keyLen]), sum); err == nil {
			return k, nil
		}
		// The cached kernel is gone or damaged: fall back to hashing.
	}
	sum, err := hashFile(ctx, abs)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, sum[:keyLen])
	k, err := load(dir, sum)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			// A damaged or outdated entry: replace it.
			if rmErr := os.RemoveAll(dir); rmErr != nil {
				return nil, fmt.Errorf("remove damaged kernel cache %s: %w", dir, rmErr)
			}
		}
		if k, err = unpack(ctx, abs, root, sum); err != nil {
			return nil, err
		}
	}
	// The lookup file only speeds up the next Open: failing to write it
	// (a read-only cache, a full disk) is not worth failing this one.
	_ = writeLookup(root, key, sum)
	return k, nil
}

// load reads an unpacked kernel's index and boot header.
func load(dir, sum string) (*Kernel, error) {
	b, err := os.ReadFile(filepath.Join(dir, indexName))
	if err != nil {
		return nil, err
	}
	var ix index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("kernel cache index %s: %w", dir, err)
	}
	if ix.Format != indexFormat || ix.DebSHA256 != sum {
		return nil, fmt.Errorf("kernel cache index %s: format %d for %.12s, want format %d for %.12s", dir, ix.Format, ix.DebSHA256, indexFormat, sum)
	}
	imagePath := filepath.Join(dir, imageName)
	f, err := os.Open(imagePath)
	if err != nil {
		return nil, fmt.Errorf("kernel cache %s: %w", dir, err)
	}
	defer f.Close()
	hdr, err := ParseBzImage(f)
	if err != nil {
		return nil, fmt.Errorf("kernel cache %s: %w", imagePath, err)
	}
	k := &Kernel{
		Release:        ix.Release,
		Version:        hdr.Version,
		Header:         hdr,
		ImagePath:      imagePath,
		ModulesDir:     filepath.Join(dir, "lib", "modules", ix.Release),
		Package:        ix.Package,
		PackageVersion: ix.PackageVersion,
		SHA256:         ix.DebSHA256,
		modules:        ix.Modules,
		builtin:        make(map[string]bool, len(ix.Builtin)),
	}
	for _, n := range ix.Builtin {
		k.builtin[n] = true
	}
	return k, nil
}

// writeIndex writes the index of an unpacked kernel into dir.
func writeIndex(dir string, ix *index) error {
	sort.Strings(ix.Builtin)
	b, err := json.Marshal(ix)
	if err != nil {
		return fmt.Errorf("encode kernel index: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, indexName), b, 0o644)
}

// Has reports whether name (with '-' and '_' alike) is a loadable module
// or built into the kernel.
func (k *Kernel) Has(name string) bool {
	n := NormalizeName(name)
	_, ok := k.modules[n]
	return ok || k.builtin[n]
}

// Builtin reports whether name is built into the kernel (listed in
// modules.builtin), so that it needs no loading.
func (k *Kernel) Builtin(name string) bool {
	return k.builtin[NormalizeName(name)]
}

// Modules returns the names of all loadable modules, sorted.
func (k *Kernel) Modules() []string {
	names := make([]string, 0, len(k.modules))
	for n := range k.modules {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// module builds the exported Module for name.
func (k *Kernel) module(name string, m indexModule) Module {
	return Module{
		Name:    name,
		Path:    m.Path,
		File:    filepath.Join(k.ModulesDir, filepath.FromSlash(m.Path)),
		Depends: slices.Clone(m.Depends),
	}
}

// Closure returns the modules to load for names, in load order: each
// module after its depends= and its softdep "pre:" modules, followed by
// its softdep "post:" modules. Builtins are skipped, and so are softdeps
// this kernel does not have (they are optional, as for modprobe). The
// order is deterministic: requested names in the order given, depends in
// the order the module lists them.
//
// A requested name or a depends= entry that is neither a module nor
// builtin gives an error matching ErrUnknownModule; a cycle of depends=
// gives ErrDependencyCycle (a softdep that closes a cycle is dropped).
func (k *Kernel) Closure(names ...string) ([]Module, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var out []Module
	var visit func(name string, hard bool, chain []string) error
	visit = func(name string, hard bool, chain []string) error {
		n := NormalizeName(name)
		if k.builtin[n] {
			return nil
		}
		m, ok := k.modules[n]
		if !ok {
			if !hard {
				return nil
			}
			if len(chain) > 0 {
				return fmt.Errorf("%w: %q, needed by %s, is neither a module nor built into kernel %s", ErrUnknownModule, name, strings.Join(chain, " <- "), k.Release)
			}
			msg := fmt.Sprintf("%q is neither a module nor built into kernel %s", name, k.Release)
			if similar := k.similar(n, 5); len(similar) > 0 {
				msg += "; similar modules: " + strings.Join(similar, ", ")
			}
			return fmt.Errorf("%w: %s", ErrUnknownModule, msg)
		}
		switch state[n] {
		case done:
			return nil
		case visiting:
			if !hard {
				return nil
			}
			return fmt.Errorf("%w: %s -> %s", ErrDependencyCycle, strings.Join(chain, " -> "), n)
		}
		state[n] = visiting
		chain = append(chain, n)
		for _, d := range m.SoftPre {
			if err := visit(d, false, chain); err != nil {
				return err
			}
		}
		for _, d := range m.Depends {
			if err := visit(d, true, chain); err != nil {
				return err
			}
		}
		state[n] = done
		out = append(out, k.module(n, m))
		for _, d := range m.SoftPost {
			if err := visit(d, false, chain); err != nil {
				return err
			}
		}
		return nil
	}
	for _, name := range names {
		if err := visit(name, true, nil); err != nil {
			return nil, fmt.Errorf("module closure: %w", err)
		}
	}
	return out, nil
}

// similar returns up to max module names that contain n or that n
// contains, sorted, to suggest in an error message.
func (k *Kernel) similar(n string, max int) []string {
	var out []string
	for _, name := range k.Modules() {
		if len(n) >= 3 && (strings.Contains(name, n) || strings.Contains(n, name) && len(name) >= 3) {
			out = append(out, name)
			if len(out) == max {
				break
			}
		}
	}
	return out
}

// readLookup returns the sha256 remembered for key, if the lookup file
// exists and its stat fields still match.
func readLookup(root string, key statKey) (string, bool) {
	b, err := os.ReadFile(filepath.Join(root, lookupDir, key.fileName()))
	if err != nil {
		return "", false
	}
	var got statKey
	if json.Unmarshal(b, &got) != nil || got.SHA256 == "" || len(got.SHA256) != 64 {
		return "", false
	}
	sum := got.SHA256
	got.SHA256 = ""
	key.SHA256 = ""
	if got != key {
		return "", false
	}
	return sum, true
}

// writeLookup remembers sum for key, atomically.
func writeLookup(root string, key statKey, sum string) error {
	dir := filepath.Join(root, lookupDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	key.SHA256 = sum
	b, err := json.Marshal(key)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, key.fileName()), b)
}

// writeAtomic writes b to a temporary file beside path and renames it.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// isModuleFile reports whether name is a kernel module file.
func isModuleFile(name string) bool {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// parseBuiltin reads modules.builtin: one module path per line.
func parseBuiltin(b []byte) []string {
	var names []string
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if n := NormalizeName(string(bytes.TrimSpace(line))); n != "" { // "dir/" names nothing
			names = append(names, n)
		}
	}
	return names
}
