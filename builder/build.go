package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/image/memo"
	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/kernel"
)

// baseCmdline is the kernel command line every image gets. quiet keeps the
// kernel from printing every line to the (slow, emulated) serial port; the
// guest init logs to the console itself. The rest skips work a headless VM
// does not need, measured to save about 0.35 s of kernel boot under QEMU TCG:
// crypto self-tests, PS/2 mouse and multiplexer probing, serial ports beyond
// ttyS0 and the IO-APIC timer check.
const baseCmdline = "console=ttyS0,115200 quiet panic=-1 cryptomgr.notests" +
	" i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd 8250.nr_uarts=1 no_timer_check"

// Build builds the boot disk and the data volume described by spec. It is a
// transaction on the output directory: every output, manifest included, is
// staged and published only when all of them are complete, so on error or
// cancellation the output directory holds exactly what it held before (and
// is removed again if the build created it). Build returns only when every
// goroutine it started has ended.
//
// The compressed grains of streamOptimized VMDK and OVA outputs and the
// compressed chunks of GCE archives are kept in the cache's encoded/
// directory (see package image/memo, at most memoLimit bytes, least
// recently used first out): the next build compresses only what is new
// in its disks, and its outputs are the same bytes as without it.
func Build(ctx context.Context, spec Spec) (*Result, error) {
	return build(ctx, spec, nil)
}

// memoLimit bounds the cache's encoded/ directory: the kernel's grains
// take about 11 MB, a JVM's or Node.js's 20 to 30 MB, each release's app
// a few more.
const memoLimit = 512 << 20

// compresses reports whether one of formats is compressed (and so
// encoded through a memo.Store).
func compresses(formats []image.Format) bool {
	return slices.ContainsFunc(formats, image.Format.Compressed)
}

// encodeFunc encodes the raw image at src into dst in format f:
// image.EncodeWith through the cache's memo.Store, or a stand-in with
// which tests make one output fail.
type encodeFunc func(ctx context.Context, f image.Format, dst, src string) error

