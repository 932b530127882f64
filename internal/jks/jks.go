package jks

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

const (
	magic        = 0xFEEDFEED
	version2     = 2
	tagTrusted   = 2
	tagKey       = 1
	certType     = "X.509"
	digestSalt   = "Mighty Aphrodite"
	digestLen    = sha1.Size
	headerLen    = 12                // magic, version, count
	minEntryLen  = 4 + 2 + 8 + 2 + 4 // tag, alias length, date, type length, cert length
	maxStoreSize = 64 << 20          // far above a full Mozilla bundle (~170 KB)
	maxBaseLen   = 48                // alias characters taken from the subject
	shortHashLen = 8                 // hex digits of the SHA-256 in an alias
)

// ErrIntegrity is returned (wrapped) by ReadTrustStore when the store's
// digest does not match: the password is wrong or the file was altered.
var ErrIntegrity = errors.New("jks: keystore integrity check failed (wrong password or corrupt file)")

// Entry is one trusted-certificate entry of a keystore.
type Entry struct {
	// Alias names the entry in the store, as keytool -list shows it.
	Alias string
	// Created is the entry's creation date, to the millisecond, in UTC.
	Created time.Time
	// Cert is the trusted certificate; Cert.Raw holds its DER bytes.
	Cert *x509.Certificate
}

// WriteTrustStore writes certs to w as a JKS (version 2) keystore of
// trusted-certificate entries, protected by password (Java's default for
// cacerts is "changeit"), each entry dated created. A certificate given more
// than once (the same DER bytes) is written once. Each alias is derived from
// the certificate's subject and SHA-256 and the entries are sorted by alias,
// so the output depends only on the set of certificates and on created.
// An empty certs is an error: an empty trust store makes a JVM reject every
// TLS peer.
func WriteTrustStore(w io.Writer, certs []*x509.Certificate, password string, created time.Time) error {
	if len(certs) == 0 {
		return errors.New("jks: no certificates to write")
	}
	unique := make([]*x509.Certificate, 0, len(certs))
	seen := make(map[[sha256.Size]byte]bool, len(certs))
	for i, c := range certs {
		if c == nil || len(c.Raw) == 0 {
			return fmt.Errorf("jks: certificate %d has no DER bytes", i+1)
		}
		sum := sha256.Sum256(c.Raw)
		if seen[sum] {
			continue
		}
		seen[sum] = true
		unique = append(unique, c)
	}
	aliases := assignAliases(unique, shortHashLen)
	entries := make([]Entry, len(unique))
	for i, c := range unique {
		entries[i] = Entry{Alias: aliases[i], Created: created, Cert: c}
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Alias, b.Alias) })
	b, err := encode(entries, password)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("jks: writing keystore: %w", err)
	}
	return nil
}

// encode writes entries in the order given, with their own aliases.
func encode(entries []Entry, password string) ([]byte, error) {
	var buf bytes.Buffer
	be := binary.BigEndian
	buf.Write(be.AppendUint32(nil, magic))
	buf.Write(be.AppendUint32(nil, version2))
	buf.Write(be.AppendUint32(nil, uint32(len(entries))))
	for _, e := range entries {
		if e.Cert == nil || len(e.Cert.Raw) == 0 {
			return nil, fmt.Errorf("jks: entry %q has no certificate", e.Alias)
		}
		alias, err := modifiedUTF8(e.Alias)
		if err != nil {
			return nil, fmt.Errorf("jks: alias %q: %w", e.Alias, err)
		}
		if uint64(len(e.Cert.Raw)) > maxStoreSize {
			return nil, fmt.Errorf("jks: entry %q: certificate of %d bytes is too large", e.Alias, len(e.Cert.Raw))
		}
		buf.Write(be.AppendUint32(nil, tagTrusted))
		buf.Write(alias)
		buf.Write(be.AppendUint64(nil, uint64(e.Created.UnixMilli())))
		typ, _ := modifiedUTF8(certType)
		buf.Write(typ)
		buf.Write(be.AppendUint32(nil, uint32(len(e.Cert.Raw))))
		buf.Write(e.Cert.Raw)
	}
	buf.Write(digest(password, buf.Bytes()))
	return buf.Bytes(), nil
}

// digest is Java's keystore integrity digest: SHA-1 over the password's
// UTF-16BE code units, the salt phrase, and the store's bytes.
func digest(password string, data []byte) []byte {
	h := sha1.New()
	for _, u := range utf16.Encode([]rune(password)) {
		h.Write([]byte{byte(u >> 8), byte(u)})
	}
	h.Write([]byte(digestSalt))
	h.Write(data)
	return h.Sum(nil)
}

