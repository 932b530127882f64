package image

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/diskfs/go-diskfs/backend"
)

// fixFAT32 corrects, in place, what go-diskfs v1.9.4 leaves wrong or
// unset in a FAT32 file system it created at offset start of b, so that
// `fsck.fat -n` finds nothing to fix:
//
//   - the ".." entry of a directory in the root must point to cluster 0
//     (FAT spec: "if the parent is the root directory, 0"); go-diskfs
//     writes the root's cluster number (2);
//   - the FSInfo free cluster count and next free cluster hint are left
//     at 0xFFFFFFFF ("unknown");
//   - the volume ID is zero in reproducible mode; we set serial.
//
// It is hand-written because go-diskfs exposes none of these fields. It
// reads the layout from the boot sector (FAT spec, "BPB" fields) and
// touches only those few bytes.
func fixFAT32(b backend.Storage, start int64, serial uint32) error {
	w, err := b.Writable()
	if err != nil {
		return err
	}
	bs := make([]byte, sectorSize)
	if _, err := b.ReadAt(bs, start); err != nil {
		return fmt.Errorf("read FAT32 boot sector: %w", err)
	}
	var (
		bps        = int64(binary.LittleEndian.Uint16(bs[11:13]))
		spc        = int64(bs[13])
		reserved   = int64(binary.LittleEndian.Uint16(bs[14:16]))
		numFATs    = int64(bs[16])
		total      = int64(binary.LittleEndian.Uint32(bs[32:36]))
		spf        = int64(binary.LittleEndian.Uint32(bs[36:40]))
		rootClus   = binary.LittleEndian.Uint32(bs[44:48])
		fsInfo     = int64(binary.LittleEndian.Uint16(bs[48:50]))
		backupBoot = int64(binary.LittleEndian.Uint16(bs[50:52]))
	)
	if bps != sectorSize || spc == 0 || numFATs == 0 || spf == 0 || string(bs[82:90]) != "FAT32   " {
		return errors.New("ESP boot sector is not the FAT32 layout go-diskfs writes")
	}
	clusterBytes := bps * spc
	dataStart := start + (reserved+numFATs*spf)*bps
	clusters := (total - reserved - numFATs*spf) / spc
	clusterOff := func(c uint32) int64 { return dataStart + int64(c-2)*clusterBytes }

	// One pass over the first FAT: free clusters, first free one.
	fat := make([]byte, spf*bps)
	if _, err := b.ReadAt(fat, start+reserved*bps); err != nil {
		return fmt.Errorf("read FAT: %w", err)
	}
	next := func(c uint32) uint32 { return binary.LittleEndian.Uint32(fat[4*c:]) & 0x0fffffff }
	var free, firstFree uint32 = 0, 0xffffffff
	for c := uint32(2); int64(c) < clusters+2 && int64(4*c) < int64(len(fat)); c++ {
		if next(c) == 0 {
			if free == 0 {
				firstFree = c
			}
			free++
		}
	}

	// Point ".." of every directory in the root at cluster 0.
	var root []byte
	for c, n := rootClus, 0; c >= 2 && c < 0x0ffffff8 && int64(c) < clusters+2; c, n = next(c), n+1 {
		if n > int(clusters) {
			return errors.New("ESP root directory cluster chain loops")
		}
		buf := make([]byte, clusterBytes)
		if _, err := b.ReadAt(buf, clusterOff(c)); err != nil {
			return fmt.Errorf("read ESP root directory: %w", err)
		}
		root = append(root, buf...)
	}
	for i := 0; i+32 <= len(root) && root[i] != 0; i += 32 {
		e := root[i : i+32]
		if e[0] == 0xe5 || e[11] == 0x0f || e[11]&0x10 == 0 || e[0] == '.' {
			continue // deleted, long-name slot, not a directory, or "."/".."
		}
		c := uint32(binary.LittleEndian.Uint16(e[20:22]))<<16 | uint32(binary.LittleEndian.Uint16(e[26:28]))
		if c < 2 || int64(c) >= clusters+2 {
			return fmt.Errorf("ESP directory %q starts at invalid cluster %d", e[:11], c)
		}
		dotdot := make([]byte, 32)
		off := clusterOff(c) + 32
		if _, err := b.ReadAt(dotdot, off); err != nil {
			return fmt.Errorf("read ESP directory %q: %w", e[:11], err)
		}
		if string(dotdot[:11]) != "..         " {
			return fmt.Errorf("ESP directory %q has no \"..\" entry in its second slot", e[:11])
		}
		clear(dotdot[20:22])
		clear(dotdot[26:28])
		if _, err := w.WriteAt(dotdot, off); err != nil {
			return fmt.Errorf("fix \"..\" of ESP directory %q: %w", e[:11], err)
		}
	}

	// FSInfo (and its backup, one sector after the backup boot sector):
	// FSI_Free_Count at 488, FSI_Nxt_Free at 492.
	var fsi [8]byte
	binary.LittleEndian.PutUint32(fsi[0:4], free)
	binary.LittleEndian.PutUint32(fsi[4:8], firstFree)
	var id [4]byte
	binary.LittleEndian.PutUint32(id[:], serial)
	bases := []int64{0}
	if backupBoot > 0 {
		bases = append(bases, backupBoot)
	}
	for _, base := range bases {
		if _, err := w.WriteAt(fsi[:], start+(base+fsInfo)*bps+488); err != nil {
			return fmt.Errorf("write FAT32 FSInfo: %w", err)
		}
		// BS_VolID, offset 67 of the FAT32 boot sector.
		if _, err := w.WriteAt(id[:], start+base*bps+67); err != nil {
			return fmt.Errorf("write FAT32 volume ID: %w", err)
		}
	}
	return nil
}
