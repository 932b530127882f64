// Package jks writes and reads Java KeyStores (JKS, the format of a JDK's
// lib/security/cacerts) that hold trusted-certificate entries only, so that
// an image can give a JVM a trust store made from its PEM CA bundle without
// running keytool on the build host.
//
// The file is JKS version 2: the magic 0xFEEDFEED, the version, the entry
// count, then per entry the tag 2 (trusted certificate), the alias in Java's
// modified UTF-8 with a 16-bit length, the creation date in milliseconds
// since the epoch, the certificate type "X.509" and the DER bytes with a
// 32-bit length; last comes a SHA-1 digest over the password (as UTF-16BE),
// the string "Mighty Aphrodite" and all the bytes before it, which is how
// Java checks the store's integrity.
//
// WriteTrustStore is deterministic: the same certificates and creation time
// give the same bytes, whatever their order. Aliases are derived from each
// certificate (its subject's common name, else organisation, lower-cased and
// limited to [a-z0-9-], plus a short hex of its SHA-256), entries are
// sorted by alias, and a certificate given twice is written once.
//
// ReadTrustStore is the inverse, for tests and checks: it accepts only what
// this package writes (trusted-certificate entries, canonical modified
// UTF-8, no trailing bytes), so that anything it accepts re-encodes to the
// same bytes. Every length it reads is bounded by the input's size.
package jks
