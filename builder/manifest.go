package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/deb"
	"github.com/bootapp/bootapp/internal/guestconfig"
	"github.com/bootapp/bootapp/internal/initbin"
	"github.com/bootapp/bootapp/internal/sbom"
	"github.com/bootapp/bootapp/kernel"
)

// manifestName is the file name of the manifest of a build named name.
func manifestName(name string) string { return name + ".manifest.json" }

// encodeManifest returns the manifest of res: its JSON form, with file paths
// relative to the manifest, so that an output directory can be moved or
// copied as a whole.
func encodeManifest(res *Result) ([]byte, error) {
	m := *res
	m.Files = append([]File(nil), res.Files...)
	for i := range m.Files {
		m.Files[i].Path = filepath.Base(m.Files[i].Path)
	}
	m.Manifest = filepath.Base(res.Manifest)
	if m.SBOM != "" {
		m.SBOM = filepath.Base(m.SBOM)
	}
	data, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(data, '\n'), nil
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
	if r.SBOM != "" && !filepath.IsAbs(r.SBOM) {
		r.SBOM = filepath.Join(dir, r.SBOM)
	}
	for i := range r.Files {
		if !filepath.IsAbs(r.Files[i].Path) {
			r.Files[i].Path = filepath.Join(dir, r.Files[i].Path)
		}
	}
	return &r, nil
}

// blockDigested reports whether the manifest records f's BlockSHA256
// rather than its SHA256: a data volume's raw and VHD files, which are as
// large as the volume (sparse) however little they hold.
func blockDigested(f *File) bool {
	return f.Role == RoleData && (f.Format == image.Raw || f.Format == image.VHD)
}

// hashFile fills in what the manifest records of the file at path: its
// size, the bytes it occupies and its SHA-256 (holes of sparse files are
// hashed from a zero buffer instead of being read), or for a data volume's
// sparse files its BlockSHA256.
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
	if blockDigested(f) {
		sum, err := blockDigest(ctx, fd, st.Size())
		if err != nil {
			return fmt.Errorf("hash %s: %w", path, err)
		}
		f.BlockSHA256 = hex.EncodeToString(sum)
		return nil
	}
	sum, err := sparseSHA256(ctx, fd, st.Size())
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	f.SHA256 = hex.EncodeToString(sum)
	return nil
}

// ErrChecksum is wrapped by Result.Check for a file whose content is not
// what the manifest recorded.
var ErrChecksum = errors.New("checksum mismatch")

// Check verifies every file of r that has a recorded checksum (a reused
// data volume has none: it holds live state) against its content: the
// SHA256 of the whole file, or for a data volume's raw and VHD files the
// BlockSHA256 of its sparse form. It returns an error naming each file
// that is missing or differs (wrapping ErrChecksum for a mismatch).
func (r *Result) Check(ctx context.Context) error {
	var errs []error
	for _, f := range r.Files {
		if f.Reused || (f.SHA256 == "" && f.BlockSHA256 == "") {
			continue
		}
		got := File{Role: f.Role, Format: f.Format}
		if f.BlockSHA256 != "" {
			got.Role, got.Format = RoleData, image.Raw // ask for the block digest
		} else {
			got.Role = RoleBoot
		}
		if err := hashFile(ctx, f.Path, &got); err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case got.Size != f.Size:
			errs = append(errs, fmt.Errorf("%s: %d bytes, the manifest says %d: %w", f.Path, got.Size, f.Size, ErrChecksum))
		case f.BlockSHA256 != "" && got.BlockSHA256 != f.BlockSHA256:
			errs = append(errs, fmt.Errorf("%s: block sha256 %s, the manifest says %s: %w", f.Path, got.BlockSHA256, f.BlockSHA256, ErrChecksum))
		case f.BlockSHA256 == "" && got.SHA256 != f.SHA256:
			errs = append(errs, fmt.Errorf("%s: sha256 %s, the manifest says %s: %w", f.Path, got.SHA256, f.SHA256, ErrChecksum))
		}
	}
	return errors.Join(errs...)
}

// sbomName is the file name of the SBOM of a build named name.
func sbomName(name string) string { return name + ".spdx.json" }

// SourceDateEpochEnv is the environment variable of the reproducible-builds
// convention that the front doors read into Spec.SourceDateEpoch.
const SourceDateEpochEnv = "SOURCE_DATE_EPOCH"

// maxSourceDateEpoch is the last second of the year 9999, the last one
// RFC 3339 (and so the SBOM) can write.
const maxSourceDateEpoch = 253402300799

// SourceDateEpochFromEnv returns the value of $SOURCE_DATE_EPOCH for
// Spec.SourceDateEpoch: 0 when it is unset or empty, an error when it is
// not a whole number of seconds from 0 to the end of the year 9999.
func SourceDateEpochFromEnv() (int64, error) {
	v := strings.TrimSpace(os.Getenv(SourceDateEpochEnv))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > maxSourceDateEpoch {
		return 0, fmt.Errorf("%s=%q: %w: want whole seconds since 1970-01-01 UTC, from 0 to %d", SourceDateEpochEnv, v, ErrInvalidSpec, int64(maxSourceDateEpoch))
	}
	return n, nil
}

