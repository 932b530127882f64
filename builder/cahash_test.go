package builder

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenSSLSubjectHash compares opensslSubjectHash with the names
// OpenSSL's c_rehash gave the build host's CA certificates
// (/etc/ssl/certs/HASH.N links, made by update-ca-certificates).
func TestOpenSSLSubjectHash(t *testing.T) {
	links, _ := filepath.Glob("/etc/ssl/certs/*.[0-9]")
	if len(links) < 50 {
		t.Skipf("the host has %d hash links in /etc/ssl/certs (apt-get install ca-certificates)", len(links))
	}
	for _, l := range links {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM block", l)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		h, err := opensslSubjectHash(cert.RawSubject)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if want := strings.SplitN(filepath.Base(l), ".", 2)[0]; fmt.Sprintf("%08x", h) != want {
			t.Errorf("%s (%s): hash %08x", l, cert.Subject, h)
		}
	}
	t.Logf("%d subject hashes match", len(links))
}

func TestCanonString(t *testing.T) {
	for in, want := range map[string]string{
		"  Foo  Bar\t\tBAZ ": "foo bar baz",
		"ÄBC":                "Äbc",
		"":                   "",
		" \t ":               "",
	} {
		if got := string(canonString([]byte(in))); got != want {
			t.Errorf("canonString(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzOpenSSLSubjectHash: any bytes as a subject give a hash or an error,
// never a panic.
func FuzzOpenSSLSubjectHash(f *testing.F) {
	f.Add([]byte{0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, 'C', 'A'})
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, subj []byte) {
		_, _ = opensslSubjectHash(subj)
	})
}
