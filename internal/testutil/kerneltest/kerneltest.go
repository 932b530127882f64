// Package kerneltest gives tests the real Debian cloud kernel the way a
// user gets it: the newest linux-image-*-cloud-amd64 package that
// `mkbootapp fetch` put into the bootapp cache, unpacked by the kernel
// package into that same cache. It is imported only from _test.go files
// (the kernel package's own tests use internal/testutil directly, which
// does not import kernel).
package kerneltest

import (
	"context"
	"testing"

	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/bootapp/bootapp/kernel"
)

// Open returns the newest cached kernel, unpacking it on first use (a few
// seconds; later calls take about a millisecond). A missing package is
// reported with testutil.Missing: a failure with BOOTAPP_E2E=1, a skip
// otherwise.
func Open(t testing.TB) *kernel.Kernel {
	t.Helper()
	deb := testutil.KernelDeb(t)
	k, err := kernel.Open(context.Background(), deb, kernel.Options{CacheDir: testutil.CacheDir()})
	if err != nil {
		t.Fatalf("open kernel package %s: %v", deb, err)
	}
	return k
}

// Modules returns the files of the named modules and of everything they
// depend on, dependencies first, as (path inside the guest, path in the
// cache) pairs: the guest path is /lib/modules/<release>/<module path>.
func Modules(t testing.TB, k *kernel.Kernel, names ...string) []Module {
	t.Helper()
	mods, err := k.Closure(names...)
	if err != nil {
		t.Fatalf("modules %v of kernel %s: %v", names, k.Release, err)
	}
	out := make([]Module, len(mods))
	for i, m := range mods {
		out[i] = Module{Guest: "/lib/modules/" + k.Release + "/" + m.Path, File: m.File}
	}
	return out
}

// Module is one module file to put into a test initramfs.
type Module struct {
	// Guest is the absolute path in the guest,
	// /lib/modules/<release>/kernel/....
	Guest string
	// File is the module's file in the cache.
	File string
}
