//go:build unix

package builder

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockDir takes an exclusive advisory lock on the directory dir for the
// life of a build, so two builds never write into one output directory at
// once. A file system without flock support builds unlocked.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fieldErr(err, "output_dir", "lock output directory %s: %v", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fieldErr(ErrOutputConflict, "output_dir", "another build is writing into %s: wait for it or choose another output directory", dir)
		}
		return func() {}, nil
	}
	return func() { f.Close() }, nil // closing the descriptor releases the lock
}

// ignorableDirSyncError reports whether a failed fsync of a directory only
// means that the file system cannot sync directories.
func ignorableDirSyncError(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTSUP)
}
