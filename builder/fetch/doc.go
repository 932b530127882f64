// Package fetch fills bootapp's cache with the Debian packages a build
// needs by default: the cloud kernel (linux-image-cloud-amd64, followed to
// the versioned package it depends on), systemd-boot-efi and
// e2fsck-static (the statically linked e2fsck the guest runs on its data
// volume before mounting it), ca-certificates (the Mozilla roots of every
// image's CA bundle) and tzdata (the time zones a build asks for). It runs
// `apt-get download` on Debian and Ubuntu hosts and does nothing for a
// package that is cached already.
//
// Runtime fetches a language runtime for Node.js or Java apps: Debian's
// nodejs, or the openjdk-N-jre-headless and openjdk-N-jdk-headless
// packages that default-jre-headless and default-jdk-headless depend on
// (the JDK's jmods and jlink make an app's small runtime). Every version
// is the highest that `apt-cache madison` lists, never the host's
// installed one, and is downloaded as NAME=VERSION. The shared libraries
// come from Debian's packages too, and only those the runtime's ELF files
// need rather than the whole Depends tree (about 100 packages for the
// JRE, fonts, CUPS and Perl among them): the roots are unpacked into a
// scratch tree, the closure of every ELF executable and shared object in
// them is resolved there with internal/elfdeps, and for each missing
// library the Depends and Pre-Depends of the package holding the file
// that needs it are fetched (of alternatives the first the archive knows;
// virtual packages are skipped), until it resolves; a library still
// missing after that is an error naming it, its user and that package.
// The result is CACHE/runtimes/NAME.json (cache.RuntimeIndex) and the
// packages unpacked into one tree (internal/debroot). A second call
// whose index still names the archive's versions, all cached, costs one
// or two apt-cache calls (about 0.5 s each) and no download.
//
// It is its own package so that programs which only call builder.Build do
// not carry it; `mkbootapp fetch` is its front door.
package fetch
