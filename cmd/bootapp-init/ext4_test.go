package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bootapp/bootapp/internal/testutil"
)

// superblockImage returns a fake device holding an ext4 superblock with
// the given magic and label.
func superblockImage(magic uint16, label string) []byte {
	b := make([]byte, superblockOffset+superblockSize)
	binary.LittleEndian.PutUint16(b[superblockOffset+magicOffset:], magic)
	copy(b[superblockOffset+labelOffset:superblockOffset+labelOffset+labelSize], label)
	return b
}

func TestExt4Label(t *testing.T) {
	tests := []struct {
		name    string
		dev     []byte
		want    string
		wantErr error
	}{
		{"label", superblockImage(ext4Magic, "bootapp-data"), "bootapp-data", nil},
		{"16-byte label", superblockImage(ext4Magic, "0123456789abcdef"), "0123456789abcdef", nil},
		{"no label", superblockImage(ext4Magic, ""), "", nil},
		{"wrong magic", superblockImage(0x1234, "bootapp-data"), "", errNotExt4},
		{"empty device", nil, "", errNotExt4},
		{"short device", make([]byte, superblockOffset+100), "", errNotExt4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ext4Label(bytes.NewReader(tt.dev))
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("ext4Label = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestExt4LabelMkfs reads the label of a filesystem made by the real
// mkfs.ext4.
func TestExt4LabelMkfs(t *testing.T) {
	mkfs := testutil.NeedCommand(t, "mkfs.ext4", "apt-get install -y e2fsprogs (or make deps)")
	img := filepath.Join(t.TempDir(), "fs.raw")
	if out, err := exec.Command(mkfs, "-q", "-F", "-L", "bootapp-data", img, "4M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := ext4Label(f); err != nil || got != "bootapp-data" {
		t.Errorf("ext4Label = %q, %v; want bootapp-data", got, err)
	}
}

func FuzzExt4Label(f *testing.F) {
	f.Add(superblockImage(ext4Magic, "x"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ext4Label(bytes.NewReader(b)) // must not panic
	})
}
