package builder

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// manifestName is the file name of the manifest of a build named name.
func manifestName(name string) string { return name + ".manifest.json" }

// encodeManifest returns the manifest of res: its JSON form, with file paths
// relative to the manifest, so that an output directory can be moved or
// copied as a whole.
func encodeManifest(res *Result) ([]byte, error) {
	m := *res
	m.Files = append([]File(nil), res.Files...)
	for i := range m.Files {
		m.Files[i].Path = filepath.Base(m.Files[i].Path)
	}
	m.Manifest = filepath.Base(res.Manifest)
	data, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(data, '\n'), nil
}

// ReadManifest reads a manifest written by Build. path may be the manifest
// itself or the output directory holding exactly one manifest.
func ReadManifest(path string) (*Result, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	if fi.IsDir() {
		m, _ := filepath.Glob(filepath.Join(path, "*.manifest.json"))
		switch len(m) {
		case 0:
			return nil, fmt.Errorf("no *.manifest.json in %s: %w: is it a bootapp output directory?", path, fs.ErrNotExist)
		case 1:
			path = m[0]
		default:
			return nil, fmt.Errorf("several manifests in %s: name one of %s", path, strings.Join(m, ", "))
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	r.Manifest = path
	dir := filepath.Dir(path)
	for i := range r.Files {
		if !filepath.IsAbs(r.Files[i].Path) {
			r.Files[i].Path = filepath.Join(dir, r.Files[i].Path)
		}
	}
	return &r, nil
}

// hashFile fills in what the manifest records of the file at path: its
// size, the bytes it occupies and its SHA-256. Holes of sparse files are
// hashed from a zero buffer instead of being read.
func hashFile(ctx context.Context, path string, f *File) error {
	fd, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	f.Size = st.Size()
	f.Allocated = allocated(st)
	sum, err := sparseSHA256(ctx, fd, st.Size())
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	f.SHA256 = hex.EncodeToString(sum)
	return nil
}
