package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
)

const (
	// BlockSize is the EBS direct APIs' block size: every PutSnapshotBlock
	// writes exactly this many bytes at a multiple of it.
	BlockSize = 512 << 10
	// MaxDiskSize is the largest disk a snapshot can hold: StartSnapshot's
	// VolumeSize is at most 65536 GiB (64 TiB).
	MaxDiskSize = 65536 << 30
	// RootDeviceName is the AMI's root device. EC2 names the root of
	// snapshot-backed HVM images /dev/xvda (on Nitro it appears as an NVMe
	// disk whatever the name); the block device mapping must use the same.
	RootDeviceName = "/dev/xvda"
	// DefaultConcurrency is how many PutSnapshotBlock requests are in
	// flight by default.
	DefaultConcurrency = 16
	// DefaultMaxAttempts is how often a request is tried by default.
	DefaultMaxAttempts = 10
	// RecordSuffix names the record Publish writes beside the manifest:
	// NAME.aws.json.
	RecordSuffix = ".aws.json"
)

// Options say where and how to publish. The zero value publishes into the
// region and with the credentials the AWS configuration gives.
type Options struct {
	// Region, e.g. "eu-central-1". Empty: AWS_REGION or the profile's.
	Region string
	// Profile of the shared config and credentials files. Empty:
	// AWS_PROFILE or "default".
	Profile string
	// AccessKeyID, SecretAccessKey and SessionToken are static
	// credentials; empty means the SDK's credential chain.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Endpoint replaces the endpoint of both EC2 and EBS (a test server, a
	// proxy); EC2Endpoint and EBSEndpoint replace one each.
	Endpoint, EC2Endpoint, EBSEndpoint string
	// Name of the AMI (3 to 128 of A-Z a-z 0-9 ( ) [ ] space . / - ' @ _).
	// Default: the build's name and the first 12 hex digits of the boot
	// disk's SHA-256, so the same image gets the same name.
	Name string
	// Description of the AMI and its snapshots. Default: one naming the
	// build, its kernel and the boot disk's SHA-256.
	Description string
	// Tags of the AMI and the snapshots, besides Name and bootapp:*.
	Tags map[string]string
	// DataVolume also publishes the build's fresh data volume (raw) as a
	// snapshot, for a first deployment.
	DataVolume bool
	// Concurrency is the number of blocks in flight (default 16).
	Concurrency int
	// MaxAttempts is how often a throttled or failed (5xx) request is tried
	// (default 10); MaxBackoff caps the delay between tries (default 20s).
	MaxAttempts int
	MaxBackoff  time.Duration
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
}

// Result describes a published image. It is also the JSON of an entry of
// the NAME.aws.json record.
type Result struct {
	Region         string `json:"region"`
	ImageID        string `json:"image_id"`
	Name           string `json:"name"`
	SnapshotID     string `json:"snapshot_id"`
	DataSnapshotID string `json:"data_snapshot_id,omitempty"`
	// BootDisk is the file name of the boot disk published, BootDiskSHA256
	// its SHA-256 (hex) and DiskSize its size in bytes.
	BootDisk       string `json:"boot_disk"`
	BootDiskSHA256 string `json:"boot_disk_sha256"`
	DiskSize       int64  `json:"disk_size"`
	// BlocksSent and BytesSent count the boot disk's blocks written with
	// PutSnapshotBlock; DataBytesSent the data volume's.
	BlocksSent    int64 `json:"blocks_sent"`
	BytesSent     int64 `json:"bytes_sent"`
	DataBytesSent int64 `json:"data_bytes_sent,omitempty"`
	// Retries counts requests that were retried (throttling, 5xx).
	Retries int64 `json:"retries"`
	// Duration of the whole publication, PublishedAt its end.
	Duration    time.Duration `json:"duration"`
	PublishedAt time.Time     `json:"published_at"`
	// Record is the path of the NAME.aws.json written (not in the JSON).
	Record string `json:"-"`
}

// Record is the content of NAME.aws.json: every AMI published from the
// build, one per region (a new one replaces the region's older entry).
type Record struct {
	Images []Result `json:"images"`
}

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	amiNameRE = regexp.MustCompile(`^[A-Za-z0-9()\[\] ./'@_-]{3,128}$`)
)

// publisher holds one publication's clients and what it created.
type publisher struct {
	o       Options
	region  string
	ec2     *ec2.Client
	ebs     *ebs.Client
	retries atomic.Int64

	snapshots []string // created, in order
	images    []string
}

func (p *publisher) logf(format string, args ...any) {
	if p.o.Log != nil {
		p.o.Log(format, args...)
	}
}

