// Package blocks walks the data of a sparse raw disk image block by block,
// so that image encoders never read or write the holes.
//
// The data flow is: sparse.Extents (package image/sparse) asks the file
// system which byte ranges of a raw image hold data; Walk then reads only
// those ranges, in large sequential reads, cuts them into aligned blocks of
// the encoder's grain or cluster size and hands every block that is not all
// zeros to a callback, in increasing offset order. Holes and all-zero blocks
// inside data extents are skipped, so a 5 GiB image holding 20 MiB of data
// costs 20 MiB of reads. Nil extents mean the whole image (see image/sparse
// for the rules every encoder follows).
//
// Encoders that must know the layout before they write (qcow2, VMDK, sparse
// tar) call Walk twice: once to collect the list of blocks (Scan), once to
// copy them. The second pass is served from the page cache.
package blocks
