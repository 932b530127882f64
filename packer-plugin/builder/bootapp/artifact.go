package bootapp

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/bootapp/bootapp/builder"
)

// Artifact is the result of a bootapp build as Packer sees it: the boot disk
// files first, then the data volume files, then the SBOM (SPDX JSON) and
// bootapp's JSON manifest.
type Artifact struct {
	result    *builder.Result
	outputDir string
	// StateData holds "generated_data" for post-processors.
	StateData map[string]interface{}
}

func newArtifact(res *builder.Result, outputDir string) *Artifact {
	return &Artifact{
		result:    res,
		outputDir: outputDir,
		StateData: map[string]interface{}{"generated_data": generatedData(res, outputDir)},
	}
}

// BuilderId returns BuilderID.
func (a *Artifact) BuilderId() string { return BuilderID }

// Files returns the output files: every boot disk format first (Packer
// post-processors such as googlecompute-import and bootapp-ami take the
// first file with the extension they want), then the data volume formats,
// then the SBOM and the manifest.
func (a *Artifact) Files() []string {
	var boot, data []string
	for _, f := range a.result.Files {
		if f.Role == builder.RoleData {
			data = append(data, f.Path)
		} else {
			boot = append(boot, f.Path)
		}
	}
	files := append(boot, data...)
	if a.result.SBOM != "" {
		files = append(files, a.result.SBOM)
	}
	if a.result.Manifest != "" {
		files = append(files, a.result.Manifest)
	}
	return files
}

// Id returns the file name of the (first) boot disk, which names the image.
func (a *Artifact) Id() string {
	if f, ok := a.bootDisk(); ok {
		return filepath.Base(f.Path)
	}
	return ""
}

func (a *Artifact) bootDisk() (builder.File, bool) {
	for _, f := range a.result.Files {
		if f.Role == builder.RoleBoot {
			return f, true
		}
	}
	return builder.File{}, false
}

// String describes the artifact for the Packer UI.
func (a *Artifact) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bootable app image %q (kernel %s) in %s:", a.result.Spec.Name, a.result.KernelRelease, a.outputDir)
	for _, f := range a.result.Files {
		what := "boot disk"
		if f.Role == builder.RoleData {
			what = "data volume"
		}
		fmt.Fprintf(&b, "\n  %s: %s (%s, %d bytes)", what, f.Path, f.Format, f.Size)
	}
	return b.String()
}

// State returns "generated_data" (a map[string]interface{} of strings) and
// the HCP Packer registry metadata under registryimage.ArtifactStateURI.
func (a *Artifact) State(name string) interface{} {
	switch name {
	case registryimage.ArtifactStateURI:
		return a.registryImage()
	}
	return a.StateData[name]
}

// registryImage describes the boot disk for HCP Packer: provider "bootapp",
// the boot disk's file name as image ID and the output directory as region.
func (a *Artifact) registryImage() *registryimage.Image {
	boot, ok := a.bootDisk()
	if !ok {
		return nil
	}
	region := a.outputDir
	if abs, err := filepath.Abs(region); err == nil {
		region = abs
	}
	labels := map[string]interface{}{
		"kernel_release":   a.result.KernelRelease,
		"boot_disk_sha256": boot.SHA256,
		"boot_disk_format": string(boot.Format),
	}
	for _, f := range a.result.Files {
		if f.Role == builder.RoleData {
			labels["data_volume"] = filepath.Base(f.Path)
			break
		}
	}
	img, err := registryimage.FromArtifact(a,
		registryimage.WithProvider("bootapp"),
		registryimage.WithID(filepath.Base(boot.Path)),
		registryimage.WithRegion(region),
		registryimage.SetLabels(labels),
	)
	if err != nil {
		return nil
	}
	return img
}

// Destroy removes exactly the files of this artifact, then the output
// directory if that left it empty. Files already gone are not an error.
func (a *Artifact) Destroy() error {
	var errs []error
	for _, p := range a.Files() {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove bootapp output %s: %w", p, err))
		}
	}
	if len(errs) == 0 && a.outputDir != "" {
		if entries, err := os.ReadDir(a.outputDir); err == nil && len(entries) == 0 {
			if err := os.Remove(a.outputDir); err != nil {
				errs = append(errs, fmt.Errorf("remove empty output directory %s: %w", a.outputDir, err))
			}
		}
	}
	return errors.Join(errs...)
}
