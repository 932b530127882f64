package ami

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/bootapp/bootapp/builder"
	awspub "github.com/bootapp/bootapp/builder/publish/aws"
	"github.com/bootapp/bootapp/packer-plugin/builder/bootapp"
)

// BuilderID identifies the artifacts of this post-processor.
const BuilderID = "bootapp.ami"

// PostProcessor is the bootapp-ami post-processor.
type PostProcessor struct {
	config Config
	// publish is the publisher; nil means awspub.Publish.
	publish func(context.Context, *builder.Result, awspub.Options) (*awspub.Result, error)
}

// ConfigSpec returns the HCL2 schema of the configuration.
func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Configure decodes and validates the configuration.
func (p *PostProcessor) Configure(raws ...interface{}) error { return p.config.Prepare(raws...) }

// PostProcess publishes the bootapp artifact's raw boot disk as an AMI.
// The input artifact is kept (it holds the data volume) unless the
// template sets keep_input_artifact = false.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, in packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	if in.BuilderId() != bootapp.BuilderID {
		return nil, false, false, fmt.Errorf("bootapp-ami: takes the artifact of the bootapp builder (%s), not of %s", bootapp.BuilderID, in.BuilderId())
	}
	manifest := ""
	gen, _ := in.State("generated_data").(map[string]interface{})
	if m, ok := gen["Manifest"].(string); ok {
		manifest = m
	}
	if manifest == "" {
		for _, f := range in.Files() {
			if strings.HasSuffix(f, ".manifest.json") {
				manifest = f
			}
		}
	}
	if manifest == "" {
		return nil, false, false, errors.New("bootapp-ami: the bootapp artifact names no manifest")
	}
	res, err := builder.ReadManifest(manifest)
	if err != nil {
		return nil, false, false, fmt.Errorf("bootapp-ami: %w", err)
	}
	o := p.config.options()
	o.Log = func(format string, a ...any) { ui.Message(fmt.Sprintf(format, a...)) }
	publish := p.publish
	if publish == nil {
		publish = awspub.Publish
	}
	ui.Say(fmt.Sprintf("Publishing %s as an AMI (EBS direct APIs + RegisterImage)...", res.Spec.Name))
	r, err := publish(ctx, res, o)
	if err != nil {
		return nil, false, false, renderError(err)
	}
	ui.Say(fmt.Sprintf("AMI %s in %s from snapshot %s: %d of %d bytes sent in %s", r.ImageID, r.Region, r.SnapshotID, r.BytesSent, r.DiskSize, r.Duration.Round(time.Millisecond)))
	art := &Artifact{Result: *r, options: p.config.options(), generated: map[string]interface{}{}}
	for k, v := range gen {
		art.generated[k] = v
	}
	for k, v := range art.data() {
		art.generated[k] = v
	}
	return art, true, false, nil
}
