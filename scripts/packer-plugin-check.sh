#!/bin/sh
# packer-plugin-check.sh builds the bootapp Packer plugin and checks it with
# `packer-sdc plugin-check` (the go.mod tool), as Packer's plugin release
# process requires: the binary name, the `describe` output and the SDK
# version must be acceptable to Packer. It also fails when the generated
# HCL2 spec is stale. Run from anywhere; .goreleaser.yml runs it before a
# release. Prints the API version (for API_VERSION) on success.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The generated HCL2 spec must match Config.
(cd packer-plugin/builder/bootapp &&
	GOFILE="$tmp/config.go" GOPACKAGE=bootapp go tool packer-sdc mapstructure-to-hcl2 -type Config,HealthCheckConfig)
if ! cmp -s "$tmp/config.hcl2spec.go" packer-plugin/builder/bootapp/config.hcl2spec.go; then
	echo "packer-plugin/builder/bootapp/config.hcl2spec.go is stale: run go generate ./packer-plugin/..." >&2
	exit 1
fi

CGO_ENABLED=0 go build -trimpath -o "$tmp/packer-plugin-bootapp" ./packer-plugin
go build -o "$tmp/packer-sdc" github.com/hashicorp/packer-plugin-sdk/cmd/packer-sdc
# plugin-check wants the binary's name, resolved in the working directory.
(cd "$tmp" && ./packer-sdc plugin-check packer-plugin-bootapp >&2)
"$tmp/packer-plugin-bootapp" describe | sed -n 's/.*"api_version":"\([^"]*\)".*/\1/p'