// modifiedUTF8 encodes s as java.io.DataOutput.writeUTF does: a uint16
// byte length, then NUL as C0 80 and supplementary characters as two
// three-byte surrogates.
func modifiedUTF8(s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("not valid UTF-8")
	}
	out := make([]byte, 2, 2+len(s))
	put := func(r rune) {
		switch {
		case r != 0 && r < 0x80:
			out = append(out, byte(r))
		case r < 0x800:
			out = append(out, 0xC0|byte(r>>6), 0x80|byte(r&0x3F))
		default:
			out = append(out, 0xE0|byte(r>>12), 0x80|byte(r>>6&0x3F), 0x80|byte(r&0x3F))
		}
	}
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			put(hi)
			put(lo)
			continue
		}
		put(r)
	}
	n := len(out) - 2
	if n > 0xFFFF {
		return nil, fmt.Errorf("%d bytes encoded, more than 65535", n)
	}
	binary.BigEndian.PutUint16(out, uint16(n))
	return out, nil
}

// decodeModifiedUTF8 is the inverse of modifiedUTF8 for the bytes after the
// length. It accepts only the canonical encoding (no raw NUL, no overlong
// forms, no unpaired surrogates), so that decoding and encoding again gives
// the same bytes.
func decodeModifiedUTF8(b []byte) (string, error) {
	var sb strings.Builder
	unit := func(i int) (rune, int, error) {
		c := b[i]
		switch {
		case c != 0 && c < 0x80:
			return rune(c), 1, nil
		case c&0xE0 == 0xC0:
			if i+1 >= len(b) || b[i+1]&0xC0 != 0x80 {
				return 0, 0, fmt.Errorf("truncated sequence at byte %d", i)
			}
			r := rune(c&0x1F)<<6 | rune(b[i+1]&0x3F)
			if r != 0 && r < 0x80 {
				return 0, 0, fmt.Errorf("overlong sequence at byte %d", i)
			}
			return r, 2, nil
		case c&0xF0 == 0xE0:
			if i+2 >= len(b) || b[i+1]&0xC0 != 0x80 || b[i+2]&0xC0 != 0x80 {
				return 0, 0, fmt.Errorf("truncated sequence at byte %d", i)
			}
			r := rune(c&0x0F)<<12 | rune(b[i+1]&0x3F)<<6 | rune(b[i+2]&0x3F)
			if r < 0x800 {
				return 0, 0, fmt.Errorf("overlong sequence at byte %d", i)
			}
			return r, 3, nil
		}
		return 0, 0, fmt.Errorf("invalid byte %#02x at byte %d", c, i)
	}
	for i := 0; i < len(b); {
		r, n, err := unit(i)
		if err != nil {
			return "", err
		}
		i += n
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return "", fmt.Errorf("unpaired low surrogate at byte %d", i-n)
		case r >= 0xD800 && r <= 0xDBFF:
			if i >= len(b) {
				return "", fmt.Errorf("unpaired high surrogate at byte %d", i-n)
			}
			lo, m, err := unit(i)
			if err != nil {
				return "", err
			}
			if lo < 0xDC00 || lo > 0xDFFF {
				return "", fmt.Errorf("unpaired high surrogate at byte %d", i-n)
			}
			i += m
			r = utf16.DecodeRune(r, lo)
		}
		sb.WriteRune(r)
	}
	return sb.String(), nil
}

// assignAliases gives each of certs (distinct DER) a unique alias: the
// sanitised subject, "-", and the first shortLen hex digits of the SHA-256.
// Certificates whose short aliases collide get the full 64 digits instead;
// those cannot collide with each other or with a short alias (the subject
// part is at most maxBaseLen characters long).
func assignAliases(certs []*x509.Certificate, shortLen int) []string {
	full := make([]string, len(certs))
	out := make([]string, len(certs))
	count := make(map[string]int, len(certs))
	for i, c := range certs {
		sum := sha256.Sum256(c.Raw)
		h := hex.EncodeToString(sum[:])
		base := aliasBase(c)
		full[i] = base + "-" + h
		out[i] = base + "-" + h[:min(shortLen, len(h))]
		count[out[i]]++
	}
	for i := range out {
		if count[out[i]] > 1 {
			out[i] = full[i]
		}
	}
	return out
}

// aliasBase is the subject's common name, else its first organisation,
// else "cert", lower-cased, with every run of characters other than
// [a-z0-9] made one "-", and cut to maxBaseLen.
func aliasBase(c *x509.Certificate) string {
	cands := []string{c.Subject.CommonName}
	cands = append(cands, c.Subject.Organization...)
	for _, s := range cands {
		if b := sanitize(s); b != "" {
			return b
		}
	}
	return "cert"
}

func sanitize(s string) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && sb.Len() > 0 {
				sb.WriteByte('-')
			}
			dash = false
			sb.WriteRune(r)
			if sb.Len() >= maxBaseLen {
				break
			}
			continue
		}
		dash = true
	}
	return sb.String()
}

// ParsePEM returns the certificates of a PEM bundle (such as Debian's
// /etc/ssl/certs/ca-certificates.crt) in their order, one per CERTIFICATE
// block; other blocks and text between blocks are ignored. A CERTIFICATE
// block that does not parse is an error naming its position, and so is a
// bundle without certificates.
func ParsePEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("jks: certificate %d (PEM block %d): %w", len(certs)+1, n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("jks: no CERTIFICATE blocks in the PEM data")
	}
	return certs, nil
}

