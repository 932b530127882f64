// Package memo keeps what the image encoders' deterministic steps produce
// (a compressed VMDK grain, a compressed chunk of a GCE gzip stream) in a
// directory, keyed by a SHA-256 of everything the step's output depends
// on: the step's name, its parameters, the encoder's version and its
// input bytes.
//
// Why: a release differs from the previous one mostly in the app. The
// kernel, the base initramfs (guest init and modules), the boot loader
// and a runtime are the same bytes at the same places of the disk, and
// compressing them is most of the time a streamOptimized VMDK or a GCE
// archive takes (the kernel alone is half of it for a Go app). With a
// Store, a build compresses only the grains it has not compressed before
// and copies the others; the output is byte-identical either way, because
// the key covers every input of the step.
//
// A Store is best effort: an entry that cannot be read, is truncated or
// fails its CRC-32C is a miss, a Put that cannot write is dropped, and
// nothing is ever reported to the build. Entries are written under a
// temporary name and renamed, so concurrent builds sharing a directory
// see whole entries or none. Prune bounds the directory's size, oldest
// use first. A nil *Store is valid and remembers nothing.
package memo
