package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/deb"
)

// System files: what programs expect of a Linux machine besides their
// libraries. The guest init provides the rest at boot: /etc/hosts and
// /etc/resolv.conf (links into /run/bootapp), the host name, the app's
// entries in /etc/passwd and /etc/group, /tmp and /dev/shm (tmpfs) and
// HOME (the working directory, the data volume by default).
const (
	// CACertificatesNone in System.CACertificates puts no CA bundle in
	// the image.
	CACertificatesNone = "none"
	// TimezonesAll in System.Timezones copies the whole zoneinfo tree.
	TimezonesAll = "all"

	caBundlePath = "/etc/ssl/certs/ca-certificates.crt"
	zoneinfoDir  = "/usr/share/zoneinfo"
	// mozillaDir holds the certificates of Debian's ca-certificates
	// package that update-ca-certificates concatenates.
	mozillaDir = "usr/share/ca-certificates/mozilla/"
)

// caLinks are the other names programs look the bundle up by: OpenSSL's
// default CA file on Debian (OPENSSLDIR /usr/lib/ssl) and on Fedora
// (/etc/pki/tls), its certs directory, Fedora's bundle name and the BSD and
// Alpine name.
var caLinks = [][2]string{
	{"/etc/ssl/cert.pem", "certs/ca-certificates.crt"},
	{"/etc/pki/tls/certs/ca-bundle.crt", "../../../ssl/certs/ca-certificates.crt"},
	{"/etc/pki/tls/cert.pem", "certs/ca-bundle.crt"},
	{"/usr/lib/ssl/cert.pem", "/etc/ssl/certs/ca-certificates.crt"},
	{"/usr/lib/ssl/certs", "/etc/ssl/certs"},
}

// nsswitch is /etc/nsswitch.conf: glibc's built-in files and dns sources
// (the only NSS modules the image carries).
const nsswitch = `passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
ethers:         files
rpc:            files
`

// The accounts the image starts with; the init adds the app's.
const (
	basePasswd = "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	baseGroup  = "root:x:0:\nnogroup:x:65534:\n"
)

// sysEntry is one file of the system files.
type sysEntry struct {
	path string
	mode fs.FileMode
	data []byte
	link string // a symbolic link's target
	dir  bool
}

// systemFiles is what the image gets besides the app and its libraries.
type systemFiles struct {
	entries []sysEntry
	// caCerts is the number of certificates in the CA bundle.
	caCerts int
	// caSource says where the bundle came from.
	caSource string
	// packages are the Debian packages the files came from (the
	// ca-certificates and tzdata .debs in the cache), for the manifest.
	packages []string
}

// resolveSystem reads the CA bundle and the time zones the spec asks for.
// It is settled before the output directory is touched.
func resolveSystem(ctx context.Context, s *Spec) (*systemFiles, error) {
	sf := &systemFiles{}
	sf.entries = append(sf.entries,
		sysEntry{path: "/etc/nsswitch.conf", mode: 0o644, data: []byte(nsswitch)},
		sysEntry{path: "/etc/passwd", mode: 0o644, data: []byte(basePasswd)},
		sysEntry{path: "/etc/group", mode: 0o644, data: []byte(baseGroup)},
	)
	bundle, src, err := caBundle(ctx, s)
	if err != nil {
		return nil, err
	}
	if bundle != nil {
		// One file per certificate: parsing each is also the check
		// that the bundle holds certificates and nothing broken.
		hashed, err := caPathFiles(bundle)
		if err != nil {
			return nil, fieldErr(ErrInvalidSpec, "system.ca_certificates", "%s: %v", src, err)
		}
		sf.caCerts, sf.caSource = len(hashed), src
		if s.System.CACertificates == "" {
			sf.packages = append(sf.packages, src)
		}
		sf.entries = append(sf.entries, sysEntry{path: caBundlePath, mode: 0o644, data: bundle})
		for _, l := range caLinks {
			sf.entries = append(sf.entries, sysEntry{path: l[0], link: l[1]})
		}
		sf.entries = append(sf.entries, hashed...)
	}
	tz, tzDeb, err := zoneinfo(ctx, s)
	if err != nil {
		return nil, err
	}
	if tzDeb != "" {
		sf.packages = append(sf.packages, tzDeb)
	}
	sf.entries = append(sf.entries, tz...)
	return sf, nil
}

// caBundle returns the PEM bundle for caBundlePath and where it came from:
// System.CACertificates, or by default the Mozilla roots of Debian's
// ca-certificates package in the cache, concatenated in name order as
// update-ca-certificates does. nil for CACertificatesNone.
func caBundle(ctx context.Context, s *Spec) ([]byte, string, error) {
	switch c := s.System.CACertificates; c {
	case CACertificatesNone:
		return nil, "", nil
	case "":
	default:
		b, err := os.ReadFile(c)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", fieldErr(ErrNotFound, "system.ca_certificates", "%s does not exist: give a PEM file of CA certificates, or %q", c, CACertificatesNone)
		}
		if err != nil {
			return nil, "", fieldErr(err, "system.ca_certificates", "%v", err)
		}
		return b, c, nil
	}
	dir := filepath.Join(s.CacheDir, cache.Debs)
	p, err := cache.Newest(dir, cache.CACertificatesPattern)
	if err != nil {
		return nil, "", fieldErr(ErrNotCached, "system.ca_certificates", "no ca-certificates package (%s) in %s for the image's CA bundle (or give a PEM file, or %q for none)", cache.CACertificatesPattern, dir, CACertificatesNone)
	}
	b, err := fromPackage(filepath.Join(s.CacheDir, cache.Extracted), p, ".pem", func() ([]byte, error) {
		return debCABundle(ctx, p)
	})
	if err != nil {
		return nil, "", err
	}
	return b, p, nil
}

