package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ebs"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/internal/awstest"
)

const region = "eu-central-1"

// testBuild writes a synthetic build: a sparse "boot disk" whose size is
// not a multiple of the block size, with data in a few blocks, one block
// of written zeros and holes, a sparse data volume, and a manifest.
func testBuild(t *testing.T) *builder.Result {
	t.Helper()
	dir := t.TempDir()
	boot := filepath.Join(dir, "hello.raw")
	data := filepath.Join(dir, "hello-data.raw")
	writeSparse(t, boot, 5*BlockSize+1000, map[int64][]byte{
		0:                  bytes.Repeat([]byte{0xEF}, 4096), // "GPT"
		2*BlockSize - 10:   []byte("straddles two blocks"),
		5*BlockSize + 500:  []byte("tail of a partial block"),
		3 * BlockSize:      make([]byte, BlockSize), // written zeros
		3*BlockSize + 4096: nil,
	})
	writeSparse(t, data, 64<<20, map[int64][]byte{1024: []byte("ext4 superblock"), 40 << 20: []byte("group descriptors")})
	res := &builder.Result{
		Files: []builder.File{
			{Path: boot, Role: builder.RoleBoot, Format: image.Raw, Size: 5*BlockSize + 1000, SHA256: fileSHA(t, boot)},
			{Path: data, Role: builder.RoleData, Format: image.Raw, Size: 64 << 20, SHA256: fileSHA(t, data)},
		},
		Manifest:      filepath.Join(dir, "hello.manifest.json"),
		KernelRelease: "6.1.0-test-cloud-amd64",
	}
	res.Spec.Name = "hello"
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(res.Manifest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return res
}

func writeSparse(t *testing.T, path string, size int64, chunks map[int64][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for off, b := range chunks {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// nonZeroBlocks returns the blocks of the file that are not all zero.
func nonZeroBlocks(t *testing.T, path string) map[int64][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64][]byte{}
	for off := 0; off < len(b); off += BlockSize {
		blk := make([]byte, BlockSize)
		copy(blk, b[off:])
		if !bytes.Equal(blk, zeroBlock) {
			out[int64(off/BlockSize)] = blk
		}
	}
	return out
}

func testOptions(s *awstest.Server) Options {
	return Options{
		Region: s.Region, Endpoint: s.URL,
		AccessKeyID: awstest.AccessKeyID, SecretAccessKey: awstest.SecretAccessKey,
		MaxBackoff: 50 * time.Millisecond, Concurrency: 4,
	}
}

// readBack reads every block of a snapshot through the EBS direct APIs.
func readBack(t *testing.T, s *awstest.Server, id string) map[int64][]byte {
	t.Helper()
	c := ebs.New(ebs.Options{
		Region: s.Region, BaseEndpoint: sdkaws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider(awstest.AccessKeyID, awstest.SecretAccessKey, ""),
	})
	ctx := context.Background()
	out := map[int64][]byte{}
	p := ebs.NewListSnapshotBlocksPaginator(c, &ebs.ListSnapshotBlocksInput{SnapshotId: &id, MaxResults: sdkaws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListSnapshotBlocks: %v", err)
		}
		for _, b := range page.Blocks {
			g, err := c.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: &id, BlockIndex: b.BlockIndex, BlockToken: b.BlockToken})
			if err != nil {
				t.Fatalf("GetSnapshotBlock %d: %v", *b.BlockIndex, err)
			}
			data, err := io.ReadAll(g.BlockData)
			g.BlockData.Close()
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if got := sdkaws.ToString(g.Checksum); got != b64(sum[:]) {
				t.Errorf("block %d: checksum %s, data hashes to %s", *b.BlockIndex, got, b64(sum[:]))
			}
			out[int64(*b.BlockIndex)] = data
		}
	}
	return out
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// assertEmpty checks that the cloud holds nothing and no record was written.
func assertEmpty(t *testing.T, s *awstest.Server, res *builder.Result) {
	t.Helper()
	if n := len(s.Snapshots()); n != 0 {
		t.Errorf("%d snapshots left behind: %v", n, keys(s.Snapshots()))
	}
	if n := len(s.Images()); n != 0 {
		t.Errorf("%d images left behind", n)
	}
	if _, err := os.Stat(RecordPath(res)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record %s written by a failed publication (%v)", RecordPath(res), err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPublish(t *testing.T) {
	awstest.IsolateEnv(t)
	s := awstest.New(t, region)
	s.CompletionDelay = 300 * time.Millisecond
	res := testBuild(t)
	o := testOptions(s)
	o.DataVolume = true
	o.Tags = map[string]string{"team": "web"}
	var logMu sync.Mutex
	var logs []string
	o.Log = func(f string, a ...any) {
		logMu.Lock()
		logs = append(logs, f)
		logMu.Unlock()
	}
	r, err := Publish(context.Background(), res, o)
	if err != nil {
		t.Fatalf("Publish: %v\nrejected: %v", err, s.Rejected())
	}
	if rej := s.Rejected(); len(rej) != 0 {
		t.Errorf("the server refused requests: %v", rej)
	}
	t.Logf("published %s (%s) in %v: %d blocks, %d bytes sent of a %d-byte disk", r.ImageID, r.SnapshotID, r.Duration, r.BlocksSent, r.BytesSent, r.DiskSize)

	boot := res.Files[0].Path
	want := nonZeroBlocks(t, boot)
	snaps := s.Snapshots()
	sn := snaps[r.SnapshotID]
	if sn.Status != "completed" || sn.VolumeSize != 1 {
		t.Errorf("snapshot %+v", sn)
	}
	// Only the blocks holding data were sent, each once: the written zeros
	// and the holes were not.
	if sn.Puts != len(want) || r.BlocksSent != int64(len(want)) || sn.ChangedBlocksCount != int64(len(want)) || r.BytesSent != int64(len(want))*BlockSize {
		t.Errorf("sent %d blocks (%d puts, ChangedBlocksCount %d, %d bytes), the disk has %d non-zero blocks", r.BlocksSent, sn.Puts, sn.ChangedBlocksCount, r.BytesSent, len(want))
	}
	if len(want) != 4 {
		t.Errorf("test image has %d non-zero blocks, want 4", len(want))
	}
	got := readBack(t, s, r.SnapshotID)
	if !reflect.DeepEqual(keysOf(got), keysOf(want)) {
		t.Fatalf("snapshot blocks %v, image's non-zero blocks %v", keysOf(got), keysOf(want))
	}
	// The snapshot read back, holes as zeros, equals the raw image.
	img, _ := os.ReadFile(boot)
	back := make([]byte, len(img))
	for i, b := range got {
		copy(back[i*BlockSize:], b)
	}
	if !bytes.Equal(back, img) {
		t.Error("the snapshot read back differs from the raw boot disk")
	}
	if sn.Tags["bootapp:role"] != "boot" || sn.Tags["team"] != "web" || sn.Tags["Name"] != r.Name {
		t.Errorf("snapshot tags %v", sn.Tags)
	}

	ds := snaps[r.DataSnapshotID]
	if ds.Status != "completed" || ds.Tags["bootapp:role"] != "data" || !reflect.DeepEqual(keysOf(ds.Blocks), keysOf(nonZeroBlocks(t, res.Files[1].Path))) {
		t.Errorf("data snapshot %s: status %s, tags %v, blocks %v", r.DataSnapshotID, ds.Status, ds.Tags, keysOf(ds.Blocks))
	}

	im, ok := s.Images()[r.ImageID]
	if !ok {
		t.Fatalf("no image %s", r.ImageID)
	}
	if im.BootMode != "uefi" || !im.EnaSupport || im.Architecture != "x86_64" || im.VirtualizationType != "hvm" ||
		im.RootDeviceName != "/dev/xvda" || im.ImdsSupport != "v2.0" || im.State != "available" {
		t.Errorf("image %+v", im)
	}
	if len(im.Mappings) != 1 || im.Mappings[0].DeviceName != "/dev/xvda" || im.Mappings[0].SnapshotID != r.SnapshotID ||
		im.Mappings[0].VolumeType != "gp3" || !im.Mappings[0].DeleteOnTermination {
		t.Errorf("image mappings %+v", im.Mappings)
	}
	wantName := "hello-" + res.Files[0].SHA256[:12]
	if im.Name != wantName || r.Name != wantName || im.Tags["Name"] != wantName || im.Tags["team"] != "web" {
		t.Errorf("image name %q (result %q), tags %v; want %q", im.Name, r.Name, im.Tags, wantName)
	}

	rec, err := ReadRecord(r.Record)
	if err != nil {
		t.Fatal(err)
	}
	if r.Record != filepath.Join(filepath.Dir(res.Manifest), "hello.aws.json") || len(rec.Images) != 1 ||
		rec.Images[0].ImageID != r.ImageID || rec.Images[0].SnapshotID != r.SnapshotID || rec.Images[0].Region != region || rec.Images[0].BytesSent != r.BytesSent {
		t.Errorf("record %s: %+v", r.Record, rec)
	}

	// Publishing the same image again is refused before anything is
	// created: the AMI name is taken.
	before := len(s.Snapshots())
	_, err = Publish(context.Background(), res, testOptions(s))
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Option != "name" || !strings.Contains(err.Error(), r.ImageID) {
		t.Errorf("second Publish: %v, want a name error naming %s", err, r.ImageID)
	}
	if len(s.Snapshots()) != before || s.Requests("StartSnapshot") != 2 {
		t.Errorf("the refused publication created snapshots")
	}
}

func keysOf(m map[int64][]byte) []int64 {
	var out []int64
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestThrottlingIsRetried(t *testing.T) {
	awstest.IsolateEnv(t)
	s := awstest.New(t, region)
	s.SetFault(func(op string, n int) *awstest.Error {
		switch {
		case op == "PutSnapshotBlock" && n < 6:
			return awstest.Throttled()
		case op == "DescribeImages" && n < 2:
			return awstest.EC2Throttled()
		case op == "StartSnapshot" && n == 0:
			return &awstest.Error{Status: 500, Code: "InternalServerException", Message: "try again"}
		case op == "RegisterImage" && n == 0:
			return &awstest.Error{Status: 503, Code: "Unavailable", Message: "The server is overloaded"}
		}
		return nil
	})
	res := testBuild(t)
	r, err := Publish(context.Background(), res, testOptions(s))
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if s.Faulted("PutSnapshotBlock") != 6 || s.Faulted("DescribeImages") != 2 || s.Faulted("StartSnapshot") != 1 {
		t.Errorf("faults: put %d, describe %d, start %d", s.Faulted("PutSnapshotBlock"), s.Faulted("DescribeImages"), s.Faulted("StartSnapshot"))
	}
	if r.Retries < 10 {
		t.Errorf("Retries = %d, want at least 10", r.Retries)
	}
	// StartSnapshot's client token made its retry return the same snapshot.
	if n := len(s.Snapshots()); n != 1 {
		t.Errorf("%d snapshots after a retried StartSnapshot, want 1", n)
	}
	if got := readBack(t, s, r.SnapshotID); !reflect.DeepEqual(keysOf(got), keysOf(nonZeroBlocks(t, res.Files[0].Path))) {
		t.Errorf("blocks %v", keysOf(got))
	}
	t.Logf("%d retries; %d PutSnapshotBlock requests for %d blocks", r.Retries, s.Requests("PutSnapshotBlock"), r.BlocksSent)
}

func TestFailureCleansUp(t *testing.T) {
	denied := &awstest.Error{Status: 403, Code: "AccessDeniedException", Message: "not allowed", Reason: "UNAUTHORIZED_ACCOUNT"}
	tests := []struct {
		name  string
		fault func(op string, n int) *awstest.Error
		want  string
	}{
		{"mid-upload", func(op string, n int) *awstest.Error {
			if op == "PutSnapshotBlock" && n == 2 {
				return denied
			}
			return nil
		}, "write block"},
		{"5xx until retries run out", func(op string, n int) *awstest.Error {
			if op == "PutSnapshotBlock" && n >= 1 {
				return &awstest.Error{Status: 500, Code: "InternalServerException", Message: "broken"}
			}
			return nil
		}, "InternalServerException"},
		{"complete", func(op string, n int) *awstest.Error {
			if op == "CompleteSnapshot" {
				return denied
			}
			return nil
		}, "complete snapshot"},
		{"register", func(op string, n int) *awstest.Error {
			if op == "RegisterImage" {
				return &awstest.Error{Status: 400, Code: "InvalidParameterValue", Message: "no"}
			}
			return nil
		}, "register AMI"},
		{"after register", func(op string, n int) *awstest.Error {
			if op == "DescribeImages" && n >= 1 {
				return &awstest.Error{Status: 403, Code: "UnauthorizedOperation", Message: "no"}
			}
			return nil
		}, "wait for AMI"},
		{"data volume", func(op string, n int) *awstest.Error {
			if op == "StartSnapshot" && n == 1 {
				return &awstest.Error{Status: 402, Code: "ServiceQuotaExceededException", Message: "too many snapshots"}
			}
			return nil
		}, "ServiceQuotaExceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awstest.IsolateEnv(t)
			s := awstest.New(t, region)
			s.SetFault(tt.fault)
			res := testBuild(t)
			o := testOptions(s)
			o.MaxAttempts = 3
			o.DataVolume = true
			_, err := Publish(context.Background(), res, o)
			if err == nil {
				t.Fatal("Publish succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "deleted what it created: ") {
				t.Errorf("error %q does not say %q and what was deleted", err, tt.want)
			}
			t.Logf("error: %v", err)
			assertEmpty(t, s, res)
		})
	}
}

func TestCancelCleansUp(t *testing.T) {
	awstest.IsolateEnv(t)
	s := awstest.New(t, region)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.SetFault(func(op string, n int) *awstest.Error {
		if op == "PutSnapshotBlock" && n == 1 {
			cancel()
		}
		return nil
	})
	res := testBuild(t)
	_, err := Publish(ctx, res, testOptions(s))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "deleted what it created: snapshot snap-") {
		t.Fatalf("Publish after cancel: %v", err)
	}
	assertEmpty(t, s, res)
}

func TestBadInputs(t *testing.T) {
	awstest.IsolateEnv(t)
	s := awstest.New(t, region)
	res := testBuild(t)
	big := testBuild(t)
	big.Files[0].Size = MaxDiskSize + 1
	noRaw := testBuild(t)
	noRaw.Files[0].Format = image.QCOW2
	changed := testBuild(t)
	changed.Files[0].SHA256 = strings.Repeat("0", 64)
	tests := []struct {
		name   string
		res    *builder.Result
		opt    func(*Options)
		kind   error
		option string
		calls  bool // whether the server may see requests
		want   string
	}{
		{"no credentials", res, func(o *Options) { o.AccessKeyID, o.SecretAccessKey = "", "" }, ErrNoCredentials, "", false, "no AWS credentials"},
		{"wrong key", res, func(o *Options) { o.AccessKeyID = "AKIDWRONG" }, ErrCredentials, "", true, "refused the credentials"},
		{"empty region", res, func(o *Options) { o.Region = "" }, ErrInvalidOption, "region", false, "no region"},
		{"malformed region", res, func(o *Options) { o.Region = "moon_base" }, ErrInvalidOption, "region", false, "not an AWS region"},
		{"other region", res, func(o *Options) { o.Region = "eu-west-9" }, ErrInvalidOption, "region", true, "eu-west-9"},
		{"bad name", res, func(o *Options) { o.Name = "x" }, ErrInvalidOption, "name", false, "AMI name"},
		{"bad endpoint", res, func(o *Options) { o.Endpoint = "localhost:1" }, ErrInvalidOption, "endpoint", false, "URL"},
		{"unknown profile", res, func(o *Options) { o.AccessKeyID, o.SecretAccessKey, o.Profile = "", "", "nope" }, ErrInvalidOption, "profile", false, "nope"},
		{"larger than a snapshot", big, nil, ErrInput, "", false, "64 TiB"},
		{"no raw boot disk", noRaw, nil, ErrInput, "", false, "raw"},
		{"changed since the build", changed, nil, ErrInput, "", true, "changed since the build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(s)
			if tt.opt != nil {
				tt.opt(&o)
			}
			before := s.Requests("DescribeImages") + s.Requests("StartSnapshot")
			_, err := Publish(context.Background(), tt.res, o)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Publish: %v; want %v containing %q", err, tt.kind, tt.want)
			}
			var oe *OptionError
			if tt.option != "" && (!errors.As(err, &oe) || oe.Option != tt.option) {
				t.Errorf("error %v is not about option %s", err, tt.option)
			}
			if !tt.calls && s.Requests("DescribeImages")+s.Requests("StartSnapshot") != before {
				t.Errorf("the server saw requests")
			}
			t.Logf("%v", err)
			assertEmpty(t, s, tt.res)
		})
	}
}

func TestBlockIndexes(t *testing.T) {
	B := int64(BlockSize)
	tests := []struct {
		ext  []sparse.Extent
		want []int64
	}{
		{nil, nil},
		{[]sparse.Extent{{Off: 0, Len: 1}}, []int64{0}},
		{[]sparse.Extent{{Off: 0, Len: B}}, []int64{0}},
		{[]sparse.Extent{{Off: 0, Len: B + 1}}, []int64{0, 1}},
		{[]sparse.Extent{{Off: B - 1, Len: 2}}, []int64{0, 1}},
		{[]sparse.Extent{{Off: 10, Len: 10}, {Off: 100, Len: 10}, {Off: B + 5, Len: 3 * B}}, []int64{0, 1, 2, 3, 4}},
		{[]sparse.Extent{{Off: 5 * B, Len: 0}, {Off: 7*B + 3, Len: 1}}, []int64{7}},
	}
	for _, tt := range tests {
		if got := BlockIndexes(tt.ext); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("BlockIndexes(%v) = %v, want %v", tt.ext, got, tt.want)
		}
	}
}

func TestUnpublish(t *testing.T) {
	awstest.IsolateEnv(t)
	s := awstest.New(t, region)
	res := testBuild(t)
	o := testOptions(s)
	o.DataVolume = true
	r, err := Publish(context.Background(), res, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := Unpublish(context.Background(), o, r); err != nil {
		t.Fatalf("Unpublish: %v", err)
	}
	if len(s.Snapshots())+len(s.Images()) != 0 {
		t.Errorf("left: %v %v", keys(s.Snapshots()), keys(s.Images()))
	}
	if err := Unpublish(context.Background(), o, r); err != nil {
		t.Errorf("second Unpublish: %v", err)
	}
	if err := (Options{Region: "nowhere"}).Validate(); err == nil {
		t.Error("Validate accepted region nowhere")
	}
}
