package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/bootapp/bootapp/image/ext4"
	"github.com/bootapp/bootapp/internal/guestconfig"
	"golang.org/x/sys/unix"
)

// devicePoll is how often /sys/class/block is scanned while waiting.
const devicePoll = 10 * time.Millisecond

// blankSettle is how long a blank disk must have been seen, with no new
// device appearing, before it is formatted as the data volume found by
// label or UUID: a volume that has the label may be attached a moment
// later. With a serial there is no doubt and no wait.
const blankSettle = 2 * time.Second

// e2fsckPath is where an image carries e2fsck (statically linked, from
// Debian's e2fsck-static): root-owned, on the read-only root.
const e2fsckPath = "/sbin/e2fsck"

// ext4ResizeFS is EXT4_IOC_RESIZE_FS, _IOW('f', 16, __u64): grow a
// mounted ext4 file system to the given number of blocks.
const ext4ResizeFS = 0x40086610

// blockEnv is where the init finds block devices: /sys/class/block and
// /dev, other directories in tests.
type blockEnv struct {
	sysDir, devDir string
}

var realBlockEnv = blockEnv{sysDir: "/sys/class/block", devDir: "/dev"}

// setupData finds, formats when blank, checks, mounts and grows the data
// volume, and gives its root to the app's user. Without a volume it mounts
// a tmpfs there instead, unless the volume is required, which is a fatal
// error.
func (in *initProc) setupData(ctx context.Context) error {
	mp := in.cfg.mountPoint
	if err := os.MkdirAll(mp, 0o755); err != nil {
		return fmt.Errorf("create data mount point %s: %w", mp, err)
	}
	if in.cfg.dataLabel == "" {
		in.log.Printf("data: no volume configured; %s is a tmpfs (lost at power-off)", mp)
		return in.mountDataTmpfs()
	}
	start := time.Now()
	dev, err := in.prepareVolume(ctx)
	if err == nil {
		err = in.mountVolume(dev)
	}
	if err != nil {
		if in.cfg.dataNeeded {
			return err
		}
		in.log.Printf("data: WARNING: %v", err)
		in.log.Printf("data: WARNING: the volume is optional: %s is a tmpfs, and everything written there is LOST at power-off", mp)
		return in.mountDataTmpfs()
	}
	in.dataMounted = true
	in.log.Printf("data: mounted %s (label %q) on %s in %s", dev.path, dev.content.label, mp, time.Since(start).Round(time.Millisecond))
	in.growVolume(dev)
	var st syscall.Stat_t
	if err := syscall.Stat(mp, &st); err != nil {
		return fmt.Errorf("stat %s: %w", mp, err)
	}
	if int(st.Uid) != in.cfg.uid || int(st.Gid) != in.cfg.gid {
		if err := os.Lchown(mp, in.cfg.uid, in.cfg.gid); err != nil {
			return fmt.Errorf("chown %s to %d:%d: %w", mp, in.cfg.uid, in.cfg.gid, err)
		}
		in.log.Printf("data: %s now owned by %d:%d", mp, in.cfg.uid, in.cfg.gid)
	}
	return nil
}

// mountedDev is the data volume's device, ready to mount.
type mountedDev struct {
	*blockDev
	path string
}

// prepareVolume finds the volume, formats it when blank and checks it.
func (in *initProc) prepareVolume(ctx context.Context) (*mountedDev, error) {
	sel := in.cfg.dataSel
	d, action, err := findVolume(ctx, realBlockEnv, sel, in.cfg.dataWait)
	if err != nil {
		return nil, err
	}
	dev := &mountedDev{blockDev: d, path: filepath.Join(realBlockEnv.devDir, d.name)}
	if action == actionFormat {
		if d.size < ext4.MinSize {
			return nil, fmt.Errorf("%w: %s is blank but only %d KiB: too small for ext4 (at least %d KiB)", errRefused, d, d.size>>10, ext4.MinSize>>10)
		}
		in.log.Printf("data: %s is blank (zeros in its first and last MiB): formatting it ext4, label %q", d, sel.label)
		info, err := formatBlank(ctx, realBlockEnv, d, sel)
		if err != nil {
			return nil, err
		}
		in.log.Printf("data: formatted %s: %d blocks of %d bytes, UUID %s, %d KiB written",
			dev.path, info.Blocks, ext4.BlockSize, guestconfig.FormatUUID(info.UUID), info.Written>>10)
		return dev, nil // new: nothing to check
	}
	in.log.Printf("data: %s holds ext4 label %q UUID %s (%s)", d, d.content.label, guestconfig.FormatUUID(d.content.uuid), sel)
	return dev, in.checkVolume(ctx, dev)
}

