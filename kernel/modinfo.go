package kernel

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNoModInfo reports an ELF file without a .modinfo section: not a
// kernel module.
var ErrNoModInfo = errors.New("no .modinfo section")

// ModInfo is the metadata of a kernel module, read from the key=value
// strings of its ELF .modinfo section (what modinfo(8) prints).
type ModInfo struct {
	// Name is the module name from name=, normalised (see NormalizeName).
	Name string
	// Depends lists the modules that must be loaded first (depends=),
	// normalised.
	Depends []string
	// SoftPre lists optional modules to load before this one (softdep=
	// "pre:" part), normalised.
	SoftPre []string
	// SoftPost lists optional modules to load after this one (softdep=
	// "post:" part), normalised.
	SoftPost []string
	// Aliases lists the module's alias= patterns (device IDs such as
	// "pci:v00001AF4d00001000sv*sd*bc*sc*i*", or "crypto-crc32c").
	Aliases []string
}

// NormalizeName returns a module name in the kernel's canonical form: '-'
// becomes '_' (the kernel and kmod treat them alike), and a directory and
// ".ko" suffix (also ".ko.xz", ".ko.zst", ".ko.gz") are removed, so that
// "kernel/drivers/char/hw_random/virtio-rng.ko" gives "virtio_rng".
func NormalizeName(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.Index(s, ".ko"); i >= 0 {
		if rest := s[i+3:]; rest == "" || rest == ".xz" || rest == ".zst" || rest == ".gz" {
			s = s[:i]
		}
	}
	return strings.ReplaceAll(s, "-", "_")
}

// ReadModInfo reads the .modinfo section of an uncompressed kernel module
// (.ko). It checks that the module is an x86_64 ELF file (ErrWrongArch
// otherwise) and returns ErrNoModInfo for an ELF file that is no module.
// Name is empty when the module has no name= entry; callers fall back to
// the file name.
func ReadModInfo(r io.ReaderAt) (*ModInfo, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("not an ELF kernel module: %w", err)
	}
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return nil, fmt.Errorf("%w: %s module (%v), bootapp needs x86_64 (EM_X86_64)", ErrWrongArch, archName(f.Machine), f.Machine)
	}
	sec := f.Section(".modinfo")
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return nil, ErrNoModInfo
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .modinfo section: %w", err)
	}
	return parseModInfo(data), nil
}

// parseModInfo parses NUL-separated key=value strings. Unknown keys
// (license, description, vermagic ...) are ignored.
func parseModInfo(data []byte) *ModInfo {
	mi := &ModInfo{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			mi.Name = NormalizeName(v)
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					mi.Depends = append(mi.Depends, NormalizeName(d))
				}
			}
		case "softdep":
			pre, post := parseSoftdep(v)
			mi.SoftPre = append(mi.SoftPre, pre...)
			mi.SoftPost = append(mi.SoftPost, post...)
		case "alias":
			mi.Aliases = append(mi.Aliases, v)
		}
	}
	return mi
}

// parseSoftdep parses "pre: a b post: c". Words before any "pre:" or
// "post:" are ignored, as kmod ignores them.
func parseSoftdep(v string) (pre, post []string) {
	var cur *[]string
	for _, w := range strings.Fields(v) {
		switch w {
		case "pre:":
			cur = &pre
		case "post:":
			cur = &post
		default:
			if cur != nil {
				*cur = append(*cur, NormalizeName(w))
			}
		}
	}
	return pre, post
}
