package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/deb"
	"github.com/bootapp/bootapp/internal/elfstrip"
	"github.com/bootapp/bootapp/internal/guestconfig"
	"github.com/bootapp/bootapp/internal/initbin"
	"github.com/bootapp/bootapp/kernel"
)

// loaderPathInDeb is where Debian's systemd-boot-efi package keeps the
// x86_64 boot loader.
const loaderPathInDeb = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// baseCmdline is the kernel command line every image gets. quiet keeps the
// kernel from printing every line to the (slow, emulated) serial port; the
// guest init logs to the console itself. The rest skips work a headless VM
// does not need, measured to save about 0.35 s of kernel boot under QEMU TCG:
// crypto self-tests, PS/2 mouse and multiplexer probing, serial ports beyond
// ttyS0 and the IO-APIC timer check.
const baseCmdline = "console=ttyS0,115200 quiet panic=-1 cryptomgr.notests" +
	" i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd 8250.nr_uarts=1 no_timer_check"

// Build builds the boot disk and the data volume described by spec. On error
// or cancellation it leaves no output behind.
func Build(ctx context.Context, spec Spec) (res *Result, err error) {
	start := time.Now()
	s, err := spec.WithDefaults()
	if err != nil {
		return nil, err
	}
	b := &build{spec: s, log: s.Progress}
	if b.log == nil {
		b.log = io.Discard
	}
	defer func() {
		if err != nil {
			b.cleanup()
		}
	}()
	if err := b.run(ctx); err != nil {
		return nil, err
	}
	b.res.Duration = time.Since(start)
	b.res.Spec = s
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := b.writeManifest(); err != nil {
		return nil, err
	}
	b.logf("done in %v: %s", b.res.Duration.Round(time.Millisecond), b.res.Manifest)
	return b.res, nil
}

type build struct {
	spec Spec
	log  io.Writer

	mu         sync.Mutex
	temps      []string // temporary files to remove on failure (and after success)
	renamed    []string // final files already renamed into place
	createdOut bool     // the output directory was created by this build

	res *Result
}

func (b *build) logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(b.log, format+"\n", args...)
}

// tempFile reserves a temporary name in the output directory for final.
func (b *build) tempFile(final string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("create temporary file for %s: %w", final, err)
	}
	name := f.Name()
	// Images are not secret; CreateTemp's 0600 would surprise hypervisors
	// and upload tools running as other users.
	err = f.Chmod(0o644)
	f.Close()
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("create temporary file for %s: %w", final, err)
	}
	b.mu.Lock()
	b.temps = append(b.temps, name)
	b.mu.Unlock()
	return name, nil
}

func (b *build) cleanup() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.temps {
		os.Remove(t)
	}
	for _, r := range b.renamed {
		os.Remove(r)
	}
	if b.createdOut {
		os.RemoveAll(b.spec.OutputDir)
	}
}

