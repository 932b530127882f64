package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bootapp/bootapp/image"
)

func TestDriveFormatOf(t *testing.T) {
	tests := []struct {
		format       image.Format
		wantDriver   string
		wantWritable bool
		wantErr      error
	}{
		{format: "", wantDriver: "raw", wantWritable: true},
		{format: image.Raw, wantDriver: "raw", wantWritable: true},
		{format: image.QCOW2, wantDriver: "qcow2", wantWritable: true},
		{format: image.VMDKSparse, wantDriver: "vmdk", wantWritable: true},
		{format: image.VMDKStream, wantDriver: "vmdk", wantWritable: false},
		{format: image.VHD, wantDriver: "vpc", wantWritable: true},
		{format: image.GCE, wantErr: ErrNotAttachable},
		{format: "iso", wantErr: ErrNotAttachable},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			got, err := DriveFormatOf(tt.format)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("DriveFormatOf(%q) = %+v, %v; want %v", tt.format, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Driver != tt.wantDriver || got.Writable != tt.wantWritable {
				t.Errorf("DriveFormatOf(%q) = %+v, %v; want driver %q, writable %v", tt.format, got, err, tt.wantDriver, tt.wantWritable)
			}
		})
	}
}

func TestBootFormatsAreWritable(t *testing.T) {
	// run and Verify attach their data volume in one of these formats.
	for _, f := range BootFormats() {
		if d, err := DriveFormatOf(f); err != nil || !d.Writable {
			t.Errorf("boot format %s: %+v, %v; want a writable format", f, d, err)
		}
	}
}

// TestDriveFormatsMatchQemuImg encodes a small disk into every format and
// asks QEMU's own tools what they see: qemu-img info must name the driver
// the table gives and the raw disk's size, and qemu-io must write into
// each copy the table calls writable and fail on the others.
func TestDriveFormatsMatchQemuImg(t *testing.T) {
	for _, tool := range []string{"qemu-img", "qemu-io"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install qemu-utils): %v", tool, err)
		}
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	const size = 3<<20 + 64<<10 // not a whole number of MiB: VHD rounds up
	data := make([]byte, size)
	for i := 0; i < len(data); i += 4096 { // every grain and cluster allocated
		data[i] = byte(i / 4096)
	}
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range image.Formats() {
		t.Run(string(f), func(t *testing.T) {
			out := filepath.Join(dir, "disk-"+string(f)+f.Ext())
			if err := image.Encode(context.Background(), f, out, raw); err != nil {
				t.Fatalf("encode %s: %v", f, err)
			}
			df, err := DriveFormatOf(f)
			if f == image.GCE || f == image.OVA {
				if !errors.Is(err, ErrNotAttachable) {
					t.Errorf("%s: err = %v, want ErrNotAttachable", f, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			probed := qemuImgInfo(t, out)
			// A fixed VHD has its footer only at the end, where QEMU's
			// probe does not look: it sees raw (with the footer as a
			// 512-byte tail of the disk). Hence the explicit driver.
			if f != image.VHD && probed.Format != df.Driver {
				t.Errorf("qemu-img probes %s as %q, the table says %q", f, probed.Format, df.Driver)
			}
			info := qemuImgInfo(t, out, "-f", df.Driver)
			if info.VirtualSize < size || info.VirtualSize > size+1<<20 {
				t.Errorf("%s: QEMU's virtual size %d, want %d (rounded up to at most 1 MiB)", f, info.VirtualSize, size)
			}
			b, werr := exec.Command("qemu-io", "-f", df.Driver, "-c", "write -P 0xab 1M 64k", out).CombinedOutput()
			if df.Writable != (werr == nil) {
				t.Errorf("%s: the table says writable %v, but qemu-io write: %v\n%s", f, df.Writable, werr, b)
			}
		})
	}
}

// qemuImgInfo runs qemu-img info on path, with args before the path.
func qemuImgInfo(t *testing.T, path string, args ...string) (info struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
}) {
	t.Helper()
	b, err := exec.Command("qemu-img", append(append([]string{"info", "--output=json"}, args...), path)...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v\n%s", path, err, b)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("qemu-img info %s: %v\n%s", path, err, b)
	}
	return info
}
