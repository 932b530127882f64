package builder

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/bootapp/bootapp/kernel"
)

// imageEntries assembles the initramfs for s as Build does and returns
// every entry of it by guest path, and the manifest's app files.
func imageEntries(t *testing.T, s Spec) (map[string]GuestFile, []GuestFile, *appLayout) {
	t.Helper()
	cache, kernelDeb, loaderDeb := testInputs(t)
	ctx := context.Background()
	s.Kernel, s.Bootloader, s.CacheDir, s.Compression = KernelSource{Deb: kernelDeb}, loaderDeb, cache, "none"
	s, err := s.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	app, err := resolveApp(s.App)
	if err != nil {
		t.Fatal(err)
	}
	if app.system, err = resolveSystem(ctx, &s); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.Open(ctx, kernelDeb, kernel.Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	mods, err := k.PlatformClosure(kernel.PlatformQEMU)
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(t.TempDir(), "initrd")
	st, err := assembleInitramfs(ctx, &s, k, mods, app, staged, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inImage := map[string]GuestFile{}
	for _, seg := range splitSegments(t, initrdBytes(t, st)) {
		files, err := readNewc(bytes.NewReader(seg), func(string) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			inImage[f.Path] = f
		}
	}
	return inImage, st.app, app
}

// resolveInImage follows guest path p through the image's symbolic links
// as the guest kernel would, and returns the regular file it reaches.
func resolveInImage(t *testing.T, img map[string]GuestFile, p string) GuestFile {
	t.Helper()
	todo := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		f, ok := img[next]
		if !ok {
			t.Fatalf("%s: %s is not in the image", p, next)
		}
		if f.Type != GuestSymlink {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			t.Fatalf("%s: link loop", p)
		}
		if strings.HasPrefix(f.Target, "/") {
			cur = "/"
		}
		todo = append(strings.Split(f.Target, "/"), todo...)
	}
	f := img[cur]
	if f.Type != GuestRegular {
		t.Fatalf("%s leads to %s, a %s", p, cur, f.Type)
	}
	return f
}

// TestDynamicApp builds the initramfs of a dynamically linked host program
// and checks that the loader and every library ldd reports are reachable
// in the image at the paths the guest's loader looks them up at (the
// kernel's PT_INTERP, the system search path without ld.so.cache), and
// that the manifest lists them.
func TestDynamicApp(t *testing.T) {
	bin := "/usr/bin/curl"
	testutil.NeedFile(t, bin, "apt-get install -y curl")
	img, recorded, app := imageEntries(t, Spec{App: App{Path: bin}})
	if app.closure == nil || app.closure.Interp != "/lib64/ld-linux-x86-64.so.2" {
		t.Fatalf("closure %+v", app.closure)
	}
	resolveInImage(t, img, app.closure.Interp)
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "=>" {
			continue
		}
		found := false
		for _, dir := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"} {
			if _, ok := img[dir+"/"+f[0]]; ok {
				resolveInImage(t, img, dir+"/"+f[0])
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s (ldd: %s) is in none of the loader's directories in the image", f[0], f[2])
		}
		n++
	}
	if n < 10 {
		t.Errorf("ldd listed only %d libraries", n)
	}
	// The modules stay where they were: /lib is a directory, and the
	// merged-/usr link /lib -> usr/lib is split one level down.
	if f := img["/lib"]; f.Type != GuestDir {
		t.Errorf("/lib is %+v", f)
	}
	if f := img["/lib/x86_64-linux-gnu"]; f.Type != GuestSymlink || f.Target != "../usr/lib/x86_64-linux-gnu" {
		t.Errorf("/lib/x86_64-linux-gnu is %+v", f)
	}
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/libnss_dns.so.2", "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache", "/etc/nsswitch.conf", caBundlePath} {
		if _, ok := img[p]; !ok {
			t.Errorf("%s is not in the image", p)
		}
	}
	// The manifest lists every entry the app segment added.
	rec := map[string]bool{}
	for _, f := range recorded {
		rec[f.Path] = true
		if g := img[f.Path]; g.Type != f.Type || g.SHA256 != f.SHA256 {
			t.Errorf("manifest %+v, image %+v", f, g)
		}
	}
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64", caBundlePath, "/app/curl"} {
		if !rec[p] {
			t.Errorf("the manifest does not list %s", p)
		}
	}
}

