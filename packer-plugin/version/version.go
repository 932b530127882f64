// Package version holds the version of the bootapp Packer plugin.
//
// The plugin binary reports PluginVersion in its `describe` output; release
// builds override Version, VersionPrerelease and VersionMetadata with
// -ldflags "-X" (see .goreleaser.yml), which is why they are variables.
package version

import "github.com/hashicorp/packer-plugin-sdk/version"

// These are set at link time by release builds and are otherwise constant.
var (
	// Version is the main version number of the plugin (semantic version).
	Version = "0.1.0"
	// VersionPrerelease is a pre-release marker such as "dev" or "beta1".
	// Release builds set it to the empty string.
	VersionPrerelease = "dev"
	// VersionMetadata is optional build metadata (the part after "+").
	VersionMetadata = ""
)

// PluginVersion is the version Packer sees when it runs the plugin's
// `describe` command.
var PluginVersion = version.NewPluginVersion(Version, VersionPrerelease, VersionMetadata)
