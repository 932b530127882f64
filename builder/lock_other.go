//go:build !unix

package builder

// lockDir does not lock on this platform: concurrent builds into one output
// directory are the caller's to avoid.
func lockDir(string) (unlock func(), err error) { return func() {}, nil }

// ignorableDirSyncError reports whether a failed fsync of a directory only
// means that the platform cannot sync directories: Windows cannot.
func ignorableDirSyncError(error) bool { return true }