// described is what recordInputs learns about the inputs: the manifest's
// Inputs, and the Go build information the SBOM lists modules from.
type described struct {
	inputs *Inputs
	initBI *debug.BuildInfo
	appBI  *debug.BuildInfo // nil when the app is no Go executable
}

// recordInputs describes every input of the boot disk for the manifest and
// the SBOM. It runs before the output directory is touched. The guest
// files are produced the way the initramfs gets them (the same Writer
// calls, the same stripping), so the hashes are those of the bytes in the
// image; the kernel package's hash comes from kernel.Open, which caches it
// by the file's path, size, modification time, inode and change time.
func recordInputs(ctx context.Context, s *Spec, k *kernel.Kernel, debPath, loaderPath string, mods []kernel.Module, app *appLayout, initrd *stagedInitramfs, cmdline string) (*described, error) {
	if s.SourceDateEpoch < 0 || s.SourceDateEpoch > maxSourceDateEpoch {
		return nil, fmt.Errorf("%w: SourceDateEpoch %d is not from 0 to %d", ErrInvalidSpec, s.SourceDateEpoch, int64(maxSourceDateEpoch))
	}
	in := &Inputs{Cmdline: cmdline}
	var err error
	extracted := filepath.Join(s.CacheDir, cache.Extracted)
	if in.Kernel, err = packageInput(ctx, extracted, debPath, k.SHA256); err != nil {
		return nil, err
	}
	if in.Bootloader, err = packageInput(ctx, extracted, loaderPath, ""); err != nil {
		return nil, err
	}
	if initrd.fsckDeb != "" {
		p, err := packageInput(ctx, extracted, initrd.fsckDeb, "")
		if err != nil {
			return nil, err
		}
		in.Fsck = &p
	}
	if app.system != nil {
		for _, deb := range app.system.packages {
			p, err := packageInput(ctx, extracted, deb, "")
			if err != nil {
				return nil, err
			}
			in.System = append(in.System, p)
		}
	}
	initBin, err := initbin.Init("amd64")
	if err != nil {
		return nil, err
	}
	in.Init = guestFile("/init", 0o755, initBin)
	for i, m := range mods {
		data, err := os.ReadFile(m.File)
		if err != nil {
			return nil, fmt.Errorf("hash module %s: %w", m.File, err)
		}
		in.Modules = append(in.Modules, guestFile(initrd.modPaths[i], 0o644, data))
	}
	in.Config = guestFile(guestconfig.Path, 0o644, initrd.config)
	exec, _ := app.exec()
	in.App = AppInput{Path: s.App.Path, Entrypoint: exec, Files: initrd.app}
	if app.runtime != nil {
		in.Runtime = app.runtime.packages
	}
	d := &described{inputs: in}
	if d.initBI, err = buildinfo.Read(bytes.NewReader(initBin)); err != nil {
		return nil, fmt.Errorf("read build information of the guest init: %w", err)
	}
	if bi, err := buildinfo.ReadFile(app.entry); err == nil {
		d.appBI = bi // otherwise the app is not a Go executable
	}
	return d, nil
}

// guestEntry describes an entry the initramfs writer reported.
func guestEntry(e initramfs.Entry) GuestFile {
	g := GuestFile{Path: e.Name, Mode: fmt.Sprintf("%04o", e.Mode.Perm())}
	switch {
	case e.Mode.IsDir():
		g.Type = GuestDir
	case e.Mode&fs.ModeSymlink != 0:
		g.Type, g.Size, g.Target = GuestSymlink, e.Size, e.Linkname
	case e.Linkname != "":
		g.Type, g.Target = GuestHardLink, e.Linkname
	default:
		g.Type, g.Size, g.SHA256 = GuestRegular, e.Size, hex.EncodeToString(e.SHA256[:])
	}
	return g
}

