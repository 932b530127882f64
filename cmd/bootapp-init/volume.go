package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bootapp/bootapp/internal/guestconfig"
)

// errNoVolume says no block device with the data volume appeared in time.
var errNoVolume = errors.New("data volume not found")

// The data volume's lifecycle, as decisions without system calls: which
// disk is the volume, whether to format it, what an e2fsck exit status
// means and whether to grow it. data_linux.go does the I/O.

// volumeSel says which disk is the data volume (guestconfig.Data).
type volumeSel struct {
	label  string
	uuid   string // canonical, lower case; empty: any
	serial string // normalised by normSerial; empty: any
}

func (s volumeSel) String() string {
	switch {
	case s.serial != "":
		return fmt.Sprintf("serial %q", s.serial)
	case s.uuid != "":
		return fmt.Sprintf("UUID %s", s.uuid)
	}
	return fmt.Sprintf("label %q", s.label)
}

// normSerial normalises a device serial for comparison: surrounding
// spaces (NVMe pads serials to 20 bytes) and the dash of an EBS volume id
// ("vol-0123" is the serial "vol0123") are dropped.
func normSerial(s string) string {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "vol-"); ok {
		s = "vol" + rest
	}
	return s
}

// blockDev is one block device as findVolume saw it.
type blockDev struct {
	name      string // kernel name: vdb, nvme0n1, sda1
	size      int64  // bytes
	serial    string // normalised; empty when the device has none
	partition bool
	content   content
}

func (d *blockDev) String() string {
	s := d.name
	if d.serial != "" {
		s += fmt.Sprintf(" (serial %s)", d.serial)
	}
	return s
}

// volumeAction is what to do with the chosen disk.
type volumeAction int

const (
	actionWait   volumeAction = iota // nothing suitable yet: keep looking
	actionMount                      // an ext4 file system: check and mount it
	actionFormat                     // a blank disk: format it, then mount it
)

// errRefused marks a selected disk that must not be touched, or an
// ambiguous choice.
var errRefused = errors.New("data volume refused")

// chooseVolume decides which of devs is the data volume. With final false
// more devices may still appear: it returns actionWait rather than format
// a blank disk found by label or UUID, and rather than fail. With final
// true (the wait is over, or the devices have settled) it formats the one
// blank whole disk, if there is exactly one, or returns an error saying
// what it saw.
//
// Rules: a Serial selects the whole disk with that serial; its content
// decides (ext4: mount, blank: format, anything else: errRefused). Else a
// UUID selects the ext4 file system with that UUID, and a label the one
// with that label; two candidates are errRefused (a cloned volume attached
// twice). Only when none matches is a blank whole disk formatted.
func chooseVolume(devs []*blockDev, sel volumeSel, final bool) (*blockDev, volumeAction, error) {
	if sel.serial != "" {
		for _, d := range devs {
			if d.partition || d.serial != sel.serial {
				continue
			}
			switch c := d.content; c.kind {
			case contentExt4:
				if sel.uuid != "" && guestconfig.FormatUUID(c.uuid) != sel.uuid {
					return d, actionWait, fmt.Errorf("%w: %s holds the ext4 file system %s, not %s", errRefused, d, guestconfig.FormatUUID(c.uuid), sel.uuid)
				}
				return d, actionMount, nil
			case contentBlank:
				return d, actionFormat, nil
			default:
				return d, actionWait, fmt.Errorf("%w: %s holds %s, not ext4: not formatting it; wipe it (wipefs -a) if it is really free, or select another volume", errRefused, d, c.what)
			}
		}
		if final {
			return nil, actionWait, fmt.Errorf("%w: no disk with serial %q; block devices: %s", errNoVolume, sel.serial, describe(devs))
		}
		return nil, actionWait, nil
	}
	var match, blank []*blockDev
	for _, d := range devs {
		c := d.content
		switch {
		case c.kind == contentExt4 && sel.uuid != "" && guestconfig.FormatUUID(c.uuid) == sel.uuid,
			c.kind == contentExt4 && sel.uuid == "" && c.label == sel.label:
			match = append(match, d)
		case c.kind == contentBlank && !d.partition:
			blank = append(blank, d)
		}
	}
	switch {
	case len(match) > 1:
		return nil, actionWait, fmt.Errorf("%w: %d ext4 file systems with %s: %s; detach one or select the volume by serial",
			errRefused, len(match), sel, describe(match))
	case len(match) == 1:
		return match[0], actionMount, nil
	case !final:
		return nil, actionWait, nil
	case len(blank) == 1:
		return blank[0], actionFormat, nil
	case len(blank) > 1:
		return nil, actionWait, fmt.Errorf("%w: no ext4 file system with %s, and %d blank disks (%s): not guessing which to format; select the volume by serial",
			errRefused, sel, len(blank), describe(blank))
	}
	return nil, actionWait, fmt.Errorf("%w: no ext4 file system with %s and no blank disk; block devices: %s", errNoVolume, sel, describe(devs))
}