// TestDynamicAppDir: an app directory whose entrypoint finds its library
// through RUNPATH $ORIGIN/../lib and a plugin .so that needs a library of
// the host; the plugin's library is added, the app's own are not copied
// twice.
func TestDynamicAppDir(t *testing.T) {
	gcc := testutil.NeedCommand(t, "gcc", "apt-get install -y gcc")
	dir := t.TempDir()
	src := t.TempDir()
	for _, d := range []string{"bin", "lib", "plugins"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	os.WriteFile(filepath.Join(src, "lib.c"), []byte("int hello(void) { return 0; }\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.c"), []byte("int hello(void); int main(void) { return hello(); }\n"), 0o644)
	os.WriteFile(filepath.Join(src, "plugin.c"), []byte("#include <zlib.h>\nconst char *v(void) { return zlibVersion(); }\n"), 0o644)
	must("-shared", "-fPIC", "-o", filepath.Join(dir, "lib/libhello.so"), filepath.Join(src, "lib.c"))
	must("-o", filepath.Join(dir, "bin/app"), filepath.Join(src, "main.c"), "-L"+filepath.Join(dir, "lib"), "-lhello", "-Wl,-rpath,$ORIGIN/../lib")
	if _, err := os.Stat("/usr/include/zlib.h"); err == nil {
		must("-shared", "-fPIC", "-o", filepath.Join(dir, "plugins/z.node"), filepath.Join(src, "plugin.c"), "-lz")
	}
	img, _, app := imageEntries(t, Spec{App: App{Path: dir, Entrypoint: "bin/app"}})
	if !contains(app.closure.Objects, "/app/lib/libhello.so") {
		t.Errorf("objects %v", app.closure.Objects)
	}
	if f := img["/app/lib/libhello.so"]; f.Type != GuestRegular {
		t.Errorf("/app/lib/libhello.so: %+v", f)
	}
	if _, err := os.Stat(filepath.Join(dir, "plugins/z.node")); err == nil {
		resolveInImage(t, img, "/usr/lib/x86_64-linux-gnu/libz.so.1")
	}
	// A library the app user could not read in the guest.
	if err := os.Chmod(filepath.Join(dir, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "plugins/z.node")); err == nil {
		if err := os.Chmod(filepath.Join(dir, "plugins/z.node"), 0o700); err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		copyFile(t, "/lib/x86_64-linux-gnu/libc.so.6", filepath.Join(root, "lib/x86_64-linux-gnu/libc.so.6"), 0o600)
		copyFile(t, "/lib/x86_64-linux-gnu/libz.so.1", filepath.Join(root, "lib/x86_64-linux-gnu/libz.so.1"), 0o644)
		copyFile(t, "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", filepath.Join(root, "lib64/ld-linux-x86-64.so.2"), 0o755)
		_, err := resolveApp(App{Path: dir, Entrypoint: "bin/app", Sysroot: root})
		if !errors.Is(err, ErrBadApp) || !strings.Contains(err.Error(), "chmod o+r") || !strings.Contains(err.Error(), "libc.so.6") {
			t.Errorf("unreadable library: %v", err)
		}
		os.Chmod(filepath.Join(dir, "plugins/z.node"), 0o755)
	}
	// The same program with its library gone: the error names both.
	if err := os.Remove(filepath.Join(dir, "lib/libhello.so")); err != nil {
		t.Fatal(err)
	}
	_, err := resolveApp(App{Path: dir, Entrypoint: "bin/app"})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "app.entrypoint" || !errors.Is(err, ErrNotFound) ||
		!strings.Contains(err.Error(), "libhello.so") || !strings.Contains(err.Error(), "/app/bin/app") {
		t.Errorf("missing library: %v", err)
	}
}

// TestSystemFiles: the default CA bundle is Debian's Mozilla roots, a
// user's bundle replaces it, "none" removes it; time zones by name follow
// tzdata's links.
func TestSystemFiles(t *testing.T) {
	exe := buildGoApp(t, "../examples/hello")
	img, _, app := imageEntries(t, Spec{App: App{Path: exe}, System: System{Timezones: []string{"US/Eastern", "UTC"}}})
	if app.system.caCerts < 100 {
		t.Errorf("%d certificates in the default bundle", app.system.caCerts)
	}
	if p := app.system.packages; len(p) != 2 || !strings.Contains(filepath.Base(p[0]), "ca-certificates_") || !strings.Contains(filepath.Base(p[1]), "tzdata_") {
		t.Errorf("packages %v", p)
	}
	for _, p := range []string{caBundlePath, "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem", "/usr/lib/ssl/cert.pem", "/etc/pki/tls/cert.pem"} {
		if f := resolveInImage(t, img, p); f.Path != caBundlePath {
			t.Errorf("%s leads to %s", p, f.Path)
		}
	}
	resolveInImage(t, img, "/usr/share/zoneinfo/US/Eastern")
	resolveInImage(t, img, "/usr/share/zoneinfo/UTC")
	if _, ok := img["/usr/share/zoneinfo/Europe/Berlin"]; ok {
		t.Error("a zone that was not asked for is in the image")
	}
	if app.closure != nil {
		t.Errorf("a static app got a closure: %+v", app.closure)
	}

	// A user's bundle.
	pemFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(pemFile, testCA(t), 0o644); err != nil {
		t.Fatal(err)
	}
	img, _, app = imageEntries(t, Spec{App: App{Path: exe}, System: System{CACertificates: pemFile}})
	if app.system.caCerts != 1 || img[caBundlePath].Size != int64(len(testCA(t))) {
		t.Errorf("user bundle: %d certificates, %+v", app.system.caCerts, img[caBundlePath])
	}
	// OpenSSL's CApath name of it, as openssl itself computes it.
	if out, err := exec.Command("openssl", "x509", "-hash", "-noout", "-in", pemFile).Output(); err == nil {
		name := "/etc/ssl/certs/" + strings.TrimSpace(string(out)) + ".0"
		if f := img[name]; f.Type != GuestRegular || f.Size != int64(len(testCA(t))) {
			t.Errorf("%s (openssl x509 -hash) in the image: %+v", name, f)
		}
	}
	img, _, _ = imageEntries(t, Spec{App: App{Path: exe}, System: System{CACertificates: CACertificatesNone, Timezones: []string{TimezonesAll}}})
	if _, ok := img[caBundlePath]; ok {
		t.Error("none: a CA bundle is in the image")
	}
	if _, ok := img["/usr/share/zoneinfo/Europe/Berlin"]; !ok {
		t.Error("all: Europe/Berlin is missing")
	}

	// Errors name the field.
	ctx := context.Background()
	cache, _, _ := testInputs(t)
	for _, tc := range []struct {
		sys   System
		field string
		is    error
	}{
		{System{CACertificates: filepath.Join(t.TempDir(), "nope.pem")}, "system.ca_certificates", ErrNotFound},
		{System{CACertificates: exe}, "system.ca_certificates", ErrInvalidSpec},
		{System{Timezones: []string{"Mars/Olympus_Mons"}}, "system.timezones", ErrNotFound},
	} {
		s := Spec{App: App{Path: exe}, CacheDir: cache, System: tc.sys}
		_, err := resolveSystem(ctx, &s)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, tc.is) {
			t.Errorf("%+v: %v", tc.sys, err)
		}
	}
	if _, err := (Spec{App: App{Path: exe}, System: System{Timezones: []string{"../etc/passwd"}}}).WithDefaults(); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("time zone with ..: %v", err)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

var testCAOnce struct {
	sync.Once
	pem []byte
}

// testCA returns a self-signed CA certificate in PEM, the same for every
// call.
func testCA(t *testing.T) []byte {
	t.Helper()
	testCAOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bootapp test CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		testCAOnce.pem = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	})
	return testCAOnce.pem
}
