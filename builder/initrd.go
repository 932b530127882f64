package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/elfstrip"
	"github.com/bootapp/bootapp/internal/guestconfig"
	"github.com/bootapp/bootapp/internal/initbin"
	"github.com/bootapp/bootapp/kernel"
)

// initramfsName is the staged initramfs in the output transaction: an
// intermediate, never published (output names start with a letter or digit).
const initramfsName = ".initramfs"

// stagedInitramfs is the initramfs: its segments (the cached base, the
// cached libraries, the app's written into a staged file) read as one.
type stagedInitramfs struct {
	parts  []initrdPart
	closes []io.Closer
	size   int64
	// What the manifest records of it, taken as it was written.
	modPaths []string    // the modules' guest paths, in load order
	config   []byte      // /etc/bootapp/init.json
	app      []GuestFile // the entries below /app, in archive order
	fsckDeb  string      // the e2fsck-static package of /sbin/e2fsck; "" for none
	rootfs   int64       // the root file system's size in RAM, unpacked
}

// initrdPart is one segment of the initramfs at its offset.
type initrdPart struct {
	r        io.ReaderAt
	off, len int64
}

// add appends a segment of size bytes read from r; c, if not nil, is
// closed with the initramfs.
func (st *stagedInitramfs) add(r io.ReaderAt, size int64, c io.Closer) {
	st.parts = append(st.parts, initrdPart{r: r, off: st.size, len: size})
	st.size += size
	if c != nil {
		st.closes = append(st.closes, c)
	}
}

