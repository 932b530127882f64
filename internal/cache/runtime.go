package cache

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RuntimeIndex records what `mkbootapp fetch --runtime NAME` resolved for
// a language runtime: the packages it chose and, among them, the roots
// (the packages that hold the runtime itself; the others hold the shared
// libraries its ELF files need). It is stored as JSON at
// CACHE/runtimes/NAME.json.
type RuntimeIndex struct {
	// Runtime is the runtime's name: "node" or "java".
	Runtime string `json:"runtime"`
	// Roots are the names of the root packages, e.g. ["nodejs"] or
	// ["openjdk-17-jre-headless", "openjdk-17-jdk-headless"].
	Roots []string `json:"roots"`
	// Packages lists every package used, the roots included, each once.
	Packages []RuntimePackage `json:"packages"`
}

// RuntimePackage is one package of a RuntimeIndex.
type RuntimePackage struct {
	// Name and Version are the package's, as its control file has them.
	Name    string `json:"name"`
	Version string `json:"version"`
	// File is the .deb's base name in CACHE/debs.
	File string `json:"file"`
}

// RuntimeIndexPath returns where the index of runtime lives.
func RuntimeIndexPath(cacheDir, runtime string) string {
	return filepath.Join(cacheDir, Runtimes, runtime+".json")
}

// Debs returns the paths of the index's packages in CACHE/debs, in the
// index's order.
func (ix *RuntimeIndex) Debs(cacheDir string) []string {
	out := make([]string, len(ix.Packages))
	for i, p := range ix.Packages {
		out[i] = filepath.Join(cacheDir, Debs, p.File)
	}
	return out
}

func checkRuntimeName(runtime string) error {
	if runtime == "" || strings.ContainsAny(runtime, `/\`) || strings.HasPrefix(runtime, ".") {
		return fmt.Errorf("invalid runtime name %q", runtime)
	}
	return nil
}

// WriteRuntimeIndex stores ix at CACHE/runtimes/<ix.Runtime>.json through a
// temporary file and a rename (WriteFile), so that a reader sees the old
// index or the whole new one.
func WriteRuntimeIndex(cacheDir string, ix *RuntimeIndex) error {
	if err := checkRuntimeName(ix.Runtime); err != nil {
		return err
	}
	for _, p := range ix.Packages {
		if p.File == "" || filepath.Base(p.File) != p.File {
			return fmt.Errorf("runtime %s: package %s: file %q is not a base name", ix.Runtime, p.Name, p.File)
		}
	}
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	p := RuntimeIndexPath(cacheDir, ix.Runtime)
	return WriteFile(filepath.Dir(p), p, append(b, '\n'))
}

// ReadRuntimeIndex reads the index of runtime. When the runtime has not
// been fetched the error wraps fs.ErrNotExist.
func ReadRuntimeIndex(cacheDir, runtime string) (*RuntimeIndex, error) {
	if err := checkRuntimeName(runtime); err != nil {
		return nil, err
	}
	p := RuntimeIndexPath(cacheDir, runtime)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("runtime %s is not in the cache: %w", runtime, err)
	}
	var ix RuntimeIndex
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("read runtime index %s: %w", p, err)
	}
	if ix.Runtime != runtime {
		return nil, fmt.Errorf("runtime index %s is for %q, not %q", p, ix.Runtime, runtime)
	}
	for _, pk := range ix.Packages {
		if pk.File == "" || filepath.Base(pk.File) != pk.File {
			return nil, fmt.Errorf("runtime index %s: package %s: file %q is not a base name", p, pk.Name, pk.File)
		}
	}
	return &ix, nil
}
