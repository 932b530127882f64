package main

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/deb"
	"github.com/bootapp/bootapp/internal/guestconfig"
	"github.com/bootapp/bootapp/internal/qemu"
	"github.com/bootapp/bootapp/internal/testutil"
)

// The data volume lifecycle end-to-end tests boot the init with
// testdata/countapp, which appends a line to /data/count and fsyncs it
// before it answers GET / with the number of lines.

// volumeEnv is a runtimeEnv with countapp as the app.
func newVolumeE2E(t *testing.T) *runtimeEnv {
	r := newRuntimeE2E(t)
	testutil.NeedCommand(t, "e2fsck", "apt-get install -y e2fsprogs (or make deps)")
	p := testutil.StaticBinary(t, "./testdata/countapp", testutil.BuildOptions{Out: filepath.Join(r.dir, "countapp")})
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	r.bins["/app/countapp"] = b
	// The image's e2fsck, as the builder puts it into the base segment.
	if r.bins[e2fsckPath], err = deb.ExtractFile(r.ctx, testutil.FsckDeb(t), "sbin/e2fsck.static"); err != nil {
		t.Fatal(err)
	}
	return r
}

// countInitramfs is an initramfs with the init, the modules, countapp
// and a configuration with the given data volume.
func (r *runtimeEnv) countInitramfs(t *testing.T, data guestconfig.Data) []byte {
	t.Helper()
	c := r.config()
	c.App = guestconfig.App{Path: "/app/countapp", Env: []string{"DATA_DIR=/data"}, UID: 1000, GID: 1000}
	c.Data = data
	cfg, err := guestconfig.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := initramfs.NewWriterOptions(&buf, initramfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{"/init", "/app/countapp", e2fsckPath}, r.modules...) {
		mode := os.FileMode(0o644)
		if !strings.Contains(p, ".ko") {
			mode = 0o755
		}
		if err := w.WriteFile(p, mode, r.bins[p]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(guestconfig.Path, 0o644, cfg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// blankDisk makes a sparse file of size zero bytes.
func blankDisk(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

// e2fsckClean runs e2fsck -fn on a powered-off volume.
func e2fsckClean(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command("e2fsck", "-fn", path).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn %s: %v\n%s", filepath.Base(path), err, out)
	}
}

// hit answers GET / as a number.
func (v *runtimeVM) hit(t *testing.T) int {
	t.Helper()
	n, err := strconv.Atoi(v.get(t, "/"))
	if err != nil {
		v.fail(t, "GET /: %v", err)
	}
	return n
}

// nvmeData attaches the data disk on NVMe with serial.
func nvmeData(serial string) func(*qemu.Config) {
	return func(c *qemu.Config) {
		c.Disks[0].Bus = qemu.BusNVMe
		c.Disks[0].Serial = serial
	}
}

// TestBootQEMUDataLifecycle attaches a blank disk on NVMe with an EBS-like
// serial and selects it by the volume id: the first boot formats it, the
// second, after qemu-img resize, grows it online, and the count survives.
func TestBootQEMUDataLifecycle(t *testing.T) {
	r := newVolumeE2E(t)
	qemuImg := testutil.NeedCommand(t, "qemu-img", "apt-get install -y qemu-utils (or make deps)")
	disk := blankDisk(t, r.dir, "data.raw", 64<<20)
	initrd := r.countInitramfs(t, guestconfig.Data{Label: "bootapp-data", Serial: "vol-0123456789abcdef0", MountPoint: "/data", Required: true, WaitSeconds: 10,
		MountOptions: []string{"noatime", "lazytime", "commit=30", "errors=remount-ro"}})

	v := r.boot(t, initrd, disk, nvmeData("vol0123456789abcdef0"))
	v.waitHealthy(t, 3*time.Minute)
	if n := v.hit(t); n != 1 {
		v.fail(t, "first boot: count %d, want 1", n)
	}
	v.stop(t)
	v.expectLog(t, "(serial vol0123456789abcdef0) is blank", "data: formatted /dev/nvme0n1: 16384 blocks", "data: mounted /dev/nvme0n1")
	v.logData(t)
	e2fsckClean(t, disk)

	run(r.ctx, t, qemuImg, "resize", "-f", "raw", disk, "256M")
	v = r.boot(t, initrd, disk, nvmeData("vol0123456789abcdef0"))
	v.waitHealthy(t, 3*time.Minute)
	if n := v.hit(t); n != 2 {
		v.fail(t, "second boot: count %d, want 2", n)
	}
	v.stop(t)
	v.expectLog(t, "holds ext4 label \"bootapp-data\"", "data: e2fsck -p /dev/nvme0n1: clean", "data: grew /dev/nvme0n1 online from 16384 to 65536 blocks")
	v.logData(t)
	e2fsckClean(t, disk)
	out, err := exec.Command("dumpe2fs", "-h", disk).Output()
	if err != nil || !strings.Contains(string(out), "Block count:              65536") {
		t.Errorf("dumpe2fs -h after the resize: %v\n%s", err, out)
	}
}

// TestBootQEMUDataRefused attaches a FAT disk where the required volume is
// missing: the boot fails with a fatal line naming what the disk holds,
// and the disk is not written.
func TestBootQEMUDataRefused(t *testing.T) {
	r := newVolumeE2E(t)
	mkfs := testutil.NeedCommand(t, "mkfs.vfat", "apt-get install -y dosfstools")
	disk := blankDisk(t, r.dir, "fat.raw", 64<<20)
	run(r.ctx, t, mkfs, disk)
	sum := func() [32]byte {
		b, err := os.ReadFile(disk)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()
	initrd := r.countInitramfs(t, guestconfig.Data{Label: "bootapp-data", MountPoint: "/data", Required: true, WaitSeconds: 3})
	v := r.boot(t, initrd, disk, nil)
	select {
	case <-v.Done():
	case <-time.After(3 * time.Minute):
		v.fail(t, "the guest did not power off")
	}
	msg, ok := qemu.GuestFatal(v.console.String())
	if !ok || !strings.Contains(msg, "no blank disk; block devices: vda: vfat (FAT16)") {
		v.fail(t, "fatal line %q (found %v), want one naming vda's vfat", msg, ok)
	}
	t.Logf("fatal: %s", msg)
	if sum() != before {
		t.Error("the FAT disk was written")
	}
}

// TestBootQEMUDataOptional boots with the optional volume unusable (the
// only disk is blank but too small for ext4): the app runs on a tmpfs, and
// the init says loudly that its data will be lost.
func TestBootQEMUDataOptional(t *testing.T) {
	r := newVolumeE2E(t)
	initrd := r.countInitramfs(t, guestconfig.Data{Label: "bootapp-data", MountPoint: "/data", WaitSeconds: 2})
	v := r.boot(t, initrd, blankDisk(t, r.dir, "tiny.raw", 4<<20), nil)
	v.waitHealthy(t, 3*time.Minute)
	if n := v.hit(t); n != 1 {
		v.fail(t, "count %d, want 1", n)
	}
	v.stop(t)
	v.expectLog(t, "data: WARNING: data volume refused: vda is blank but only 4096 KiB: too small for ext4", "data: WARNING: the volume is optional: /data is a tmpfs, and everything written there is LOST at power-off")
	v.logData(t)
}

// TestBootQEMUPowerCut kills QEMU (SIGKILL) while the app appends and
// fsyncs, BOOTAPP_POWERCUT_CYCLES times (default 3): every acknowledged
// write is there at the next boot, and after a last clean power-off
// e2fsck -fn finds nothing to fix.
func TestBootQEMUPowerCut(t *testing.T) {
	r := newVolumeE2E(t)
	cycles := 3
	if s := os.Getenv("BOOTAPP_POWERCUT_CYCLES"); s != "" {
		var err error
		if cycles, err = strconv.Atoi(s); err != nil || cycles < 1 {
			t.Fatalf("BOOTAPP_POWERCUT_CYCLES=%q: want a positive number", s)
		}
	}
	disk := blankDisk(t, r.dir, "data.raw", 64<<20)
	initrd := r.countInitramfs(t, guestconfig.Data{Label: "bootapp-data", MountPoint: "/data", Required: true, WaitSeconds: 10})
	acked := 0 // the highest count the app acknowledged
	for i := 0; i <= cycles; i++ {
		v := r.boot(t, initrd, disk, nil)
		v.waitHealthy(t, 3*time.Minute)
		n := v.hit(t)
		if n <= acked {
			v.fail(t, "boot %d: count %d after %d acknowledged writes: writes lost", i+1, n, acked)
			return
		}
		acked = n
		for _, l := range v.initLines() {
			if strings.Contains(l, "e2fsck") || strings.Contains(l, "data: formatted") {
				t.Logf("boot %d: %s", i+1, strings.TrimSpace(l))
			}
		}
		if i == cycles {
			v.stop(t)
			break
		}
		// Hit as fast as possible from two clients, and kill QEMU
		// mid-stream.
		var last atomic.Int64
		stop := make(chan struct{})
		done := make(chan struct{}, 2)
		for range 2 {
			go func() {
				defer func() { done <- struct{}{} }()
				c := &http.Client{Timeout: 5 * time.Second}
				for {
					select {
					case <-stop:
						return
					default:
					}
					if n, ok := quietHit(c, v.Forwarded(8080)); ok {
						for m := last.Load(); int64(n) > m && !last.CompareAndSwap(m, int64(n)); m = last.Load() {
						}
					}
				}
			}()
		}
		time.Sleep(2 * time.Second)
		v.Kill()
		close(stop)
		<-done
		<-done
		if got := int(last.Load()); got > acked {
			acked = got
		}
		t.Logf("cycle %d: killed after %d acknowledged writes", i+1, acked)
	}
	e2fsckClean(t, disk)
}

// quietHit does GET / without failing the test (the VM dies under it) and
// returns the count the app acknowledged.
func quietHit(c *http.Client, addr string) (int, bool) {
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// logData logs the init's data volume lines.
func (v *runtimeVM) logData(t *testing.T) {
	for _, l := range v.initLines() {
		if strings.Contains(l, "] data: ") {
			t.Logf("%s", strings.TrimSpace(l))
		}
	}
}
