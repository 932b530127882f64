package image

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// ErrNoBootEntry is wrapped by ReadBootDisk and ReadBootFiles when the disk
// holds no GPT with an EFI system partition, or its ESP has no
// systemd-boot entry naming a kernel.
var ErrNoBootEntry = errors.New("no boot entry")

// The systemd-boot files the reader starts from: the UEFI fallback loader
// path and the loader configuration, fixed by UEFI and systemd-boot
// (the Boot Loader Specification), not by bootapp.
const (
	uefiFallbackLoader = "/EFI/BOOT/BOOTX64.EFI"
	sdbootLoaderConf   = "/loader/loader.conf"
	sdbootEntriesDir   = "/loader/entries"
)

// ReadBootDisk reads the boot entry of the raw boot disk at path, as
// ReadBootFiles does. The file is opened read-only and never written.
func ReadBootDisk(path string) (*BootFiles, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read boot disk: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read boot disk: %w", err)
	}
	bf, err := ReadBootFiles(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("read boot disk %s: %w", path, err)
	}
	return bf, nil
}

// ReadBootFiles reads from a raw GPT disk of size bytes what systemd-boot
// would boot: it finds the EFI system partition, reads
// /loader/loader.conf for the default entry (or takes the only entry in
// /loader/entries), and returns the files and command line that entry
// names: Kernel (its "linux" line), Initrd (its "initrd" lines, in order
// and concatenated, as systemd-boot passes them), Cmdline (its "options"
// lines joined by spaces) and Title. Loader is /EFI/BOOT/BOOTX64.EFI, or
// nil when the ESP has none: a direct kernel boot does not need it.
//
// It is the reading side of WriteBootDisk: for a disk written from f,
// it returns f (with an empty Title read as WriteBootDisk's default).
// Errors about the layout wrap ErrNoBootEntry. Only raw disks are read;
// an encoded image (qcow2, VMDK, VHD) has no GPT at offset 0 and fails.
func ReadBootFiles(r io.ReaderAt, size int64) (*BootFiles, error) {
	st := readOnlyStorage{io.NewSectionReader(r, 0, size)}
	table, err := gpt.Read(st, sectorSize, sectorSize)
	if err != nil {
		return nil, fmt.Errorf("%w: no GPT partition table (is it a raw disk?): %v", ErrNoBootEntry, err)
	}
	var esp *gpt.Partition
	for _, p := range table.Partitions {
		if p.Type == gpt.EFISystemPartition {
			esp = p
			break
		}
	}
	if esp == nil {
		return nil, fmt.Errorf("%w: the GPT has no EFI system partition", ErrNoBootEntry)
	}
	start, psize := esp.GetStart(), esp.GetSize()
	if psize <= 0 {
		psize = int64(esp.End-esp.Start+1) * sectorSize
	}
	if start <= 0 || start+psize > size {
		return nil, fmt.Errorf("%w: the EFI system partition (%d bytes at %d) lies outside the disk of %d bytes", ErrNoBootEntry, psize, start, size)
	}
	fsys, err := openFAT32(io.NewSectionReader(r, start, psize))
	if err != nil {
		return nil, fmt.Errorf("%w: the EFI system partition: %v", ErrNoBootEntry, err)
	}
	return readESP(fsys)
}

// espFS is what readESP needs of a FAT file system.
type espFS interface {
	ReadFile(name string) ([]byte, error)
	ReadDir(name string) ([]fs.DirEntry, error)
}

// readESP reads the default systemd-boot entry and what it names.
func readESP(fsys espFS) (*BootFiles, error) {
	name, err := defaultEntry(fsys)
	if err != nil {
		return nil, err
	}
	entryPath := path.Join(sdbootEntriesDir, name)
	conf, err := fsys.ReadFile(entryPath)
	if err != nil {
		return nil, fmt.Errorf("%w: read ESP file %s: %v", ErrNoBootEntry, entryPath, err)
	}
	e := parseEntry(string(conf))
	if e.linux == "" {
		return nil, fmt.Errorf("%w: entry %s has no \"linux\" line", ErrNoBootEntry, entryPath)
	}
	bf := &BootFiles{Title: e.title, Cmdline: strings.Join(e.options, " ")}
	if bf.Kernel, err = entryFile(fsys, e.linux); err != nil {
		return nil, err
	}
	for _, p := range e.initrds {
		b, err := entryFile(fsys, p)
		if err != nil {
			return nil, err
		}
		bf.Initrd = append(bf.Initrd, b...)
	}
	if b, err := fsys.ReadFile(uefiFallbackLoader); err == nil {
		bf.Loader = b
	}
	return bf, nil
}