// guestFile describes a regular file of the initramfs.
func guestFile(path string, mode fs.FileMode, data []byte) GuestFile {
	sum := sha256.Sum256(data)
	return GuestFile{Path: path, Type: GuestRegular, Mode: fmt.Sprintf("%04o", mode.Perm()), Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

// packageInput describes the input file at path: its size, its SHA-256
// (sum, when the caller knows it already) and, for a .deb, its control
// fields. The description is kept in cacheDir (see fromPackage), which
// saves hashing the file and decoding its control archive on every build.
func packageInput(ctx context.Context, cacheDir, path, sum string) (InputPackage, error) {
	b, err := fromPackage(cacheDir, path, ".json", func() ([]byte, error) {
		p, err := readPackageInput(ctx, path, sum)
		if err != nil {
			return nil, err
		}
		return json.Marshal(p)
	})
	var p InputPackage
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil || p.SHA256 == "" || sum != "" && p.SHA256 != sum {
		return readPackageInput(ctx, path, sum) // a damaged or stale entry
	}
	p.Path = path
	return p, ctx.Err()
}

// readPackageInput is packageInput without the cache.
func readPackageInput(ctx context.Context, path, sum string) (InputPackage, error) {
	p := InputPackage{Path: path, SHA256: sum}
	f, err := os.Open(path)
	if err != nil {
		return p, fmt.Errorf("hash input %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return p, fmt.Errorf("hash input %s: %w", path, err)
	}
	p.Size = fi.Size()
	if p.SHA256 == "" {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return p, fmt.Errorf("hash input %s: %w", path, err)
		}
		p.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	if !strings.HasSuffix(path, ".deb") {
		return p, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return p, fmt.Errorf("read package %s: %w", path, err)
	}
	rd, err := deb.NewReader(f)
	if err != nil {
		return p, fmt.Errorf("read package %s: %w", path, err)
	}
	defer rd.Close()
	c, err := rd.Control()
	if err != nil {
		return p, fmt.Errorf("read package %s: %w", path, err)
	}
	p.Name, p.Version, p.Arch = c.Package, c.Version, c.Fields["Architecture"]
	return p, ctx.Err()
}

// encodeSBOM returns the SPDX document of res (see package internal/sbom):
// the boot disk, containing the kernel and boot loader packages, the
// runtime packages, the guest init and the app, each executable containing
// the Go modules of its build information. It holds no host paths, so
// that builds into different directories give the same bytes.
func encodeSBOM(res *Result, d *described) ([]byte, error) {
	in := d.inputs
	root := sbom.Component{Name: res.Spec.Name, Purpose: sbom.PurposeContainer,
		Comment: "bootable VM image built by bootapp; the checksum is the boot disk's"}
	for _, f := range res.Files {
		if f.Role == RoleBoot && (root.SHA256 == "" || f.Format == image.Raw) {
			root.FileName, root.SHA256 = filepath.Base(f.Path), f.SHA256
		}
	}
	pkg := func(p InputPackage, purpose, what string) sbom.Component {
		c := sbom.Component{Name: p.Name, Version: p.Version, FileName: filepath.Base(p.Path), SHA256: p.SHA256, Purpose: purpose, Comment: what}
		if p.Name == "" {
			c.Name = filepath.Base(p.Path)
			c.Purpose = sbom.PurposeFile
		} else {
			c.PURL = sbom.DebPURL(p.Name, p.Version, p.Arch)
		}
		return c
	}
	root.Contains = append(root.Contains,
		pkg(in.Kernel, sbom.PurposeOperatingSystem, "Linux kernel: the bzImage and "+strconv.Itoa(len(in.Modules))+" of its modules"),
		pkg(in.Bootloader, sbom.PurposeApplication, "UEFI boot loader (systemd-boot), EFI/BOOT/BOOTX64.EFI"))
	if in.Fsck != nil {
		root.Contains = append(root.Contains, pkg(*in.Fsck, sbom.PurposeApplication, "e2fsck (statically linked), /sbin/e2fsck in the initramfs, run on the data volume"))
	}
	for _, p := range in.System {
		root.Contains = append(root.Contains, pkg(p, sbom.PurposeFile, "system files of the guest (CA certificates or time zones) taken from this package"))
	}
	for _, p := range in.Runtime {
		root.Contains = append(root.Contains, pkg(p, sbom.PurposeLibrary, "runtime of the app"))
	}
	root.Contains = append(root.Contains, sbom.Component{
		Name: "bootapp-init", FileName: "init", SHA256: in.Init.SHA256, Purpose: sbom.PurposeApplication,
		Comment: "guest init, /init in the initramfs", Contains: sbom.GoModules(d.initBI),
	})
	appC := sbom.Component{Name: path.Base(in.App.Entrypoint), Purpose: sbom.PurposeApplication, Contains: sbom.GoModules(d.appBI)}
	for _, f := range in.App.Files {
		if f.HostSHA256 != "" {
			appC.FileName, appC.SHA256 = path.Base(f.Path), f.HostSHA256
			appC.Comment = "the app, " + f.Path + "; the checksum is the build host's file, the image holds it"
			if f.SHA256 != f.HostSHA256 {
				appC.Comment += " with DWARF debug sections stripped (sha256 " + f.SHA256 + ")"
			} else {
				appC.Comment += " unchanged"
			}
		}
	}
	if appC.Comment == "" {
		appC.Comment = fmt.Sprintf("the app directory at %s (%d entries, listed in the manifest), entrypoint %s", appInstallDir, len(in.App.Files), in.App.Entrypoint)
	}
	root.Contains = append(root.Contains, appC)
	creator := "Tool: bootapp"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path == "github.com/bootapp/bootapp" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		creator += "-" + bi.Main.Version
	}
	doc, err := sbom.New(root, sbom.Options{
		Name:     res.Spec.Name,
		Created:  time.Unix(res.SourceDateEpoch, 0),
		Creators: []string{creator},
	})
	if err != nil {
		return nil, err
	}
	return doc.Marshal()
}
