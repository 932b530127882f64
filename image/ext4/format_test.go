package ext4

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image/internal/sparsetest"
	"github.com/bootapp/bootapp/internal/testutil"
)

const (
	mib = 1 << 20
	gib = 1 << 30
	tib = 1 << 40
)

// wantFeatures is dumpe2fs's feature line for bookworm's ext4 defaults.
const wantFeatures = "has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg " +
	"sparse_super large_file huge_file dir_nlink extra_isize metadata_csum"

// sizes are the devices the checks run on: powers of two, sizes with a
// partial last block, a last group too short to keep (dropped), a short
// last group kept, the inode ratio change at 4 TiB and the limits.
var sizes = []struct {
	name string
	size int64
	// blocks is the expected file system size; 0 means size/BlockSize.
	blocks uint64
	// slow marks sizes whose e2fsck takes from 15 s to over a minute:
	// they are checked with BOOTAPP_E2E=1 (make test), not by make check.
	slow bool
}{
	{name: "8MiB", size: MinSize},
	{name: "16MiB", size: 16 * mib},
	{name: "64MiB", size: 64 * mib},
	{name: "1GiB", size: gib},
	{name: "1GiB+512", size: gib + 512, blocks: gib / BlockSize},
	{name: "1GiB+40KiB", size: gib + 40<<10, blocks: gib / BlockSize},                 // 10-block last group dropped
	{name: "1GiB+3MiB", size: gib + 3*mib},                                            // 768-block last group kept
	{name: "4GiB+2MiB+4KiB", size: 4*gib + 2*mib + 4096, blocks: 4 * gib / BlockSize}, // 513 blocks: dropped
	{name: "10GiB", size: 10 * gib},
	{name: "100GiB", size: 100 * gib},
	{name: "1TiB", size: tib},
	{name: "1TiB+5MiB", size: tib + 5*mib},
	{name: "4TiB+128MiB", size: 4*tib + 128*mib, slow: true},
	{name: "max", size: MaxSize, slow: true},
}

// format writes a file system of size bytes into a new sparse file.
func format(t testing.TB, size int64, p Params) (string, *Info) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fs.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Skipf("cannot make a sparse file of %d bytes here: %v", size, err)
	}
	p.Size = size
	info, err := Format(context.Background(), f, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, info
}

// TestFormat checks file systems of every size in sizes with e2fsck,
// dumpe2fs and debugfs, and that only the metadata is allocated.
func TestFormat(t *testing.T) {
	e2fsck := needTool(t, "e2fsck")
	for _, tt := range sizes {
		t.Run(tt.name, func(t *testing.T) {
			if tt.slow && (testing.Short() || !testutil.E2E()) {
				t.Skipf("slow e2fsck: runs with %s=1", testutil.E2EVar)
			}
			path, info := format(t, tt.size, Params{Label: "bootapp-data"})
			want := tt.blocks
			if want == 0 {
				want = uint64(tt.size) / BlockSize
			}
			if info.Blocks != want {
				t.Errorf("Info.Blocks = %d, want %d", info.Blocks, want)
			}
			if out, code := run(t, e2fsck, "-fn", path); code != 0 {
				t.Errorf("e2fsck -fn: exit %d:\n%s", code, out)
			}

			h := dumpe2fs(t, path)
			features := wantFeatures
			if info.ReservedGDT == 0 {
				features = strings.Replace(features, " resize_inode", "", 1)
			}
			ratio := uint64(16384)
			if tt.size >= 4*tib {
				ratio = 32768
			}
			for k, v := range map[string]string{
				"Filesystem volume name": "bootapp-data",
				"Filesystem UUID":        uuidString(info.UUID),
				"Filesystem state":       "clean",
				"Filesystem features":    features,
				"Block size":             "4096",
				"Block count":            fmt.Sprint(want),
				"Free blocks":            fmt.Sprint(info.FreeBlocks),
				"Inode count":            fmt.Sprint(info.Inodes),
				"Free inodes":            fmt.Sprint(info.Inodes - 11),
				"Reserved block count":   fmt.Sprint(want * 5 / 100),
				"Inode size":             "256",
				"Journal inode":          "8",
				"Journal start":          "0",
				"Total journal blocks":   fmt.Sprint(info.JournalBlocks),
				"Checksum type":          "crc32c",
			} {
				if got := h[k]; got != v {
					t.Errorf("dumpe2fs %s: %q, want %q", k, got, v)
				}
			}
			if got, want := info.Inodes, want*BlockSize/ratio; uint64(got) < want || uint64(got) > want+uint64(info.Groups)*16 {
				t.Errorf("%d inodes, want about %d (one per %d bytes)", got, want, ratio)
			}

			if out, code := run(t, "debugfs", "-R", "ls -l /", path); code != 0 ||
				!regexp.MustCompile(`(?m)^\s+11\s+40700 \(2\)\s+0\s+0\s+16384 .* lost\+found`).MatchString(out) {
				t.Errorf("debugfs ls -l /: exit %d, want lost+found (16 KiB, 0700):\n%s", code, out)
			}

			// Only metadata is allocated: about what Format wrote.
			a := allocated(t, path)
			if a > info.Written+256<<10 || a > tt.size/1000+mib {
				t.Errorf("%d bytes allocated for %d written, of %d", a, info.Written, tt.size)
			}
			t.Logf("%d blocks, %d groups, %d KiB written, %d KiB allocated", info.Blocks, info.Groups, info.Written>>10, a>>10)
		})
	}
}

