package builder

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/testutil"
)

// buildWith runs Build(s). A runtime missing from the cache (an error
// wrapping ErrNotCached) is a missing prerequisite, reported with the
// command that fetches runtime.
func buildWith(t *testing.T, s Spec, runtime string) *Result {
	t.Helper()
	res, err := Build(context.Background(), s)
	if errors.Is(err, ErrNotCached) && runtime != "" {
		testutil.Missing(t, fmt.Sprintf("the %s runtime in the cache %s (%v)", runtime, s.CacheDir, err), "run `mkbootapp fetch --runtime "+runtime+"` (go run ./cmd/mkbootapp fetch --runtime "+runtime+")")
	}
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return res
}

// runtimePackage returns the package of r's runtime inputs whose name
// satisfies match.
func runtimePackage(r *Result, match func(name string) bool) (InputPackage, bool) {
	if r.Inputs == nil {
		return InputPackage{}, false
	}
	for _, p := range r.Inputs.Runtime {
		if match(p.Name) {
			return p, true
		}
	}
	return InputPackage{}, false
}

// redeploy builds s again into the same output directory with one more
// environment variable, as a new release would be: a new boot disk, the
// data volume of the first build kept (reused, unhashed).
func redeploy(t *testing.T, s Spec, runtime string, first *Result) *Result {
	t.Helper()
	s.App.Env = append(append([]string(nil), s.App.Env...), "DEPLOY=2")
	res := buildWith(t, s, runtime)
	boot, boot1 := fileByRole(t, res, RoleBoot, image.Raw), fileByRole(t, first, RoleBoot, image.Raw)
	data, data1 := fileByRole(t, res, RoleData, image.Raw), fileByRole(t, first, RoleData, image.Raw)
	if boot.SHA256 == boot1.SHA256 {
		t.Fatalf("the second build produced the same boot disk")
	}
	if !data.Reused || data.SHA256 != "" || data.BlockSHA256 != "" || data.Path != data1.Path {
		t.Fatalf("the second build did not keep the data volume (unhashed): %+v", data)
	}
	return res
}

// redeployAndCount redeploys (a new boot disk, the data volume kept),
// boots the new image and expects the count to go on at 3, the app to log
// stopped at SIGTERM, and the file systems to be clean.
func redeployAndCount(t *testing.T, s Spec, runtime string, first *Result, stopped string) {
	t.Helper()
	res := redeploy(t, s, runtime, first)
	boot, data := fileByRole(t, res, RoleBoot, image.Raw), fileByRole(t, res, RoleData, image.Raw)
	bootApp(t, bootOpts{Boot: boot, Data: data, Port: 8080, MemoryMiB: guestMemory(t, res), First: 3, Stopped: stopped})
	checkFilesystems(t, boot.Path, data.Path)
}

// TestEndToEndNode builds examples/node (after npm ci), detected as a
// Node.js app by its package.json, on the cached Debian Node.js runtime,
// boots it, counts, replaces the boot disk and counts on from the kept
// data volume.
func TestEndToEndNode(t *testing.T) {
	e2e(t)
	app := testutil.NodeExample(t)
	var progress testutil.SyncBuffer
	spec := appSpec(t, app)
	spec.Health, spec.Progress = &HealthCheck{Path: "/healthz"}, &progress
	start := time.Now()
	res := buildWith(t, spec, RuntimeNode)
	t.Logf("build (%v):\n%s", time.Since(start).Round(time.Millisecond), progress.String())

	nodejs, ok := runtimePackage(res, func(n string) bool { return n == "nodejs" })
	if !ok {
		t.Fatalf("the manifest's runtime inputs do not list nodejs: %+v", res.Inputs.Runtime)
	}
	if _, ok := runtimePackage(res, func(n string) bool { return n == "libc6" }); !ok {
		t.Errorf("the manifest's runtime inputs do not list libc6 (the runtime's libraries come from its packages): %+v", res.Inputs.Runtime)
	}
	if nodejs.SHA256 == "" || nodejs.Version == "" {
		t.Errorf("nodejs input without version or sha256: %+v", nodejs)
	}
	if got := res.Inputs.App.Entrypoint; got != "/usr/bin/node" {
		t.Errorf("entrypoint %q, want /usr/bin/node", got)
	}
	m, err := ReadManifest(spec.OutputDir)
	if err != nil {
		t.Fatalf("ReadManifest: %v", err)
	}
	if m.Inputs == nil || len(m.Inputs.Runtime) != len(res.Inputs.Runtime) {
		t.Errorf("the manifest on disk does not list the runtime packages of the result")
	}

	boot, data := fileByRole(t, res, RoleBoot, image.Raw), fileByRole(t, res, RoleData, image.Raw)
	bootApp(t, bootOpts{
		Boot: boot, Data: data, Port: 8080, MemoryMiB: guestMemory(t, res), First: 1,
		Stopped: "SIGTERM: shutting down",
		Check: func(a *bootedApp) {
			var info struct{ Node string }
			b := a.Get("/info")
			if err := json.Unmarshal(b, &info); err != nil {
				a.Fatalf("/info %q: %v", b, err)
			}
			// The guest's node is the one of the nodejs package: its
			// upstream version is what Debian's version starts with.
			v := strings.TrimPrefix(info.Node, "v")
			rest, ok := strings.CutPrefix(nodejs.Version, v)
			if !strings.HasPrefix(info.Node, "v") || v == "" || !ok || (rest != "" && !strings.ContainsAny(rest[:1], "+~-")) {
				a.Fatalf("/info says node %q, the runtime is nodejs %s", info.Node, nodejs.Version)
			}
			t.Logf("/info: %s", b)
		},
	})
	checkFilesystems(t, boot.Path, data.Path)

	redeployAndCount(t, spec, RuntimeNode, res, "SIGTERM: shutting down")
}

