package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/cache"
)

// libSegment is the initramfs segment of the app's runtime and libraries,
// open for reading.
type libSegment struct {
	f    *os.File
	size int64
	// entries are what the manifest lists of it, in archive order;
	// bytes is its size unpacked.
	entries []GuestFile
	bytes   int64
}

// libSegmentMeta is what the cache keeps beside a segment.
type libSegmentMeta struct {
	Entries []GuestFile `json:"entries"`
	Bytes   int64       `json:"bytes"`
}

// librarySegment returns the segment holding the app's runtime (a linked
// JRE, Node.js) and the libraries of its closure, or nil when the app has
// neither. It depends only on those files, so it is cached by their
// names, modes, sizes and modification times (as the base segment is by
// its inputs): a rebuild of the same app on the same runtime copies none
// of them. When the cache cannot be written it is written at fallback.
func librarySegment(ctx context.Context, s *Spec, comp initramfs.Compression, app *appLayout, baseDirs []string, fallback string, logf func(string, ...any)) (_ *libSegment, err error) {
	rt, c := app.runtime, app.closure
	if rt == nil && c == nil {
		return nil, nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "bootapp library segment v1 %s\n", comp)
	dirs := append([]string(nil), baseDirs...)
	sort.Strings(dirs)
	fmt.Fprintf(h, "%q\n", dirs)
	if rt != nil {
		guests := make([]string, 0, len(rt.mounts))
		for g := range rt.mounts {
			guests = append(guests, g)
		}
		sort.Strings(guests)
		for _, g := range guests {
			fmt.Fprintf(h, "mount %s %s skip %s\n", g, rt.mounts[g], rt.cacerts)
			if err := hashTreeStat(h, rt.mounts[g]); err != nil {
				return nil, fieldErr(err, "app.runtime", "the %s runtime %s: %v", rt.kind, rt.mounts[g], err)
			}
		}
	}
	if c != nil {
		fmt.Fprintf(h, "library path %q\n", c.LibraryPath)
		for _, f := range c.Files {
			if f.Mounted {
				continue
			}
			fmt.Fprintf(h, "%s %s %q %v\n", f.Path, f.Host, f.Link, f.Dir)
			if f.Link == "" {
				if fi, err := os.Stat(f.Host); err == nil {
					fmt.Fprintf(h, "%v %d %d\n", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
				}
			}
		}
	}
	key := hex.EncodeToString(h.Sum(nil))[:32]
	dir := filepath.Join(s.CacheDir, cache.Initramfs)
	cached := filepath.Join(dir, "lib-"+key+".cpio"+comp.Ext())
	metaPath := cached + ".json"
	if seg, ok := openLibSegment(cached, metaPath); ok {
		return seg, nil
	}

	path, toCache := fallback, false
	if err := os.MkdirAll(dir, 0o755); err == nil {
		if f, err := os.CreateTemp(dir, ".tmp-lib-*"); err == nil {
			f.Close()
			path, toCache = f.Name(), true
			os.Remove(path)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write the libraries segment %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	seg := &libSegment{f: f}
	w, err := initramfs.NewWriterOptions(f, initramfs.Options{Compression: comp, Record: func(e initramfs.Entry) {
		seg.entries = append(seg.entries, guestEntry(e))
		seg.bytes += e.Size + entryOverhead
	}})
	if err != nil {
		return nil, err
	}
	if err := writeRuntime(ctx, w, rt, logf); err != nil {
		return nil, err
	}
	if err := writeClosure(ctx, newImageWriter(w, baseDirs), c); err != nil {
		return nil, fieldErr(err, "app.path", "%v", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("write the libraries segment %s: %w", path, err)
	}
	seg.size = w.Written()
	// The root entry every segment starts with is the image's, not the
	// app's: the manifest lists it once, with the app segment.
	if len(seg.entries) > 0 && seg.entries[0].Path == "/" {
		seg.entries = seg.entries[1:]
	}
	if toCache {
		meta, err := json.Marshal(libSegmentMeta{Entries: seg.entries, Bytes: seg.bytes})
		if err == nil && cache.WriteFile(dir, metaPath, meta) == nil {
			if err := os.Rename(path, cached); err == nil {
				path = cached
			}
		}
		if path != cached {
			// Not cached after all: the open file serves this build
			// (Unix keeps an unlinked open file readable).
			os.Remove(metaPath)
			os.Remove(path)
		}
	}
	logf("libraries segment: %d entries, %.1f MiB", len(seg.entries), float64(seg.size)/(1<<20))
	return seg, nil
}

// openLibSegment opens a cached segment and its entry list.
func openLibSegment(path, metaPath string) (*libSegment, bool) {
	b, err := os.ReadFile(metaPath)
	if err != nil {
		return nil, false
	}
	var m libSegmentMeta
	if json.Unmarshal(b, &m) != nil {
		return nil, false
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false
	}
	return &libSegment{f: f, size: fi.Size(), entries: m.Entries, bytes: m.Bytes}, true
}

// hashTreeStat writes the names, modes, sizes, modification times and
// link targets of the tree at root into h.
func hashTreeStat(h hash.Hash, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		target := ""
		if d.Type()&fs.ModeSymlink != 0 {
			target, _ = os.Readlink(p)
		}
		fmt.Fprintf(h, "%s %v %d %d %q\n", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), target)
		return nil
	})
}
