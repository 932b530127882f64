package builder

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
)

// TestEndToEndLargeDataVolumes is issue 13's check that what the fast
// data-volume writer produces at large sizes is a file system the guest
// mounts and uses: data volumes of 100 GiB and 1 TiB are built (in the time
// of a 1 GiB one), the guest counts on each across a boot, and e2fsck -fn
// passes afterwards.
func TestEndToEndLargeDataVolumes(t *testing.T) {
	e2e(t)
	cache, kdeb, ldeb := testInputs(t)
	app := buildGoApp(t, "../examples/hello")
	for _, size := range []int64{100 << 30, 1 << 40} {
		t.Run(fmtGiB(size), func(t *testing.T) {
			start := time.Now()
			res, err := Build(context.Background(), Spec{
				App:        App{Path: app, Ports: []int{8080}},
				Kernel:     KernelSource{Deb: kdeb},
				Bootloader: ldeb,
				CacheDir:   cache,
				OutputDir:  filepath.Join(t.TempDir(), "out"),
				DataVolume: DataVolume{Size: size},
				Platform:   "qemu",
			})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			data := fileByRole(t, res, RoleData, image.Raw)
			t.Logf("built with a %s data volume in %v; it allocates %d KiB", fmtGiB(size), time.Since(start).Round(time.Millisecond), data.Allocated>>10)
			if data.Size != size {
				t.Fatalf("data volume is %d bytes, want %d", data.Size, size)
			}
			boot := fileByRole(t, res, RoleBoot, image.Raw)
			bootAndCount(t, boot, data, 1, 8080)
			checkFilesystems(t, boot.Path, data.Path)
		})
	}
}

func fmtGiB(n int64) string {
	if n%(1<<40) == 0 {
		return strconv.FormatInt(n>>40, 10) + "TiB"
	}
	return strconv.FormatInt(n>>30, 10) + "GiB"
}
