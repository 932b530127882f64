package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// statKey identifies one version of a .deb file cheaply: its absolute
// path and what stat(2) says about it. Replacing the file, even with one
// of the same size and modification time, changes the inode or the
// change time (which no tool can set back), so a match means the same
// bytes as when SHA256 was computed.
type statKey struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	MtimeNS int64  `json:"mtime_ns"`
	Inode   uint64 `json:"inode,omitempty"`
	CtimeNS int64  `json:"ctime_ns,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
}

func statKeyOf(abs string, fi fs.FileInfo) statKey {
	k := statKey{Path: abs, Size: fi.Size(), MtimeNS: fi.ModTime().UnixNano()}
	addSysStat(&k, fi)
	return k
}

// fileName names the lookup file of the key's path.
func (k statKey) fileName() string {
	h := sha256.Sum256([]byte(k.Path))
	return hex.EncodeToString(h[:12]) + ".json"
}

// hashFile returns the hex sha256 of the file at path.
func hashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash kernel package: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", fmt.Errorf("hash kernel package %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a long read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
