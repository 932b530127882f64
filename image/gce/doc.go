// Package gce encodes a raw disk image the way Google Compute Engine's image
// import expects it: a file named disk.raw inside a gzip-compressed GNU tar
// archive (what Google documents as `tar --format=oldgnu -Sczf`), whose
// size is a whole number of GiB: the import refuses any other size, so
// disk.raw is the image followed by zeros up to the next GiB (a hole in
// the sparse map, free in the archive; Options.NoPad turns it off).
//
// The data flows in two passes over the data extents of the raw image. The
// first finds the non-zero 4 KiB blocks and merges them into runs: the
// sparse map. The second writes, through a gzip compressor, an old-GNU
// sparse tar header (type 'S') carrying that map, the extension headers
// when the map has more than four runs, the runs' data, and the end of the
// archive. Holes are never read, compressed or stored, so a mostly empty
// 10 GiB data volume costs kilobytes. GNU tar and Go's archive/tar extract
// it back to a sparse disk.raw of the full size. Archive and gzip headers
// carry fixed times and no host names, so the output is reproducible.
//
// Go's archive/tar reads sparse entries but cannot write them, which is why
// the header is encoded here by hand (about a hundred lines).
package gce