func (b *build) run(ctx context.Context) error {
	s := &b.spec
	app, err := resolveApp(s.App)
	if err != nil {
		return err
	}
	debPath, err := resolveKernel(ctx, s)
	if err != nil {
		return err
	}
	loaderPath, err := resolveBootloader(s)
	if err != nil {
		return err
	}

	if err := ctx.Err(); err != nil {
		return err
	}
	k, err := kernel.Open(ctx, debPath, kernel.Options{CacheDir: s.CacheDir})
	if err != nil {
		return err
	}
	b.logf("kernel %s (%s)", k.Release, debPath)
	mods, err := k.PlatformClosure(kernel.PlatformQEMU)
	if err != nil {
		return fmt.Errorf("kernel %s: %w", debPath, err)
	}
	kimg, err := os.ReadFile(k.ImagePath)
	if err != nil {
		return fmt.Errorf("read kernel image: %w", err)
	}
	loader, err := readLoader(ctx, filepath.Join(s.CacheDir, cacheLoaders), loaderPath)
	if err != nil {
		return err
	}

	initrd, err := b.initramfs(ctx, k, mods, app)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.logf("initramfs %.1f MiB (%d modules)", float64(len(initrd))/(1<<20), len(mods))

	if err := b.prepareOutputDir(); err != nil {
		return err
	}
	b.res = &Result{KernelRelease: k.Release}

	files := &image.BootFiles{
		Loader:  loader,
		Kernel:  kimg,
		Initrd:  initrd,
		Cmdline: strings.TrimSpace(baseCmdline + " " + s.Cmdline),
		Title:   "bootapp: " + s.Name,
	}
	if s.BootDisk.Size != 0 {
		if min := image.MinBootDiskSize(files); s.BootDisk.Size < min {
			return fmt.Errorf("boot_disk.size %d MiB cannot hold kernel, initramfs and loader: %w: use at least %d MiB",
				s.BootDisk.Size>>20, image.ErrTooSmall, (min+(1<<20)-1)>>20)
		}
	}

	// The boot disk and the data volume are independent: write them
	// concurrently (two cores is the common case).
	var wg sync.WaitGroup
	var bootFiles, dataFiles []File
	var bootErr, dataErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		bootFiles, bootErr = b.writeDisk(ctx, RoleBoot, s.Name, s.BootDisk.Formats, func(path string) error {
			return image.WriteBootDisk(ctx, path, files, s.BootDisk.Size)
		})
	}()
	if !s.DataVolume.Disabled {
		dataFiles, dataErr = b.dataVolume(ctx)
	}
	wg.Wait()
	if err := errors.Join(bootErr, dataErr); err != nil {
		return err
	}
	b.res.Files = append(bootFiles, dataFiles...)
	return nil
}

// prepareOutputDir creates the output directory, remembering whether it
// existed so that a failed build can remove what it created.
func (b *build) prepareOutputDir() error {
	dir := b.spec.OutputDir
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("output directory %s exists and is not a directory", dir)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output directory %s: %w", dir, err)
	}
	b.createdOut = true
	return nil
}

// outputName returns the file name for a disk in a format. Both VMDK
// flavours share ".vmdk"; the stream-optimised one is marked when both are
// requested.
func outputName(base string, f image.Format, all []image.Format) string {
	if f == image.VMDKStream {
		for _, o := range all {
			if o == image.VMDKSparse {
				return base + "-stream" + f.Ext()
			}
		}
	}
	return base + f.Ext()
}

