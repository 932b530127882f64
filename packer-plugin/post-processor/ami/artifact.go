package ami

import (
	"context"
	"fmt"
	"time"

	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	awspub "github.com/bootapp/bootapp/builder/publish/aws"
)

// Artifact is a published AMI.
type Artifact struct {
	// Result is what builder/publish/aws reported.
	Result    awspub.Result
	options   awspub.Options
	generated map[string]interface{}
}

// BuilderId returns BuilderID.
func (a *Artifact) BuilderId() string { return BuilderID }

// Files returns the NAME.aws.json record of the publication.
func (a *Artifact) Files() []string {
	if a.Result.Record == "" {
		return nil
	}
	return []string{a.Result.Record}
}

// Id returns "REGION:AMI_ID", as Packer's Amazon builders do.
func (a *Artifact) Id() string { return a.Result.Region + ":" + a.Result.ImageID }

// String describes the AMI for the Packer UI.
func (a *Artifact) String() string {
	s := fmt.Sprintf("AMI created (bootapp):\n%s: %s (%s), snapshot %s", a.Result.Region, a.Result.ImageID, a.Result.Name, a.Result.SnapshotID)
	if a.Result.DataSnapshotID != "" {
		s += ", data volume snapshot " + a.Result.DataSnapshotID
	}
	return s
}

// data is the publication as strings, for generated_data and metadata.
func (a *Artifact) data() map[string]string {
	return map[string]string{
		"ami_id":           a.Result.ImageID,
		"ami_name":         a.Result.Name,
		"snapshot_id":      a.Result.SnapshotID,
		"data_snapshot_id": a.Result.DataSnapshotID,
		"region":           a.Result.Region,
		"aws_record":       a.Result.Record,
		"boot_disk_sha256": a.Result.BootDiskSHA256,
	}
}

// State returns "generated_data" (the bootapp builder's variables plus
// ami_id, ami_name, snapshot_id, data_snapshot_id, region, aws_record and
// boot_disk_sha256), "atlas.artifact.metadata" (the same as strings) and
// the HCP Packer registry metadata under registryimage.ArtifactStateURI.
func (a *Artifact) State(name string) interface{} {
	switch name {
	case "generated_data":
		return a.generated
	case "atlas.artifact.metadata":
		return a.data()
	case registryimage.ArtifactStateURI:
		labels := map[string]interface{}{}
		for k, v := range a.data() {
			if k != "ami_id" && k != "region" && k != "aws_record" && v != "" {
				labels[k] = v
			}
		}
		img, err := registryimage.FromArtifact(a,
			registryimage.WithProvider("aws"),
			registryimage.WithID(a.Result.ImageID),
			registryimage.WithRegion(a.Result.Region),
			registryimage.WithSourceID(a.Result.BootDisk),
			registryimage.SetLabels(labels),
		)
		if err != nil {
			return nil
		}
		return img
	}
	return nil
}

// Destroy deregisters the AMI and deletes its snapshots, as Packer's
// Amazon artifacts do; the NAME.aws.json record stays.
func (a *Artifact) Destroy() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := awspub.Unpublish(ctx, a.options, &a.Result); err != nil {
		return fmt.Errorf("bootapp-ami: destroy %s: %w", a.Id(), err)
	}
	return nil
}
