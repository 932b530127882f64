package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// stagingPrefix starts the name of a build's staging directory inside the
// output directory.
const stagingPrefix = ".bootapp-staging-"

// output is a build's output transaction. Every file the build writes goes
// into a staging directory inside the output directory; commit publishes
// them by renames only once all of them, manifest included, are complete and
// synced to disk. A file that a published one replaces is first moved into
// the staging directory, so a commit that fails half-way puts everything
// back. Until commit the output directory holds exactly what it held before
// (plus the staging directory, which abort removes); a build killed outright
// leaves only its staging directory, which the next build into the same
// directory removes. The directory is locked against concurrent builds for
// the whole transaction where the platform allows it.
type output struct {
	dir        string // the output directory
	staging    string // the staging directory inside it
	createdDir bool   // dir did not exist before the build
	unlock     func()
	// rename publishes a file: os.Rename, or a stand-in with which tests
	// make a commit fail half-way.
	rename func(from, to string) error
}

// openOutput starts a transaction on dir, creating dir if it is missing.
func openOutput(dir string) (*output, error) {
	o := &output{dir: dir, unlock: func() {}, rename: os.Rename}
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return nil, fieldErr(ErrOutputConflict, "output_dir", "%s exists and is not a directory", dir)
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fieldErr(err, "output_dir", "create output directory %s: %v", dir, err)
		}
		o.createdDir = true
	case err != nil:
		return nil, fieldErr(err, "output_dir", "output directory %s: %v", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		o.abort()
		return nil, err
	}
	o.unlock = unlock
	if err := removeStaleStaging(dir); err != nil {
		o.abort()
		return nil, err
	}
	o.staging, err = os.MkdirTemp(dir, stagingPrefix+"*")
	if err != nil {
		o.abort()
		return nil, fieldErr(err, "output_dir", "create staging directory in %s: %v", dir, err)
	}
	return o, nil
}

// removeStaleStaging removes what killed builds left in dir: their staging
// directories. The caller holds the directory's lock, so no live build owns
// them.
func removeStaleStaging(dir string) error {
	m, err := filepath.Glob(filepath.Join(dir, stagingPrefix+"*"))
	if err != nil {
		return fmt.Errorf("look for stale staging directories in %s: %w", dir, err)
	}
	for _, p := range m {
		if err := os.RemoveAll(p); err != nil {
			return fieldErr(err, "output_dir", "remove %s, left by an interrupted build: %v", p, err)
		}
	}
	return nil
}

// path returns where the file that commit publishes as name is staged;
// names that are never published (intermediates) live there too.
func (o *output) path(name string) string { return filepath.Join(o.staging, name) }

// commit publishes the staged files names, in order, into the output
// directory and ends the transaction. Each staged file is synced to disk
// before the first rename, and the directory after the last. On error the
// output directory is restored to what it held before.
func (o *output) commit(names []string) (err error) {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { errs[i] = syncFile(o.path(n)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := syncDir(o.staging); err != nil {
		return err
	}
	replacedDir := filepath.Join(o.staging, ".replaced")
	if err := os.Mkdir(replacedDir, 0o700); err != nil {
		return fmt.Errorf("publish outputs in %s: %w", o.dir, err)
	}
	var published, replaced []string
	defer func() {
		if err == nil {
			return
		}
		// Put back what was there: unpublish in reverse order, then
		// restore the files that were replaced.
		for i := len(published) - 1; i >= 0; i-- {
			n := published[i]
			os.Rename(filepath.Join(o.dir, n), o.path(n))
		}
		for _, n := range replaced {
			os.Rename(filepath.Join(replacedDir, n), filepath.Join(o.dir, n))
		}
	}()
	for _, n := range names {
		final := filepath.Join(o.dir, n)
		if _, err := os.Lstat(final); err == nil {
			if err := o.rename(final, filepath.Join(replacedDir, n)); err != nil {
				return fmt.Errorf("move %s aside to replace it: %w", final, err)
			}
			replaced = append(replaced, n)
		}
		if err := o.rename(o.path(n), final); err != nil {
			return fmt.Errorf("move %s into place: %w", final, err)
		}
		published = append(published, n)
	}
	if err := syncDir(o.dir); err != nil {
		return err
	}
	o.createdDir = false // it holds the build's outputs now
	o.abort()            // removes the staging directory with the replaced files
	return nil
}

// abort ends the transaction without publishing: the staging directory is
// removed, and so is the output directory if the build created it.
func (o *output) abort() {
	if o.staging != "" {
		os.RemoveAll(o.staging)
		o.staging = ""
	}
	if o.createdDir {
		os.RemoveAll(o.dir)
		o.createdDir = false
	}
	o.unlock()
	o.unlock = func() {}
}

// syncFile flushes the file at path to stable storage.
func syncFile(path string) error {
	// Opened for writing: Windows cannot flush a read-only handle.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// syncDir flushes the directory entries of dir to stable storage, where the
// platform can (not on Windows, nor on file systems that refuse it).
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil && !ignorableDirSyncError(err) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