// entryFile reads the file an entry names (an absolute path on the ESP).
func entryFile(fsys espFS, p string) ([]byte, error) {
	clean := path.Clean("/" + strings.ReplaceAll(p, "\\", "/"))
	b, err := fsys.ReadFile(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: read ESP file %s: %v", ErrNoBootEntry, clean, err)
	}
	return b, nil
}

// defaultEntry returns the file name in /loader/entries that systemd-boot
// boots: loader.conf's "default" when it names an entry file (a glob
// pattern is not resolved), else the only entry there is.
func defaultEntry(fsys espFS) (string, error) {
	if conf, err := fsys.ReadFile(sdbootLoaderConf); err == nil {
		for _, line := range strings.Split(string(conf), "\n") {
			k, v := confLine(line)
			if k != "default" || v == "" {
				continue
			}
			if strings.ContainsAny(v, "*?[@") {
				return "", fmt.Errorf("%w: %s: default %q is a pattern, not an entry file", ErrNoBootEntry, sdbootLoaderConf, v)
			}
			if !strings.HasSuffix(v, ".conf") {
				v += ".conf"
			}
			return v, nil
		}
	}
	dir, err := fsys.ReadDir(sdbootEntriesDir)
	if err != nil {
		return "", fmt.Errorf("%w: read ESP directory %s: %v", ErrNoBootEntry, sdbootEntriesDir, err)
	}
	var entries []string
	for _, d := range dir {
		if !d.IsDir() && strings.HasSuffix(strings.ToLower(d.Name()), ".conf") {
			entries = append(entries, d.Name())
		}
	}
	if len(entries) != 1 {
		return "", fmt.Errorf("%w: %s sets no default and %s holds %d entries, want 1", ErrNoBootEntry, sdbootLoaderConf, sdbootEntriesDir, len(entries))
	}
	return entries[0], nil
}

// bootEntry is a parsed Boot Loader Specification type #1 entry.
type bootEntry struct {
	title   string
	linux   string
	initrds []string
	options []string
}

// parseEntry parses an entry file: "key value" lines, '#' comments.
func parseEntry(s string) bootEntry {
	var e bootEntry
	for _, line := range strings.Split(s, "\n") {
		k, v := confLine(line)
		switch k {
		case "title":
			e.title = v
		case "linux":
			e.linux = v
		case "initrd":
			e.initrds = append(e.initrds, strings.Fields(v)...)
		case "options":
			if v != "" {
				e.options = append(e.options, v)
			}
		}
	}
	return e
}

// confLine splits a loader.conf or entry line into key and value.
func confLine(line string) (key, value string) {
	line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
	if line == "" || strings.HasPrefix(line, "#") {
		return "", ""
	}
	k, v, _ := strings.Cut(strings.Join(strings.Fields(line), " "), " ")
	return k, v
}

// readOnlyStorage is a backend.Storage over a section of an io.ReaderAt
// that refuses every write, so reading an ESP cannot change the disk.
type readOnlyStorage struct{ *io.SectionReader }

var _ backend.Storage = readOnlyStorage{}

func (readOnlyStorage) Close() error                 { return nil }
func (s readOnlyStorage) Stat() (fs.FileInfo, error) { return sectionInfo{s.Size()}, nil }
func (readOnlyStorage) Sys() (*os.File, error)       { return nil, backend.ErrNotSuitable }
func (readOnlyStorage) Path() string                 { return "" }
func (readOnlyStorage) Writable() (backend.WritableFile, error) {
	return nil, backend.ErrIncorrectOpenMode
}

// sectionInfo is the fs.FileInfo of a readOnlyStorage.
type sectionInfo struct{ size int64 }

func (sectionInfo) Name() string       { return "disk" }
func (i sectionInfo) Size() int64      { return i.size }
func (sectionInfo) Mode() fs.FileMode  { return 0o444 }
func (sectionInfo) ModTime() time.Time { return time.Time{} }
func (sectionInfo) IsDir() bool        { return false }
func (sectionInfo) Sys() any           { return nil }
