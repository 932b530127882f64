package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestReadBootDiskRoundTrip writes boot disks and reads their entries back:
// ReadBootDisk returns what WriteBootDisk was given, and leaves the disk
// byte-identical.
func TestReadBootDiskRoundTrip(t *testing.T) {
	small := fakeBootFiles()
	odd := fakeBootFiles()
	odd.Kernel, odd.Initrd = odd.Kernel[:3002], odd.Initrd[:2000] // not whole clusters
	noInitrd := fakeBootFiles()
	noInitrd.Initrd, noInitrd.Cmdline, noInitrd.Title = nil, "", ""
	for name, tc := range map[string]struct {
		f    *BootFiles
		size int64
	}{
		"small":                 {small, 0},
		"sizes inside clusters": {odd, 0},
		"no initrd, no options": {noInitrd, 0},
		"larger disk":           {small, 300 << 20},
	} {
		t.Run(name, func(t *testing.T) {
			disk := filepath.Join(t.TempDir(), "boot.raw")
			if err := WriteBootDisk(context.Background(), disk, tc.f, tc.size); err != nil {
				t.Fatal(err)
			}
			before := fileSum(t, disk)
			start := time.Now()
			got, err := ReadBootDisk(disk)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("read in %s", time.Since(start).Round(time.Millisecond))
			want := *tc.f
			if want.Title == "" {
				want.Title = defaultTitle
			}
			if !bytes.Equal(got.Kernel, want.Kernel) || !bytes.Equal(got.Initrd, want.Initrd) || !bytes.Equal(got.Loader, want.Loader) {
				t.Errorf("files differ: kernel %d/%d bytes, initrd %d/%d, loader %d/%d",
					len(got.Kernel), len(want.Kernel), len(got.Initrd), len(want.Initrd), len(got.Loader), len(want.Loader))
			}
			if got.Cmdline != want.Cmdline || got.Title != want.Title {
				t.Errorf("cmdline %q title %q, want %q, %q", got.Cmdline, got.Title, want.Cmdline, want.Title)
			}
			if after := fileSum(t, disk); after != before {
				t.Error("reading the boot disk changed it")
			}
		})
	}
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestReadBootDiskNotABootDisk(t *testing.T) {
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.raw")
	if err := os.WriteFile(zero, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	qcow := filepath.Join(dir, "boot.qcow2")
	if err := os.WriteFile(qcow, append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 1<<20)...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{zero, qcow} {
		_, err := ReadBootDisk(p)
		if !errors.Is(err, ErrNoBootEntry) || !strings.Contains(err.Error(), p) {
			t.Errorf("ReadBootDisk(%s) = %v, want ErrNoBootEntry naming the path", p, err)
		}
	}
	if _, err := ReadBootDisk(filepath.Join(dir, "missing.raw")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing disk: %v, want fs.ErrNotExist", err)
	}
}

// mapESP is an espFS from a map of absolute paths to contents.
type mapESP map[string]string

func (m mapESP) ReadFile(name string) ([]byte, error) {
	for p, s := range m {
		if strings.EqualFold(p, name) {
			return []byte(s), nil
		}
	}
	return nil, fs.ErrNotExist
}

func (m mapESP) ReadDir(name string) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	for p := range m {
		if path.Dir(p) == name {
			out = append(out, fileEntry(path.Base(p)))
		}
	}
	if out == nil {
		return nil, fs.ErrNotExist
	}
	return out, nil
}

// fileEntry is the fs.DirEntry of a regular file named by it.
type fileEntry string

func (e fileEntry) Name() string             { return string(e) }
func (fileEntry) IsDir() bool                { return false }
func (fileEntry) Type() fs.FileMode          { return 0 }
func (fileEntry) Info() (fs.FileInfo, error) { return nil, fs.ErrInvalid }

func TestReadESPEntries(t *testing.T) {
	tests := []struct {
		name    string
		esp     mapESP
		want    *BootFiles
		wantErr string
	}{
		{name: "default entry, several initrds and options lines, comments",
			esp: mapESP{
				"/loader/loader.conf":        "# c\ntimeout 0\ndefault   other\n",
				"/loader/entries/other.conf": "title  A  B\r\nlinux /k\ninitrd /i1\ninitrd \\i2\n# options no\noptions a=1  b\noptions c\n",
				"/loader/entries/x.conf":     "linux /nope\n",
				"/k":                         "MZkernel", "/i1": "one", "/i2": "two",
				"/EFI/BOOT/BOOTX64.EFI": "MZloader",
			},
			want: &BootFiles{Loader: []byte("MZloader"), Kernel: []byte("MZkernel"), Initrd: []byte("onetwo"), Cmdline: "a=1 b c", Title: "A B"}},
		{name: "no loader.conf, one entry, no loader",
			esp:  mapESP{"/loader/entries/a.conf": "linux /k\n", "/k": "MZ"},
			want: &BootFiles{Kernel: []byte("MZ")}},
		{name: "two entries and no default",
			esp:     mapESP{"/loader/entries/a.conf": "linux /k\n", "/loader/entries/b.conf": "linux /k\n", "/k": "MZ"},
			wantErr: "holds 2 entries"},
		{name: "pattern default",
			esp:     mapESP{"/loader/loader.conf": "default boot*\n"},
			wantErr: "is a pattern"},
		{name: "no linux line",
			esp:     mapESP{"/loader/entries/a.conf": "title t\n"},
			wantErr: `no "linux" line`},
		{name: "missing kernel",
			esp:     mapESP{"/loader/entries/a.conf": "linux /bootapp/linux\n"},
			wantErr: "read ESP file /bootapp/linux"},
		{name: "no entries", esp: mapESP{}, wantErr: "read ESP directory /loader/entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readESP(tt.esp)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrNoBootEntry) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrNoBootEntry with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
