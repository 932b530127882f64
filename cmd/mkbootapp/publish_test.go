package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/builder"
	awspub "github.com/bootapp/bootapp/builder/publish/aws"
	"github.com/bootapp/bootapp/internal/awstest"
	"github.com/bootapp/bootapp/internal/testutil"
)

// TestPublishAWS builds examples/hello and publishes it with `mkbootapp
// publish aws` to internal/awstest's stand-in for EC2 and EBS.
func TestPublishAWS(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	res, err := builder.Build(context.Background(), builder.Spec{
		App:        builder.App{Path: testutil.StaticBinary(t, "../../examples/hello", testutil.BuildOptions{})},
		Kernel:     builder.KernelSource{Deb: testutil.KernelDeb(t)},
		Bootloader: testutil.LoaderDeb(t),
		OutputDir:  out,
		DataVolume: builder.DataVolume{Size: 256 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	awstest.IsolateEnv(t)
	s := awstest.New(t, "us-east-2")
	publish := func(args ...string) (string, string, error) {
		root := newRootCmd()
		var stdout, stderr bytes.Buffer
		root.SetOut(&stdout)
		root.SetErr(&stderr)
		root.SetArgs(append([]string{"publish", "aws"}, args...))
		err := root.ExecuteContext(context.Background())
		if err != nil {
			err = renderError(err)
		}
		return stdout.String(), stderr.String(), err
	}

	// Bad inputs first: each a clear error in the CLI's words, nothing in
	// the cloud, nothing written.
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no credentials", nil, []string{out, "--region", "us-east-2"}, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile"},
		{"no region", map[string]string{"AWS_ACCESS_KEY_ID": awstest.AccessKeyID, "AWS_SECRET_ACCESS_KEY": awstest.SecretAccessKey}, []string{out, "--endpoint", s.URL}, "--region: no region given"},
		{"malformed region", map[string]string{"AWS_ACCESS_KEY_ID": awstest.AccessKeyID, "AWS_SECRET_ACCESS_KEY": awstest.SecretAccessKey}, []string{out, "--region", "useast"}, `--region: "useast" is not an AWS region`},
		{"wrong region", map[string]string{"AWS_ACCESS_KEY_ID": awstest.AccessKeyID, "AWS_SECRET_ACCESS_KEY": awstest.SecretAccessKey}, []string{out, "--region", "ap-south-7", "--endpoint", s.URL}, "--region: AWS refused region ap-south-7"},
		{"bad tag", nil, []string{out, "--tag", "novalue"}, `--tag "novalue": want KEY=VALUE`},
		{"bad name", map[string]string{"AWS_ACCESS_KEY_ID": awstest.AccessKeyID, "AWS_SECRET_ACCESS_KEY": awstest.SecretAccessKey}, []string{out, "--region", "us-east-2", "--name", "ab"}, "--name: "},
		{"not an output dir", nil, []string{t.TempDir()}, "no *.manifest.json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, _, err := publish(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("publish aws %v: %v, want %q", tt.args, err, tt.want)
			}
			t.Logf("%v", err)
			if len(s.Snapshots())+len(s.Images()) != 0 {
				t.Error("something was created in the cloud")
			}
			if _, err := os.Stat(awspub.RecordPath(res)); !os.IsNotExist(err) {
				t.Errorf("record written: %v", err)
			}
		})
	}

	// A boot disk larger than a snapshot holds (the manifest says so; the
	// file must match it, so it is refused before the file is looked at).
	t.Run("too large", func(t *testing.T) {
		big := filepath.Join(t.TempDir(), "big")
		os.MkdirAll(big, 0o755)
		m, _ := os.ReadFile(res.Manifest)
		var r builder.Result
		json.Unmarshal(m, &r)
		r.Files[0].Size = awspub.MaxDiskSize + 512
		r.Files[0].Path = filepath.Join(out, filepath.Base(r.Files[0].Path))
		b, _ := json.Marshal(&r)
		os.WriteFile(filepath.Join(big, "hello.manifest.json"), b, 0o644)
		t.Setenv("AWS_ACCESS_KEY_ID", awstest.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", awstest.SecretAccessKey)
		_, _, err := publish(big, "--region", "us-east-2", "--endpoint", s.URL)
		if err == nil || !strings.Contains(err.Error(), "64 TiB") {
			t.Fatalf("publish of a 64 TiB+ disk: %v", err)
		}
		t.Logf("%v", err)
		if s.Requests("DescribeImages")+s.Requests("StartSnapshot") != 0 {
			t.Error("the server saw requests")
		}
	})

	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	stdout, stderr, err := publish(out, "--endpoint", s.URL, "--tag", "team=web", "--data-volume")
	if err != nil {
		t.Fatalf("publish aws: %v\n%s", err, stderr)
	}
	t.Logf("stdout:\n%s", stdout)
	rec, err := awspub.ReadRecord(filepath.Join(out, "hello.aws.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Images) != 1 {
		t.Fatalf("record: %+v", rec)
	}
	r := rec.Images[0]
	im := s.Images()[r.ImageID]
	if im.BootMode != "uefi" || !im.EnaSupport || im.RootDeviceName != "/dev/xvda" || im.Tags["team"] != "web" || im.Mappings[0].SnapshotID != r.SnapshotID {
		t.Errorf("image %+v", im)
	}
	if !strings.Contains(stdout, "ami:      "+r.ImageID) || !strings.Contains(stdout, "snapshot: "+r.SnapshotID) || r.DataSnapshotID == "" {
		t.Errorf("stdout %q, record %+v", stdout, r)
	}
	// The snapshot holds the boot disk: its blocks, holes as zeros.
	img, err := os.ReadFile(res.Files[0].Path)
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
	total := (int64(len(img)) + awspub.BlockSize - 1) / awspub.BlockSize
	t.Logf("boot disk %d bytes (%d blocks): %d blocks, %d bytes sent in %v; data volume %d bytes sent", len(img), total, r.BlocksSent, r.BytesSent, r.Duration, r.DataBytesSent)
	if r.BlocksSent >= total {
		t.Errorf("all %d blocks were sent", total)
	}
}
