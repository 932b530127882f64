package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fwCfgPath is where the qemu_fw_cfg module shows the run-time
// configuration that `mkbootapp run --env/--arg` passes with
// -fw_cfg name=opt/bootapp/config.
const fwCfgPath = "/sys/firmware/qemu_fw_cfg/by_name/opt/bootapp/config/raw"

// dataConfigName is the run-time configuration file on the data volume,
// relative to its mount point.
const dataConfigName = ".bootapp/config"

// cloudNetWait bounds how long the app's start waits for the network on a
// recognised cloud: the user-data belongs to the app's configuration
// there. Elsewhere only the DHCP timeout applies.
const cloudNetWait = 2 * time.Minute

// userDataWait bounds fetching the user-data once the network is up.
const userDataWait = 30 * time.Second

// applyRunConfig reads the run-time configuration sources in order of
// precedence (see config.go) and applies them to the app's environment and
// arguments. A malformed document is a fatal error.
func (in *initProc) applyRunConfig(ctx context.Context) {
	var sources []overrideSource
	add := func(name string, b []byte) {
		o, err := parseOverride(b)
		if err != nil {
			in.fatal(fmt.Errorf("run-time configuration from %s: %w", name, err))
		}
		if o == nil {
			in.log.Printf("config: %s holds nothing for bootapp; ignored", name)
			return
		}
		sources = append(sources, overrideSource{name: name, doc: o})
	}
	if in.dataMounted {
		p := filepath.Join(in.cfg.mountPoint, dataConfigName)
		b, err := readTrusted(p)
		switch {
		case err == nil:
			add(p, b)
		case errors.Is(err, fs.ErrNotExist):
		default:
			in.log.Printf("config: %v; ignored", err)
		}
	}
	if in.cloud != cloudNone {
		if b, err := in.cloudUserData(ctx); err == nil {
			add(string(in.cloud)+" user-data", b)
		} else if !errors.Is(err, errNoUserData) {
			in.log.Printf("config: %s user-data: %v; starting without it", in.cloud, err)
		}
	}
	if b, err := readLimited(fwCfgPath); err == nil {
		add("fw_cfg opt/bootapp/config", b)
	} else if !errors.Is(err, fs.ErrNotExist) {
		in.log.Printf("config: %s: %v; ignored", fwCfgPath, err)
	}
	env, args, logs := applyOverrides(in.cfg.appEnv, in.cfg.appArgs, sources)
	for _, l := range logs {
		in.log.Printf("config: %s", l)
	}
	in.cfg.appEnv, in.cfg.appArgs = env, args
}

// cloudUserData waits for the network (up to cloudNetWait) and fetches the
// instance's user-data.
func (in *initProc) cloudUserData(ctx context.Context) ([]byte, error) {
	select {
	case <-in.net.up:
	case <-time.After(cloudNetWait):
		return nil, fmt.Errorf("no network after %s", cloudNetWait)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, userDataWait)
	defer cancel()
	b, err := newIMDSClient(imdsAddr).fetchUserData(ctx, in.cloud)
	if err == nil {
		in.log.Printf("config: %s user-data: %d bytes in %s", in.cloud, len(b), time.Since(start).Round(time.Millisecond))
	} else if errors.Is(err, errNoUserData) {
		in.log.Printf("config: %s instance has no user-data", in.cloud)
	}
	return b, err
}

// readLimited reads up to maxOverrideBytes+1 bytes of a file, so that an
// oversized document is refused rather than read whole.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxOverrideBytes+1))
}

// readTrusted reads the data volume's configuration file when only root
// can have written it: the file and its directory owned by root and
// writable by no one else, neither a symbolic link. The app owns the
// volume's root directory, so it could replace the directory but not
// make the replacement root's.
func readTrusted(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: dir, Err: err}
	}
	if err := checkRootOwned(dir, st.Uid, statMode(st.Mode)); err != nil {
		return nil, err
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link: %w", path, errNotTrusted)
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s is not a regular file: %w", path, errNotTrusted)
	}
	if err := checkRootOwned(path, st.Uid, statMode(st.Mode)); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, maxOverrideBytes+1))
}

// statMode converts a stat mode to an fs.FileMode (permission bits and
// the symbolic link type).
func statMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&syscall.S_IFMT == syscall.S_IFLNK {
		mode |= fs.ModeSymlink
	}
	return mode
}
