package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errNoVolume says no block device with the data volume's label appeared in
// time.
var errNoVolume = errors.New("data volume not found")

// devicePoll is how often /sys/class/block is scanned while waiting.
const devicePoll = 10 * time.Millisecond

// setupData mounts the data volume at the mount point and gives its root to
// the app's user. Without a volume it mounts a tmpfs there instead, unless
// the volume is required, which is a fatal error.
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
	dev, err := findVolume(ctx, in.cfg.dataLabel, in.cfg.dataWait)
	if err == nil {
		err = unix.Mount(dev, mp, "ext4", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID, "")
		if err != nil {
			err = fmt.Errorf("mount %s (label %q) on %s: %w; check the volume with e2fsck", dev, in.cfg.dataLabel, mp, err)
		}
	}
	if err != nil {
		if in.cfg.dataNeeded {
			return err
		}
		in.log.Printf("data: %v; using a tmpfs at %s instead (lost at power-off)", err, mp)
		return in.mountDataTmpfs()
	}
	in.dataMounted = true
	in.log.Printf("data: mounted %s (label %q) on %s in %s", dev, in.cfg.dataLabel, mp, time.Since(start).Round(time.Millisecond))
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

// mountDataTmpfs mounts a tmpfs owned by the app's user at the mount point.
func (in *initProc) mountDataTmpfs() error {
	opts := fmt.Sprintf("mode=0755,uid=%d,gid=%d", in.cfg.uid, in.cfg.gid)
	if err := unix.Mount("tmpfs", in.cfg.mountPoint, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", in.cfg.mountPoint, err)
	}
	return nil
}

// findVolume polls /sys/class/block until a device holds an ext4 filesystem
// labelled label, and returns its /dev path. It gives up with errNoVolume
// after wait.
func findVolume(ctx context.Context, label string, wait time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	checked := map[string]bool{} // devices already read; their label does not change
	t := time.NewTicker(devicePoll)
	defer t.Stop()
	for {
		ents, _ := os.ReadDir("/sys/class/block")
		for _, e := range ents {
			name := e.Name()
			if checked[name] || strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
				continue
			}
			size, err := os.ReadFile(filepath.Join("/sys/class/block", name, "size"))
			if err != nil || strings.TrimSpace(string(size)) == "0" {
				continue // not ready, or no medium
			}
			got, err := deviceLabel("/dev/" + name)
			if err != nil && !errors.Is(err, errNotExt4) {
				continue // the node may not exist yet: try again
			}
			checked[name] = true
			if err == nil && got == label {
				return "/dev/" + name, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: no ext4 filesystem labelled %q among %d block devices after %s; attach the data disk or make it optional",
				errNoVolume, label, len(checked), wait)
		case <-t.C:
		}
	}
}

// deviceLabel reads the ext4 label of the block device at path.
func deviceLabel(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return ext4Label(f)
}
