#!/bin/sh
# build.sh [OUTDIR]: builds the Java example into OUTDIR/app.jar (default
# examples/java/build) with the JDK's own tools, javac and jar, and prints
# the jar's path. No Maven, no Gradle: the app uses the JDK only.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/build}

for tool in javac jar; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "build.sh: $tool is not installed (a JDK 17 or later is needed); install it: apt-get install default-jdk-headless" >&2
		exit 1
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

mkdir -p "$tmp/classes" "$out"
find "$here/src/main/java" -name '*.java' -exec \
	javac --release 17 -encoding UTF-8 -Xlint:all -d "$tmp/classes" -sourcepath "$here/src/main/java" {} +
jar --create --file "$out/app.jar" --main-class example.Main -C "$tmp/classes" .
echo "$out/app.jar"