// debCABundle returns the Mozilla roots of the ca-certificates package at
// p, concatenated in name order as update-ca-certificates does.
func debCABundle(ctx context.Context, p string) ([]byte, error) {
	certs := map[string][]byte{}
	err := debFiles(ctx, p, func(h *tar.Header, r io.Reader) error {
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag != tar.TypeReg || !strings.HasPrefix(name, mozillaDir) || !strings.HasSuffix(name, ".crt") {
			return nil
		}
		b, err := io.ReadAll(io.LimitReader(r, 1<<20))
		if err != nil {
			return err
		}
		certs[name] = b
		return nil
	})
	if err != nil {
		return nil, fieldErr(err, "system.ca_certificates", "read %s: %v", p, err)
	}
	if len(certs) == 0 {
		return nil, fieldErr(ErrNotFound, "system.ca_certificates", "%s holds no %s*.crt: not Debian's ca-certificates package", p, mozillaDir)
	}
	names := make([]string, 0, len(certs))
	for n := range certs {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	for _, n := range names {
		buf.Write(certs[n])
		if b := certs[n]; len(b) > 0 && b[len(b)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes(), nil
}

// zoneinfo returns the time zone files System.Timezones asks for, from
// Debian's tzdata package in the cache: each named zone (and, for a link
// such as US/Eastern, the zone it links to), or every file for
// TimezonesAll. It returns the tzdata package's path too.
func zoneinfo(ctx context.Context, s *Spec) (_ []sysEntry, deb string, err error) {
	zones := s.System.Timezones
	if len(zones) == 0 {
		return nil, "", nil
	}
	dir := filepath.Join(s.CacheDir, cache.Debs)
	p, err := cache.Newest(dir, cache.TzdataPattern)
	if err != nil {
		return nil, "", fieldErr(ErrNotCached, "system.timezones", "no tzdata package (%s) in %s", cache.TzdataPattern, dir)
	}
	all := len(zones) == 1 && zones[0] == TimezonesAll
	type ent struct {
		sysEntry
		order int
	}
	files := map[string]ent{}
	err = debFiles(ctx, p, func(h *tar.Header, r io.Reader) error {
		name := "/" + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if !strings.HasPrefix(name, zoneinfoDir+"/") {
			return nil
		}
		e := ent{sysEntry: sysEntry{path: name, mode: fs.FileMode(h.Mode).Perm()}, order: len(files)}
		switch h.Typeflag {
		case tar.TypeDir:
			e.dir = true
		case tar.TypeSymlink:
			e.link = h.Linkname
		case tar.TypeReg:
			b, err := io.ReadAll(io.LimitReader(r, 1<<20))
			if err != nil {
				return err
			}
			e.data = b
		default:
			return nil
		}
		files[name] = e
		return nil
	})
	if err != nil {
		return nil, "", fieldErr(err, "system.timezones", "read %s: %v", p, err)
	}
	var out []sysEntry
	if all {
		list := make([]ent, 0, len(files))
		for _, e := range files {
			list = append(list, e)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].order < list[j].order })
		for _, e := range list {
			out = append(out, e.sysEntry)
		}
		return out, p, nil
	}
	seen := map[string]bool{}
	for _, z := range zones {
		name := path.Join(zoneinfoDir, z)
		for hops := 0; hops < 8; hops++ {
			e, ok := files[name]
			if !ok || e.dir {
				return nil, "", fieldErr(ErrNotFound, "system.timezones", "%q is not a time zone of %s (names such as Europe/Berlin or UTC, or %q)", z, filepath.Base(p), TimezonesAll)
			}
			if !seen[name] {
				seen[name] = true
				out = append(out, e.sysEntry)
			}
			if e.link == "" {
				break
			}
			if strings.HasPrefix(e.link, "/") {
				name = path.Clean(e.link)
			} else {
				name = path.Join(path.Dir(name), e.link)
			}
		}
	}
	return out, p, nil
}

// debFiles calls fn for every entry of the data archive of the .deb at p.
func debFiles(ctx context.Context, p string, fn func(*tar.Header, io.Reader) error) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := deb.NewReader(f)
	if err != nil {
		return err
	}
	defer rd.Close()
	tr, err := rd.Data()
	if err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if deb.IsSparse(h) {
			return fmt.Errorf("%s: sparse tar entry %s (dpkg writes none)", p, h.Name)
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}

// writeSystem adds the system files to the image.
func writeSystem(iw *imageWriter, sf *systemFiles) error {
	if sf == nil {
		return nil
	}
	for _, e := range sf.entries {
		var err error
		switch {
		case e.dir:
			err = iw.mkdir(e.path, e.mode)
		case e.link != "":
			err = iw.symlink(e.path, e.link)
		default:
			err = iw.file(e.path, e.mode, e.data)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
