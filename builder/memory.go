package builder

import "fmt"

// GuestMemory returns the guest memory in MiB to boot the image of r with:
// override when it is positive, else the memory the build chose
// (r.MemoryMiB; 512 MiB for manifests of older versions). warning is set
// when the root file system, which the guest holds in RAM, takes more than
// half of it: the firmware may fail to load the initramfs ("Out of
// Resources") and the app is left little room.
func (r *Result) GuestMemory(override int) (mib int, warning string) {
	mib = override
	if mib <= 0 {
		mib = r.MemoryMiB
	}
	if mib <= 0 {
		mib = minMemoryMiB
	}
	if r.RootFSBytes > int64(mib)<<19 {
		warning = fmt.Sprintf("the root file system of %s takes %d MiB of RAM, more than half of the guest's %d MiB: give it at least %d MiB",
			r.Manifest, r.RootFSBytes>>20, mib, max(r.MemoryMiB, int(2*r.RootFSBytes>>20)))
	}
	return mib, warning
}
