//go:build !linux

package qemu

// kvmUsable reports that there is no KVM: Start runs on Linux only.
func kvmUsable() (ok bool, why string) { return false, "KVM is Linux only" }
