package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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

// assembleInitramfs returns the initramfs: the cached base segment (guest
// init and modules) followed by the app segment (guest configuration and
// the app). logf receives progress lines.
func assembleInitramfs(ctx context.Context, s *Spec, k *kernel.Kernel, mods []kernel.Module, app *appLayout, logf func(string, ...any)) ([]byte, error) {
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
	base, err := baseSegment(ctx, filepath.Join(s.CacheDir, cache.Initramfs), comp, initBin, mods, modPaths)
	if err != nil {
		return nil, err
	}
	cfgJSON, err := guestconfig.Marshal(guestConfig(s, app, modPaths))
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	buf.Grow(len(base) + 8<<20)
	buf.Write(base)
	w, err := initramfs.NewWriterOptions(&buf, initramfs.Options{Compression: comp})
	if err != nil {
		return nil, err
	}
	if err := w.WriteFile(guestconfig.Path, 0o644, cfgJSON); err != nil {
		return nil, err
	}
	if err := writeApp(ctx, w, s.App, app, logf); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("write initramfs: %w", err)
	}
	return buf.Bytes(), nil
}

// guestConfig is what the guest init reads from /etc/bootapp/init.json.
func guestConfig(s *Spec, app *appLayout, modPaths []string) *guestconfig.Config {
	cfg := &guestconfig.Config{
		Version:  guestconfig.Version,
		Hostname: s.Name,
		Modules:  modPaths,
		App: guestconfig.App{
			Path: app.guestPath,
			Args: s.App.Args,
			Env:  s.App.Env,
			Dir:  s.App.WorkDir,
			UID:  defaultAppUID,
			GID:  defaultAppUID,
		},
		Data: guestconfig.Data{
			Label:       s.DataVolume.Label,
			MountPoint:  s.DataVolume.MountPoint,
			Required:    !s.DataVolume.Disabled,
			WaitSeconds: dataVolumeWaitSeconds,
		},
		Network:            guestconfig.Network{DHCP: true, DHCPTimeoutSeconds: dhcpTimeoutSeconds},
		StopTimeoutSeconds: int((s.App.StopTimeout + time.Second - 1) / time.Second),
		Restart:            s.App.Restart,
		Security:           guestconfig.Security{UnprivilegedPortStart: lowPortStart(s.App.Ports)},
	}
	if s.DataVolume.Disabled {
		cfg.Data.Label = ""
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
func writeApp(ctx context.Context, w *initramfs.Writer, a App, app *appLayout, logf func(string, ...any)) error {
	if app.isDir {
		// Root owns every file in the image, so a setuid or setgid bit
		// would hand root to the app: AddTree drops them, and says so.
		opts := initramfs.TreeOptions{Stripped: func(name string, mode fs.FileMode) {
			logf("app %s: setuid/setgid bits dropped (%v): root owns every file in the image", name, mode)
		}}
		if err := initramfs.AddTreeOptions(ctx, w, appInstallDir, app.src, opts); err != nil {
			return fieldErr(err, "app.path", "copy app directory %s: %v", app.src, err)
		}
		return nil
	}
	data, err := os.ReadFile(app.entry)
	if err != nil {
		return fieldErr(err, "app.path", "read app %s: %v", app.entry, err)
	}
	if !a.KeepDebug {
		if stripped, ok, err := elfstrip.StripDebug(data); err != nil {
			return fieldErr(err, "app.keep_debug", "strip debug information from %s: %v (keep the debug information to copy it unchanged)", app.entry, err)
		} else if ok {
			logf("app %s: stripped debug information, %.1f -> %.1f MiB", app.entry, float64(len(data))/(1<<20), float64(len(stripped))/(1<<20))
			data = stripped
		}
	}
	return w.WriteFile(app.guestPath, 0o755, data)
}

// baseSegment returns the compressed cpio segment holding the init and the
// modules. It depends only on those inputs, so it is cached in cacheDir by
// their hash.
func baseSegment(ctx context.Context, cacheDir string, comp initramfs.Compression, initBin []byte, mods []kernel.Module, modPaths []string) ([]byte, error) {
	h := sha256.New()
	fmt.Fprintf(h, "bootapp base segment v2 %s\n", comp)
	h.Write(initBin)
	for i, m := range mods {
		fmt.Fprintf(h, "%s %s\n", modPaths[i], m.File)
		if fi, err := os.Stat(m.File); err == nil {
			fmt.Fprintf(h, "%d %d\n", fi.Size(), fi.ModTime().UnixNano())
		}
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
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("write initramfs base segment: %w", err)
	}
	_ = cache.WriteFile(cacheDir, cached, buf.Bytes()) // a failed cache write only costs speed
	return buf.Bytes(), nil
}
