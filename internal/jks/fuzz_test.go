package jks

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"slices"
	"testing"
)

// FuzzReadTrustStore checks that ReadTrustStore never panics and that
// whatever the parser accepts (with or without the digest check) encodes
// back to the same bytes and so to an equal entry list.
func FuzzReadTrustStore(f *testing.F) {
	certs := []*x509.Certificate{newCert(f, cn("Fuzz Root")), newCert(f, pkix.Name{Organization: []string{"Org"}})}
	var buf bytes.Buffer
	if err := WriteTrustStore(&buf, certs, "changeit", created); err != nil {
		f.Fatal(err)
	}
	valid := buf.Bytes()
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(valid[:12])
	f.Add(store(u32(magic), u32(2), u32(0)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, verify := range []bool{true, false} {
			entries, err := parse(data, "changeit", verify)
			if err != nil {
				continue
			}
			again, err := encode(entries, "changeit")
			if err != nil {
				t.Fatalf("accepted entries do not encode: %v", err)
			}
			n := len(data) - digestLen
			if !bytes.Equal(again[:n], data[:n]) {
				t.Fatalf("re-encoding gives other bytes")
			}
			back, err := ReadTrustStore(bytes.NewReader(again), "changeit")
			if err != nil {
				t.Fatalf("re-encoded store rejected: %v", err)
			}
			if !slices.EqualFunc(entries, back, func(a, b Entry) bool {
				return a.Alias == b.Alias && a.Created.Equal(b.Created) && bytes.Equal(a.Cert.Raw, b.Cert.Raw)
			}) {
				t.Fatal("re-encoded store reads back other entries")
			}
			if verify && !bytes.Equal(again, data) {
				t.Fatal("verified store re-encodes to other bytes")
			}
		}
	})
}