// ReadAt reads the concatenated segments.
func (st *stagedInitramfs) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for _, pt := range st.parts {
		if len(p) == 0 {
			break
		}
		if off >= pt.off+pt.len || off+int64(len(p)) <= pt.off {
			continue
		}
		rel := off - pt.off
		want := min(int64(len(p)), pt.len-rel)
		m, err := pt.r.ReadAt(p[:want], rel)
		n += m
		if int64(m) < want {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		p, off = p[want:], off+want
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// Close closes the segments' files.
func (st *stagedInitramfs) Close() error {
	var errs []error
	for _, c := range st.closes {
		errs = append(errs, c.Close())
	}
	st.closes = nil
	return errors.Join(errs...)
}

// entryOverhead is what an entry costs in the guest's RAM beside its
// data: an inode and a directory entry, rounded up.
const entryOverhead = 512

// baseBytes is the unpacked size of the base segment's files (e2fsck's
// 2 MB is left to the margin).
func baseBytes(initBin []byte, mods []kernel.Module, drivers []byte) int64 {
	n := int64(len(initBin)+len(drivers)) + 2<<20
	for _, m := range mods {
		if fi, err := os.Stat(m.File); err == nil {
			n += fi.Size() + entryOverhead
		}
	}
	return n
}

// assembleInitramfs writes the initramfs into a new file at path and
// returns it: the cached base segment (guest init and modules) followed by
// the app segment (guest configuration and the app). The app is streamed
// from its files, so memory use does not grow with its size. On error the
// file is closed; the caller removes it. logf receives progress lines.
func assembleInitramfs(ctx context.Context, s *Spec, k *kernel.Kernel, mods []kernel.Module, app *appLayout, path string, logf func(string, ...any)) (_ *stagedInitramfs, err error) {
	initBin, err := initbin.Init("amd64")
	if err != nil {
		return nil, err
	}
	modPaths := make([]string, len(mods))
	for i, m := range mods {
		modPaths[i] = "/lib/modules/" + k.Release + "/" + m.Path
	}
	comp, err := initramfs.ParseCompression(s.Compression)
	if err != nil {
		return nil, specErr("compression", "%v", err)
	}
	drivers, ds, err := driverTable(s, k, mods)
	if err != nil {
		return nil, err
	}
	logf("drivers: platform %s, %d modules, %.1f MiB: %d loaded at every boot, %d only for matching hardware",
		s.Platform, len(mods), float64(ds.Bytes)/(1<<20), len(ds.Always), len(ds.Drivers))
	fsckDeb := findFsck(s.CacheDir, logf)
	base, err := baseSegment(ctx, filepath.Join(s.CacheDir, cache.Initramfs), comp, initBin, mods, modPaths, drivers, fsckDeb)
	if err != nil {
		return nil, err
	}
	cfgJSON, err := guestconfig.Marshal(guestConfig(s, app, modPaths))
	if err != nil {
		return nil, err
	}

	baseDirs := append([]string{appInstallDir, guestDir(guestconfig.Path), guestDir(guestconfig.DriversPath)}, modPaths...)
	if app.runtime != nil {
		for g := range app.runtime.mounts {
			baseDirs = append(baseDirs, g)
		}
	}
	st := &stagedInitramfs{modPaths: modPaths, config: cfgJSON, fsckDeb: fsckDeb}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	st.add(bytes.NewReader(base), int64(len(base)), nil)
	// The runtime and the libraries: a segment of their own, cached by
	// what it holds, so that a rebuild copies none of it.
	libs, err := librarySegment(ctx, s, comp, app, baseDirs, path+".libraries", logf)
	if err != nil {
		return nil, err
	}
	if libs != nil {
		st.add(libs.f, libs.size, libs.f)
	}

	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create initramfs: %w", err)
	}
	// Every entry after the guest configuration is the app's: /app, and
	// the system files it needs.
	recording := false
	var appBytes int64 // the size of the app segment's files unpacked
	record := func(e initramfs.Entry) {
		appBytes += e.Size + entryOverhead
		if recording {
			st.app = append(st.app, guestEntry(e))
		}
	}
	w, err := initramfs.NewWriterOptions(f, initramfs.Options{Compression: comp, Record: record})
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := w.WriteFile(guestconfig.Path, 0o644, cfgJSON); err != nil {
		f.Close()
		return nil, err
	}
	recording = true
	hostSum, err := writeApp(ctx, w, s.App, app, logf)
	if err != nil {
		f.Close()
		return nil, err
	}
	iw := newImageWriter(w, baseDirs)
	if err := writeSystem(iw, app.system); err != nil {
		f.Close()
		return nil, err
	}
	if err := writeJavaTrust(iw, app, s.SourceDateEpoch); err != nil {
		f.Close()
		return nil, err
	}
	if err := w.Close(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write initramfs %s: %w", path, err)
	}
	st.add(f, w.Written(), f)
	if libs != nil {
		st.app = append(st.app, libs.entries...)
		appBytes += libs.bytes
	}
	for i := range st.app {
		if !app.isDir && st.app[i].Path == app.guestPath {
			st.app[i].HostSHA256 = hostSum
		}
	}
	st.rootfs = baseBytes(initBin, mods, drivers) + appBytes
	return st, nil
}

// guestConfig is what the guest init reads from /etc/bootapp/init.json.
func guestConfig(s *Spec, app *appLayout, modPaths []string) *guestconfig.Config {
	exec, execArgs := app.exec()
	cfg := &guestconfig.Config{
		Version:  guestconfig.Version,
		Hostname: s.Name,
		Modules:  modPaths,
		App: guestconfig.App{
			Path: exec,
			Args: append(append([]string(nil), execArgs...), s.App.Args...),
			Env:  s.App.Env,
			Dir:  s.App.WorkDir,
			UID:  defaultAppUID,
			GID:  defaultAppUID,
		},
		Data: guestconfig.Data{
			Label:        s.DataVolume.Label,
			UUID:         s.DataVolume.UUID,
			Serial:       s.DataVolume.Serial,
			MountOptions: s.DataVolume.MountOptions,
			MountPoint:   s.DataVolume.MountPoint,
			Required:     !s.DataVolume.Optional,
			WaitSeconds:  dataVolumeWaitSeconds,
		},
		Network:            guestconfig.Network{DHCP: true, DHCPTimeoutSeconds: dhcpTimeoutSeconds},
		StopTimeoutSeconds: int((s.App.StopTimeout + time.Second - 1) / time.Second),
		Restart:            s.App.Restart,
		Security: guestconfig.Security{
			AllowModuleLoading:    s.AllowModuleLoading,
			UnprivilegedPortStart: lowPortStart(s.App.Ports),
		},
	}
	if s.DataVolume.Disabled && s.DataVolume.UUID == "" && s.DataVolume.Serial == "" {
		cfg.Data.Label = "" // no volume at all: a tmpfs
	}
	cfg.RestartLimit = s.App.RestartLimit
	cfg.RestartWindowSeconds = int((s.App.RestartWindow + time.Second - 1) / time.Second)
	cfg.Network.NTP = s.Network.NTP
	if s.Network.Static != "" {
		cfg.Network.Static, _ = ParseStatic(s.Network.Static) // checked by WithDefaults
	}
	return cfg
}

// ParseStatic parses a static address, Network.Static:
// "ADDRESS/PREFIX[,GATEWAY[,DNS...]]" with IPv4 addresses.
func ParseStatic(s string) (*guestconfig.Static, error) {
	f := strings.Split(s, ",")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	p, err := netip.ParsePrefix(f[0])
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("%q: want IPV4ADDRESS/PREFIX[,GATEWAY[,DNS...]], e.g. 10.0.0.5/24,10.0.0.1,10.0.0.2", s)
	}
	st := &guestconfig.Static{Address: p.String()}
	if len(f) > 1 && f[1] != "" {
		gw, err := netip.ParseAddr(f[1])
		if err != nil || !gw.Is4() {
			return nil, fmt.Errorf("gateway %q is not an IPv4 address", f[1])
		}
		if !p.Masked().Contains(gw) && p.Bits() != 32 {
			return nil, fmt.Errorf("gateway %s is outside %s", gw, p.Masked())
		}
		st.Gateway = gw.String()
	}
	for _, d := range f[min(len(f), 2):] {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, fmt.Errorf("DNS server %q is not an IP address", d)
		}
		st.DNS = append(st.DNS, a.String())
	}
	return st, nil
}

