#!/bin/sh
# Runs every fuzz target of the module, one at a time, for FUZZTIME each
# (default 5s): go test -run '^$' -fuzz '^FuzzX$' -fuzztime $FUZZTIME ./pkg.
#
# Targets are found in the source (every "func FuzzX(f *testing.F)" in a
# *_test.go file), so a new one is never forgotten. The first failure stops
# the run with the reproducer's path: go test writes the failing input to
# pkg/testdata/fuzz/FuzzX/<hash>, where it stays as a regression case that
# plain `go test` runs from then on (commit it with the fix).
#
# Environment: FUZZTIME (per target, a duration or Nx), FUZZFLAGS (extra go
# test flags, e.g. "-parallel 1"), FUZZ (a regexp: only targets whose name
# matches), GO.
set -eu

cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
FUZZFLAGS=${FUZZFLAGS:-}
FUZZ=${FUZZ:-.}

# "dir name" for every fuzz target, sorted.
targets=$(grep -rE --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git \
	'^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
	sed -E 's|^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|' |
	grep -E " .*$FUZZ" | sort -u)
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
n=0
start=$(date +%s)
echo "$targets" | while read -r dir name; do
	t0=$(date +%s)
	printf '%-28s %-34s ' "$name" "./$dir"
	# shellcheck disable=SC2086 # FUZZFLAGS is a list of flags
	if env -u BOOTAPP_E2E "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" $FUZZFLAGS "./$dir" >"$log" 2>&1; then
		echo "ok ($(($(date +%s) - t0))s)"
		continue
	fi
	echo "FAIL"
	grep -v '^fuzz: elapsed' "$log" >&2 || true
	repro=$(sed -n 's|.*Failing input written to \(testdata/fuzz/[^ ]*\).*|\1|p' "$log" | head -1)
	if [ -n "$repro" ]; then
		echo >&2
		echo "reproducer: $dir/$repro" >&2
		echo "rerun:      $GO test -run '^$name/$(basename "$repro")\$' ./$dir" >&2
	fi
	exit 1
done
n=$(echo "$targets" | wc -l)
echo "fuzz.sh: $n targets, $FUZZTIME each, passed in $(($(date +%s) - start))s"
