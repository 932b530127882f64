package aws

import (
	"context"
	"fmt"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// register registers the AMI of the boot snapshot and waits until it is
// available.
func (p *publisher) register(ctx context.Context, snap string, tags map[string]string) (string, error) {
	var itags []ec2types.Tag
	for _, k := range sortedKeys(tags) {
		itags = append(itags, ec2types.Tag{Key: sdkaws.String(k), Value: sdkaws.String(tags[k])})
	}
	out, err := p.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{
		Name:               sdkaws.String(p.o.Name),
		Description:        sdkaws.String(p.o.Description),
		Architecture:       ec2types.ArchitectureValuesX8664,
		VirtualizationType: sdkaws.String("hvm"),
		BootMode:           ec2types.BootModeValuesUefi,
		EnaSupport:         sdkaws.Bool(true),
		ImdsSupport:        ec2types.ImdsSupportValuesV20,
		RootDeviceName:     sdkaws.String(RootDeviceName),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{
			DeviceName: sdkaws.String(RootDeviceName),
			Ebs: &ec2types.EbsBlockDevice{
				SnapshotId:          sdkaws.String(snap),
				VolumeType:          ec2types.VolumeTypeGp3,
				DeleteOnTermination: sdkaws.Bool(true),
			},
		}},
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeImage, Tags: itags}},
	})
	if err != nil {
		return "", fmt.Errorf("register AMI %s from snapshot %s: %w", p.o.Name, snap, err)
	}
	id := sdkaws.ToString(out.ImageId)
	p.images = append(p.images, id)
	p.logf("registered %s as %s, waiting until it is available", p.o.Name, id)
	delay := 200 * time.Millisecond
	for {
		d, err := p.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if err != nil {
			return id, fmt.Errorf("wait for AMI %s: %w", id, err)
		}
		if len(d.Images) == 1 {
			switch im := d.Images[0]; im.State {
			case ec2types.ImageStateAvailable:
				return id, nil
			case ec2types.ImageStateFailed, ec2types.ImageStateError, ec2types.ImageStateInvalid, ec2types.ImageStateDeregistered:
				reason := ""
				if im.StateReason != nil {
					reason = sdkaws.ToString(im.StateReason.Message)
				}
				return id, fmt.Errorf("AMI %s is %s: %s", id, im.State, reason)
			}
		}
		select {
		case <-ctx.Done():
			return id, fmt.Errorf("wait for AMI %s: %w", id, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
