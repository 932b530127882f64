package builder

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"unicode/utf16"
	"unicode/utf8"
)

// ASN.1 string tags that OpenSSL canonicalises in a name (ASN1_MASK_CANON).
const (
	tagUTF8      = 12
	tagPrintable = 19
	tagT61       = 20
	tagIA5       = 22
	tagUniversal = 28
	tagBMP       = 30
	tagVisible   = 26
)

// opensslSubjectHash returns OpenSSL's X509_NAME_hash of a certificate's
// DER-encoded subject (x509.Certificate.RawSubject), the name of its file
// in a CApath directory (printf "%08x.0"): the first four bytes, little
// endian, of the SHA-1 of the name's canonical encoding (x509_name_canon):
// each RDN's SET re-encoded without the outer SEQUENCE, every string
// value of a canonicalised type converted to a UTF8String with leading
// and trailing white space removed, inner runs of white space made one
// space and ASCII letters lower-cased.
func opensslSubjectHash(rawSubject []byte) (uint32, error) {
	var name asn1.RawValue
	if rest, err := asn1.Unmarshal(rawSubject, &name); err != nil || len(rest) > 0 || name.Tag != asn1.TagSequence {
		return 0, fmt.Errorf("subject is not a DER SEQUENCE: %v", err)
	}
	var canon []byte
	for b := name.Bytes; len(b) > 0; {
		var set asn1.RawValue
		var err error
		if b, err = asn1.Unmarshal(b, &set); err != nil || set.Tag != asn1.TagSet {
			return 0, fmt.Errorf("subject RDN is not a SET: %v", err)
		}
		var avas [][]byte
		for a := set.Bytes; len(a) > 0; {
			var ava asn1.RawValue
			if a, err = asn1.Unmarshal(a, &ava); err != nil || ava.Tag != asn1.TagSequence {
				return 0, fmt.Errorf("subject attribute is not a SEQUENCE: %v", err)
			}
			var oid, val asn1.RawValue
			rest, err := asn1.Unmarshal(ava.Bytes, &oid)
			if err != nil {
				return 0, fmt.Errorf("subject attribute type: %w", err)
			}
			if _, err := asn1.Unmarshal(rest, &val); err != nil {
				return 0, fmt.Errorf("subject attribute value: %w", err)
			}
			enc := val.FullBytes
			if val.Class == asn1.ClassUniversal && canonTag(val.Tag) {
				s, err := stringToUTF8(val.Tag, val.Bytes)
				if err != nil {
					return 0, err
				}
				enc = derTLV(tagUTF8, canonString(s))
			}
			avas = append(avas, derTLV(asn1.TagSequence|0x20, append(append([]byte{}, oid.FullBytes...), enc...)))
		}
		// DER orders the members of a SET OF by their encodings.
		sort.Slice(avas, func(i, j int) bool { return bytes.Compare(avas[i], avas[j]) < 0 })
		canon = append(canon, derTLV(asn1.TagSet|0x20, bytes.Join(avas, nil))...)
	}
	sum := sha1.Sum(canon)
	return binary.LittleEndian.Uint32(sum[:4]), nil
}

func canonTag(tag int) bool {
	switch tag {
	case tagUTF8, tagPrintable, tagT61, tagIA5, tagUniversal, tagBMP, tagVisible:
		return true
	}
	return false
}

// stringToUTF8 converts an ASN.1 string to UTF-8 as ASN1_STRING_to_UTF8
// does: one-byte types as Latin-1, BMPString as UCS-2 (UTF-16BE),
// UniversalString as UCS-4.
func stringToUTF8(tag int, b []byte) ([]byte, error) {
	switch tag {
	case tagUTF8:
		if !utf8.Valid(b) {
			return nil, errors.New("invalid UTF8String in subject")
		}
		return b, nil
	case tagBMP:
		if len(b)%2 != 0 {
			return nil, errors.New("odd-length BMPString in subject")
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(b[2*i:])
		}
		return []byte(string(utf16.Decode(u))), nil
	case tagUniversal:
		if len(b)%4 != 0 {
			return nil, errors.New("bad UniversalString in subject")
		}
		var out []byte
		for i := 0; i < len(b); i += 4 {
			out = utf8.AppendRune(out, rune(binary.BigEndian.Uint32(b[i:])))
		}
		return out, nil
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out, nil
}

// canonString is asn1_string_canon's transformation of a UTF-8 string.
func canonString(s []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' }
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x80:
			out = append(out, c)
			i++
		case isSpace(c):
			out = append(out, ' ')
			for i < len(s) && isSpace(s[i]) {
				i++
			}
		default:
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			out = append(out, c)
			i++
		}
	}
	return out
}

// derTLV encodes a DER tag-length-value with a one-byte tag.
func derTLV(tag int, v []byte) []byte {
	out := []byte{byte(tag)}
	switch n := len(v); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	case n < 0x10000:
		out = append(out, 0x82, byte(n>>8), byte(n))
	default:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, v...)
}

// caPathFiles returns OpenSSL's CApath files for a PEM bundle: each
// certificate alone in /etc/ssl/certs/HASH.N, HASH its subject hash and N
// counting certificates with the same one, in bundle order (what
// c_rehash and update-ca-certificates make, as files rather than links).
// It is an error when a certificate does not parse or there is none.
func caPathFiles(bundle []byte) ([]sysEntry, error) {
	var out []sysEntry
	seen := map[uint32]int{}
	for rest := bundle; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			if len(out) == 0 {
				return nil, errors.New("no PEM CERTIFICATE block")
			}
			return out, nil
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		h, err := opensslSubjectHash(cert.RawSubject)
		if err != nil {
			return nil, fmt.Errorf("certificate %q: %w", cert.Subject, err)
		}
		n := seen[h]
		seen[h] = n + 1
		out = append(out, sysEntry{path: fmt.Sprintf("/etc/ssl/certs/%08x.%d", h, n), mode: 0o644, data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blk.Bytes})})
	}
}
