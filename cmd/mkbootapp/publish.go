package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bootapp/bootapp/builder"
	awspub "github.com/bootapp/bootapp/builder/publish/aws"
)

// publishFlags maps the options of builder/publish/aws, as its
// OptionError names them, to the flags of `mkbootapp publish aws`.
var publishFlags = map[string]string{
	"region":       "--region",
	"profile":      "--profile",
	"name":         "--name",
	"description":  "--description",
	"tags":         "--tag",
	"endpoint":     "--endpoint",
	"ec2_endpoint": "--ec2-endpoint",
	"ebs_endpoint": "--ebs-endpoint",
	"concurrency":  "--concurrency",
	"data_volume":  "--data-volume",
	"credentials":  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
}

func newPublishCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish a built image to a cloud (aws)",
	}
	cmd.AddCommand(newPublishAWSCmd())
	return cmd
}

func newPublishAWSCmd() *cobra.Command {
	var o awspub.Options
	var tags []string
	cmd := &cobra.Command{
		Use:   "aws <output dir | manifest.json>",
		Short: "Publish the raw boot disk as an AMI (EBS direct APIs + RegisterImage; no S3, no VM Import)",
		Long: `Publish the build's raw boot disk as an Amazon Machine Image.

The disk is written into a new EBS snapshot with the EBS direct APIs (only
the 512 KiB blocks that hold data are sent) and registered as an AMI with
boot mode uefi, ENA support, x86_64, IMDSv2 and root device /dev/xvda. No S3
bucket, no VM Import (ImportImage rejects bootapp images: they have no
distribution layout). The result is written to NAME.aws.json beside the
manifest; on failure or Ctrl-C what was created is deleted again.

Credentials come from the AWS SDK's chain: AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, --profile (or AWS_PROFILE) in ~/.aws/config and
~/.aws/credentials, SSO (aws sso login), or the instance role. The region
is --region, else AWS_REGION or the profile's. AWS_ENDPOINT_URL_EC2 and
AWS_ENDPOINT_URL_EBS are honoured like --ec2-endpoint and --ebs-endpoint.`,
		Example: `  mkbootapp build --app hello --port 8080
  mkbootapp publish aws output --region eu-central-1 --tag team=web`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := builder.ReadManifest(args[0])
			if err != nil {
				return fmt.Errorf("publish aws: %w", err)
			}
			o.Tags = map[string]string{}
			for _, t := range tags {
				k, v, ok := strings.Cut(t, "=")
				if !ok || k == "" {
					return fmt.Errorf("publish aws: --tag %q: want KEY=VALUE", t)
				}
				o.Tags[k] = v
			}
			errw := cmd.ErrOrStderr()
			o.Log = func(format string, a ...any) { fmt.Fprintf(errw, "mkbootapp: "+format+"\n", a...) }
			r, err := awspub.Publish(cmd.Context(), res, o)
			if err != nil {
				return renderPublishError(err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "ami:      %s (%s)\n", r.ImageID, r.Name)
			fmt.Fprintf(out, "region:   %s\n", r.Region)
			fmt.Fprintf(out, "snapshot: %s\n", r.SnapshotID)
			if r.DataSnapshotID != "" {
				fmt.Fprintf(out, "data volume snapshot: %s\n", r.DataSnapshotID)
			}
			fmt.Fprintf(out, "sent:     %d bytes in %d blocks of a %d-byte disk, %d retries, in %s\n",
				r.BytesSent, r.BlocksSent, r.DiskSize, r.Retries, r.Duration.Round(time.Millisecond))
			fmt.Fprintf(out, "record:   %s\n", r.Record)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Region, "region", "", "AWS region (default AWS_REGION or the profile's)")
	fl.StringVar(&o.Profile, "profile", "", "profile in the AWS config files (default AWS_PROFILE or default)")
	fl.StringVar(&o.Name, "name", "", "AMI name (default NAME-<first 12 hex digits of the boot disk's sha256>)")
	fl.StringVar(&o.Description, "description", "", "AMI description (default names the build, kernel and sha256)")
	fl.StringArrayVar(&tags, "tag", nil, "tag KEY=VALUE of the AMI and its snapshots (repeatable)")
	fl.BoolVar(&o.DataVolume, "data-volume", false, "also publish the fresh data volume as a snapshot (for a first deployment)")
	fl.StringVar(&o.Endpoint, "endpoint", "", "endpoint URL for both EC2 and EBS (a proxy or test server)")
	fl.StringVar(&o.EC2Endpoint, "ec2-endpoint", "", "EC2 endpoint URL")
	fl.StringVar(&o.EBSEndpoint, "ebs-endpoint", "", "EBS direct APIs endpoint URL")
	fl.IntVar(&o.Concurrency, "concurrency", awspub.DefaultConcurrency, "blocks uploaded in parallel")
	return cmd
}

// renderPublishError words an error of builder/publish/aws for the command
// line: the option replaced by its flag, and the fix in this tool's terms.
func renderPublishError(err error) error {
	msg := err.Error()
	var oe *awspub.OptionError
	if errors.As(err, &oe) {
		flag := publishFlags[oe.Option]
		if flag == "" {
			flag = oe.Option
		}
		msg = strings.Replace(msg, oe.Error(), flag+": "+oe.Msg, 1)
		if oe.Option == "region" && strings.HasPrefix(oe.Msg, "no region") {
			msg += " (pass --region, or set AWS_REGION)"
		}
	}
	switch {
	case errors.Is(err, awspub.ErrNoCredentials):
		msg += ": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile (after aws configure or aws sso login), or run where an instance role is available"
	case errors.Is(err, awspub.ErrCredentials):
		msg += ": check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and --profile"
	case errors.Is(err, awspub.ErrInput) && strings.Contains(msg, "no raw boot disk"):
		msg += " (mkbootapp build --format raw)"
	}
	return &cliError{msg: "publish aws: " + msg, err: err}
}