// checkVolume runs e2fsck -p on the volume when the image carries it.
func (in *initProc) checkVolume(ctx context.Context, dev *mountedDev) error {
	if _, err := os.Stat(e2fsckPath); err != nil {
		in.log.Printf("data: no %s in the image: %s not checked (the kernel replays its journal at mount)", e2fsckPath, dev.path)
		return nil
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, e2fsckPath, "-p", dev.path)
	out, err := cmd.CombinedOutput()
	status := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			status = -1
		} else {
			status = ee.ExitCode()
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		in.log.Printf("data: e2fsck: %s", sc.Text())
	}
	switch fsckResult(status) {
	case fsckClean:
		in.log.Printf("data: e2fsck -p %s: clean (%s)", dev.path, time.Since(start).Round(time.Millisecond))
	case fsckFixed:
		in.log.Printf("data: e2fsck -p %s: errors corrected (exit status %d)", dev.path, status)
	case fsckNotRun:
		return fmt.Errorf("run %s -p %s: %w", e2fsckPath, dev.path, err)
	default:
		return fmt.Errorf("%w: e2fsck -p %s: exit status %d (errors left uncorrected): not mounting it; repair it offline with e2fsck -f", errRefused, dev.path, status)
	}
	return nil
}

// mountVolume mounts dev at the mount point with the configured options.
func (in *initProc) mountVolume(dev *mountedDev) error {
	mp := in.cfg.mountPoint
	if err := unix.Mount(dev.path, mp, "ext4", in.cfg.mountFlags, in.cfg.mountData); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w; check the volume with e2fsck", dev.path, in.cfg.dataSel, mp, err)
	}
	return nil
}

// growVolume grows the mounted file system online when its disk has grown
// (EXT4_IOC_RESIZE_FS: the kernel adds block groups, using the reserved
// descriptor blocks of the resize inode, then meta_bg). A failure is
// logged: the volume stays usable at its old size.
func (in *initProc) growVolume(dev *mountedDev) {
	target, ok := resizeTarget(dev.content, dev.size)
	if !ok {
		return
	}
	mp := in.cfg.mountPoint
	start := time.Now()
	f, err := os.Open(mp)
	if err == nil {
		n := target
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), ext4ResizeFS, uintptr(unsafe.Pointer(&n)))
		if errno != 0 {
			err = errno
		}
		f.Close()
	}
	if err != nil {
		in.log.Printf("data: WARNING: grow %s from %d to %d blocks: %v; it keeps its old size", dev.path, dev.content.blocks, target, err)
		return
	}
	var st unix.Statfs_t
	unix.Statfs(mp, &st)
	in.log.Printf("data: grew %s online from %d to %d blocks of %d bytes (the disk grew to %d MiB) in %s; %s now has %d MiB",
		dev.path, dev.content.blocks, target, dev.content.blockSize, dev.size>>20, time.Since(start).Round(time.Millisecond),
		mp, st.Blocks*uint64(st.Bsize)>>20)
}

// mountDataTmpfs mounts a tmpfs owned by the app's user at the mount point.
func (in *initProc) mountDataTmpfs() error {
	opts := fmt.Sprintf("mode=0755,uid=%d,gid=%d", in.cfg.uid, in.cfg.gid)
	if err := unix.Mount("tmpfs", in.cfg.mountPoint, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", in.cfg.mountPoint, err)
	}
	return nil
}