// writeDisk writes a raw disk with write, encodes it into every format, and
// renames the results into place.
func (b *build) writeDisk(ctx context.Context, role Role, base string, formats []image.Format, write func(path string) error) ([]File, error) {
	dir := b.spec.OutputDir
	rawFinal := filepath.Join(dir, outputName(base, image.Raw, formats))
	rawTmp, err := b.tempFile(rawFinal)
	if err != nil {
		return nil, err
	}
	if err := write(rawTmp); err != nil {
		return nil, fmt.Errorf("write %s disk %s: %w", role, rawFinal, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return b.encodeAll(ctx, role, base, formats, rawTmp)
}

// encodeAll encodes the raw image at rawTmp into each format, hashes every
// output concurrently and renames them into place.
func (b *build) encodeAll(ctx context.Context, role Role, base string, formats []image.Format, rawTmp string) ([]File, error) {
	dir := b.spec.OutputDir
	out := make([]File, len(formats))
	tmps := make([]string, len(formats))
	errs := make([]error, len(formats))
	var wg sync.WaitGroup
	for i, f := range formats {
		final := filepath.Join(dir, outputName(base, f, formats))
		if f == image.Raw {
			tmps[i] = rawTmp
		} else {
			t, err := b.tempFile(final)
			if err != nil {
				return nil, err
			}
			tmps[i] = t
		}
		out[i] = File{Path: final, Role: role, Format: f}
		wg.Add(1)
		go func(i int, f image.Format) {
			defer wg.Done()
			if f != image.Raw {
				if err := image.Encode(ctx, f, tmps[i], rawTmp); err != nil {
					errs[i] = fmt.Errorf("encode %s as %s: %w", out[i].Path, f, err)
					return
				}
			}
			errs[i] = hashFile(ctx, tmps[i], &out[i])
		}(i, f)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i := range out {
		if err := b.rename(tmps[i], out[i].Path); err != nil {
			return nil, err
		}
	}
	for _, f := range formats {
		if f == image.Raw {
			return out, nil
		}
	}
	os.Remove(rawTmp) // raw was only an intermediate
	return out, nil
}

func (b *build) rename(tmp, final string) error {
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("move %s into place: %w", final, err)
	}
	b.mu.Lock()
	b.renamed = append(b.renamed, final)
	b.mu.Unlock()
	b.logf("wrote %s", final)
	return nil
}

// dataVolume writes the data volume, unless one exists already in the output
// directory: it holds the app's state, and deploys replace only the boot
// disk.
func (b *build) dataVolume(ctx context.Context) ([]File, error) {
	s := &b.spec
	base := s.Name + "-data"
	dv := s.DataVolume
	var existing []File
	for _, f := range dv.Formats {
		p := filepath.Join(s.OutputDir, outputName(base, f, dv.Formats))
		if st, err := os.Stat(p); err == nil {
			// A kept volume holds live state: its checksum would be stale
			// at the next boot, and hashing a large volume costs seconds
			// per GiB, so it is not hashed.
			existing = append(existing, File{Path: p, Role: RoleData, Format: f, Reused: true,
				Size: st.Size(), Allocated: allocated(st)})
		}
	}
	if len(existing) == len(dv.Formats) {
		b.logf("keeping existing data volume %s (remove it to start with a fresh one)", existing[0].Path)
		return existing, nil
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("data volume %s exists but not in every requested format %v: remove it or request only its format", existing[0].Path, dv.Formats)
	}
	return b.writeDisk(ctx, RoleData, base, dv.Formats, func(path string) error {
		return image.WriteDataVolume(ctx, path, dv.Size, dv.Label)
	})
}

// hashFile fills in size, allocated bytes and sha256 of path. Holes of
// sparse files are hashed from a zero buffer instead of being read.
func hashFile(ctx context.Context, path string, f *File) error {
	fd, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	f.Size = st.Size()
	f.Allocated = allocated(st)
	sum, err := sparseSHA256(ctx, fd, st.Size())
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	f.SHA256 = hex.EncodeToString(sum)
	return nil
}

// readLoader returns systemd-bootx64.efi from a systemd-boot-efi .deb or
// from an .efi file. What it extracts from a .deb is kept in cacheDir, keyed
// by the package's path, size and modification time, which saves decoding
// the package on every build.
func readLoader(ctx context.Context, cacheDir, path string) ([]byte, error) {
	if strings.HasSuffix(path, ".deb") {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("boot loader package %s: %w", path, err)
		}
		abs, _ := filepath.Abs(path)
		key := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", abs, fi.Size(), fi.ModTime().UnixNano()))
		cached := filepath.Join(cacheDir, hex.EncodeToString(key[:16])+".efi")
		if b, err := os.ReadFile(cached); err == nil {
			return b, nil
		}
		b, err := deb.ExtractFile(ctx, path, loaderPathInDeb)
		if err != nil {
			return nil, fmt.Errorf("boot loader package %s: %w (expected Debian's systemd-boot-efi)", path, err)
		}
		writeCache(cacheDir, cached, b)
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("boot loader %s: %w", path, err)
	}
	if len(b) < 2 || b[0] != 'M' || b[1] != 'Z' {
		return nil, fmt.Errorf("boot loader %s: not a PE/EFI executable", path)
	}
	return b, nil
}

// initramfs writes the two segments: the cached base (init and modules) and
// the app segment.
func (b *build) initramfs(ctx context.Context, k *kernel.Kernel, mods []kernel.Module, app *appLayout) ([]byte, error) {
	s := &b.spec
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
		return nil, err
	}
	base, err := b.baseSegment(ctx, comp, initBin, mods, modPaths)
	if err != nil {
		return nil, err
	}

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
	}
	if s.DataVolume.Disabled {
		cfg.Data.Label = ""
	}
	cfgJSON, err := guestconfig.Marshal(cfg)
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
	if err := b.writeApp(ctx, w, app); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("write initramfs: %w", err)
	}
	return buf.Bytes(), nil
}

