//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awspub "github.com/bootapp/bootapp/builder/publish/aws"
	"github.com/bootapp/bootapp/internal/awstest"
)

// TestPackerAMI runs examples/packer/hello-ami.pkr.hcl in a real `packer
// build`: the bootapp builder, then the bootapp-ami post-processor against
// internal/awstest's stand-in for EC2 and the EBS direct APIs on
// 127.0.0.1, then the manifest post-processor. A second build fails in the
// middle of the upload and must leave nothing in the (fake) cloud.
func TestPackerAMI(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	awstest.IsolateEnv(t)
	const region = "eu-north-1"
	s := awstest.New(t, region)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	tmpl := filepath.Join(e.root, "examples", "packer", "hello-ami.pkr.hcl")
	vars := func(out string, extra ...string) []string {
		return append([]string{
			"-var", "app_path=" + e.app, "-var", "kernel_path=" + e.kernel, "-var", "bootloader_path=" + e.loader,
			"-var", "output_directory=" + out, "-var", "region=" + region, "-var", "endpoint=" + s.URL,
		}, extra...)
	}

	if out, err := e.packerCmd(ctx, append(append([]string{"validate"}, vars(filepath.Join(e.dir, "x"))...), tmpl)...).CombinedOutput(); err != nil {
		t.Fatalf("packer validate: %v\n%s", err, out)
	}

	// Throttle the first block uploads: the post-processor retries them.
	s.SetFault(func(op string, n int) *awstest.Error {
		if op == "PutSnapshotBlock" && n < 3 {
			return awstest.Throttled()
		}
		return nil
	})
	out := filepath.Join(e.dir, "output-ami")
	start := time.Now()
	log, err := e.packerCmd(ctx, append(append([]string{"build"}, vars(out)...), tmpl)...).CombinedOutput()
	if err != nil {
		t.Fatalf("packer build: %v\n%s", err, log)
	}
	t.Logf("packer build with bootapp-ami took %v", time.Since(start).Round(time.Millisecond))

	rec, err := awspub.ReadRecord(filepath.Join(out, "hello.aws.json"))
	if err != nil || len(rec.Images) != 1 {
		t.Fatalf("record: %v %+v\n%s", err, rec, log)
	}
	r := rec.Images[0]
	im, ok := s.Images()[r.ImageID]
	if !ok || im.BootMode != "uefi" || !im.EnaSupport || im.Architecture != "x86_64" || im.RootDeviceName != "/dev/xvda" ||
		im.Tags["app"] != "hello" || im.Description != "hello, built by bootapp" {
		t.Errorf("image %+v", im)
	}
	img, err := os.ReadFile(filepath.Join(out, "hello.raw"))
	if err != nil {
		t.Fatal(err)
	}
	sn := s.Snapshots()[r.SnapshotID]
	back := make([]byte, len(img))
	for i, b := range sn.Blocks {
		copy(back[i*awspub.BlockSize:], b)
	}
	if !bytes.Equal(back, img) {
		t.Error("the snapshot differs from the boot disk")
	}
	if sn.Puts != int(r.BlocksSent) || s.Faulted("PutSnapshotBlock") != 3 || r.DataSnapshotID == "" {
		t.Errorf("puts %d, blocks sent %d, throttled %d, data snapshot %q", sn.Puts, r.BlocksSent, s.Faulted("PutSnapshotBlock"), r.DataSnapshotID)
	}
	t.Logf("boot disk %d bytes: %d blocks (%d bytes) sent, %d retries, published in %v", len(img), r.BlocksSent, r.BytesSent, r.Retries, r.Duration)
	for _, want := range []string{"bootapp-ami", "AMI " + r.ImageID + " in " + region} {
		if !strings.Contains(string(log), want) {
			t.Errorf("packer output lacks %q:\n%s", want, log)
		}
	}

	// The manifest post-processor saw the AMI.
	var m struct {
		Builds []struct {
			ArtifactID  string `json:"artifact_id"`
			BuilderType string `json:"builder_type"`
		} `json:"builds"`
	}
	b, err := os.ReadFile(filepath.Join(out, "packer-manifest.json"))
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil || len(m.Builds) != 1 || m.Builds[0].ArtifactID != region+":"+r.ImageID {
		t.Errorf("packer-manifest.json: %v\n%s", err, b)
	}

	// A failure in the middle of the upload leaves nothing behind.
	before, puts := len(s.Snapshots()), s.Requests("PutSnapshotBlock")
	s.SetFault(func(op string, n int) *awstest.Error {
		if op == "PutSnapshotBlock" && n == puts+10 {
			return &awstest.Error{Status: 403, Code: "AccessDeniedException", Message: "injected failure"}
		}
		return nil
	})
	out2 := filepath.Join(e.dir, "output-ami-fail")
	log, err = e.packerCmd(ctx, append(append([]string{"build"}, vars(out2, "-var", "ami_name=hello-fail")...), tmpl)...).CombinedOutput()
	if err == nil {
		t.Fatalf("packer build succeeded despite the injected failure:\n%s", log)
	}
	if !strings.Contains(string(log), "injected failure") || !strings.Contains(string(log), "deleted what it created: snapshot snap-") {
		t.Errorf("packer output does not report the failure and the cleanup:\n%s", log)
	}
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "deleted what it created") {
			t.Logf("failed build: %s", strings.TrimSpace(l))
		}
	}
	if n := len(s.Snapshots()); n != before || len(s.Images()) != 1 {
		t.Errorf("after the failed build: %d snapshots (were %d), %d images", n, before, len(s.Images()))
	}
	if _, err := os.Stat(filepath.Join(out2, "hello.aws.json")); !os.IsNotExist(err) {
		t.Errorf("failed build wrote a record (%v)", err)
	}
}