// findVolume polls the block devices until chooseVolume picks one, and
// returns it with what to do. It gives up after wait with the error of a
// final choice.
func findVolume(ctx context.Context, env blockEnv, sel volumeSel, wait time.Duration) (*blockDev, volumeAction, error) {
	deadline := time.Now().Add(wait)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	seen := map[string]*blockDev{} // devices already read; their content does not change
	var devs []*blockDev
	lastNew := time.Now()
	t := time.NewTicker(devicePoll)
	defer t.Stop()
	for {
		for _, d := range scanDevices(env, seen) {
			devs = append(devs, d)
			lastNew = time.Now()
		}
		final := ctx.Err() != nil || time.Since(lastNew) >= blankSettle && hasBlank(devs)
		d, action, err := chooseVolume(devs, sel, final)
		if err != nil || action != actionWait {
			return d, action, err
		}
		if final {
			return nil, actionWait, fmt.Errorf("%w after %s", errNoVolume, wait) // not reached: a final choice decides
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

func hasBlank(devs []*blockDev) bool {
	for _, d := range devs {
		if d.content.kind == contentBlank && !d.partition {
			return true
		}
	}
	return false
}

// scanDevices returns the block devices not in seen that can be read now,
// and adds them to seen.
func scanDevices(env blockEnv, seen map[string]*blockDev) []*blockDev {
	var out []*blockDev
	ents, _ := os.ReadDir(env.sysDir)
	for _, e := range ents {
		name := e.Name()
		if seen[name] != nil || strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		sys := filepath.Join(env.sysDir, name)
		sectors, err := readSysInt(filepath.Join(sys, "size"))
		if err != nil || sectors <= 0 {
			continue // not ready, or no medium
		}
		d := &blockDev{name: name, size: sectors * 512, serial: deviceSerial(sys)}
		_, err = os.Stat(filepath.Join(sys, "partition"))
		d.partition = err == nil
		f, err := os.Open(filepath.Join(env.devDir, name))
		if err != nil {
			continue // the node may not exist yet: try again
		}
		d.content, err = probe(f, d.size)
		f.Close()
		if err != nil {
			continue
		}
		seen[name] = d
		out = append(out, d)
	}
	return out
}

// deviceSerial returns a block device's serial from sysfs, normalised:
// virtio-blk's serial attribute, an NVMe controller's (the namespace's
// device), or a SCSI disk's unit serial number (VPD page 0x80).
func deviceSerial(sys string) string {
	for _, p := range []string{"serial", "device/serial"} {
		if b, err := os.ReadFile(filepath.Join(sys, p)); err == nil {
			if s := normSerial(string(b)); s != "" {
				return s
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(sys, "device/vpd_pg80")); err == nil && len(b) > 4 {
		return normSerial(string(bytes.TrimRight(b[4:], "\x00")))
	}
	return ""
}

func readSysInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// formatBlank formats the blank disk d with image/ext4, after checking
// again, on the device opened exclusively, that it is blank. The file
// system spans the disk (at most ext4.MaxSize); d.content becomes its
// superblock's.
func formatBlank(ctx context.Context, env blockEnv, d *blockDev, sel volumeSel) (*ext4.Info, error) {
	path := filepath.Join(env.devDir, d.name)
	size := d.size
	if size < ext4.MinSize {
		return nil, fmt.Errorf("%w: %s is blank but only %d KiB: too small for ext4 (at least %d KiB)", errRefused, d, size>>10, ext4.MinSize>>10)
	}
	size = min(size, ext4.MaxSize)
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_EXCL, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s to format it: %w", path, err)
	}
	defer f.Close()
	if c, err := probe(f, d.size); err != nil || c.kind != contentBlank {
		return nil, fmt.Errorf("%w: %s is no longer blank (%s, %v): not formatting it", errRefused, path, c.what, err)
	}
	p := ext4.Params{Size: size, Label: sel.label}
	if sel.uuid != "" {
		p.UUID, _ = guestconfig.ParseUUID(sel.uuid) // checked by newSettings
	}
	info, err := ext4.Format(ctx, f, p)
	if err != nil {
		return nil, fmt.Errorf("format %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("format %s: sync: %w", path, err)
	}
	if d.content, err = probe(f, d.size); err != nil || d.content.kind != contentExt4 {
		return nil, fmt.Errorf("format %s: the new file system does not read back (%s, %v)", path, d.content.what, err)
	}
	return info, nil
}