func build(ctx context.Context, spec Spec, encode encodeFunc) (*Result, error) {
	start := time.Now()
	s, err := spec.WithDefaults()
	if err != nil {
		return nil, err
	}
	logf := progress(s.Progress)

	// Inputs, and every check that needs no output, come first: nothing
	// in the output directory is touched before they all pass.
	app, err := resolvePayload(ctx, &s)
	if err != nil {
		return nil, err
	}
	if app.tmp != "" {
		defer os.RemoveAll(app.tmp)
	}
	for _, n := range app.notes {
		logf("%s", n)
	}
	debPath, err := resolveKernel(ctx, &s)
	if err != nil {
		return nil, err
	}
	loaderPath, err := resolveBootloader(&s)
	if err != nil {
		return nil, err
	}
	keptData, newData, err := planDataVolume(&s)
	if err != nil {
		return nil, err
	}
	if app.system, err = resolveSystem(ctx, &s); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := kernel.Open(ctx, debPath, kernel.Options{CacheDir: s.CacheDir})
	if err != nil {
		return nil, &FieldError{Field: kernelField(&s), Msg: err.Error(), Err: err}
	}
	logf("kernel %s (%s)", k.Release, debPath)
	mods, err := k.PlatformClosure(kernel.Platform(s.Platform))
	if missing := (*kernel.MissingDriverError)(nil); errors.As(err, &missing) {
		return nil, &FieldError{Field: "platform", Msg: fmt.Sprintf("kernel %s: %v", debPath, err), Err: err}
	}
	if err != nil {
		return nil, &FieldError{Field: kernelField(&s), Msg: fmt.Sprintf("kernel %s: %v", debPath, err), Err: err}
	}
	kimg, err := os.ReadFile(k.ImagePath)
	if err != nil {
		return nil, fmt.Errorf("read kernel image: %w", err)
	}
	loader, err := readLoader(ctx, filepath.Join(s.CacheDir, cache.Loaders), loaderPath)
	if err != nil {
		return nil, err
	}

	out, err := openOutput(s.OutputDir)
	if err != nil {
		return nil, err
	}
	published := false
	defer func() {
		if !published {
			out.abort()
		}
	}()
	// The initramfs is staged as a file, so that no copy of the app is
	// held in memory.
	initrd, err := assembleInitramfs(ctx, &s, k, mods, app, out.path(initramfsName), logf)
	if err != nil {
		return nil, err
	}
	defer initrd.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	memMiB := guestMemoryMiB(initrd.rootfs, app)
	logf("initramfs %.1f MiB (%d modules); root file system %.1f MiB in RAM: the guest needs %d MiB of memory (run and Verify give it that)",
		float64(initrd.size)/(1<<20), len(mods), float64(initrd.rootfs)/(1<<20), memMiB)
	files := &image.BootFiles{
		Loader:       loader,
		Kernel:       kimg,
		InitrdReader: initrd,
		InitrdSize:   initrd.size,
		Cmdline:      strings.TrimSpace(baseCmdline + " " + s.Cmdline),
		Title:        "bootapp: " + s.Name,
	}
	inputs, err := recordInputs(ctx, &s, k, debPath, loaderPath, mods, app, initrd, files.Cmdline)
	if err != nil {
		return nil, err
	}
	if s.BootDisk.Size != 0 {
		if min := image.MinBootDiskSize(files); s.BootDisk.Size < min {
			return nil, fieldErr(image.ErrTooSmall, "boot_disk.size", "%d MiB cannot hold kernel, initramfs and loader: use at least %d MiB",
				s.BootDisk.Size>>20, (min+(1<<20)-1)>>20)
		}
	}

	if encode == nil {
		var m *memo.Store // nil: every grain is compressed
		if compresses(s.BootDisk.Formats) || !s.DataVolume.Disabled && compresses(s.DataVolume.Formats) {
			// Best effort: without the directory, encoding compresses all.
			var merr error
			if m, merr = memo.Open(filepath.Join(s.CacheDir, cache.Encoded)); merr != nil {
				logf("not keeping compressed grains: %v", merr)
			}
		}
		defer func() {
			if m.Written() > 0 {
				m.Prune(memoLimit)
			}
		}()
		encode = func(ctx context.Context, f image.Format, dst, src string) error {
			return image.EncodeWith(ctx, f, dst, src, image.EncodeOptions{Memo: m})
		}
	}
	d := &diskWriter{out: out, encode: encode, logf: logf}
	// The boot disk and the data volume are independent: write them
	// concurrently (two cores is the common case). The first error
	// cancels the other.
	g, gctx := errgroup.WithContext(ctx)
	var bootFiles, dataFiles []File
	g.Go(func() (err error) {
		bootFiles, err = d.write(gctx, RoleBoot, s.Name, s.BootDisk.Formats, func(path string) error {
			return image.WriteBootDisk(gctx, path, files, s.BootDisk.Size)
		})
		return err
	})
	if newData {
		dv := s.DataVolume
		g.Go(func() (err error) {
			dataFiles, err = d.write(gctx, RoleData, dataBase(&s), dv.Formats, func(path string) error {
				return image.WriteDataVolume(gctx, path, dv.Size, dv.Label)
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if !newData {
		dataFiles = keptData
	}

	res := &Result{
		Files:           append(bootFiles, dataFiles...),
		Manifest:        filepath.Join(s.OutputDir, manifestName(s.Name)),
		SBOM:            filepath.Join(s.OutputDir, sbomName(s.Name)),
		KernelRelease:   k.Release,
		Spec:            s,
		SourceDateEpoch: s.SourceDateEpoch,
		Inputs:          inputs.inputs,
		RootFSBytes:     initrd.rootfs,
		MemoryMiB:       memMiB,
		Duration:        time.Since(start),
	}
	bom, err := encodeSBOM(res, inputs)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(out.path(sbomName(s.Name)), bom, 0o644); err != nil {
		return nil, fmt.Errorf("write SBOM: %w", err)
	}
	manifest, err := encodeManifest(res)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(out.path(manifestName(s.Name)), manifest, 0o644); err != nil {
		return nil, fmt.Errorf("write manifest: %w", err)
	}
	var names []string
	for _, f := range res.Files {
		if !f.Reused {
			names = append(names, filepath.Base(f.Path))
		}
	}
	names = append(names, sbomName(s.Name), manifestName(s.Name))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := out.commit(names); err != nil {
		return nil, err
	}
	published = true
	for _, n := range names {
		logf("wrote %s", filepath.Join(s.OutputDir, n))
	}
	logf("done in %v: %s", time.Since(start).Round(time.Millisecond), res.Manifest)
	return res, nil
}

// progress returns a logger that writes lines to w (nil discards them); it
// is safe for concurrent use.
func progress(w io.Writer) func(format string, args ...any) {
	if w == nil {
		return func(string, ...any) {}
	}
	var mu sync.Mutex
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// kernelField names the Spec field the kernel came from.
func kernelField(s *Spec) string {
	if s.Kernel.Deb == "" && s.Kernel.URL != "" {
		return "kernel.url"
	}
	return "kernel.deb"
}

// dataBase is the base name of the data volume's files.
func dataBase(s *Spec) string { return s.Name + "-data" }

// planDataVolume decides, before any output is written, what happens to the
// data volume: an existing one in the output directory is kept (it holds
// the app's state, and deploys replace only the boot disk), otherwise a new
// one is written. A volume that exists in some of the requested formats but
// not all cannot be kept or replaced safely and is an error.
func planDataVolume(s *Spec) (kept []File, create bool, err error) {
	dv := s.DataVolume
	if dv.Disabled {
		return nil, false, nil
	}
	for _, f := range dv.Formats {
		p := filepath.Join(s.OutputDir, outputName(dataBase(s), f, dv.Formats))
		if st, err := os.Stat(p); err == nil {
			// A kept volume holds live state: its checksum would be stale
			// at the next boot, and hashing a large volume costs seconds
			// per GiB, so it is not hashed.
			kept = append(kept, File{Path: p, Role: RoleData, Format: f, Reused: true,
				Size: st.Size(), Allocated: allocated(st)})
		}
	}
	switch {
	case len(kept) == 0:
		return nil, true, nil
	case len(kept) < len(dv.Formats):
		return nil, false, fieldErr(ErrOutputConflict, "data_volume.formats",
			"data volume %s exists but not in every requested format %v: request only the formats it has, or move it away to start with a fresh volume", kept[0].Path, dv.Formats)
	}
	for _, f := range kept {
		if f.Format != image.Raw {
			continue
		}
		label, err := ext4Label(f.Path)
		if err != nil {
			return nil, false, fieldErr(ErrOutputConflict, "data_volume.label",
				"kept data volume %s: %v: move it away to start with a fresh volume", f.Path, err)
		}
		if label != dv.Label {
			return nil, false, fieldErr(ErrOutputConflict, "data_volume.label",
				"the kept data volume %s has the label %q, but the guest would look for %q and not find it: keep the label %q, or move the volume away to start with a fresh one",
				f.Path, label, dv.Label, label)
		}
	}
	return kept, false, nil
}

// ext4Label returns the volume label of the ext4 file system at the start
// of the raw image at path.
func ext4Label(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	// The superblock is at byte 1024: s_magic at offset 0x38,
	// s_volume_name (16 bytes) at 0x78.
	sb := make([]byte, 0x88)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return "", fmt.Errorf("read superblock: %w", err)
	}
	if sb[0x38] != 0x53 || sb[0x39] != 0xef {
		return "", errors.New("no ext4 file system")
	}
	name := sb[0x78:0x88]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return string(name), nil
}

// diskWriter writes disks into an output transaction.
type diskWriter struct {
	out    *output
	encode encodeFunc
	logf   func(string, ...any)
}

// write writes a raw disk with writeRaw into the staging directory, encodes
// it into every format concurrently and hashes and syncs each output. The first
// failure cancels the others, and write returns only when all have ended.
func (d *diskWriter) write(ctx context.Context, role Role, base string, formats []image.Format, writeRaw func(path string) error) ([]File, error) {
	rawName := outputName(base, image.Raw, formats)
	raw := d.out.path(rawName)
	if err := writeRaw(raw); err != nil {
		return nil, fmt.Errorf("write %s disk %s: %w", role, rawName, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	files := make([]File, len(formats))
	g, gctx := errgroup.WithContext(ctx)
	for i, f := range formats {
		name := outputName(base, f, formats)
		files[i] = File{Path: filepath.Join(d.out.dir, name), Role: role, Format: f}
		g.Go(func() error {
			staged := d.out.path(name)
			if f != image.Raw {
				if err := d.encode(gctx, f, staged, raw); err != nil {
					return fmt.Errorf("encode %s as %s: %w", name, f, err)
				}
			}
			// Its writeback to disk runs while it is hashed: the
			// commit's sync then finds little left to write.
			synced := make(chan error, 1)
			go func() { synced <- syncFile(staged) }()
			herr := hashFile(gctx, staged, &files[i])
			if err := errors.Join(herr, <-synced); err != nil {
				return err
			}
			d.logf("staged %s", name)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return files, nil
}

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

// minMemoryMiB is the least guest memory run and Verify give a VM.
const minMemoryMiB = 512

// guestMemoryMiB returns the guest memory an image needs: the root file
// system twice over (the firmware and the kernel hold the initramfs file
// while the kernel unpacks it into RAM, where it stays), what the runtime
// wants, at least minMemoryMiB, rounded up to 256 MiB.
func guestMemoryMiB(rootfs int64, app *appLayout) int {
	want := nativeMemoryMiB
	if app.runtime != nil {
		want = app.runtime.memoryMiB
	}
	mib := int(2*rootfs>>20) + want
	mib = (mib + 255) / 256 * 256
	return max(mib, minMemoryMiB)
}
