package builder

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/testutil"
)

// txSpec returns a spec for examples/hello with the cached kernel and boot
// loader, writing into out.
func txSpec(t *testing.T, out string) Spec {
	t.Helper()
	cache, kdeb, ldeb := testInputs(t)
	return Spec{
		App:        App{Path: buildGoApp(t, "../examples/hello")},
		Kernel:     KernelSource{Deb: kdeb},
		Bootloader: ldeb,
		CacheDir:   cache,
		OutputDir:  out,
		DataVolume: DataVolume{Size: 64 << 20},
	}
}

// snapshot lists every file below dir with its mode, size and SHA-256.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			v += " " + testutil.FileSHA256(t, p)
		}
		m[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	if !maps.Equal(before, after) {
		t.Errorf("%s changed the output directory:\nbefore %v\nafter  %v", what, slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
		for k, v := range before {
			if after[k] != v {
				t.Errorf("  %s: %q -> %q", k, v, after[k])
			}
		}
	}
}

// goodBuild builds into a fresh directory and returns the spec and the
// directory's snapshot.
func goodBuild(t *testing.T) (Spec, map[string]string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	s := txSpec(t, out)
	s.BootDisk.Formats = []image.Format{image.Raw, image.QCOW2}
	if _, err := Build(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s, snapshot(t, out)
}

// TestFailedRebuildKeepsOutput rebuilds into a directory holding a good
// build and makes the rebuild fail in several ways: the directory must be
// byte-identical afterwards (the round-1 bug: a rebuild refused for its data
// volume formats had already replaced hello.raw).
func TestFailedRebuildKeepsOutput(t *testing.T) {
	s, before := goodBuild(t)
	fail := errors.New("injected encoder failure")
	tests := []struct {
		name   string
		mod    func(*Spec)
		encode encodeFunc
		wantIs error
	}{
		{"data volume formats differ from the kept volume", func(s *Spec) {
			s.DataVolume.Formats = []image.Format{image.Raw, image.QCOW2}
		}, nil, ErrOutputConflict},
		{"one encoder fails", func(s *Spec) {
			s.BootDisk.Formats = []image.Format{image.Raw, image.QCOW2, image.VMDKStream}
		}, func(ctx context.Context, f image.Format, dst, src string) error {
			if f == image.VMDKStream {
				return fail
			}
			return image.Encode(ctx, f, dst, src)
		}, fail},
		{"app missing", func(s *Spec) { s.App.Path = filepath.Join(t.TempDir(), "gone") }, nil, ErrNotFound},
		{"new data label with the volume kept", func(s *Spec) { s.DataVolume.Label = "other-label" }, nil, ErrOutputConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := s
			tc.mod(&rs)
			enc := tc.encode
			if enc == nil {
				enc = image.Encode
			}
			_, err := build(context.Background(), rs, enc)
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("rebuild returned %v, want %v", err, tc.wantIs)
			}
			sameSnapshot(t, "a failed rebuild", before, snapshot(t, s.OutputDir))
		})
	}
}

// TestFailingOutputCancelsSiblings makes one encoder fail while another
// blocks until it is cancelled: Build must cancel the blocked one and wait
// for it before returning.
func TestFailingOutputCancelsSiblings(t *testing.T) {
	s := txSpec(t, filepath.Join(t.TempDir(), "out"))
	s.BootDisk.Formats = []image.Format{image.Raw, image.QCOW2, image.VHD}
	fail := errors.New("injected encoder failure")
	var running atomic.Int32
	var sawCancel atomic.Bool
	_, err := build(context.Background(), s, func(ctx context.Context, f image.Format, dst, src string) error {
		running.Add(1)
		defer running.Add(-1)
		if f == image.VHD {
			return fail
		}
		<-ctx.Done() // blocks until the failure cancels it
		sawCancel.Store(true)
		return ctx.Err()
	})
	if !errors.Is(err, fail) {
		t.Fatalf("Build returned %v, want the injected failure", err)
	}
	if n := running.Load(); n != 0 {
		t.Errorf("%d encoders still running after Build returned", n)
	}
	if !sawCancel.Load() {
		t.Errorf("the blocked encoder was not cancelled")
	}
	if _, err := os.Stat(s.OutputDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("output directory created by the failed build left behind")
	}
}