// TestFormatMatchesMke2fs compares the superblock of Format's file systems
// with what mke2fs makes of the same device (lazy initialisation): same
// geometry, features, reserved and free counts.
func TestFormatMatchesMke2fs(t *testing.T) {
	mkfs := needTool(t, "mkfs.ext4")
	fields := []string{
		"Filesystem features", "Filesystem flags", "Default mount options", "Filesystem state",
		"Errors behavior", "Inode count", "Block count", "Reserved block count", "Free blocks",
		"Free inodes", "First block", "Block size", "Group descriptor size", "Reserved GDT blocks",
		"Blocks per group", "Inodes per group", "Inode blocks per group", "Flex block group size",
		"Maximum mount count", "Check interval", "First inode", "Inode size", "Required extra isize",
		"Desired extra isize", "Journal inode", "Default directory hash", "Journal backup",
		"Checksum type", "Journal features", "Total journal size", "Total journal blocks",
		"Journal sequence", "Journal start",
	}
	for _, tt := range []struct {
		name string
		size int64
	}{
		{"16MiB", 16 * mib},
		{"64MiB", 64 * mib},
		{"1GiB", gib},
		// Not a size with a last group dropped: mke2fs then keeps the
		// inode count of the larger size (8208 inodes a group).
		{"1GiB+3MiB", gib + 3*mib},
		{"100GiB", 100 * gib},
		{"1TiB", tib},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ours, _ := format(t, tt.size, Params{Label: "x"})
			ref := filepath.Join(t.TempDir(), "ref.raw")
			if err := os.WriteFile(ref, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(ref, tt.size); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(mkfs, "-q", "-F", "-b", "4096", "-i", "16384", "-L", "x",
				"-E", "lazy_itable_init=1,lazy_journal_init=1", ref)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mkfs.ext4: %v: %s", err, out)
			}
			got, want := dumpe2fs(t, ours), dumpe2fs(t, ref)
			for _, k := range fields {
				if got[k] != want[k] {
					t.Errorf("%s: %q, mke2fs %q", k, got[k], want[k])
				}
			}
			if ao, ar := allocated(t, ours), allocated(t, ref); ao > ar+64<<10 {
				t.Errorf("%d bytes allocated, mke2fs %d", ao, ar)
			}
		})
	}
}

