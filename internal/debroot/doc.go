// Package debroot unpacks Debian packages into one merged, self-contained
// directory tree in bootapp's cache: the file system a language runtime
// (Node.js, a JDK) and its shared libraries need, taken from Debian's
// packages rather than from the build host.
//
// Unpack takes the .deb files and returns CACHE/runtimes/root-KEY, where
// KEY is a hash of each package's base name, size and modification time
// (and of the unpacking rules' version). That makes a warm call a few
// stat calls (well under a millisecond for 40 packages) instead of hashing
// 100 MB of packages; the packages' SHA-256 sums, computed while they are
// unpacked, are stored in the tree's PackagesFile and read back by
// Packages for the build manifest. A tree is created in a temporary
// directory beside it and renamed into place when complete, so readers
// never see half of one; when two builds unpack the same packages at
// once, the one whose rename loses removes its copy and uses the winner's.
//
// What goes into the tree, from each package's data.tar:
//
//   - directories, regular files and symbolic links, with their permission
//     bits (setuid and setgid dropped; nothing in the tree runs as another
//     user) and the files' modification times; ownership is not kept;
//   - hard links as hard links, or as copies where the file system refuses;
//   - absolute symbolic link targets rewritten to the equivalent relative
//     path inside the tree (usr/lib/jvm/java-17-openjdk-amd64/conf ->
//     /etc/java-17-openjdk becomes ../../../../etc/java-17-openjdk), so
//     that programs run from the tree (jlink, jdeps) and lookups in it
//     never reach the host's files;
//   - device nodes and FIFOs are skipped.
//
// An entry whose name has a ".." component, a relative link target that
// leaves the tree, or a hard link to a name outside it is an error naming
// the package and the entry; every write goes through an os.Root, so no
// link in the tree can redirect one outside it either. A later package
// replaces a file or link of an earlier one at the same path, as dpkg does
// with Replaces; a file where another package has a directory is an error.
//
// Extract unpacks one package into an existing directory with the same
// rules and reports the files it wrote; builder/fetch uses it for the
// scratch tree in which it computes a runtime's library closure.
package debroot
