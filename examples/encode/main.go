// Command encode converts a raw disk image into every format bootapp
// encodes, using only the public API of github.com/bootapp/bootapp, from a
// module of its own: it is the proof that a program outside the bootapp
// module can drive the encoders (image/vmdk, image/qcow2, image/vhd,
// image/gce) with the extents of package image/sparse.
//
//	go run . disk.raw            # writes disk.vmdk, disk-stream.vmdk, ...
//	go run . -o out disk.raw     # into the directory out
//
// Its test encodes a sparse image in every format and checks each output
// with qemu-img compare; `go test ./...` in the bootapp module runs it
// (image/outside_test.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/image/gce"
	"github.com/bootapp/bootapp/image/ova"
	"github.com/bootapp/bootapp/image/qcow2"
	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/image/vhd"
	"github.com/bootapp/bootapp/image/vmdk"
)

// encoder is the common shape of the public encoders.
type encoder func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, extents []sparse.Extent) error

// encoders maps every format that has an encoder package onto it, with
// default options (and the VMDK descriptor naming its own file).
func encoders(vmdkName string) map[image.Format]encoder {
	return map[image.Format]encoder{
		image.VMDKStream: func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, ext []sparse.Extent) error {
			return vmdk.WriteStreamOptimized(ctx, w, src, size, ext, vmdk.Options{ExtentName: vmdkName})
		},
		image.VMDKSparse: func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, ext []sparse.Extent) error {
			return vmdk.WriteMonolithicSparse(ctx, w, src, size, ext, vmdk.Options{ExtentName: vmdkName})
		},
		image.QCOW2: func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, ext []sparse.Extent) error {
			return qcow2.Write(ctx, w, src, size, ext, qcow2.Options{})
		},
		image.VHD: func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, ext []sparse.Extent) error {
			return vhd.WriteFixed(ctx, w, src, size, ext, vhd.Options{})
		},
		image.GCE: func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, ext []sparse.Extent) error {
			return gce.Write(ctx, w, src, size, ext, gce.Options{})
		},
		image.OVA: func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, ext []sparse.Extent) error {
			return ova.Write(ctx, w, src, size, ext, ova.Options{})
		},
	}
}

// outName is the output file of format f for the raw image src in dir.
func outName(dir, src string, f image.Format) string {
	base := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
	if f == image.VMDKStream {
		base += "-stream"
	}
	return filepath.Join(dir, base+f.Ext())
}

// encodeFile writes the raw image at src as format f to dst with the
// format's encoder, reading only the data extents of src. Raw, which has no
// encoder package, goes through image.Encode.
func encodeFile(ctx context.Context, f image.Format, dst, src string) (err error) {
	enc, ok := encoders(filepath.Base(dst))[f]
	if !ok {
		return image.Encode(ctx, f, dst, src)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	ext, err := sparse.Extents(in)
	if err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if err := enc(ctx, out, in, fi.Size(), ext); err != nil {
		return fmt.Errorf("encode %s as %s: %w", src, f, err)
	}
	return nil
}

func main() {
	outDir := flag.String("o", ".", "output `directory`")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: encode [-o dir] disk.raw\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	src := flag.Arg(0)
	for _, f := range image.Formats() {
		if f == image.Raw {
			continue
		}
		dst := outName(*outDir, src, f)
		if err := encodeFile(context.Background(), f, dst, src); err != nil {
			fmt.Fprintln(os.Stderr, "encode:", err)
			os.Exit(1)
		}
		fmt.Println(dst)
	}
}
