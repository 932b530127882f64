package jks

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/testutil"
)

var created = time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)

// newCert makes a self-signed CA certificate with the given subject.
func newCert(t testing.TB, subject pkix.Name) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cn(s string) pkix.Name { return pkix.Name{CommonName: s} }

// someCerts is a mix of subjects: plain, organisation only, no name, and
// non-ASCII.
func someCerts(t testing.TB) []*x509.Certificate {
	return []*x509.Certificate{
		newCert(t, cn("Test Root CA")),
		newCert(t, pkix.Name{Organization: []string{"Example Org, Inc."}}),
		newCert(t, pkix.Name{Country: []string{"DE"}}),
		newCert(t, pkix.Name{CommonName: "Ünïcødé Röot – G2", Organization: []string{"Ignored"}}),
	}
}

func write(t testing.TB, certs []*x509.Certificate, password string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTrustStore(&buf, certs, password, created); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ders(certs []*x509.Certificate) []string {
	var out []string
	for _, c := range certs {
		out = append(out, string(c.Raw))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestRoundTrip(t *testing.T) {
	all := someCerts(t)
	for _, tc := range []struct {
		name  string
		certs []*x509.Certificate
	}{
		{"one", all[:1]},
		{"all", all},
		{"reversed", []*x509.Certificate{all[3], all[2], all[1], all[0]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := ReadTrustStore(bytes.NewReader(write(t, tc.certs, "changeit")), "changeit")
			if err != nil {
				t.Fatal(err)
			}
			var got []*x509.Certificate
			var aliases []string
			for _, e := range entries {
				if !e.Created.Equal(created) || e.Created.Location() != time.UTC {
					t.Errorf("%s: created %v, want %v", e.Alias, e.Created, created)
				}
				got = append(got, e.Cert)
				aliases = append(aliases, e.Alias)
			}
			if !slices.Equal(ders(got), ders(tc.certs)) {
				t.Errorf("certificates differ after the round trip")
			}
			if !slices.IsSorted(aliases) {
				t.Errorf("aliases not sorted: %q", aliases)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	certs := someCerts(t)
	a := write(t, certs, "changeit")
	shuffled := slices.Clone(certs)
	slices.Reverse(shuffled)
	shuffled[0], shuffled[2] = shuffled[2], shuffled[0]
	if b := write(t, shuffled, "changeit"); !bytes.Equal(a, b) {
		t.Error("same certificates in another order give other bytes")
	}
	var later bytes.Buffer
	if err := WriteTrustStore(&later, certs, "changeit", created.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, later.Bytes()) {
		t.Error("another creation time gives the same bytes")
	}
}

func TestDuplicates(t *testing.T) {
	a, b := newCert(t, cn("A")), newCert(t, cn("B"))
	aCopy, err := x509.ParseCertificate(bytes.Clone(a.Raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		certs []*x509.Certificate
		want  int
	}{
		{"same pointer", []*x509.Certificate{a, a, a}, 1},
		{"same DER", []*x509.Certificate{a, b, aCopy}, 2},
		{"same subject, other cert", []*x509.Certificate{a, newCert(t, cn("A"))}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := ReadTrustStore(bytes.NewReader(write(t, tc.certs, "p")), "p")
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != tc.want {
				t.Errorf("%d entries, want %d", len(entries), tc.want)
			}
		})
	}
}

func TestPassword(t *testing.T) {
	certs := someCerts(t)[:2]
	passwords := []string{"changeit", "", "changeiT", "pässwörd", "emoji 😀"}
	stores := make(map[string][]byte)
	for _, pw := range passwords {
		stores[pw] = write(t, certs, pw)
	}
	for _, pw := range passwords {
		s := stores[pw]
		if _, err := ReadTrustStore(bytes.NewReader(s), pw); err != nil {
			t.Errorf("password %q: %v", pw, err)
		}
		for _, other := range passwords {
			if other == pw {
				continue
			}
			o := stores[other]
			body := len(s) - digestLen
			if !bytes.Equal(s[:body], o[:body]) || bytes.Equal(s[body:], o[body:]) {
				t.Errorf("passwords %q and %q: want the same body and other digests", pw, other)
			}
			if _, err := ReadTrustStore(bytes.NewReader(s), other); !errors.Is(err, ErrIntegrity) {
				t.Errorf("store of %q read with %q: err %v, want ErrIntegrity", pw, other, err)
			}
		}
	}
}

func TestAliases(t *testing.T) {
	long := strings.Repeat("abcdefghij ", 10)
	valid := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*-[0-9a-f]{8}$`)
	for _, tc := range []struct {
		subject pkix.Name
		base    string
	}{
		{cn("DigiCert Global Root G2"), "digicert-global-root-g2"},
		{cn("  thawte Primary Root CA - G3 "), "thawte-primary-root-ca-g3"},
		{pkix.Name{Organization: []string{"Go Daddy, Inc."}}, "go-daddy-inc"},
		{pkix.Name{CommonName: "中国根证书", Organization: []string{"CFCA"}}, "cfca"},
		{pkix.Name{CommonName: "Ünïcødé"}, "n-c-d"},
		{pkix.Name{Country: []string{"US"}}, "cert"},
		{cn("***"), "cert"},
		{cn(long), strings.ReplaceAll(long, " ", "-")[:maxBaseLen]},
	} {
		c := newCert(t, tc.subject)
		got := assignAliases([]*x509.Certificate{c}, shortHashLen)[0]
		if !strings.HasPrefix(got, tc.base+"-") || !valid.MatchString(got) {
			t.Errorf("subject %v: alias %q, want %q-<8 hex> matching %v", tc.subject, got, tc.base, valid)
		}
	}

	// Short aliases that collide fall back to the full hash.
	a, b, c := newCert(t, cn("Same")), newCert(t, cn("Same")), newCert(t, cn("Other"))
	got := assignAliases([]*x509.Certificate{a, b, c}, 0)
	if len(got[0]) != len("same-")+64 || len(got[1]) != len(got[0]) || got[0] == got[1] {
		t.Errorf("colliding aliases %q, %q: want distinct full-hash aliases", got[0], got[1])
	}
	if got[2] != "other-" {
		t.Errorf("alias %q, want the short form %q", got[2], "other-")
	}
}

func TestModifiedUTF8(t *testing.T) {
	for _, s := range []string{"", "abc", "\x00", "a\x00b", "é", "€uro", "😀", "\u07ff\u0800\uffff\U00010000\U0010ffff"} {
		b, err := modifiedUTF8(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if n := int(binary.BigEndian.Uint16(b)); n != len(b)-2 {
			t.Errorf("%q: length %d, want %d", s, n, len(b)-2)
		}
		if bytes.IndexByte(b[2:], 0) >= 0 {
			t.Errorf("%q: raw NUL in % x", s, b)
		}
		got, err := decodeModifiedUTF8(b[2:])
		if err != nil || got != s {
			t.Errorf("%q: decoded %q, %v", s, got, err)
		}
	}
	if b, _ := modifiedUTF8("😀"); !bytes.Equal(b, []byte{0, 6, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}) {
		t.Errorf("😀 encoded % x, want surrogate pair ed a0 bd ed b8 80", b)
	}
	if _, err := modifiedUTF8("\xff"); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	if _, err := modifiedUTF8(strings.Repeat("€", 30000)); err == nil {
		t.Error("90000-byte string accepted")
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"raw NUL", []byte{0}},
		{"overlong 2", []byte{0xC1, 0x81}},
		{"overlong 3", []byte{0xE0, 0x81, 0x81}},
		{"truncated", []byte{0xE2, 0x82}},
		{"bad continuation", []byte{0xC3, 0x41}},
		{"4-byte UTF-8", []byte("😀")},
		{"lone high surrogate", []byte{0xED, 0xA0, 0xBD}},
		{"lone low surrogate", []byte{0xED, 0xB8, 0x80}},
		{"high then letter", []byte{0xED, 0xA0, 0xBD, 'a'}},
		{"continuation byte", []byte{0x80}},
	} {
		if s, err := decodeModifiedUTF8(tc.b); err == nil {
			t.Errorf("%s: % x accepted as %q", tc.name, tc.b, s)
		}
	}
}

func pemOf(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

func TestParsePEM(t *testing.T) {
	a, b := newCert(t, cn("A")), newCert(t, cn("B"))
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not a key")})
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")})
	for _, tc := range []struct {
		name    string
		in      []byte
		want    int
		wantErr string
	}{
		{"two", pemOf(a, b), 2, ""},
		{"with comments and a key", slices.Concat([]byte("# A\n"), pemOf(a), key, []byte("junk\n"), pemOf(b), []byte("trailing")), 2, ""},
		{"empty", nil, 0, "no CERTIFICATE blocks"},
		{"only a key", key, 0, "no CERTIFICATE blocks"},
		{"bad second", slices.Concat(pemOf(a), key, bad), 0, "certificate 2 (PEM block 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePEM(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%d certificates, want %d", len(got), tc.want)
			}
		})
	}
}

// store builds a keystore's bytes by hand, with a valid digest for "pw".
func store(parts ...[]byte) []byte {
	b := slices.Concat(parts...)
	return append(b, digest("pw", b)...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func utf(s string) []byte { b, _ := modifiedUTF8(s); return b }

func TestReadTrustStoreRejects(t *testing.T) {
	c := newCert(t, cn("A"))
	head := func(n uint32) []byte { return slices.Concat(u32(magic), u32(2), u32(n)) }
	entry := func(tag uint32, alias, typ string, der []byte) []byte {
		return slices.Concat(u32(tag), utf(alias), make([]byte, 8), utf(typ), u32(uint32(len(der))), der)
	}
	good := entry(2, "a", "X.509", c.Raw)
	valid := store(head(1), good)
	if _, err := ReadTrustStore(bytes.NewReader(valid), "pw"); err != nil {
		t.Fatalf("hand-made store: %v", err)
	}
	if _, err := ReadTrustStore(bytes.NewReader(store(head(0))), "pw"); err != nil {
		t.Fatalf("empty store: %v", err)
	}
	for _, tc := range []struct {
		name, want string
		in         []byte
	}{
		{"empty input", "truncated", nil},
		{"bad magic", "not a JKS", store(u32(0xCAFEBABE), u32(2), u32(0))},
		{"version 1", "version 1", store(u32(magic), u32(1), u32(0))},
		{"huge count", "entry count", store(head(1<<31), good)},
		{"count too high", "entry 2", store(head(2), good)},
		{"no digest", "digest", slices.Concat(head(1), good)},
		{"trailing byte", "after the digest", append(slices.Clone(valid), 0)},
		{"private key", "private key", store(head(1), entry(1, "a", "X.509", c.Raw))},
		{"unknown tag", "unknown tag", store(head(1), entry(3, "a", "X.509", c.Raw))},
		{"other type", "certificate type", store(head(1), entry(2, "a", "PGP", c.Raw))},
		{"duplicate alias", "duplicate alias", store(head(2), good, good)},
		{"bad alias", "alias", store(head(1), slices.Concat(u32(2), []byte{0, 1, 0}, make([]byte, 8), utf("X.509"), u32(uint32(len(c.Raw))), c.Raw))},
		{"bad certificate", "entry \"a\"", store(head(1), entry(2, "a", "X.509", []byte("garbage")))},
		{"huge cert length", "exceeds", store(head(1), slices.Concat(u32(2), utf("a"), make([]byte, 8), utf("X.509"), u32(0xFFFFFFFF)))},
		{"altered", "integrity", slices.Concat(head(1), entry(2, "b", "X.509", c.Raw), valid[len(valid)-digestLen:])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadTrustStore(bytes.NewReader(tc.in), "pw")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
}

type failWriter struct{}

var errFail = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

func TestWriteTrustStoreErrors(t *testing.T) {
	c := newCert(t, cn("A"))
	var buf bytes.Buffer
	if err := WriteTrustStore(&buf, nil, "pw", created); err == nil {
		t.Error("no certificates: no error")
	}
	if err := WriteTrustStore(&buf, []*x509.Certificate{c, nil}, "pw", created); err == nil || !strings.Contains(err.Error(), "certificate 2") {
		t.Errorf("nil certificate: err %v", err)
	}
	if err := WriteTrustStore(&buf, []*x509.Certificate{{}}, "pw", created); err == nil {
		t.Error("certificate without Raw: no error")
	}
	if err := WriteTrustStore(failWriter{}, []*x509.Certificate{c}, "pw", created); !errors.Is(err, errFail) {
		t.Errorf("failing writer: err %v, want it wrapped", err)
	}
}

// keytoolList runs keytool -list on path and returns the aliases of its
// trustedCertEntry lines.
func keytoolList(t *testing.T, keytool, path, password string, args ...string) ([]string, error) {
	t.Helper()
	cmd := exec.Command(keytool, append([]string{"-list", "-keystore", path, "-storepass", password}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "JAVA_TOOL_OPTIONS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, &keytoolError{err, string(out)}
	}
	var aliases []string
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "trustedCertEntry") {
			alias, _, _ := strings.Cut(line, ",")
			aliases = append(aliases, alias)
		}
	}
	return aliases, nil
}

type keytoolError struct {
	err error
	out string
}

func (e *keytoolError) Error() string { return e.err.Error() + ": " + e.out }

// TestKeytool checks that the JDK's keytool reads what WriteTrustStore
// writes, as JKS and with the type detected, and checks its digest.
func TestKeytool(t *testing.T) {
	t.Parallel()
	keytool := testutil.NeedCommand(t, "keytool", "apt-get install default-jdk-headless")
	dir := t.TempDir()
	certs := someCerts(t)
	bundle := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(bundle, pemOf(certs...), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParsePEM(data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cacerts")
	if err := os.WriteFile(path, write(t, parsed, "changeit"), 0o644); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range readFile(t, path, "changeit") {
		want = append(want, e.Alias)
	}
	if len(want) != len(certs) {
		t.Fatalf("%d entries, want %d", len(want), len(certs))
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"JKS", []string{"-storetype", "JKS"}},
		{"detected", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := keytoolList(t, keytool, path, "changeit", tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("keytool lists %q, want %q", got, want)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		if _, err := keytoolList(t, keytool, path, "wrongpass", "-storetype", "JKS"); err == nil {
			t.Error("keytool accepted the wrong password")
		}
	})
}

func readFile(t *testing.T, path, password string) []Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := ReadTrustStore(f, password)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// TestHostBundle converts the host's Mozilla bundle, if it has one, and
// has keytool count the result.
func TestHostBundle(t *testing.T) {
	t.Parallel()
	const bundle = "/etc/ssl/certs/ca-certificates.crt"
	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Skipf("no host CA bundle: %v", err)
	}
	certs, err := ParsePEM(data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cacerts")
	if err := os.WriteFile(path, write(t, certs, "changeit"), 0o644); err != nil {
		t.Fatal(err)
	}
	entries := readFile(t, path, "changeit")
	if len(entries) != len(ders(certs)) {
		t.Fatalf("%d entries from %d distinct certificates", len(entries), len(ders(certs)))
	}
	keytool, err := exec.LookPath("keytool")
	if err != nil {
		return
	}
	got, err := keytoolList(t, keytool, path, "changeit")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(entries) {
		t.Errorf("keytool lists %d entries, want %d", len(got), len(entries))
	}
}

// TestReadJavaCacerts reads a store that Java wrote: the host's cacerts,
// if it is JKS, and checks that it re-encodes to the same bytes.
func TestReadJavaCacerts(t *testing.T) {
	const path = "/etc/ssl/certs/java/cacerts"
	data, err := os.ReadFile(path)
	if err != nil || len(data) < 4 || binary.BigEndian.Uint32(data) != magic {
		t.Skipf("no JKS %s on this host", path)
	}
	entries, err := ReadTrustStore(bytes.NewReader(data), "changeit")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no entries")
	}
	again, err := encode(entries, "changeit")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Error("re-encoding Java's cacerts gives other bytes")
	}
}