// lowPortStart returns the lowest of ports when it is below 1024 (the app
// runs unprivileged and could not bind it otherwise), else 0.
func lowPortStart(ports []int) int {
	low := 0
	for _, p := range ports {
		if p < 1024 && (low == 0 || p < low) {
			low = p
		}
	}
	return low
}

// writeApp copies the app into the initramfs, stripping DWARF debug
// information from the entrypoint unless asked to keep it: panics keep their
// file:line traces (Go keeps them in .gopclntab), and the image shrinks by a
// third for a typical Go binary.
//
// For a single executable it returns the SHA-256 of the host file, which
// differs from the image's copy when debug information was stripped.
func writeApp(ctx context.Context, w *initramfs.Writer, a App, app *appLayout, logf func(string, ...any)) (hostSHA256 string, err error) {
	if app.isDir {
		// Root owns every file in the image, so a setuid or setgid bit
		// would hand root to the app: AddTree drops them, and says so.
		opts := initramfs.TreeOptions{Stripped: func(name string, mode fs.FileMode) {
			logf("app %s: setuid/setgid bits dropped (%v): root owns every file in the image", name, mode)
		}}
		if err := initramfs.AddTreeOptions(ctx, w, appInstallDir, app.src, opts); err != nil {
			return "", fieldErr(err, "app.path", "copy app directory %s: %v", app.src, err)
		}
		return "", nil
	}
	f, err := os.Open(app.entry)
	if err != nil {
		return "", fieldErr(err, "app.path", "read app %s: %v", app.entry, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fieldErr(err, "app.path", "read app %s: %v", app.entry, err)
	}
	// The host file's digest, for the manifest: one streaming read,
	// which also brings the file into the page cache for the copy.
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fieldErr(err, "app.path", "read app %s: %v", app.entry, err)
	}
	hostSum := hex.EncodeToString(h.Sum(nil))
	size, r := fi.Size(), io.Reader(io.NewSectionReader(f, 0, fi.Size()))
	if app.runtime != nil {
		// A jar or a script: data the runtime reads, not a program.
		return hostSum, w.CopyFile(app.guestPath, 0o644, size, r)
	}
	if !a.KeepDebug {
		if stripped, ok, err := elfstrip.Strip(f, size); err != nil {
			return "", fieldErr(err, "app.keep_debug", "strip debug information from %s: %v (keep the debug information to copy it unchanged)", app.entry, err)
		} else if ok {
			logf("app %s: stripped debug information, %.1f -> %.1f MiB", app.entry, float64(size)/(1<<20), float64(stripped.Size())/(1<<20))
			size, r = stripped.Size(), stripped.NewReader()
		}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return hostSum, w.CopyFile(app.guestPath, 0o755, size, r)
}

// driverTable returns the guest's driver table for mods (encoded for
// guestconfig.DriversPath) and the driver set it comes from: the modules
// the init loads only for matching hardware, with their aliases, read
// here from the modules' .modinfo so that the guest parses no ELF file.
func driverTable(s *Spec, k *kernel.Kernel, mods []kernel.Module) ([]byte, *kernel.DriverSet, error) {
	ds, err := k.DriverSetOf(mods)
	if err != nil {
		return nil, nil, fmt.Errorf("driver table of kernel %s: %w", k.Release, err)
	}
	t := &guestconfig.DriverTable{Version: guestconfig.Version, Platform: s.Platform, Drivers: []guestconfig.Driver{}}
	for _, d := range ds.Drivers {
		t.Drivers = append(t.Drivers, guestconfig.Driver{
			Name:    d.Name,
			Path:    "/lib/modules/" + k.Release + "/" + d.Path,
			Aliases: d.Aliases,
			Needs:   d.Needs,
			Then:    d.Then,
		})
	}
	b, err := guestconfig.MarshalDrivers(t)
	return b, ds, err
}

// baseSegment returns the compressed cpio segment holding the init, the
// modules and their driver table, and e2fsck from the e2fsck-static
// package fsckDeb when it is set. It depends only on those inputs, so it is
// cached in cacheDir by their hash.
func baseSegment(ctx context.Context, cacheDir string, comp initramfs.Compression, initBin []byte, mods []kernel.Module, modPaths []string, drivers []byte, fsckDeb string) ([]byte, error) {
	h := sha256.New()
	fmt.Fprintf(h, "bootapp base segment v3 %s\n", comp)
	h.Write(initBin)
	fmt.Fprintf(h, "%d\n", len(drivers))
	h.Write(drivers)
	for i, m := range mods {
		fmt.Fprintf(h, "%s %s\n", modPaths[i], m.File)
		if fi, err := os.Stat(m.File); err == nil {
			fmt.Fprintf(h, "%d %d\n", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	fmt.Fprintf(h, "e2fsck %s\n", fsckDeb)
	if fi, err := os.Stat(fsckDeb); err == nil {
		fmt.Fprintf(h, "%d %d\n", fi.Size(), fi.ModTime().UnixNano())
	}
	key := hex.EncodeToString(h.Sum(nil))[:32]
	cached := filepath.Join(cacheDir, key+".cpio"+comp.Ext())
	if data, err := os.ReadFile(cached); err == nil {
		return data, nil
	}

	var buf bytes.Buffer
	w, err := initramfs.NewWriterOptions(&buf, initramfs.Options{Compression: comp})
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"/dev", "/proc", "/sys", "/run", "/data", "/etc", "/root"} {
		if err := w.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := w.Mkdir("/tmp", 0o777|fs.ModeSticky); err != nil {
		return nil, err
	}
	if err := w.WriteFile("/init", 0o755, initBin); err != nil {
		return nil, err
	}
	for i, m := range mods {
		data, err := os.ReadFile(m.File)
		if err != nil {
			return nil, fmt.Errorf("read module %s: %w", m.File, err)
		}
		if err := w.WriteFile(modPaths[i], 0o644, data); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if err := w.WriteFile(guestconfig.DriversPath, 0o644, drivers); err != nil {
		return nil, err
	}
	if fsckDeb != "" {
		if err := writeFsck(ctx, w, fsckDeb); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("write initramfs base segment: %w", err)
	}
	_ = cache.WriteFile(cacheDir, cached, buf.Bytes()) // a failed cache write only costs speed
	return buf.Bytes(), nil
}
