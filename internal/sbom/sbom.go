package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

// SPDX constants of every document.
const (
	// Version is the SPDX version written.
	Version = "SPDX-2.3"
	// DataLicense is the license of the document itself, fixed by SPDX.
	DataLicense = "CC0-1.0"
	// DocumentID is the document's own SPDX identifier.
	DocumentID = "SPDXRef-DOCUMENT"
	// NamespacePrefix starts every document namespace. The namespace only
	// has to be a unique URI; it is not meant to be fetched.
	NamespacePrefix = "https://github.com/bootapp/bootapp/spdx/"
	// NoAssertion is SPDX's "not stated" value.
	NoAssertion = "NOASSERTION"
)

// Primary purposes of packages (SPDX primaryPackagePurpose).
const (
	PurposeApplication     = "APPLICATION"
	PurposeLibrary         = "LIBRARY"
	PurposeOperatingSystem = "OPERATING_SYSTEM"
	PurposeFirmware        = "FIRMWARE"
	PurposeFile            = "FILE"
	PurposeContainer       = "CONTAINER"
)

// Relationship types used.
const (
	Describes = "DESCRIBES"
	Contains  = "CONTAINS"
)

// ErrInvalid reports a Component tree that cannot become a document.
var ErrInvalid = errors.New("sbom: invalid component")

// Component is one piece of software in the image, with what it contains.
type Component struct {
	// Name is the package name (Debian's Package field, a Go module path,
	// or a descriptive name for the image and for files).
	Name string
	// Version is the package version; empty or "(devel)" when unknown.
	Version string
	// PURL is the package URL (DebPURL, GoPURL); empty for components that
	// have none (the image, a bare .efi file).
	PURL string
	// FileName is the base name of the file the component came as (the
	// .deb, the executable), or empty.
	FileName string
	// SHA256 is the hex SHA-256 of that file, or empty when unknown (Go
	// modules are known by their go.sum hash, see Comment).
	SHA256 string
	// Purpose is the SPDX primary package purpose (Purpose* constants).
	Purpose string
	// Comment is free text written as the package's comment.
	Comment string
	// Contains lists the components inside this one.
	Contains []Component
}

// Document is an SPDX 2.3 document in its JSON form.
type Document struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      CreationInfo   `json:"creationInfo"`
	Packages          []Package      `json:"packages"`
	Relationships     []Relationship `json:"relationships"`
}

// CreationInfo says when and by what a document was made.
type CreationInfo struct {
	// Created is an RFC 3339 UTC time without fractions
	// ("2024-01-02T03:04:05Z").
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
	Comment  string   `json:"comment,omitempty"`
}

// Package is an SPDX package.
type Package struct {
	SPDXID                string        `json:"SPDXID"`
	Name                  string        `json:"name"`
	VersionInfo           string        `json:"versionInfo,omitempty"`
	PackageFileName       string        `json:"packageFileName,omitempty"`
	DownloadLocation      string        `json:"downloadLocation"`
	FilesAnalyzed         bool          `json:"filesAnalyzed"`
	Checksums             []Checksum    `json:"checksums,omitempty"`
	ExternalRefs          []ExternalRef `json:"externalRefs,omitempty"`
	PrimaryPackagePurpose string        `json:"primaryPackagePurpose,omitempty"`
	Comment               string        `json:"comment,omitempty"`
}

// Checksum is a package checksum.
type Checksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

// ExternalRef is a package's external reference; bootapp writes package
// URLs (category PACKAGE-MANAGER, type purl).
type ExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

// Relationship links two SPDX elements.
type Relationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

// Options are the document-level fields of New.
type Options struct {
	// Name is the document name, e.g. the build's name.
	Name string
	// Created is the creation time; it is written in UTC to the second.
	// The builder passes SOURCE_DATE_EPOCH (zero: 1970-01-01).
	Created time.Time
	// Creators are SPDX creator strings ("Tool: bootapp").
	Creators []string
}

// New returns the SPDX document describing root: one package per component
// (Go modules with the same package URL and a known version merged), the
// document DESCRIBES root, and each component CONTAINS its children.
func New(root Component, opts Options) (*Document, error) {
	if opts.Name == "" {
		return nil, fmt.Errorf("%w: the document has no name", ErrInvalid)
	}
	creators := opts.Creators
	if len(creators) == 0 {
		creators = []string{"Tool: bootapp"}
	}
	d := &Document{
		SPDXVersion:  Version,
		DataLicense:  DataLicense,
		SPDXID:       DocumentID,
		Name:         opts.Name,
		CreationInfo: CreationInfo{Created: opts.Created.UTC().Truncate(time.Second).Format(time.RFC3339), Creators: creators},
	}
	b := &docBuilder{doc: d, byKey: map[string]string{}, ids: map[string]bool{}}
	id, err := b.add(root)
	if err != nil {
		return nil, err
	}
	d.Relationships = append([]Relationship{{SPDXElementID: DocumentID, RelationshipType: Describes, RelatedSPDXElement: id}}, d.Relationships...)
	// The namespace is derived from everything else, so that the same
	// content always gets the same namespace and different content a
	// different one.
	body, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("sbom: encode: %w", err)
	}
	sum := sha256.Sum256(body)
	d.DocumentNamespace = NamespacePrefix + idPart(opts.Name) + "-" + hex.EncodeToString(sum[:16])
	return d, nil
}

// Marshal returns the document as indented JSON ending in a newline.
func (d *Document) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sbom: encode: %w", err)
	}
	return append(b, '\n'), nil
}

type docBuilder struct {
	doc   *Document
	byKey map[string]string // merge key -> SPDXID
	ids   map[string]bool
	seen  map[string]bool // relationships written
}

