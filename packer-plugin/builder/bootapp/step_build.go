package bootapp

import (
	"context"
	"fmt"

	"github.com/bootapp/bootapp/builder"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// stepBuild runs the engine.
type stepBuild struct {
	build buildFunc
}

// Run builds the images with the Spec derived from the configuration and the
// paths of downloaded files.
func (s *stepBuild) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	c := state.Get(stateConfig).(*Config)

	spec := c.Spec()
	if p, ok := state.GetOk(stateKernelDeb); ok {
		spec.Kernel.Deb = p.(string)
	}
	if p, ok := state.GetOk(stateBootloader); ok {
		spec.Bootloader = p.(string)
	}
	epoch, err := builder.SourceDateEpochFromEnv()
	if err != nil {
		state.Put("error", err)
		ui.Error(err.Error())
		return multistep.ActionHalt
	}
	spec.SourceDateEpoch = epoch
	progress := &uiWriter{ui: ui}
	spec.Progress = progress

	ui.Say(fmt.Sprintf("Building bootable app image from %s into %s...", spec.App.Path, spec.OutputDir))
	res, err := s.build(ctx, spec)
	progress.Flush()
	if err != nil {
		err = renderEngineError(err)
		if ctx.Err() != nil {
			err = fmt.Errorf("bootapp build of %s interrupted: %w", spec.App.Path, err)
		}
		state.Put("error", err)
		ui.Error(err.Error())
		return multistep.ActionHalt
	}
	for _, f := range res.Files {
		sum := "sha256 " + f.SHA256
		switch {
		case f.Reused:
			sum = "kept, live data"
		case f.BlockSHA256 != "":
			sum = "block sha256 " + f.BlockSHA256
		}
		ui.Say(fmt.Sprintf("%s: %s (%s, %d bytes, %s)", f.Role, f.Path, f.Format, f.Size, sum))
	}
	state.Put(stateResult, res)
	state.Put(stateGenerated, generatedData(res, c.OutputDir))
	return multistep.ActionContinue
}

// Cleanup does nothing: builder.Build leaves no partial files behind, and
// StepOutputDir removes the output directory when the build did not finish.
func (s *stepBuild) Cleanup(multistep.StateBag) {}
