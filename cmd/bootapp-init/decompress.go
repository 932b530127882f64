package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// moduleCompression names how a module file is compressed, from its name.
type moduleCompression int

const (
	modPlain moduleCompression = iota
	modXZ
	modZstd
	modGzip
)

// errUnknownModule marks a file name that is not a kernel module.
var errUnknownModule = errors.New("not a kernel module (.ko, .ko.xz, .ko.zst or .ko.gz)")

// compressionOf tells how the module at path is compressed.
func compressionOf(path string) (moduleCompression, error) {
	switch {
	case strings.HasSuffix(path, ".ko"):
		return modPlain, nil
	case strings.HasSuffix(path, ".ko.xz"):
		return modXZ, nil
	case strings.HasSuffix(path, ".ko.zst"):
		return modZstd, nil
	case strings.HasSuffix(path, ".ko.gz"):
		return modGzip, nil
	}
	return 0, errUnknownModule
}

// maxModuleSize bounds a decompressed module (the largest in a Debian
// kernel is a few MB), so a corrupt file cannot exhaust memory.
const maxModuleSize = 256 << 20

// decompressModule returns the ELF image of a compressed module. The kernel
// could decompress it (finit_module with MODULE_INIT_COMPRESSED_FILE), but
// only for the one format it was built with, so the init does it itself.
func decompressModule(c moduleCompression, r io.Reader) ([]byte, error) {
	var dr io.Reader
	switch c {
	case modPlain:
		dr = r
	case modXZ:
		x, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		dr = x
	case modZstd:
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer z.Close()
		dr = z
	case modGzip:
		g, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		dr = g
	default:
		return nil, errUnknownModule
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(dr, maxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if n > maxModuleSize {
		return nil, fmt.Errorf("decompressed module exceeds %d bytes", maxModuleSize)
	}
	return buf.Bytes(), nil
}

// moduleName returns the module name the kernel uses for the file at path:
// the base name without extensions, with '-' read as '_'.
func moduleName(path string) string {
	base := path[strings.LastIndexByte(path, '/')+1:]
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// isStorageModule guesses whether a module drives the disk that holds the
// data volume, so its failure can be logged as the likely cause of a
// missing volume.
func isStorageModule(name string) bool {
	for _, s := range []string{"blk", "scsi", "nvme", "storvsc", "ata", "xen_blkfront", "ext4", "jbd2"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}
