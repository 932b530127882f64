package initramfs

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/bootapp/bootapp/internal/testutil"
	"github.com/bootapp/bootapp/internal/testutil/kerneltest"
)

// segment describes one segment of a boot test initramfs.
type segment struct {
	c     Compression
	files map[string]string // name -> content; "/init" is the test init
	// window, if set, compresses with this zstd window instead of
	// NewCompressor's, to probe the kernel's limits.
	window int
	filler int // bytes of random data, repeated twice, in /filler
}

// TestBoot boots the Debian kernel in QEMU on initramfs images made by this
// package, one per compression plus concatenations, and checks that the
// test init ran and read the marker file the last segment wrote.
func TestBoot(t *testing.T) {
	testutil.NeedE2E(t, "boots QEMU (about 5 s per case)")
	qemu := testutil.NeedCommand(t, "qemu-system-x86_64", "apt-get install -y qemu-system-x86 (or make deps)")
	kernel := kerneltest.Open(t).ImagePath
	dir := t.TempDir()
	init := testutil.StaticBinary(t, "./testdata/bootinit", testutil.BuildOptions{Out: filepath.Join(dir, "bootinit"), Flags: []string{"-trimpath"}})
	initData, err := os.ReadFile(init)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		segments []segment
	}{
		{"zstd", []segment{{c: Zstd, files: map[string]string{"/etc/marker": "zstd"}}}},
		{"xz", []segment{{c: XZ, files: map[string]string{"/etc/marker": "xz"}}}},
		{"gzip", []segment{{c: Gzip, files: map[string]string{"/etc/marker": "gzip"}}}},
		{"none", []segment{{c: None, files: map[string]string{"/etc/marker": "none"}}}},
		{"concatenated", []segment{
			{c: Zstd, files: map[string]string{"/lib/base": "cached"}},
			{c: Gzip, files: map[string]string{"/etc/marker": "stale"}},
			{c: None, files: map[string]string{"/etc/other": "x"}},
			{c: XZ, files: map[string]string{"/etc/marker": "concatenated"}},
		}},
		// A zstd frame whose matches reach back 10 MiB: the 6.1 kernel
		// allocates the window the frame asks for (up to 2 GiB).
		{"zstd 32 MiB window", []segment{
			{c: Zstd, window: 32 << 20, filler: 10 << 20, files: map[string]string{"/etc/marker": "zstd-window-32M"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var img bytes.Buffer
			for i, s := range tt.segments {
				files := s.files
				if i == 0 {
					files = map[string]string{"/init": string(initData)}
					for k, v := range s.files {
						files[k] = v
					}
				}
				writeBootSegment(t, &img, s, files)
			}
			want := tt.segments[len(tt.segments)-1].files["/etc/marker"]
			if f := tt.segments[0].filler; f > 0 && img.Len() > f*3/2 {
				t.Fatalf("%d-byte initrd for twice %d random bytes: the long matches were not used", img.Len(), f)
			}
			initrd := filepath.Join(dir, "initrd-"+regexp.MustCompile(`\W`).ReplaceAllString(tt.name, "_"))
			if err := os.WriteFile(initrd, img.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			start := time.Now()
			cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
				"-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			console := out.String()
			if ctx.Err() != nil {
				t.Fatalf("no power-off within 60 s; console tail:\n%s", tail(console, 2000))
			}
			if err != nil {
				t.Fatalf("qemu: %v\n%s", err, tail(console, 2000))
			}
			for _, bad := range []string{"Initramfs unpacking failed", "broken padding", "Kernel panic"} {
				if bytes.Contains(out.Bytes(), []byte(bad)) {
					t.Fatalf("console reports %q:\n%s", bad, tail(console, 3000))
				}
			}
			// The marker ends the init's line; a kernel message may be
			// interleaved right after it ("...OK none[    2.28] tsc: ...").
			line := "BOOTAPP-INITRAMFS-OK " + want
			if !regexp.MustCompile(regexp.QuoteMeta(line) + `(\r?\n|\[)`).Match(out.Bytes()) {
				t.Fatalf("console lacks %q; tail:\n%s", line, tail(console, 3000))
			}
			t.Logf("%s: %d-byte initrd, powered off after %.1f s", tt.name, img.Len(), time.Since(start).Seconds())
		})
	}
}

// writeBootSegment writes one segment holding files (sorted by the Writer's
// own order: map order is fixed here by sorting the names).
func writeBootSegment(t *testing.T, dst io.Writer, s segment, files map[string]string) {
	t.Helper()
	var w *Writer
	var custom io.WriteCloser
	if s.window != 0 {
		zw, err := zstd.NewWriter(dst, zstd.WithEncoderLevel(zstdLevel), zstd.WithWindowSize(s.window))
		if err != nil {
			t.Fatal(err)
		}
		custom = zw
		w = NewWriter(zw)
	} else {
		var err error
		if w, err = NewWriterOptions(dst, Options{Compression: s.c}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range sortedKeys(files) {
		mode := os.FileMode(0o644)
		if name == "/init" {
			mode = 0o755
		}
		if err := w.WriteFile(name, mode, []byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if s.filler > 0 {
		half := make([]byte, s.filler)
		if _, err := rand.Read(half); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFile("/filler", 0o644, append(half, half...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if custom != nil {
		if err := custom.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
