package cache

// Patterns of the Debian packages the builder takes system files from.
const (
	// CACertificatesPattern matches Debian's ca-certificates packages
	// (the Mozilla CA roots the image's CA bundle is made of).
	CACertificatesPattern = "ca-certificates_*.deb"
	// TzdataPattern matches Debian's tzdata packages (time zones).
	TzdataPattern = "tzdata_*.deb"
)
