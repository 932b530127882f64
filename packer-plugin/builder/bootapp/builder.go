package bootapp

import (
	"context"
	"errors"
	"net/url"
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/builder/verify"
)

// BuilderID identifies artifacts made by this builder (Artifact.BuilderId).
const BuilderID = "bootapp.bootapp"

// Keys of the multistep state bag shared by the steps.
const (
	stateConfig     = "config"
	stateKernelDeb  = "kernel_deb"
	stateBootloader = "bootloader"
	stateResult     = "result"
	stateGenerated  = "generated_data"
)

// buildFunc is the engine: builder.Build, replaced by a fake in unit tests.
type buildFunc func(context.Context, builder.Spec) (*builder.Result, error)

// Builder is the Packer builder. Packer calls ConfigSpec, then Prepare with
// the decoded template, then Run.
type Builder struct {
	config Config
	// build is the engine; nil means builder.Build.
	build buildFunc
	// verify is the verifier; nil means verify.Run.
	verify verifyFunc
}

// ConfigSpec returns the HCL2 schema of the builder's configuration,
// generated from Config by packer-sdc.
func (b *Builder) ConfigSpec() hcldec.ObjectSpec { return b.config.FlatMapstructure().HCL2Spec() }

// generatedVars are the names of the values the builder exports as
// `build.NAME` to provisioners and post-processors.
var generatedVars = []string{"ImageName", "OutputDir", "BootDisk", "BootDiskSHA256", "DataVolume", "Manifest", "KernelRelease"}

// Prepare decodes and validates the configuration. It returns the names of
// the generated variables, warnings, and an error listing every invalid
// option by name.
func (b *Builder) Prepare(raws ...interface{}) ([]string, []string, error) {
	warnings, err := b.config.Prepare(raws...)
	if err != nil {
		return nil, warnings, err
	}
	return append([]string(nil), generatedVars...), warnings, nil
}

// Run downloads the kernel and boot loader when they are given by URL,
// creates the output directory and drives builder.Build, relaying its
// progress to the Packer UI, and with `verify` boots the result in QEMU.
// Cancelling ctx (Ctrl-C) stops the build and
// removes the output directory.
func (b *Builder) Run(ctx context.Context, ui packersdk.Ui, hook packersdk.Hook) (packersdk.Artifact, error) {
	build := b.build
	if build == nil {
		build = builder.Build
	}
	verifier := b.verify
	if verifier == nil {
		verifier = verify.Run
	}
	steps := b.steps(build, verifier)

	state := new(multistep.BasicStateBag)
	state.Put("ui", ui)
	state.Put("hook", hook)
	state.Put(stateConfig, &b.config)

	runner := commonsteps.NewRunner(steps, b.config.PackerConfig, ui)
	runner.Run(ctx, state)

	if err, ok := state.GetOk("error"); ok {
		return nil, err.(error)
	}
	if _, ok := state.GetOk(multistep.StateCancelled); ok {
		return nil, errors.New("bootapp build cancelled; the output directory was removed")
	}
	if _, ok := state.GetOk(multistep.StateHalted); ok {
		return nil, errors.New("bootapp build halted; the output directory was removed")
	}
	res, ok := state.Get(stateResult).(*builder.Result)
	if !ok || res == nil {
		return nil, errors.New("bootapp build finished without a result; this is a bug in the plugin")
	}
	return newArtifact(res, b.config.OutputDir), nil
}

// steps lists the build steps for the current configuration.
func (b *Builder) steps(build buildFunc, verify verifyFunc) []multistep.Step {
	c := &b.config
	var steps []multistep.Step
	if c.KernelURL != "" {
		steps = append(steps, &commonsteps.StepDownload{
			Checksum:    c.KernelChecksum,
			Description: "kernel package",
			ResultKey:   stateKernelDeb,
			Url:         []string{c.KernelURL},
			Extension:   urlExt(c.KernelURL, "deb"),
		})
	}
	if c.BootloaderURL != "" {
		steps = append(steps, &commonsteps.StepDownload{
			Checksum:    c.BootloaderChecksum,
			Description: "boot loader",
			ResultKey:   stateBootloader,
			Url:         []string{c.BootloaderURL},
			Extension:   urlExt(c.BootloaderURL, "deb"),
		})
	}
	steps = append(steps,
		&commonsteps.StepOutputDir{Force: c.PackerForce, Path: c.OutputDir},
		&stepBuild{build: build},
	)
	if c.Verify {
		steps = append(steps, &stepVerify{verify: verify})
	}
	return steps
}

// urlExt returns the file name extension of the URL's path without its dot
// ("deb", "efi"), or def. The builder tells a .deb from an .efi boot loader
// by it, and Packer's cache names downloads by their checksum.
func urlExt(raw, def string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return def
	}
	ext := strings.TrimPrefix(path.Ext(u.Path), ".")
	switch strings.ToLower(ext) {
	case "deb", "efi":
		return strings.ToLower(ext)
	}
	return def
}

// generatedData is what the build exports as `build.NAME`. Values are
// strings so they cross Packer's RPC and HCL boundaries unchanged.
func generatedData(res *builder.Result, outputDir string) map[string]interface{} {
	data := map[string]interface{}{
		"ImageName":      res.Spec.Name,
		"OutputDir":      outputDir,
		"BootDisk":       "",
		"BootDiskSHA256": "",
		"DataVolume":     "",
		"Manifest":       res.Manifest,
		"KernelRelease":  res.KernelRelease,
	}
	for _, f := range res.Files {
		switch {
		case f.Role == builder.RoleBoot && data["BootDisk"] == "":
			data["BootDisk"] = f.Path
			data["BootDiskSHA256"] = f.SHA256
		case f.Role == builder.RoleData && data["DataVolume"] == "":
			data["DataVolume"] = f.Path
		}
	}
	return data
}