// Publish publishes the build res (as builder.Build or builder.ReadManifest
// return it) as an AMI and records it in NAME.aws.json beside the
// manifest. On failure nothing it created is left in the cloud, unless the
// error says otherwise.
func Publish(ctx context.Context, res *builder.Result, o Options) (*Result, error) {
	start := time.Now()
	boot, data, err := checkInput(res, o)
	if err != nil {
		return nil, err
	}
	if err := checkOptions(&o); err != nil {
		return nil, err
	}
	if o.Name == "" {
		o.Name = defaultName(res.Spec.Name, boot.SHA256)
	}
	if o.Description == "" {
		o.Description = fmt.Sprintf("bootapp image %s (kernel %s), boot disk sha256 %s", res.Spec.Name, res.KernelRelease, boot.SHA256)
		if len(o.Description) > 255 {
			o.Description = o.Description[:255]
		}
	}
	p, err := connect(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := p.checkName(ctx); err != nil {
		return nil, err
	}
	r := &Result{Region: p.region, Name: o.Name, BootDisk: filepath.Base(boot.Path), BootDiskSHA256: boot.SHA256, DiskSize: boot.Size}
	err = p.publish(ctx, res, boot, data, r)
	if err != nil {
		return nil, p.cleanup(ctx, err)
	}
	r.Retries = p.retries.Load()
	r.Duration = time.Since(start)
	r.PublishedAt = time.Now().UTC()
	rec, err := writeRecord(res, r)
	if err != nil {
		return nil, p.cleanup(ctx, err)
	}
	r.Record = rec
	return r, nil
}

func (p *publisher) publish(ctx context.Context, res *builder.Result, boot builder.File, data *builder.File, r *Result) error {
	tags := p.tags(res, boot)
	snap, st, err := p.upload(ctx, boot, "boot", tags)
	if err != nil {
		return err
	}
	r.SnapshotID, r.BlocksSent, r.BytesSent = snap, st.blocks, st.bytes
	if data != nil {
		dsnap, dst, err := p.upload(ctx, *data, "data", tags)
		if err != nil {
			return err
		}
		r.DataSnapshotID, r.DataBytesSent = dsnap, dst.bytes
	}
	id, err := p.register(ctx, snap, tags)
	if err != nil {
		return err
	}
	r.ImageID = id
	return nil
}

// checkInput finds the raw boot disk (and data volume) and checks them
// against the manifest and the snapshot size limit.
func checkInput(res *builder.Result, o Options) (builder.File, *builder.File, error) {
	var boot, data *builder.File
	for i := range res.Files {
		f := &res.Files[i]
		if f.Format != image.Raw {
			continue
		}
		switch {
		case f.Role == builder.RoleBoot && boot == nil:
			boot = f
		case f.Role == builder.RoleData && data == nil:
			data = f
		}
	}
	if boot == nil {
		return builder.File{}, nil, fmt.Errorf("%w: manifest %s lists no raw boot disk: build with the raw format", ErrInput, res.Manifest)
	}
	if err := checkFile(*boot); err != nil {
		return builder.File{}, nil, err
	}
	if !o.DataVolume {
		return *boot, nil, nil
	}
	switch {
	case data == nil:
		return builder.File{}, nil, &OptionError{Option: "data_volume", Msg: "the build has no raw data volume to publish", Err: ErrInvalidOption}
	case data.Reused:
		return builder.File{}, nil, &OptionError{Option: "data_volume", Msg: fmt.Sprintf("the data volume %s was kept from an earlier build and may hold live state; only a fresh one is published", data.Path), Err: ErrInvalidOption}
	}
	if err := checkFile(*data); err != nil {
		return builder.File{}, nil, err
	}
	return *boot, data, nil
}

func checkFile(f builder.File) error {
	if f.Size > MaxDiskSize {
		return fmt.Errorf("%w: %s is %d bytes, more than the %d (64 TiB) an EBS snapshot holds", ErrInput, f.Path, f.Size, int64(MaxDiskSize))
	}
	fi, err := os.Stat(f.Path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	if fi.Size() != f.Size {
		return fmt.Errorf("%w: %s is %d bytes, the manifest says %d: it changed since the build", ErrInput, f.Path, fi.Size(), f.Size)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%w: %s is empty", ErrInput, f.Path)
	}
	return nil
}

func checkOptions(o *Options) error {
	if o.Region != "" && !regionRE.MatchString(o.Region) {
		return optErr("region", fmt.Sprintf("%q is not an AWS region name (like us-east-1 or eu-central-1)", o.Region))
	}
	if o.Name != "" && !amiNameRE.MatchString(o.Name) {
		return optErr("name", fmt.Sprintf("%q is not a valid AMI name: 3 to 128 characters of letters, digits, ( ) [ ] space . / - ' @ _", o.Name))
	}
	if len(o.Description) > 255 {
		return optErr("description", fmt.Sprintf("is %d characters, at most 255 are allowed", len(o.Description)))
	}
	if len(o.Tags) > 40 {
		return optErr("tags", fmt.Sprintf("%d tags, at most 40 are allowed (bootapp adds its own)", len(o.Tags)))
	}
	for k, v := range o.Tags {
		if k == "" || len(k) > 128 || strings.HasPrefix(strings.ToLower(k), "aws:") || len(v) > 256 {
			return optErr("tags", fmt.Sprintf("tag %q=%q: keys are 1 to 128 characters and must not start with aws:, values at most 256", k, v))
		}
	}
	for _, e := range []struct{ name, val string }{{"endpoint", o.Endpoint}, {"ec2_endpoint", o.EC2Endpoint}, {"ebs_endpoint", o.EBSEndpoint}} {
		if e.val == "" {
			continue
		}
		u, err := url.Parse(e.val)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return optErr(e.name, fmt.Sprintf("%q is not an http:// or https:// URL", e.val))
		}
	}
	if o.Concurrency < 0 || o.Concurrency > 256 {
		return optErr("concurrency", fmt.Sprintf("%d: between 1 and 256", o.Concurrency))
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 20 * time.Second
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return optErr("credentials", "an access key ID needs its secret access key, and the other way round")
	}
	return nil
}

func defaultName(name, sha string) string {
	if len(sha) >= 12 {
		name += "-" + sha[:12]
	} else {
		name += "-" + time.Now().UTC().Format("20060102T150405Z")
	}
	if len(name) > 128 {
		name = name[len(name)-128:]
	}
	return name
}

// countingRetryer is the SDK's standard retryer that counts retries.
type countingRetryer struct {
	*retry.Standard
	n *atomic.Int64
}

func (c countingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	c.n.Add(1)
	return c.Standard.RetryDelay(attempt, err)
}

// connect resolves the configuration and credentials and makes the clients.
func connect(ctx context.Context, o Options) (*publisher, error) {
	p := &publisher{o: o}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() sdkaws.Retryer {
			return countingRetryer{Standard: retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxAttempts
				so.MaxBackoff = o.MaxBackoff
				so.Backoff = retry.NewExponentialJitterBackoff(o.MaxBackoff)
				// Throttling is expected while blocks upload; a shared
				// retry quota would fail the upload instead of waiting.
				so.RateLimiter = ratelimit.None
			}), n: &p.retries}
		}),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	if o.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, o.SessionToken)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		var pe config.SharedConfigProfileNotExistError
		if errors.As(err, &pe) {
			return nil, &OptionError{Option: "profile", Msg: fmt.Sprintf("no profile %q in the AWS config files", pe.Profile), Err: ErrInvalidOption}
		}
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, optErr("region", "no region given and none configured (AWS_REGION, the profile's region)")
	}
	if !regionRE.MatchString(cfg.Region) {
		return nil, optErr("region", fmt.Sprintf("%q (from the AWS configuration) is not an AWS region name", cfg.Region))
	}
	p.region = cfg.Region
	if cfg.Credentials == nil {
		return nil, ErrNoCredentials
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &wrapped{kind: ErrNoCredentials, err: err}
	}
	ec2ep, ebsep := firstOf(o.EC2Endpoint, o.Endpoint), firstOf(o.EBSEndpoint, o.Endpoint)
	p.ec2 = ec2.NewFromConfig(cfg, func(eo *ec2.Options) {
		if ec2ep != "" {
			eo.BaseEndpoint = sdkaws.String(ec2ep)
		}
	})
	p.ebs = ebs.NewFromConfig(cfg, func(eo *ebs.Options) {
		if ebsep != "" {
			eo.BaseEndpoint = sdkaws.String(ebsep)
		}
	})
	return p, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkName is the first signed request: it makes sure that no AMI of the
