#!/bin/sh
# packer.sh builds the Packer binary used by the bootapp plugin's acceptance
# test and prints its path. It is idempotent: the binary is cached under
# ${BOOTAPP_CACHE:-$HOME/.cache/bootapp}/packer/$VERSION/packer and only built
# when missing.
#
# Packer cannot be fetched with `go install ...@version` from the module proxy
# (the version list is not served), so the script writes a throwaway module
# that requires it, with the go-cty replace the plugin SDK needs, and runs
# `go build` there.
#
# Usage: scripts/packer.sh [version]   (default 1.12.0)
set -eu

version="${1:-${PACKER_VERSION:-1.12.0}}"
cache="${BOOTAPP_CACHE:-$HOME/.cache/bootapp}/packer/$version"
bin="$cache/packer"

if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
	echo "$bin"
	exit 0
fi

src="$cache/src"
mkdir -p "$src"
cat >"$src/go.mod" <<MOD
module bootapp.local/packer-build

go 1.23

require github.com/hashicorp/packer v$version

replace github.com/zclconf/go-cty => github.com/nywilken/go-cty v1.13.3
MOD
cat >"$src/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/hashicorp/packer"
GO
(
	cd "$src"
	GOFLAGS=-mod=mod go mod tidy >&2
	GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp" github.com/hashicorp/packer >&2
)
mv "$bin.tmp" "$bin"
echo "$bin"
