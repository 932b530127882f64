package builder

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/guestconfig"
	"github.com/bootapp/bootapp/internal/testutil"
)

// TestDataVolumeSelectors checks the data volume's guest-side fields:
// validation in WithDefaults and what reaches the guest configuration.
func TestDataVolumeSelectors(t *testing.T) {
	const uuid = "0f4c2a8e-3b1d-4e5f-9a7b-6c8d9e0f1a2b"
	for _, tt := range []struct {
		name      string
		dv        DataVolume
		wantField string // "" for valid
		wantData  guestconfig.Data
	}{
		{"default", DataVolume{}, "", guestconfig.Data{Label: "bootapp-data", MountPoint: "/data", Required: true}},
		{"optional with options", DataVolume{Optional: true, MountOptions: []string{"lazytime", "discard"}}, "",
			guestconfig.Data{Label: "bootapp-data", MountPoint: "/data", MountOptions: []string{"lazytime", "discard"}}},
		{"serial", DataVolume{Disabled: true, Serial: "vol-0abc"}, "", guestconfig.Data{Label: "bootapp-data", Serial: "vol-0abc", MountPoint: "/data", Required: true}},
		{"uuid", DataVolume{Disabled: true, UUID: uuid}, "", guestconfig.Data{Label: "bootapp-data", UUID: uuid, MountPoint: "/data", Required: true}},
		{"no data at all", DataVolume{Disabled: true}, "", guestconfig.Data{MountPoint: "/data", Required: true}},
		{"uuid with the build's volume", DataVolume{UUID: uuid}, "data_volume.uuid", guestconfig.Data{}},
		{"bad uuid", DataVolume{Disabled: true, UUID: "nope"}, "data_volume.uuid", guestconfig.Data{}},
		{"serial with the build's volume", DataVolume{Serial: "vol0abc"}, "data_volume.serial", guestconfig.Data{}},
		{"mount option not allowed", DataVolume{MountOptions: []string{"suid"}}, "data_volume.mount_options", guestconfig.Data{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Spec{App: App{Path: "x"}, DataVolume: tt.dv}.WithDefaults()
			var fe *FieldError
			if tt.wantField != "" {
				if !errors.As(err, &fe) || fe.Field != tt.wantField {
					t.Fatalf("WithDefaults = %v, want an error on %s", err, tt.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := guestConfig(&s, &appLayout{guestPath: "/app/x"}, nil).Data
			got.WaitSeconds = 0
			if !reflect.DeepEqual(got, tt.wantData) {
				t.Errorf("guest data = %+v, want %+v", got, tt.wantData)
			}
		})
	}
}

// TestFsckInBaseSegment puts the cached e2fsck-static's e2fsck into an
// initramfs as /sbin/e2fsck, mode 0755.
func TestFsckInBaseSegment(t *testing.T) {
	p := testutil.FsckDeb(t)
	if got := findFsck(testutil.CacheDir(), t.Logf); got != p {
		t.Errorf("findFsck = %q, want %q", got, p)
	}
	var buf bytes.Buffer
	var rec []initramfs.Entry
	w, err := initramfs.NewWriterOptions(&buf, initramfs.Options{Record: func(e initramfs.Entry) { rec = append(rec, e) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFsck(context.Background(), w, p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range rec {
		if e.Name == fsckGuestPath {
			found = true
			if e.Mode.Perm() != 0o755 || e.Size < 1<<20 {
				t.Errorf("%s: mode %v, %d bytes", e.Name, e.Mode, e.Size)
			}
		}
	}
	if !found {
		t.Errorf("no %s in %v", fsckGuestPath, rec)
	}
	if got := findFsck(t.TempDir(), t.Logf); got != "" {
		t.Errorf("findFsck of an empty cache = %q", got)
	}
}

// TestFsckInManifest: a build records the e2fsck-static package among its
// inputs and in the SBOM.
func TestFsckInManifest(t *testing.T) {
	testutil.KernelDeb(t)
	testutil.LoaderDeb(t)
	fsck := testutil.FsckDeb(t)
	app := testutil.StaticBinary(t, "../examples/hello", testutil.BuildOptions{})
	res, err := Build(context.Background(), Spec{App: App{Path: app, Ports: []int{8080}}, OutputDir: t.TempDir(), DataVolume: DataVolume{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	in := res.Inputs
	if in == nil || in.Fsck == nil || in.Fsck.Path != fsck || in.Fsck.Name != "e2fsck-static" || len(in.Fsck.SHA256) != 64 {
		t.Fatalf("manifest inputs: fsck %+v", in.Fsck)
	}
}