// TestEndToEndJava builds examples/java's executable jar, detected as a
// Java app by its name, with a runtime jlink links from the cached JDK,
// boots it in the memory the build chose, counts, replaces the boot disk
// and counts on from the kept data volume.
func TestEndToEndJava(t *testing.T) {
	e2e(t)
	jar := testutil.JavaExample(t)
	var progress testutil.SyncBuffer
	spec := appSpec(t, jar)
	spec.Health, spec.Progress = &HealthCheck{Path: "/healthz"}, &progress
	start := time.Now()
	res := buildWith(t, spec, RuntimeJava)
	buildLog := progress.String()
	t.Logf("build (%v):\n%s", time.Since(start).Round(time.Millisecond), buildLog)

	if jdk, ok := runtimePackage(res, func(n string) bool { return strings.Contains(n, "jdk") }); !ok {
		t.Errorf("the manifest's runtime inputs list no JDK package: %+v", res.Inputs.Runtime)
	} else if jdk.SHA256 == "" || jdk.Version == "" {
		t.Errorf("JDK input without version or sha256: %+v", jdk)
	}
	linked := ""
	for _, l := range strings.Split(buildLog, "\n") {
		if strings.Contains(l, "linked from JDK") {
			linked = l
		}
	}
	if linked == "" || !strings.Contains(linked+" ", " jdk.httpserver ") || !strings.Contains(linked+" ", " java.base ") {
		t.Errorf("the progress log does not say which modules were linked, with java.base and jdk.httpserver (%q)", linked)
	}
	if res.MemoryMiB < 1024 {
		t.Errorf("Result.MemoryMiB = %d, want at least 1024 for a JVM", res.MemoryMiB)
	}
	if got := res.Inputs.App.Entrypoint; got != javaHome+"/bin/java" {
		t.Errorf("entrypoint %q, want %s/bin/java", got, javaHome)
	}

	boot, data := fileByRole(t, res, RoleBoot, image.Raw), fileByRole(t, res, RoleData, image.Raw)
	bootApp(t, bootOpts{Boot: boot, Data: data, Port: 8080, MemoryMiB: guestMemory(t, res), First: 1, Stopped: "shutting down"})
	checkFilesystems(t, boot.Path, data.Path)

	redeployAndCount(t, spec, RuntimeJava, res, "shutting down")
}

// TestEndToEndC builds a dynamically linked C HTTP server
// (testdata/capp) with the build host's glibc, boots it, counts, replaces
// the boot disk and counts on from the kept data volume.
func TestEndToEndC(t *testing.T) {
	e2e(t)
	gcc := testutil.NeedCommand(t, "gcc", "apt-get install -y gcc libc6-dev")
	app := filepath.Join(t.TempDir(), "capp")
	if b, err := exec.Command(gcc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", app, "testdata/capp/capp.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc testdata/capp/capp.c: %v\n%s (fix: apt-get install -y gcc libc6-dev)", err, b)
	}
	needDynamic(t, app)
	spec := appSpec(t, app)
	res := buildWith(t, spec, "")
	listed := map[string]bool{}
	for _, f := range res.Inputs.App.Files {
		listed[f.Path] = true
	}
	for _, p := range []string{"/app/capp", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib64/ld-linux-x86-64.so.2"} {
		if !listed[p] {
			t.Errorf("the manifest's app files do not list %s", p)
		}
	}
	if res.Inputs.Runtime != nil {
		t.Errorf("a native app has runtime inputs: %+v", res.Inputs.Runtime)
	}
	boot, data := fileByRole(t, res, RoleBoot, image.Raw), fileByRole(t, res, RoleData, image.Raw)
	bootApp(t, bootOpts{Boot: boot, Data: data, Port: 8080, MemoryMiB: guestMemory(t, res), First: 1, Stopped: "SIGTERM: shutting down"})

	redeployAndCount(t, spec, "", res, "SIGTERM: shutting down")
}