// cancelAt is a progress writer that cancels the build at the first line
// starting with prefix.
type cancelAt struct {
	prefix string
	cancel context.CancelFunc
}

func (c *cancelAt) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), c.prefix) {
		c.cancel()
	}
	return len(p), nil
}

// TestCancelledRebuildKeepsOutput cancels rebuilds at each stage, into a
// directory holding a good build and into a new one.
func TestCancelledRebuildKeepsOutput(t *testing.T) {
	s, before := goodBuild(t)
	for _, at := range []string{"kernel", "initramfs", "staged"} {
		t.Run(at, func(t *testing.T) {
			for _, fresh := range []bool{false, true} {
				ctx, cancel := context.WithCancel(context.Background())
				rs := s
				rs.BootDisk.Formats = []image.Format{image.Raw, image.VMDKStream}
				if fresh {
					rs.OutputDir = filepath.Join(t.TempDir(), "new")
				}
				rs.Progress = &cancelAt{prefix: at, cancel: cancel}
				_, err := Build(ctx, rs)
				cancel()
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Build cancelled at %q returned %v, want context.Canceled", at, err)
				}
				if fresh {
					if _, err := os.Stat(rs.OutputDir); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("output directory created by the cancelled build left behind")
					}
					continue
				}
				sameSnapshot(t, "a cancelled rebuild", before, snapshot(t, s.OutputDir))
			}
		})
	}
}

// TestRebuildReplacesAndCleansUp checks a successful rebuild: it replaces
// the boot disk, keeps the data volume, and removes what a killed build
// left behind.
func TestRebuildReplacesAndCleansUp(t *testing.T) {
	s, before := goodBuild(t)
	stale := filepath.Join(s.OutputDir, stagingPrefix+"123")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "hello.raw"), []byte("half a disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := s
	rs.App.Env = []string{"RELEASE=2"} // a different boot disk
	res, err := Build(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, s.OutputDir)
	if _, ok := after[filepath.Base(stale)]; ok {
		t.Errorf("stale staging directory %s not removed", stale)
	}
	if after["hello.raw"] == before["hello.raw"] {
		t.Errorf("boot disk not replaced")
	}
	if after["hello-data.raw"] != before["hello-data.raw"] {
		t.Errorf("data volume not kept")
	}
	for k := range after {
		if k != "." && strings.HasPrefix(k, ".") {
			t.Errorf("%s left in the output directory", k)
		}
	}
	if got := len(res.Files); got != 3 || !res.Files[2].Reused {
		t.Errorf("result files %+v, want raw and qcow2 boot disks and the kept data volume", res.Files)
	}
}

// TestBuildRefusesLockedOutput checks that a second build into a directory
// that a build holds is refused and changes nothing.
func TestBuildRefusesLockedOutput(t *testing.T) {
	s, before := goodBuild(t)
	unlock, err := lockDir(s.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Build(context.Background(), s)
	if !errors.Is(err, ErrOutputConflict) || !strings.Contains(err.Error(), "another build") {
		t.Fatalf("build into a locked directory returned %v", err)
	}
	sameSnapshot(t, "a refused build", before, snapshot(t, s.OutputDir))
}

// TestCommitRollsBack makes the n-th rename of a commit fail and checks
// that the directory is put back as it was.
func TestCommitRollsBack(t *testing.T) {
	for fail := 1; fail <= 4; fail++ {
		dir := t.TempDir()
		for _, n := range []string{"a", "b"} {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("old "+n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		before := snapshot(t, dir)
		o, err := openOutput(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"a", "b", "c"} {
			if err := os.WriteFile(o.path(n), []byte("new "+n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		calls := 0
		injected := errors.New("injected rename failure")
		o.rename = func(from, to string) error {
			calls++
			if calls == fail {
				return injected
			}
			return os.Rename(from, to)
		}
		if err := o.commit([]string{"a", "b", "c"}); !errors.Is(err, injected) {
			t.Fatalf("commit with rename %d failing returned %v", fail, err)
		}
		o.abort()
		sameSnapshot(t, "a failed commit", before, snapshot(t, dir))
	}
}
