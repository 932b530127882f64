package bootapp

import (
	"context"
	"fmt"
	"log"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/builder/verify"
)

// verifyFunc is the verifier: verify.Run, replaced by a fake in tests.
type verifyFunc func(context.Context, *builder.Result, verify.Options) (*verify.Report, error)

// stepVerify boots the built image in QEMU (option `verify`) and fails the
// build unless the app passes its health check and the VM powers off on
// ACPI shutdown. A failure halts the build, so the output is removed.
type stepVerify struct {
	verify verifyFunc
}

// Run verifies the result the build step left in the state bag.
func (s *stepVerify) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	res := state.Get(stateResult).(*builder.Result)

	ui.Say("Verifying the image: booting it in QEMU and waiting for the health check...")
	// The serial console goes to Packer's log (PACKER_LOG=1); a failure
	// quotes its last lines in the error anyway.
	rep, err := s.verify(ctx, res, verify.Options{Console: log.Writer()})
	if err != nil {
		err = fmt.Errorf("bootapp verify: %w", renderEngineError(err))
		state.Put("error", err)
		ui.Error(err.Error())
		return multistep.ActionHalt
	}
	ui.Say(fmt.Sprintf("Verified %s with %s: healthy %s after boot, powered off in %s",
		rep.BootDisk, rep.Accel, rep.BootToHealthy.Round(1e6), rep.Shutdown.Round(1e6)))
	return multistep.ActionContinue
}

// Cleanup does nothing: verify.Run boots a read-only boot disk and a scratch
// copy of the data volume, which it removes itself.
func (s *stepVerify) Cleanup(multistep.StateBag) {}