// name exists, and tells refused credentials and regions apart before
// anything is created.
func (p *publisher) checkName(ctx context.Context) error {
	out, err := p.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []ec2types.Filter{{Name: sdkaws.String("name"), Values: []string{p.o.Name}}},
	})
	if err != nil {
		return fmt.Errorf("look up AMI name %s in %s: %w", p.o.Name, p.region, authError(err, p.region))
	}
	if len(out.Images) > 0 {
		return optErr("name", fmt.Sprintf("an AMI named %q already exists in %s (%s): publish under another name, or deregister it", p.o.Name, p.region, sdkaws.ToString(out.Images[0].ImageId)))
	}
	return nil
}

// tags returns the tags of every resource created.
func (p *publisher) tags(res *builder.Result, boot builder.File) map[string]string {
	t := map[string]string{
		"Name":                     p.o.Name,
		"bootapp:image":            res.Spec.Name,
		"bootapp:boot_disk_sha256": boot.SHA256,
	}
	if res.KernelRelease != "" {
		t["bootapp:kernel_release"] = res.KernelRelease
	}
	for k, v := range p.o.Tags {
		t[k] = v
	}
	return t
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// cleanup deletes what the publication created and returns err with what
// it did. It runs even when ctx was cancelled.
func (p *publisher) cleanup(ctx context.Context, err error) error {
	if len(p.images) == 0 && len(p.snapshots) == 0 {
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var done, left []string
	for _, id := range p.images {
		if _, derr := p.ec2.DeregisterImage(cctx, &ec2.DeregisterImageInput{ImageId: sdkaws.String(id)}); derr != nil {
			left = append(left, fmt.Sprintf("image %s (%v)", id, derr))
			continue
		}
		p.logf("deregistered image %s", id)
		done = append(done, "image "+id)
	}
	for _, id := range p.snapshots {
		if _, derr := p.ec2.DeleteSnapshot(cctx, &ec2.DeleteSnapshotInput{SnapshotId: sdkaws.String(id)}); derr != nil && apiCode(derr) != "InvalidSnapshot.NotFound" {
			left = append(left, fmt.Sprintf("snapshot %s (%v)", id, derr))
			continue
		}
		p.logf("deleted snapshot %s", id)
		done = append(done, "snapshot "+id)
	}
	msg := "deleted what it created: " + strings.Join(done, ", ")
	if len(done) == 0 {
		msg = "deleted nothing"
	}
	if len(left) > 0 {
		msg += "; LEFT BEHIND in " + p.region + ", delete by hand: " + strings.Join(left, ", ")
	}
	return fmt.Errorf("%w (%s)", err, msg)
}

// RecordPath returns the path of the NAME.aws.json record of the build res.
func RecordPath(res *builder.Result) string {
	return filepath.Join(filepath.Dir(res.Manifest), res.Spec.Name+RecordSuffix)
}

// ReadRecord reads the NAME.aws.json record at path.
func ReadRecord(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read AWS record: %w", err)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("read AWS record %s: %w", path, err)
	}
	return &rec, nil
}

// writeRecord adds r to the build's record (replacing the entry of the
// same region) and writes it atomically.
func writeRecord(res *builder.Result, r *Result) (string, error) {
	path := RecordPath(res)
	rec := &Record{}
	if old, err := ReadRecord(path); err == nil {
		rec = old
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	imgs := rec.Images[:0]
	for _, x := range rec.Images {
		if x.Region != r.Region {
			imgs = append(imgs, x)
		}
	}
	rec.Images = append(imgs, *r)
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode AWS record: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".aws-record-*")
	if err != nil {
		return "", fmt.Errorf("write AWS record: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("write AWS record %s: %w", path, werr)
	}
	return path, nil
}

// Validate checks the options that need neither the build nor the cloud
// (region and AMI name syntax, tags, endpoints, concurrency, credentials
// given in pairs), so that a front door can refuse them early. Its error
// is an *OptionError.
func (o Options) Validate() error { return checkOptions(&o) }

// Unpublish deregisters the image of r and deletes its snapshots (what
// Publish created), with the credentials and endpoints of o. Resources
// already gone are not an error.
func Unpublish(ctx context.Context, o Options, r *Result) error {
	if err := checkOptions(&o); err != nil {
		return err
	}
	if o.Region == "" {
		o.Region = r.Region
	}
	p, err := connect(ctx, o)
	if err != nil {
		return err
	}
	if r.ImageID != "" {
		p.images = []string{r.ImageID}
	}
	for _, id := range []string{r.SnapshotID, r.DataSnapshotID} {
		if id != "" {
			p.snapshots = append(p.snapshots, id)
		}
	}
	var errs []error
	for _, id := range p.images {
		if _, err := p.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: sdkaws.String(id)}); err != nil && apiCode(err) != "InvalidAMIID.NotFound" && apiCode(err) != "InvalidAMIID.Unavailable" {
			errs = append(errs, fmt.Errorf("deregister image %s: %w", id, err))
		}
	}
	for _, id := range p.snapshots {
		if _, err := p.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: sdkaws.String(id)}); err != nil && apiCode(err) != "InvalidSnapshot.NotFound" {
			errs = append(errs, fmt.Errorf("delete snapshot %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}
