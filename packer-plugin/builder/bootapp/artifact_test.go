package bootapp

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"
	"github.com/mitchellh/mapstructure"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
)

var _ packersdk.Artifact = (*Artifact)(nil)

// testResult writes fake output files into dir and describes them the way
// builder.Build does: boot formats first, then data, in the given order.
func testResult(t *testing.T, dir string, files ...builder.File) *builder.Result {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	res := &builder.Result{KernelRelease: "9.9.9-1-test-amd64", Manifest: filepath.Join(dir, "hello.manifest.json")}
	res.Spec.Name = "hello"
	for _, f := range files {
		f.Path = filepath.Join(dir, f.Path)
		if err := os.WriteFile(f.Path, []byte(f.Path), 0o644); err != nil {
			t.Fatal(err)
		}
		res.Files = append(res.Files, f)
	}
	if err := os.WriteFile(res.Manifest, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestArtifactFilesOrder(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		files []builder.File
		want  []string
	}{
		{
			name: "boot then data then manifest",
			files: []builder.File{
				{Path: "hello.raw", Role: builder.RoleBoot, Format: image.Raw},
				{Path: "hello.vmdk", Role: builder.RoleBoot, Format: image.VMDKStream},
				{Path: "hello-data.raw", Role: builder.RoleData, Format: image.Raw},
			},
			want: []string{"hello.raw", "hello.vmdk", "hello-data.raw", "hello.manifest.json"},
		},
		{
			name: "data listed first is still after the boot disk",
			files: []builder.File{
				{Path: "hello-data.qcow2", Role: builder.RoleData, Format: image.QCOW2},
				{Path: "hello.qcow2", Role: builder.RoleBoot, Format: image.QCOW2},
			},
			want: []string{"hello.qcow2", "hello-data.qcow2", "hello.manifest.json"},
		},
		{
			name:  "no data volume",
			files: []builder.File{{Path: "hello.raw", Role: builder.RoleBoot, Format: image.Raw}},
			want:  []string{"hello.raw", "hello.manifest.json"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, string(rune('a'+i)))
			a := newArtifact(testResult(t, out, tt.files...), out)
			var got []string
			for _, f := range a.Files() {
				got = append(got, filepath.Base(f))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Files() = %v, want %v", got, tt.want)
			}
			if a.Id() != tt.want[0] {
				t.Errorf("Id() = %q, want %q", a.Id(), tt.want[0])
			}
			if a.BuilderId() != BuilderID {
				t.Errorf("BuilderId() = %q", a.BuilderId())
			}
		})
	}
}

func TestArtifactStateAndString(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	res := testResult(t, out,
		builder.File{Path: "hello.raw", Role: builder.RoleBoot, Format: image.Raw, Size: 70 << 20, SHA256: "abc"},
		builder.File{Path: "hello-data.raw", Role: builder.RoleData, Format: image.Raw, Size: 1 << 30, SHA256: "def"},
	)
	a := newArtifact(res, out)

	gd, ok := a.State("generated_data").(map[string]interface{})
	if !ok {
		t.Fatalf("generated_data is %T, want map[string]interface{}", a.State("generated_data"))
	}
	want := map[string]interface{}{
		"ImageName": "hello", "OutputDir": out,
		"BootDisk": filepath.Join(out, "hello.raw"), "BootDiskSHA256": "abc",
		"DataVolume": filepath.Join(out, "hello-data.raw"), "Manifest": filepath.Join(out, "hello.manifest.json"),
		"KernelRelease": "9.9.9-1-test-amd64",
	}
	if !reflect.DeepEqual(gd, want) {
		t.Errorf("generated_data = %v, want %v", gd, want)
	}
	for _, name := range generatedVars {
		if _, ok := gd[name].(string); !ok {
			t.Errorf("generated_data[%q] = %#v, want a string", name, gd[name])
		}
	}

	img, ok := a.State(registryimage.ArtifactStateURI).(*registryimage.Image)
	if !ok {
		t.Fatalf("HCP metadata is %T", a.State(registryimage.ArtifactStateURI))
	}
	if err := img.Validate(); err != nil {
		t.Errorf("HCP image invalid: %v", err)
	}
	if img.ProviderName != "bootapp" || img.ImageID != "hello.raw" || !filepath.IsAbs(img.ProviderRegion) ||
		img.Labels["boot_disk_sha256"] != "abc" || img.Labels["kernel_release"] != "9.9.9-1-test-amd64" || img.Labels["data_volume"] != "hello-data.raw" {
		t.Errorf("HCP image = %+v", img)
	}
	// Packer core decodes the state into a list of images this way
	// (internal/hcp/registry in Packer); a single image must fit.
	var imgs []registryimage.Image
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: &imgs, WeaklyTypedInput: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(a.State(registryimage.ArtifactStateURI)); err != nil || len(imgs) != 1 || imgs[0].ImageID != "hello.raw" {
		t.Errorf("HCP decode as Packer does: %v, %+v", err, imgs)
	}
	if a.State("nonsense") != nil {
		t.Error("unknown state key returned a value")
	}

	s := a.String()
	for _, sub := range []string{"hello", "9.9.9-1-test-amd64", "boot disk: " + filepath.Join(out, "hello.raw"), "data volume: "} {
		if !strings.Contains(s, sub) {
			t.Errorf("String() = %q lacks %q", s, sub)
		}
	}
}

func TestArtifactDestroy(t *testing.T) {
	tests := []struct {
		name      string
		foreign   bool // a file that is not ours sits in the output directory
		wantDirOK bool
	}{
		{name: "only our files: directory removed too", foreign: false, wantDirOK: false},
		{name: "foreign file kept with its directory", foreign: true, wantDirOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			res := testResult(t, out,
				builder.File{Path: "hello.raw", Role: builder.RoleBoot, Format: image.Raw},
				builder.File{Path: "hello-data.raw", Role: builder.RoleData, Format: image.Raw},
			)
			foreign := filepath.Join(out, "notes.txt")
			if tt.foreign {
				if err := os.WriteFile(foreign, []byte("mine"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			a := newArtifact(res, out)
			// A file already removed (by a post-processor, say) is no error.
			if err := os.Remove(res.Files[1].Path); err != nil {
				t.Fatal(err)
			}
			if err := a.Destroy(); err != nil {
				t.Fatalf("Destroy: %v", err)
			}
			for _, f := range a.Files() {
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					t.Errorf("%s still exists (%v)", f, err)
				}
			}
			_, err := os.Stat(out)
			if (err == nil) != tt.wantDirOK {
				t.Errorf("output directory exists = %v, want %v", err == nil, tt.wantDirOK)
			}
			if tt.foreign {
				if b, err := os.ReadFile(foreign); err != nil || string(b) != "mine" {
					t.Errorf("foreign file damaged: %q, %v", b, err)
				}
			}
		})
	}
}