// add writes c and its children and returns c's SPDXID.
func (b *docBuilder) add(c Component) (string, error) {
	if c.Name == "" {
		return "", fmt.Errorf("%w: a component has no name", ErrInvalid)
	}
	if c.SHA256 != "" {
		if s, err := hex.DecodeString(c.SHA256); err != nil || len(s) != sha256.Size {
			return "", fmt.Errorf("%w: %s: sha256 %q is not 64 hex digits", ErrInvalid, c.Name, c.SHA256)
		}
	}
	key := ""
	if c.PURL != "" && knownVersion(c.Version) && len(c.Contains) == 0 {
		key = c.PURL
	}
	if id, ok := b.byKey[key]; ok && key != "" {
		return id, nil
	}
	id := b.newID(c)
	if key != "" {
		b.byKey[key] = id
	}
	p := Package{
		SPDXID:                id,
		Name:                  c.Name,
		PackageFileName:       c.FileName,
		DownloadLocation:      NoAssertion,
		PrimaryPackagePurpose: c.Purpose,
		Comment:               c.Comment,
	}
	if knownVersion(c.Version) {
		p.VersionInfo = c.Version
	}
	if c.SHA256 != "" {
		p.Checksums = []Checksum{{Algorithm: "SHA256", ChecksumValue: strings.ToLower(c.SHA256)}}
	}
	if c.PURL != "" {
		p.ExternalRefs = []ExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: c.PURL}}
	}
	b.doc.Packages = append(b.doc.Packages, p)
	for _, child := range c.Contains {
		cid, err := b.add(child)
		if err != nil {
			return "", err
		}
		r := Relationship{SPDXElementID: id, RelationshipType: Contains, RelatedSPDXElement: cid}
		if b.seen == nil {
			b.seen = map[string]bool{}
		}
		if k := id + " " + cid; !b.seen[k] {
			b.seen[k] = true
			b.doc.Relationships = append(b.doc.Relationships, r)
		}
	}
	return id, nil
}

// newID returns a unique SPDXID for c: "SPDXRef-" and its name (and
// version), with characters SPDX does not allow replaced by '-'.
func (b *docBuilder) newID(c Component) string {
	base := "SPDXRef-" + idPart(c.Name)
	if knownVersion(c.Version) {
		base += "-" + idPart(c.Version)
	}
	id := base
	for n := 2; b.ids[id]; n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	b.ids[id] = true
	return id
}

// idPart maps s onto the characters an SPDXID may hold: letters, digits,
// '.' and '-'.
func idPart(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			sb.WriteRune(r)
		default:
			sb.WriteByte('-')
		}
	}
	return sb.String()
}

// knownVersion reports whether v names a version (Go writes "(devel)" for
// a main module built from a working tree).
func knownVersion(v string) bool { return v != "" && v != "(devel)" }

// DebPURL returns the package URL of a Debian package:
// pkg:deb/debian/NAME@VERSION?arch=ARCH.
func DebPURL(name, version, arch string) string {
	s := "pkg:deb/debian/" + escape(name, false)
	if version != "" {
		s += "@" + escape(version, true)
	}
	if arch != "" {
		s += "?arch=" + escape(arch, false)
	}
	return s
}

// GoPURL returns the package URL of a Go module: pkg:golang/PATH@VERSION,
// the module path's elements escaped one by one; an unknown version is
// left out.
func GoPURL(module, version string) string {
	parts := strings.Split(module, "/")
	for i, p := range parts {
		parts[i] = escape(p, false)
	}
	s := "pkg:golang/" + strings.Join(parts, "/")
	if knownVersion(version) {
		s += "@" + escape(version, true)
	}
	return s
}

// escape percent-encodes s for a purl segment: RFC 3986 unreserved
// characters stay, and ':' stays in versions (Debian epochs).
func escape(s string, version bool) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '-', c == '_', c == '~', version && c == ':':
			sb.WriteByte(c)
		default:
			fmt.Fprintf(&sb, "%%%02X", c)
		}
	}
	return sb.String()
}

// GoModules returns the components a Go executable's build information
// names: the main module, every dependency (a replaced one with its
// replacement's path and version) and the standard library of the
// toolchain (version "go1.26.8", package URL pkg:golang/stdlib@1.26.8, the
// form vulnerability scanners match).
// Each dependency's go.sum hash goes into its comment.
func GoModules(bi *debug.BuildInfo) []Component {
	if bi == nil {
		return nil
	}
	var out []Component
	if bi.Main.Path != "" {
		out = append(out, Component{Name: bi.Main.Path, Version: bi.Main.Version, PURL: GoPURL(bi.Main.Path, bi.Main.Version),
			Purpose: PurposeLibrary, Comment: "main module of the executable"})
	}
	for _, m := range bi.Deps {
		path, version, sum := m.Path, m.Version, m.Sum
		comment := ""
		if r := m.Replace; r != nil {
			comment = "replaces " + m.Path + " " + m.Version
			path, version, sum = r.Path, r.Version, r.Sum
		}
		if sum != "" {
			if comment != "" {
				comment += "; "
			}
			comment += "go.sum " + sum
		}
		out = append(out, Component{Name: path, Version: version, PURL: GoPURL(path, version), Purpose: PurposeLibrary, Comment: comment})
	}
	if v, ok := strings.CutPrefix(bi.GoVersion, "go"); ok && v != "" {
		// A toolchain suffix (go1.26.8 X:boringcrypto) is not a version.
		v, _, _ = strings.Cut(v, " ")
		out = append(out, Component{Name: "stdlib", Version: "go" + v, PURL: GoPURL("stdlib", v), Purpose: PurposeLibrary,
			Comment: "Go standard library and runtime"})
	}
	return out
}
