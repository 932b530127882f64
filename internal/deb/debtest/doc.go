// Package debtest builds small Debian packages in memory for tests of the
// deb reader and of the packages that consume .deb files (kernel, builder).
// It writes what dpkg-deb writes: an ar archive with debian-binary, a
// control.tar and a data.tar, each tar optionally compressed.
package debtest