// hostAddrInGuest is the address of the host in QEMU's user-mode network:
// the guest's connections to it go to the host's loopback.
const hostAddrInGuest = "10.0.2.2"

// tlsChain is a test PKI: a root CA, an intermediate CA it signed, and a
// leaf for hostAddrInGuest the intermediate signed.
type tlsChain struct {
	rootPEM []byte
	// leaf is the server certificate with its chain (leaf, intermediate).
	leaf tls.Certificate
}

// newCert makes a certificate of tmpl with a new P-256 key, signed by
// parent's key (self-signed when parent is nil).
func newCert(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// newTLSChain generates a root, an intermediate and a leaf for
// hostAddrInGuest.
func newTLSChain(t *testing.T) *tlsChain {
	t.Helper()
	root, rootKey := newCert(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "bootapp e2e root CA"},
		IsCA:    true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, nil)
	inter, interKey := newCert(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "bootapp e2e intermediate CA"},
		IsCA:    true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, root, rootKey)
	leaf, leafKey := newCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: hostAddrInGuest},
		IPAddresses: []net.IP{net.ParseIP(hostAddrInGuest)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, inter, interKey)
	// The chain verifies on the host too: else a failure in the guest
	// would prove nothing.
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: hostAddrInGuest}); err != nil {
		t.Fatalf("the test chain does not verify: %v", err)
	}
	return &tlsChain{
		rootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}),
		leaf:    tls.Certificate{Certificate: [][]byte{leaf.Raw, inter.Raw}, PrivateKey: leafKey, Leaf: leaf},
	}
}

// selfSigned returns a self-signed server certificate for
// hostAddrInGuest, which no bundle holds.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	c, key := newCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: hostAddrInGuest + " (self-signed)"},
		IPAddresses: []net.IP{net.ParseIP(hostAddrInGuest)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, nil, nil)
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}
}

// httpsServer starts an HTTPS server on 127.0.0.1 with cert, answering
// every request 200 "hello", and returns the URL the guest reaches it at.
func httpsServer(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// The guests refusing the self-signed server make it log handshake
	// errors: they are what the test wants.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return "https://" + net.JoinHostPort(hostAddrInGuest, port) + "/"
}

// buildJavaTestApp compiles testdata/tlsjava with javac into an
// executable jar (jar --main-class), as examples/java/build.sh does.
func buildJavaTestApp(t *testing.T) string {
	t.Helper()
	javac := testutil.NeedCommand(t, "javac", "make deps (installs default-jdk-headless)")
	jarTool := testutil.NeedCommand(t, "jar", "make deps (installs default-jdk-headless)")
	dir := t.TempDir()
	classes := filepath.Join(dir, "classes")
	jar := filepath.Join(dir, "tlsjava.jar")
	for _, c := range [][]string{
		{javac, "--release", "17", "-encoding", "UTF-8", "-Xlint:all", "-d", classes, "testdata/tlsjava/Main.java"},
		{jarTool, "--create", "--file", jar, "--main-class", "Main", "-C", classes, "."},
	} {
		if b, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, b)
		}
	}
	return jar
}