// TestChecksums checks the CRC-32C helpers against the checksums mke2fs
// stores: superblock, descriptor of group 0, root inode and its directory
// block.
func TestChecksums(t *testing.T) {
	mkfs := needTool(t, "mkfs.ext4")
	ref := filepath.Join(t.TempDir(), "ref.raw")
	if out, err := exec.Command(mkfs, "-q", "-F", "-b", "4096", ref, "64M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	img, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	sb := img[superOffset : superOffset+superSize]
	if got, want := crc32c(^uint32(0), sb[:sChecksum]), le.Uint32(sb[sChecksum:]); got != want {
		t.Errorf("superblock checksum %#x, mke2fs %#x", got, want)
	}
	seed := crc32c(^uint32(0), sb[sUUID:sUUID+16])

	desc := bytes.Clone(img[blockSize : blockSize+descSize])
	want16 := le.Uint16(desc[bgChecksum:])
	le.PutUint16(desc[bgChecksum:], 0)
	if got := uint16(crc32c(crc32cU32(seed, 0), desc)); got != want16 {
		t.Errorf("descriptor checksum %#x, mke2fs %#x", got, want16)
	}

	itable := int(le.Uint32(img[blockSize+bgInodeTableLo:])) * blockSize
	root := bytes.Clone(img[itable+inodeSize : itable+2*inodeSize])
	want32 := uint32(le.Uint16(root[iChecksumLo:])) | uint32(le.Uint16(root[iChecksumHi:]))<<16
	le.PutUint16(root[iChecksumLo:], 0)
	le.PutUint16(root[iChecksumHi:], 0)
	if got := crc32c(inodeSeed(seed, rootIno, 0), root); got != want32 {
		t.Errorf("root inode checksum %#x, mke2fs %#x", got, want32)
	}

	dirBlk := int(le.Uint32(root[iBlock+20:])) * blockSize // first extent's ee_start_lo
	dir := img[dirBlk : dirBlk+blockSize]
	if got, want := crc32c(inodeSeed(seed, rootIno, 0), dir[:blockSize-dirTailLen]), le.Uint32(dir[blockSize-4:]); got != want {
		t.Errorf("directory block checksum %#x, mke2fs %#x", got, want)
	}
}

// TestFormatReproducible checks that a fixed UUID source and time give the
// same bytes, and that the default UUIDs differ.
func TestFormatReproducible(t *testing.T) {
	when := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := func(seed uint64) Params {
		return Params{Label: "data", Time: when, Rand: rand.NewChaCha8([32]byte{byte(seed)})}
	}
	a, ia := format(t, 64*mib, p(1))
	b, ib := format(t, 64*mib, p(1))
	c, ic := format(t, 64*mib, p(2))
	if !bytes.Equal(readFile(t, a), readFile(t, b)) {
		t.Error("same Params, different bytes")
	}
	if ia.UUID != ib.UUID || ia.UUID == ic.UUID {
		t.Errorf("UUIDs %x %x %x: want the first two equal, the third different", ia.UUID, ib.UUID, ic.UUID)
	}
	if bytes.Equal(readFile(t, a), readFile(t, c)) {
		t.Error("different random sources, same bytes")
	}
	_, r1 := format(t, 16*mib, Params{Label: "data"})
	_, r2 := format(t, 16*mib, Params{Label: "data"})
	if r1.UUID == r2.UUID {
		t.Errorf("two random UUIDs are equal: %x", r1.UUID)
	}
	if v := r1.UUID[6] >> 4; v != 4 {
		t.Errorf("UUID version %d, want 4", v)
	}

	// A given UUID is used as is.
	uuid := [16]byte{0xde, 0xad, 0xbe, 0xef, 15: 1}
	path, info := format(t, 16*mib, Params{Label: "data", UUID: uuid})
	if info.UUID != uuid || dumpe2fs(t, path)["Filesystem UUID"] != uuidString(uuid) {
		t.Errorf("UUID %x, want %x", info.UUID, uuid)
	}
	if got := dumpe2fs(t, a)["Filesystem created"]; got != when.Local().Format("Mon Jan _2 15:04:05 2006") {
		t.Errorf("created %q, want %v", got, when)
	}
}

func TestFormatErrors(t *testing.T) {
	var w discard
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		p    Params
		want error
	}{
		{"too small", context.Background(), Params{Size: MinSize - BlockSize}, ErrSize},
		{"negative", context.Background(), Params{Size: -1}, ErrSize},
		{"too large", context.Background(), Params{Size: MaxSize + BlockSize}, ErrSize},
		{"label", context.Background(), Params{Size: MinSize, Label: "abcdefghijklmnopq"}, ErrLabel},
		{"canceled", canceled, Params{Size: gib}, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Format(tt.ctx, &w, tt.p); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if w.n != 0 {
				t.Errorf("%d bytes written before the error", w.n)
			}
		})
	}
	// A failing device: the error names what was being written.
	if _, err := Format(context.Background(), failing{}, Params{Size: gib}); !errors.Is(err, syscall.EIO) ||
		!strings.Contains(err.Error(), "at block") {
		t.Errorf("err = %v, want EIO with the block", err)
	}
}

// TestResize2fs grows copies of file systems offline with resize2fs, within
// the reserved descriptor blocks and beyond them, and checks the result.
func TestResize2fs(t *testing.T) {
	e2fsck := needTool(t, "e2fsck")
	resize2fs := needTool(t, "resize2fs")
	for _, tt := range []struct {
		name     string
		from, to int64
		slow     bool
	}{
		{"1GiB to 100GiB", gib, 100 * gib, false},     // within the 127 reserved blocks
		{"16MiB to 10GiB", 16 * mib, 10 * gib, false}, // beyond the one reserved block
		{"1GiB+3MiB to 2TiB", gib + 3*mib, 2 * tib, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.slow && (testing.Short() || !testutil.E2E()) {
				t.Skipf("slow resize2fs and e2fsck: runs with %s=1", testutil.E2EVar)
			}
			path, _ := format(t, tt.from, Params{Label: "grow"})
			if err := os.Truncate(path, tt.to); err != nil {
				t.Fatal(err)
			}
			if out, code := run(t, resize2fs, path); code != 0 {
				t.Fatalf("resize2fs: exit %d:\n%s", code, out)
			}
			if out, code := run(t, e2fsck, "-fn", path); code != 0 {
				t.Errorf("e2fsck -fn after resize2fs: exit %d:\n%s", code, out)
			}
			if got, want := dumpe2fs(t, path)["Block count"], fmt.Sprint(tt.to/BlockSize); got != want {
				t.Errorf("block count %s after resize2fs, want %s", got, want)
			}
		})
	}
}

