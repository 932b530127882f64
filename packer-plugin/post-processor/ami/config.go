//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config

// Package ami is the bootapp-ami Packer post-processor: it publishes the
// artifact of the bootapp builder as an Amazon Machine Image through the
// EBS direct APIs and RegisterImage (builder/publish/aws), with no S3
// bucket and no VM Import. In a template:
//
//	post-processor "bootapp-ami" {
//	  region   = "eu-central-1"
//	  ami_name = "web-${formatdate("YYYYMMDDhhmmss", timestamp())}"
//	}
//
// Its artifact's Id is "REGION:AMI_ID"; State("generated_data") carries
// ami_id, snapshot_id, data_snapshot_id, region and aws_record (besides the
// builder's variables), and the HCP Packer metadata names the AMI.
package ami

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	awspub "github.com/bootapp/bootapp/builder/publish/aws"
)

// Config is the configuration of a `post-processor "bootapp-ami"` block.
// Each option maps onto one field of builder/publish/aws.Options.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// AWS region to publish into, e.g. "eu-central-1". Defaults to
	// AWS_REGION or the profile's region.
	Region string `mapstructure:"region"`
	// Profile of the AWS shared config and credentials files (SSO profiles
	// included). Defaults to AWS_PROFILE or "default".
	Profile string `mapstructure:"profile"`
	// Static credentials. Default: the AWS SDK's chain (environment,
	// profile, SSO, instance role).
	AccessKey string `mapstructure:"access_key"`
	// The secret of `access_key`.
	SecretKey string `mapstructure:"secret_key"`
	// Session token of temporary `access_key` credentials.
	Token string `mapstructure:"token"`
	// Endpoint URL of both EC2 and EBS (a proxy or a test server).
	Endpoint string `mapstructure:"endpoint"`
	// Endpoint URL of EC2 only.
	EC2Endpoint string `mapstructure:"ec2_endpoint"`
	// Endpoint URL of the EBS direct APIs only.
	EBSEndpoint string `mapstructure:"ebs_endpoint"`
	// Name of the AMI. Defaults to the image name and the first 12 hex
	// digits of the boot disk's SHA-256.
	AMIName string `mapstructure:"ami_name"`
	// Description of the AMI and its snapshots.
	AMIDescription string `mapstructure:"ami_description"`
	// Tags of the AMI and its snapshots.
	Tags map[string]string `mapstructure:"tags"`
	// Also publish the fresh data volume as a snapshot, for a first
	// deployment.
	PublishDataVolume bool `mapstructure:"publish_data_volume"`
	// Blocks uploaded in parallel. Defaults to 16.
	Concurrency int `mapstructure:"concurrency"`

	ctx interpolate.Context
}

// options is what Config asks of builder/publish/aws.
func (c *Config) options() awspub.Options {
	return awspub.Options{
		Region: c.Region, Profile: c.Profile,
		AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey, SessionToken: c.Token,
		Endpoint: c.Endpoint, EC2Endpoint: c.EC2Endpoint, EBSEndpoint: c.EBSEndpoint,
		Name: c.AMIName, Description: c.AMIDescription, Tags: c.Tags,
		DataVolume: c.PublishDataVolume, Concurrency: c.Concurrency,
	}
}

// Prepare decodes and validates the configuration; an error names the
// option at fault.
func (c *Config) Prepare(raws ...interface{}) error {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{Exclude: []string{}},
	}, raws...)
	if err != nil {
		return fmt.Errorf("decode bootapp-ami configuration: %w", err)
	}
	if err := c.options().Validate(); err != nil {
		return renderError(err)
	}
	return nil
}

// optionNames maps builder/publish/aws option names to this post-processor's.
var optionNames = map[string]string{
	"region":       "region",
	"profile":      "profile",
	"name":         "ami_name",
	"description":  "ami_description",
	"tags":         "tags",
	"endpoint":     "endpoint",
	"ec2_endpoint": "ec2_endpoint",
	"ebs_endpoint": "ebs_endpoint",
	"concurrency":  "concurrency",
	"data_volume":  "publish_data_volume",
	"credentials":  "access_key and secret_key",
}

// ppError is a publish error worded with this post-processor's options.
type ppError struct {
	msg string
	err error
}

func (e *ppError) Error() string { return e.msg }
func (e *ppError) Unwrap() error { return e.err }

// renderError words an error of builder/publish/aws with the option names
// of the template, and the fix in Packer's terms.
func renderError(err error) error {
	msg := err.Error()
	var oe *awspub.OptionError
	if errors.As(err, &oe) {
		name := optionNames[oe.Option]
		if name == "" {
			name = oe.Option
		}
		msg = strings.Replace(msg, oe.Error(), name+": "+oe.Msg, 1)
		if oe.Option == "region" && strings.HasPrefix(oe.Msg, "no region") {
			msg += " (set region, or AWS_REGION)"
		}
	}
	switch {
	case errors.Is(err, awspub.ErrNoCredentials):
		msg += ": set access_key and secret_key or profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in Packer's environment, or run Packer where an instance role is available"
	case errors.Is(err, awspub.ErrCredentials):
		msg += ": check access_key, secret_key and profile"
	case errors.Is(err, awspub.ErrInput) && strings.Contains(msg, "no raw boot disk"):
		msg += ` (add "raw" to the bootapp source's formats)`
	}
	return &ppError{msg: "bootapp-ami: " + msg, err: err}
}