// describe lists devices with their content for an error message.
func describe(devs []*blockDev) string {
	if len(devs) == 0 {
		return "none"
	}
	var parts []string
	for _, d := range devs {
		what := d.content.what
		switch d.content.kind {
		case contentBlank:
			what = "blank"
		case contentExt4:
			what = fmt.Sprintf("ext4 label %q UUID %s", d.content.label, guestconfig.FormatUUID(d.content.uuid))
		}
		parts = append(parts, fmt.Sprintf("%s: %s", d, what))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// fsckVerdict is what an e2fsck -p exit status means for the mount.
type fsckVerdict int

const (
	fsckClean  fsckVerdict = iota // 0: mount
	fsckFixed                     // 1, 2: errors corrected, mount
	fsckRefuse                    // 4 and up: do not mount
	fsckNotRun                    // e2fsck did not run
)

// fsckResult reads e2fsck's exit status (e2fsck(8): a bit mask). 1 and 2
// (errors corrected; 2 asks for a reboot, which matters only for a
// mounted root) are mounted after a log line; 4 (errors left
// uncorrected), 8 (operational error), 16, 32 (cancelled) and 128 are
// refused: mounting a file system that e2fsck could not repair in preen
// mode risks more damage, and a read-only mount would let the app fail
// later in ways that hide the cause. The operator repairs it offline
// (e2fsck -f with the volume attached elsewhere).
func fsckResult(status int) fsckVerdict {
	switch {
	case status < 0:
		return fsckNotRun
	case status == 0:
		return fsckClean
	case status&^3 == 0:
		return fsckFixed
	}
	return fsckRefuse
}

// resizeSlack is how much larger than its file system a disk must be for
// the init to grow the file system: the kernel leaves out a last block
// group too small for its own metadata (up to about 1600 blocks of
// 4 KiB) and image/ext4 up to 564 blocks, so a smaller difference would
// ask for a resize at every boot that changes nothing.
const resizeSlack = 16 << 20

// maxBlocks32 is the most blocks a file system without the 64bit feature
// can have.
const maxBlocks32 = 1<<32 - 1

// resizeTarget decides whether a file system of c.blocks blocks on a disk
// of devSize bytes is grown, and to how many blocks.
func resizeTarget(c content, devSize int64) (uint64, bool) {
	if c.kind != contentExt4 || c.blockSize == 0 || devSize <= 0 {
		return 0, false
	}
	target := uint64(devSize) / uint64(c.blockSize)
	if c.blocks > maxBlocks32 || target > maxBlocks32 {
		// Growing past 2^32 blocks needs the 64bit feature; the kernel
		// refuses it without, so stop at the limit then.
		if !c.is64Bit() {
			target = maxBlocks32
		}
	}
	if target <= c.blocks || (target-c.blocks)*uint64(c.blockSize) < resizeSlack {
		return 0, false
	}
	return target, true
}

// mountArgs returns mount(2)'s flags and data for opts (checked with
// guestconfig.CheckMountOption; empty: noatime), nosuid and nodev
// always included.
func mountArgs(opts []string) (uintptr, string, error) {
	if len(opts) == 0 {
		opts = []string{"noatime"}
	}
	flags := uintptr(msNoSUID | msNoDev)
	var data []string
	for _, o := range opts {
		if err := guestconfig.CheckMountOption(o); err != nil {
			return 0, "", fmt.Errorf("%w: %w", errBadConfig, err)
		}
		if f, ok := mountFlags[o]; ok {
			flags |= f
		} else {
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ","), nil
}

// The mount(2) flags of guestconfig.MountFlagOptions, from
// <linux/mount.h> (the values are the same on every architecture).
const (
	msNoSUID      = 0x2
	msNoDev       = 0x4
	msNoExec      = 0x8
	msSynchronous = 0x10
	msDirSync     = 0x80
	msNoATime     = 0x400
	msNoDirATime  = 0x800
	msRelATime    = 1 << 21
	msStrictATime = 1 << 24
	msLazyTime    = 1 << 25
)

var mountFlags = map[string]uintptr{
	"noatime":     msNoATime,
	"relatime":    msRelATime,
	"strictatime": msStrictATime,
	"nodiratime":  msNoDirATime,
	"lazytime":    msLazyTime,
	"sync":        msSynchronous,
	"dirsync":     msDirSync,
	"noexec":      msNoExec,
}