// TestMount mounts a file system through a loop device of the running
// kernel, writes to it, grows it online (within and beyond the reserved
// descriptor blocks) and checks it after unmounting. It needs root and
// loop devices, and is skipped without them.
func TestMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a loop device needs root")
	}
	e2fsck := needTool(t, "e2fsck")
	resize2fs := needTool(t, "resize2fs")
	losetup := needTool(t, "losetup")
	for _, tt := range []struct {
		name     string
		from, to int64
	}{
		{"16MiB to 20GiB", 16 * mib, 20 * gib},
		{"1GiB to 300GiB", gib, 300 * gib},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := format(t, tt.from, Params{Label: "mount"})
			mnt := filepath.Join(t.TempDir(), "mnt")
			if err := os.Mkdir(mnt, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(losetup, "--find", "--show", path).CombinedOutput()
			if err != nil {
				t.Skipf("no loop device here: %v: %s", err, out)
			}
			dev := strings.TrimSpace(string(out))
			t.Cleanup(func() { exec.Command(losetup, "-d", dev).Run() })
			if out, err := exec.Command("mount", "-t", "ext4", dev, mnt).CombinedOutput(); err != nil {
				t.Skipf("cannot mount here: %v: %s", err, out)
			}
			mounted := true
			t.Cleanup(func() {
				if mounted {
					exec.Command("umount", mnt).Run()
				}
			})
			want := bytes.Repeat([]byte("persistent state\n"), 1<<16)
			if err := os.MkdirAll(filepath.Join(mnt, "app", "db"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mnt, "app", "db", "state"), want, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, tt.to); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(losetup, "-c", dev).CombinedOutput(); err != nil {
				t.Fatalf("losetup -c: %v: %s", err, out)
			}
			grown := true
			if out, code := run(t, resize2fs, dev); code != 0 {
				if !strings.Contains(out, "Permission denied") {
					t.Fatalf("online resize2fs: exit %d:\n%s", code, out)
				}
				// The ioctl needs CAP_SYS_RESOURCE, which a container
				// may lack: check the rest.
				t.Logf("online growth not permitted here, skipped: %s", out)
				grown = false
			}
			if err := os.WriteFile(filepath.Join(mnt, "after-resize"), want, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
				t.Fatalf("umount: %v: %s", err, out)
			}
			mounted = false
			if out, code := run(t, e2fsck, "-fn", path); code != 0 {
				t.Errorf("e2fsck -fn after mount, write and online growth: exit %d:\n%s", code, out)
			}
			h := dumpe2fs(t, path)
			if got, want := h["Block count"], fmt.Sprint(tt.to/BlockSize); grown && got != want {
				t.Errorf("block count %s after online growth, want %s", got, want)
			}
			t.Logf("features after online growth: %s", h["Filesystem features"])
			if out, code := run(t, "debugfs", "-R", "cat /app/db/state", path); code != 0 || !strings.HasSuffix(out, string(want)) {
				t.Errorf("debugfs cat: exit %d, %d bytes", code, len(out))
			}
		})
	}
}

// discard counts the bytes written to it.
type discard struct{ n int64 }

func (d *discard) WriteAt(p []byte, off int64) (int, error) {
	d.n += int64(len(p))
	return len(p), nil
}

// failing fails every write.
type failing struct{}

func (failing) WriteAt(p []byte, off int64) (int, error) { return 0, syscall.EIO }

// needTool returns the path of an e2fsprogs tool, or skips the test (fails
// under BOOTAPP_E2E=1) when it is missing.
func needTool(t testing.TB, name string) string {
	t.Helper()
	return testutil.NeedCommand(t, name, "apt-get install -y e2fsprogs (or make deps)")
}

// run runs a command and returns its combined output and exit code.
func run(t testing.TB, name string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("run %s %v: %v", name, args, err)
	}
	return string(out), 0
}

// dumpe2fs returns the "Name: value" fields of dumpe2fs -h.
func dumpe2fs(t testing.TB, path string) map[string]string {
	t.Helper()
	out, code := run(t, needTool(t, "dumpe2fs"), "-h", path)
	if code != 0 {
		t.Fatalf("dumpe2fs -h: exit %d:\n%s", code, out)
	}
	m := map[string]string{}
	for line := range strings.SplitSeq(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// allocated returns the bytes a file occupies on disk (the test is
// skipped where the platform cannot tell).
func allocated(t testing.TB, path string) int64 {
	t.Helper()
	return sparsetest.Allocated(t, path)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func uuidString(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
