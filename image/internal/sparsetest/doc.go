// Package sparsetest is shared test support for the image encoders: it
// builds raw images with random data at chosen offsets inside large holes
// (a small one and one of 5 GiB), and checks encoded images with the real
// tools (qemu-img info, compare and check). Only tests import it.
package sparsetest