// writeApp copies the app into the initramfs, stripping DWARF debug
// information from the entrypoint unless asked to keep it: panics keep their
// file:line traces (Go keeps them in .gopclntab), and the image shrinks by a
// third for a typical Go binary.
func (b *build) writeApp(ctx context.Context, w *initramfs.Writer, app *appLayout) error {
	s := &b.spec
	if app.isDir {
		if err := initramfs.AddTree(ctx, w, appInstallDir, app.src); err != nil {
			return fmt.Errorf("copy app directory %s: %w", app.src, err)
		}
		return nil
	}
	data, err := os.ReadFile(app.entry)
	if err != nil {
		return fmt.Errorf("read app %s: %w", app.entry, err)
	}
	if !s.App.KeepDebug {
		if stripped, ok, err := elfstrip.StripDebug(data); err != nil {
			return fmt.Errorf("strip debug information from %s: %w (set keep_debug to copy it unchanged)", app.entry, err)
		} else if ok {
			b.logf("app %s: stripped debug information, %.1f -> %.1f MiB", app.entry, float64(len(data))/(1<<20), float64(len(stripped))/(1<<20))
			data = stripped
		}
	}
	return w.WriteFile(app.guestPath, 0o755, data)
}

// baseSegment returns the compressed cpio segment holding the init and the
// modules. It depends only on those inputs, so it is cached by their hash.
func (b *build) baseSegment(ctx context.Context, comp initramfs.Compression, initBin []byte, mods []kernel.Module, modPaths []string) ([]byte, error) {
	h := sha256.New()
	fmt.Fprintf(h, "bootapp base segment v1 %s\n", comp)
	h.Write(initBin)
	for i, m := range mods {
		fmt.Fprintf(h, "%s %s\n", modPaths[i], m.File)
		if fi, err := os.Stat(m.File); err == nil {
			fmt.Fprintf(h, "%d %d\n", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	key := hex.EncodeToString(h.Sum(nil))[:32]
	cacheDir := filepath.Join(b.spec.CacheDir, cacheInitramfs)
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
	writeCache(cacheDir, cached, buf.Bytes())
	return buf.Bytes(), nil
}

// writeCache stores data at path atomically. It is best effort: a read-only
// or full cache only costs speed.
func writeCache(dir, path string, data []byte) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil && cerr == nil {
		os.Rename(f.Name(), path)
	}
	os.Remove(f.Name())
}

// writeManifest writes NAME.manifest.json, the JSON form of the Result.
func (b *build) writeManifest() error {
	p := filepath.Join(b.spec.OutputDir, b.spec.Name+".manifest.json")
	b.res.Manifest = p
	// File paths in the manifest are relative to it, so an output
	// directory can be moved or copied as a whole.
	m := *b.res
	m.Files = append([]File(nil), b.res.Files...)
	for i := range m.Files {
		m.Files[i].Path = filepath.Base(m.Files[i].Path)
	}
	m.Manifest = filepath.Base(p)
	data, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	tmp, err := b.tempFile(p)
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write manifest %s: %w", p, err)
	}
	return b.rename(tmp, p)
}

// ReadManifest reads a manifest written by Build. path may be the manifest
// itself or the output directory holding exactly one manifest.
func ReadManifest(path string) (*Result, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	if fi.IsDir() {
		m, _ := filepath.Glob(filepath.Join(path, "*.manifest.json"))
		switch len(m) {
		case 0:
			return nil, fmt.Errorf("no *.manifest.json in %s: %w: is it a bootapp output directory?", path, fs.ErrNotExist)
		case 1:
			path = m[0]
		default:
			return nil, fmt.Errorf("several manifests in %s: name one of %s", path, strings.Join(m, ", "))
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	r.Manifest = path
	dir := filepath.Dir(path)
	for i := range r.Files {
		if !filepath.IsAbs(r.Files[i].Path) {
			r.Files[i].Path = filepath.Join(dir, r.Files[i].Path)
		}
	}
	return &r, nil
}
