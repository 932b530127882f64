// Package fetch fills bootapp's cache with the Debian packages a build
// needs by default: the cloud kernel (linux-image-cloud-amd64, followed to
// the versioned package it depends on), systemd-boot-efi and
// e2fsck-static (the statically linked e2fsck the guest runs on its data
// volume before mounting it), ca-certificates (the Mozilla roots of every
// image's CA bundle) and tzdata (the time zones a build asks for). It runs
// `apt-get download` on Debian and Ubuntu hosts and does nothing for a
// package that is cached already.
//
// It is its own package so that programs which only call builder.Build do
// not carry it; `mkbootapp fetch` is its front door.
package fetch
