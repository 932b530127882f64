package ami

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/awstest"
	"github.com/bootapp/bootapp/packer-plugin/builder/bootapp"
)

// fakeBuild writes a small sparse boot disk and its manifest, and returns
// a bootapp artifact as Packer hands it over.
func fakeBuild(t *testing.T) (*packersdk.MockArtifact, string) {
	t.Helper()
	dir := t.TempDir()
	boot := filepath.Join(dir, "web.raw")
	f, err := os.Create(boot)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(3 << 20)
	f.WriteAt([]byte("EFI PART"), 512)
	f.WriteAt([]byte("kernel"), 2<<20+17)
	f.Close()
	b, _ := os.ReadFile(boot)
	sum := sha256.Sum256(b)
	res := builder.Result{
		Files:    []builder.File{{Path: boot, Role: builder.RoleBoot, Format: image.Raw, Size: 3 << 20, SHA256: hex.EncodeToString(sum[:])}},
		Manifest: filepath.Join(dir, "web.manifest.json"),
	}
	res.Spec.Name = "web"
	m, _ := json.Marshal(&res)
	if err := os.WriteFile(res.Manifest, m, 0o644); err != nil {
		t.Fatal(err)
	}
	return &packersdk.MockArtifact{
		BuilderIdValue: bootapp.BuilderID,
		FilesValue:     []string{boot, res.Manifest},
		StateValues:    map[string]interface{}{"generated_data": map[string]interface{}{"Manifest": res.Manifest, "ImageName": "web"}},
	}, dir
}

func TestPostProcess(t *testing.T) {
	awstest.IsolateEnv(t)
	s := awstest.New(t, "ca-central-1")
	in, dir := fakeBuild(t)
	var p PostProcessor
	err := p.Configure(map[string]interface{}{
		"region": "ca-central-1", "endpoint": s.URL,
		"access_key": awstest.AccessKeyID, "secret_key": awstest.SecretAccessKey,
		"ami_name": "web-1", "tags": map[string]string{"env": "test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	art, keep, force, err := p.PostProcess(context.Background(), packersdk.TestUi(t), in)
	if err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	if !keep || force {
		t.Errorf("keep = %v, force = %v; want the input kept, overridable", keep, force)
	}
	a := art.(*Artifact)
	im, ok := s.Images()[a.Result.ImageID]
	if !ok || im.Name != "web-1" || im.BootMode != "uefi" || !im.EnaSupport || im.Tags["env"] != "test" {
		t.Fatalf("image %+v", im)
	}
	if art.Id() != "ca-central-1:"+a.Result.ImageID || art.BuilderId() != BuilderID {
		t.Errorf("Id %q, BuilderId %q", art.Id(), art.BuilderId())
	}
	gen := art.State("generated_data").(map[string]interface{})
	if gen["ami_id"] != a.Result.ImageID || gen["snapshot_id"] != a.Result.SnapshotID || gen["ImageName"] != "web" {
		t.Errorf("generated_data %v", gen)
	}
	hcp := art.State(registryimage.ArtifactStateURI).(*registryimage.Image)
	if hcp.ImageID != a.Result.ImageID || hcp.ProviderName != "aws" || hcp.ProviderRegion != "ca-central-1" || hcp.Labels["snapshot_id"] != a.Result.SnapshotID {
		t.Errorf("HCP metadata %+v", hcp)
	}
	if files := art.Files(); len(files) != 1 || files[0] != filepath.Join(dir, "web.aws.json") {
		t.Errorf("Files %v", files)
	}
	if err := art.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if len(s.Images())+len(s.Snapshots()) != 0 {
		t.Error("Destroy left the AMI or its snapshot")
	}
}

func TestConfigureErrorsNameOptions(t *testing.T) {
	for _, tt := range []struct {
		raw  map[string]interface{}
		want string
	}{
		{map[string]interface{}{"region": "Mars"}, "bootapp-ami: region: "},
		{map[string]interface{}{"ami_name": "x"}, "bootapp-ami: ami_name: "},
		{map[string]interface{}{"endpoint": "127.0.0.1:9"}, "bootapp-ami: endpoint: "},
		{map[string]interface{}{"access_key": "AKID"}, "bootapp-ami: access_key and secret_key: "},
		{map[string]interface{}{"colour": "red"}, "colour"},
	} {
		var p PostProcessor
		err := p.Configure(tt.raw)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Configure(%v) = %v, want %q", tt.raw, err, tt.want)
		}
	}
}

func TestPostProcessErrors(t *testing.T) {
	awstest.IsolateEnv(t)
	s := awstest.New(t, "ca-central-1")
	in, _ := fakeBuild(t)
	for _, tt := range []struct {
		raw  map[string]interface{}
		want string
	}{
		{map[string]interface{}{"region": "ca-central-1", "endpoint": s.URL}, "set access_key and secret_key or profile"},
		{map[string]interface{}{"endpoint": s.URL, "access_key": awstest.AccessKeyID, "secret_key": awstest.SecretAccessKey}, "region: no region"},
		{map[string]interface{}{"region": "ca-west-4", "endpoint": s.URL, "access_key": awstest.AccessKeyID, "secret_key": awstest.SecretAccessKey}, "region: AWS refused region ca-west-4"},
	} {
		var p PostProcessor
		if err := p.Configure(tt.raw); err != nil {
			t.Fatal(err)
		}
		_, _, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("PostProcess with %v: %v, want %q", tt.raw, err, tt.want)
		}
		t.Logf("%v", err)
	}
	var p PostProcessor
	p.Configure(map[string]interface{}{})
	if _, _, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), &packersdk.MockArtifact{BuilderIdValue: "mitchellh.amazonebs"}); err == nil || !strings.Contains(err.Error(), "bootapp builder") {
		t.Errorf("PostProcess of another builder's artifact: %v", err)
	}
	if len(s.Images())+len(s.Snapshots()) != 0 {
		t.Error("something was created")
	}
}