// ReadTrustStore reads a JKS (version 2) keystore of trusted-certificate
// entries from r, checks its digest with password (a mismatch is
// ErrIntegrity), and returns its entries in file order. It reads at most
// 64 MiB and rejects what WriteTrustStore would not write: private-key
// entries, certificate types other than X.509, duplicate aliases,
// non-canonical modified UTF-8, and bytes after the digest.
func ReadTrustStore(r io.Reader, password string) ([]Entry, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxStoreSize+1))
	if err != nil {
		return nil, fmt.Errorf("jks: reading keystore: %w", err)
	}
	if len(data) > maxStoreSize {
		return nil, fmt.Errorf("jks: keystore larger than %d bytes", maxStoreSize)
	}
	return parse(data, password, true)
}

// reader walks a keystore's bytes; every read is checked against what is
// left, so no length from the input allocates more than the input holds.
type reader struct {
	b   []byte
	off int
}

func (r *reader) next(n int, what string) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, fmt.Errorf("jks: truncated at byte %d reading %s", r.off, what)
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

func (r *reader) u16(what string) (uint16, error) {
	p, err := r.next(2, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(p), nil
}

func (r *reader) u32(what string) (uint32, error) {
	p, err := r.next(4, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(p), nil
}

func (r *reader) utf(what string) (string, error) {
	n, err := r.u16(what + " length")
	if err != nil {
		return "", err
	}
	at := r.off
	p, err := r.next(int(n), what)
	if err != nil {
		return "", err
	}
	s, err := decodeModifiedUTF8(p)
	if err != nil {
		return "", fmt.Errorf("jks: %s at byte %d: %w", what, at, err)
	}
	return s, nil
}

// parse decodes a whole keystore; with verify false it skips the digest
// comparison (the fuzz test uses that to reach the entry parser).
func parse(data []byte, password string, verify bool) ([]Entry, error) {
	r := &reader{b: data}
	m, err := r.u32("magic")
	if err != nil {
		return nil, err
	}
	if m != magic {
		return nil, fmt.Errorf("jks: not a JKS keystore (magic %#08x)", m)
	}
	v, err := r.u32("version")
	if err != nil {
		return nil, err
	}
	if v != version2 {
		return nil, fmt.Errorf("jks: unsupported keystore version %d", v)
	}
	count, err := r.u32("entry count")
	if err != nil {
		return nil, err
	}
	if uint64(count) > uint64(len(data)-headerLen)/minEntryLen {
		return nil, fmt.Errorf("jks: entry count %d exceeds what %d bytes can hold", count, len(data))
	}
	entries := make([]Entry, 0, count)
	aliases := make(map[string]bool, count)
	for i := range int(count) {
		at := r.off
		tag, err := r.u32("entry tag")
		if err != nil {
			return nil, err
		}
		switch tag {
		case tagTrusted:
		case tagKey:
			return nil, fmt.Errorf("jks: entry %d (byte %d) is a private key; only trusted certificates are supported", i+1, at)
		default:
			return nil, fmt.Errorf("jks: entry %d (byte %d) has unknown tag %d", i+1, at, tag)
		}
		alias, err := r.utf("alias")
		if err != nil {
			return nil, err
		}
		if aliases[alias] {
			return nil, fmt.Errorf("jks: entry %d: duplicate alias %q", i+1, alias)
		}
		aliases[alias] = true
		d, err := r.next(8, "creation date")
		if err != nil {
			return nil, err
		}
		created := time.UnixMilli(int64(binary.BigEndian.Uint64(d))).UTC()
		typ, err := r.utf("certificate type")
		if err != nil {
			return nil, err
		}
		if typ != certType {
			return nil, fmt.Errorf("jks: entry %q: certificate type %q, want %q", alias, typ, certType)
		}
		n, err := r.u32("certificate length")
		if err != nil {
			return nil, err
		}
		if uint64(n) > uint64(len(data)-r.off) {
			return nil, fmt.Errorf("jks: entry %q: certificate length %d exceeds the %d bytes left", alias, n, len(data)-r.off)
		}
		der, err := r.next(int(n), "certificate")
		if err != nil {
			return nil, err
		}
		cert, err := x509.ParseCertificate(bytes.Clone(der))
		if err != nil {
			return nil, fmt.Errorf("jks: entry %q: %w", alias, err)
		}
		entries = append(entries, Entry{Alias: alias, Created: created, Cert: cert})
	}
	body := r.off
	sum, err := r.next(digestLen, "digest")
	if err != nil {
		return nil, err
	}
	if r.off != len(data) {
		return nil, fmt.Errorf("jks: %d bytes after the digest", len(data)-r.off)
	}
	if verify && !bytes.Equal(sum, digest(password, data[:body])) {
		return nil, ErrIntegrity
	}
	return entries, nil
}
