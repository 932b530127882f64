package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// elfLike is a stand-in for a module image: decompression does not look
// inside.
var elfLike = append([]byte("\x7fELF"), bytes.Repeat([]byte("module body "), 5000)...)

func compress(t testing.TB, c moduleCompression, b []byte) []byte {
	var buf bytes.Buffer
	switch c {
	case modPlain:
		return b
	case modXZ:
		w, err := xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
	case modZstd:
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
	case modGzip:
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
	}
	return buf.Bytes()
}

func TestDecompressModule(t *testing.T) {
	tests := []struct {
		path string
		want moduleCompression
	}{
		{"/lib/modules/6.1/kernel/drivers/virtio/virtio.ko", modPlain},
		{"/lib/modules/6.1/kernel/drivers/block/virtio_blk.ko.xz", modXZ},
		{"/lib/modules/6.1/kernel/drivers/net/virtio_net.ko.zst", modZstd},
		{"/lib/modules/6.1/kernel/drivers/acpi/button.ko.gz", modGzip},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c, err := compressionOf(tt.path)
			if err != nil || c != tt.want {
				t.Fatalf("compressionOf = %d, %v; want %d", c, err, tt.want)
			}
			got, err := decompressModule(c, bytes.NewReader(compress(t, c, elfLike)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, elfLike) {
				t.Errorf("decompressed %d bytes, want the %d original bytes", len(got), len(elfLike))
			}
		})
	}
}

func TestDecompressModuleErrors(t *testing.T) {
	if _, err := compressionOf("/lib/modules/x/modules.dep"); !errors.Is(err, errUnknownModule) {
		t.Errorf("compressionOf(modules.dep) err = %v, want errUnknownModule", err)
	}
	if _, err := compressionOf("/x/mod.ko.bz2"); !errors.Is(err, errUnknownModule) {
		t.Errorf("compressionOf(.ko.bz2) err = %v, want errUnknownModule", err)
	}
	for _, c := range []moduleCompression{modXZ, modZstd, modGzip} {
		if _, err := decompressModule(c, bytes.NewReader([]byte("not compressed at all"))); err == nil {
			t.Errorf("compression %d: garbage decompressed without error", c)
		}
		// Truncated streams must fail, not return a short module.
		full := compress(t, c, elfLike)
		if _, err := decompressModule(c, bytes.NewReader(full[:len(full)/2])); err == nil {
			t.Errorf("compression %d: truncated stream decompressed without error", c)
		}
	}
}

func TestModuleName(t *testing.T) {
	tests := map[string]string{
		"/lib/modules/r/kernel/drivers/virtio/virtio_pci.ko":    "virtio_pci",
		"/lib/modules/r/kernel/drivers/net/xen-netfront.ko.xz":  "xen_netfront",
		"/lib/modules/r/kernel/drivers/block/virtio_blk.ko.zst": "virtio_blk",
		"virtio.ko": "virtio",
	}
	for in, want := range tests {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
	for name, want := range map[string]bool{"virtio_blk": true, "nvme": true, "hv_storvsc": true, "virtio_net": false, "evdev": false} {
		if got := isStorageModule(name); got != want {
			t.Errorf("isStorageModule(%q) = %v, want %v", name, got, want)
		}
	}
}

func BenchmarkDecompressZstd(b *testing.B) {
	in := compress(b, modZstd, bytes.Repeat(elfLike, 20))
	b.SetBytes(int64(len(elfLike) * 20))
	for b.Loop() {
		if _, err := decompressModule(modZstd, bytes.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}
