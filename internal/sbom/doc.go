// Package sbom writes the software bill of materials of a bootapp image as
// an SPDX 2.3 JSON document (NAME.spdx.json beside the manifest).
//
// The builder describes what went into the image as a tree of Components:
// the image at the root, the Debian packages it took files from (kernel,
// boot loader, later a runtime), the guest init and the app, and inside
// those executables the Go modules their build information names
// (GoModules reads it from a debug/buildinfo.BuildInfo). New turns that
// tree into a Document: one SPDX package per component, identified by its
// package URL (DebPURL, GoPURL) and, where the builder knows it, its
// SHA-256; the document DESCRIBES the image, and every component CONTAINS
// its children. A Go module used by two executables (the guest init and
// the app) at the same version is one package contained by both.
//
// The output is deterministic: packages keep the order of the tree,
// relationships follow it, the creation time is the one given (the
// builder passes SOURCE_DATE_EPOCH), and the document namespace is derived
// from the document's own content (NamespacePrefix, the name and a SHA-256
// of the document without its namespace), so the same image always gets
// the same bytes and two different images never share a namespace.
//
// SPDX rather than CycloneDX: SPDX 2.3 is an ISO standard (ISO/IEC
// 5962:2021), is what Debian and the Linux Foundation tooling read, and
// its package/relationship model (DESCRIBES, CONTAINS) fits an image made
// of packages exactly; CycloneDX would serve as well, it is no clearer
// for this content. Only the fields bootapp can fill truthfully are
// written: licenses are left out (NOASSERTION is implied), and
// downloadLocation is NOASSERTION because the builder takes packages from
// a local cache.
package sbom