// TestEndToEndTLS proves that apps in the image verify a TLS chain that
// ends in a root of the image's CA bundle, and only such chains, for Go's
// crypto/tls, Node.js (OpenSSL) and Java (JSSE, with the trust store the
// build writes from the bundle). The test's own root CA is the image's only
// trust anchor (System.CACertificates); HTTPS servers on the host's
// loopback, which the guest reaches at 10.0.2.2, serve a leaf with its
// intermediate, and a self-signed certificate. The Go app also shows that
// the root file system is not writable by the app, while /tmp and /data
// are.
func TestEndToEndTLS(t *testing.T) {
	e2e(t)
	chain := newTLSChain(t)
	bundle := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(bundle, chain.rootPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	good := httpsServer(t, chain.leaf)
	bad := httpsServer(t, selfSigned(t))
	// The host itself trusts the good server (as 10.0.2.2) through the
	// root alone.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(chain.rootPEM)
	hostClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: hostAddrInGuest}}, Timeout: 10 * time.Second}
	hostURL := strings.Replace(good, hostAddrInGuest, "127.0.0.1", 1)
	if resp, err := hostClient.Get(hostURL); err != nil {
		t.Fatalf("the host cannot fetch %s with the test root: %v", hostURL, err)
	} else {
		resp.Body.Close()
	}

	for _, tc := range []struct {
		name    string
		runtime string // for a missing runtime's message
		app     func(t *testing.T) string
		stopped string
		// verifyErr is what the app's error for the self-signed
		// server says: a certificate verification error.
		verifyErr string
		check     func(a *bootedApp)
	}{
		{
			name:      "go",
			app:       func(t *testing.T) string { return buildGoApp(t, "./testdata/tlsgo") },
			stopped:   "SIGTERM: shutting down",
			verifyErr: "x509: certificate signed by unknown authority",
			check:     checkWritable,
		},
		{
			name:    "node",
			runtime: RuntimeNode,
			app: func(t *testing.T) string {
				dir, err := filepath.Abs("testdata/tlsnode")
				if err != nil {
					t.Fatal(err)
				}
				return dir
			},
			stopped:   "SIGTERM: shutting down",
			verifyErr: "DEPTH_ZERO_SELF_SIGNED_CERT",
		},
		{
			name:      "java",
			runtime:   RuntimeJava,
			app:       buildJavaTestApp,
			stopped:   "SIGTERM: shutting down",
			verifyErr: "PKIX path building failed",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := tc.app(t)
			start := time.Now()
			spec := appSpec(t, app)
			spec.System.CACertificates = bundle
			res := buildWith(t, spec, tc.runtime)
			t.Logf("built in %v", time.Since(start).Round(time.Millisecond))
			for _, f := range res.Inputs.App.Files {
				if f.Path == caBundlePath && f.Size != int64(len(chain.rootPEM)) {
					t.Errorf("%s in the image has %d bytes, the test's bundle %d", caBundlePath, f.Size, len(chain.rootPEM))
				}
			}
			bootApp(t, bootOpts{
				Boot:      fileByRole(t, res, RoleBoot, image.Raw),
				Data:      fileByRole(t, res, RoleData, image.Raw),
				Port:      8080,
				MemoryMiB: guestMemory(t, res),
				Stopped:   tc.stopped,
				Check: func(a *bootedApp) {
					start := time.Now()
					if status, b := a.Do("/fetch?url=" + url.QueryEscape(good)); status != 200 || string(b) != "ok 200\n" {
						a.Fatalf("fetch of %s (chain to the image's root) = %d %q, want 200 \"ok 200\"", good, status, b)
					}
					t.Logf("fetch of the good server: %v", time.Since(start).Round(time.Millisecond))
					start = time.Now()
					status, b := a.Do("/fetch?url=" + url.QueryEscape(bad))
					if status != http.StatusBadGateway || !strings.Contains(string(b), tc.verifyErr) {
						a.Fatalf("fetch of %s (self-signed, not in the bundle) = %d %q, want 502 with %q", bad, status, b, tc.verifyErr)
					}
					t.Logf("self-signed server (%v): %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(b)))
					if tc.check != nil {
						tc.check(a)
					}
				},
			})
		})
	}
}

// checkWritable checks the /write answer of testdata/tlsgo: the app
// cannot create files in the root file system, but can in /tmp and /data.
func checkWritable(a *bootedApp) {
	a.t.Helper()
	var res map[string]string
	b := a.Get("/write")
	if err := json.Unmarshal(b, &res); err != nil {
		a.Fatalf("/write %q: %v", b, err)
	}
	for _, p := range []string{"/etc/x", "/x", "/usr/x"} {
		if r, ok := res[p]; !ok || r == "ok" {
			a.Fatalf("/write: the app created %s (%q): the root file system must not be writable by it (%s)", p, r, b)
		}
	}
	for _, p := range []string{"/tmp/x", "/data/x"} {
		if res[p] != "ok" {
			a.Fatalf("/write: the app cannot create %s: %q", p, res[p])
		}
	}
	a.t.Logf("/write: %s", b)
}

// appSpec is the spec the tests of this file start from: the app on port
// 8080, the cached kernel and boot loader, a new output directory and a
// 64 MiB data volume.
func appSpec(t *testing.T, app string) Spec {
	t.Helper()
	cache, kdeb, ldeb := testInputs(t)
	return Spec{
		App:        App{Path: app, Ports: []int{8080}},
		Kernel:     KernelSource{Deb: kdeb},
		Bootloader: ldeb,
		CacheDir:   cache,
		OutputDir:  filepath.Join(t.TempDir(), "out"),
		DataVolume: DataVolume{Size: 64 << 20},
	}
}
