#!/usr/bin/env bash
# Measures bootapp against baselines in the same run and writes
# docs/benchmarks.md (tables) and docs/bench/*.png (plots, drawn by
# internal/cmd/benchplot). Figures are medians with min and max; ratios,
# not absolute limits, carry over: these machines are noisy.
#
#   build:   mkbootapp build (warm cache, fresh process) vs the hand-made
#            pipeline sgdisk + mkfs.vfat + mcopy + cpio + mkfs.ext4 on the
#            same inputs, its initramfs uncompressed like ours (and, as a
#            separate row, piped through xz)
#   scaling: build time and boot disk size against the app payload (1 to 512
#            MiB) and build time against the data volume size (1 GiB to 1 TiB)
#   apps:    the Go, Node.js and Java examples (examples/hello, examples/node
#            after npm ci, examples/java's app.jar): build time (fresh
#            process, warm cache, default outputs), peak RSS and the boot
#            disk as streamOptimized VMDK, next to Boxfuse's published
#            figures and our targets (BenchmarkBuildApps)
#   size:    boot disk as streamOptimized VMDK, ours vs qemu-img convert
#   encode:  our VMDK encoder vs qemu-img convert (time)
#   boot:    QEMU start to first HTTP 200 (UEFI and direct), split into its
#            parts, against the limit (a trivial init that powers off)
#   gokrazy: the peer, as far as it can be built here
#
# RUNS (5) repetitions of each cheap measurement, APP_RUNS (7) rounds of
# the apps' builds, PAYLOAD_RUNS (3) of each
# payload size, BOOT_RUNS (5) boots per mode.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
PAYLOAD_RUNS=${PAYLOAD_RUNS:-3}
BOOT_RUNS=${BOOT_RUNS:-5}
APP_RUNS=${APP_RUNS:-7}
CACHE=${BOOTAPP_CACHE:-$HOME/.cache/bootapp}
export BOOTAPP_CACHE=$CACHE
work=$(mktemp -d /tmp/bootapp-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

for t in sgdisk mkfs.vfat mcopy cpio xz mkfs.ext4 qemu-img /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "bench: $t missing (apt-get install gdisk dosfstools mtools cpio xz-utils e2fsprogs qemu-utils time)" >&2; exit 1; }
done

go build -o "$work/mkbootapp" ./cmd/mkbootapp
go build -o "$work/benchplot" ./internal/cmd/benchplot
CGO_ENABLED=0 go build -o "$work/hello" ./examples/hello
"$work/mkbootapp" fetch >/dev/null 2>&1
# The Node.js and Java runtimes of the apps section; without them (no
# network, say) that section reports what failed and the rest runs.
"$work/mkbootapp" fetch --runtime node,java >/dev/null 2>&1 || echo "bench: mkbootapp fetch --runtime node,java failed: the apps section may fail" >&2
kdeb=$(ls "$CACHE"/debs/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -1)
ldeb=$(ls "$CACHE"/debs/systemd-boot-efi_*.deb 2>/dev/null | sort -V | tail -1)
[ -n "$kdeb" ] && [ -n "$ldeb" ] || { echo "bench: no kernel or systemd-boot package in $CACHE/debs: run make deps" >&2; exit 1; }
app_mb=$(awk -v b=$(stat -c %s "$work/hello") 'BEGIN{printf "%.1f", b/1048576}')
log() { echo "bench: [$(( $(date +%s) - t0 )) s] $*" >&2; }

# stats: "median min max" of the numbers on stdin.
stats() { sort -g | awk '{a[NR]=$1} END{ m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.3f %.3f %.3f\n", m, a[1], a[NR] }'; }
fmt3() { awk '{printf "%.2f s (%.2f-%.2f)", $1, $2, $3}'; }
med() { cut -d' ' -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0==0 || b+0==0) print "n/a"; else printf "%.2fx", a/b }'; }
mb() { awk -v b="$1" 'BEGIN{printf "%.1f MB", b/1e6}'; }
mb2() { awk -v b="$1" 'BEGIN{printf "%.2f MB", b/1e6}'; }

# Warm the caches (kernel unpack, base initramfs segment).
"$work/mkbootapp" build -q --app "$work/hello" -o "$work/warm" >/dev/null
rm -rf "$work/warm"

# timed NAME OUTDIR KEEP ARGS...: RUNS builds as fresh processes, "s rss_kb"
# lines in $work/NAME.txt; OUTDIR is removed before each unless KEEP.
# once NAME OUT new|keep ARGS...: one timed build into OUT (emptied first
# unless keep), its "seconds peak-RSS-KB" appended to NAME.txt. The sync
# after removing the previous output keeps the host's freeing and writing
# back of it (16 MB of metadata in 1 TiB of a sparse file) out of the
# timed build.
once() {
  local name=$1 out=$2 keep=$3; shift 3
  [ "$keep" = keep ] || { rm -rf "$out"; sync; }
  /usr/bin/time -f "%e %M" -o "$work/t" "$work/mkbootapp" build -q -o "$out" "$@" >/dev/null
  cat "$work/t" >>"$work/$name.txt"
}
timed() {
  local name=$1 out=$2 keep=$3 n=$4; shift 4
  : >"$work/$name.txt"
  for i in $(seq "$n"); do once "$name" "$out" "$keep" "$@"; done
}
secs() { awk '{print $1}' "$work/$1.txt" | stats; }
rss_max() { awk '{print $2}' "$work/$1.txt" | sort -n | tail -1; }

log "builds"
timed ours "$work/out" new "$RUNS" --app "$work/hello" --data-size 1G
timed bootonly "$work/bootonly" new "$RUNS" --app "$work/hello" --no-data
timed smalldata "$work/smalldata" new "$RUNS" --app "$work/hello" --data-size 256M
"$work/mkbootapp" build -q --app "$work/hello" -o "$work/redeploy" >/dev/null
timed redeploy "$work/redeploy" keep "$RUNS" --app "$work/hello"
ours=$(secs ours); rss=$(rss_max ours)

log "apps (Go, Node.js, Java)"
# BenchmarkBuildApps runs mkbootapp as a fresh process per build: one
# warm-up build per app (it fills the jdeps, jlink and initramfs caches),
# then APP_RUNS timed builds of each, in turn, with the default outputs (raw
# boot disk + 1 GiB raw data volume), and one --format vmdk-stream --no-data
# build for the size; a sample per process in apps.jsonl.
: >"$work/apps.jsonl"
BOOTAPP_BENCH_APP_SAMPLES=$work/apps.jsonl go test -timeout 30m -run '^$' \
  -bench 'BenchmarkBuildApps$' -benchtime "${APP_RUNS}x" ./builder/ >"$work/apps.txt" 2>&1 ||
  { echo "bench: app benchmarks failed:" >&2; tail -30 "$work/apps.txt" >&2; }

log "data volume scaling"
: >"$work/datavol.tsv"
# In turn, run by run, so that the machine's changing load weighs on each
# size alike (the 1 TiB row is a ratio to the 1 GiB one).
for g in 1 10 100 1024; do : >"$work/dv$g.txt"; done
for i in $(seq "$RUNS"); do
  for g in 1 10 100 1024; do once "dv$g" "$work/dv" new --app "$work/hello" --data-size "${g}G"; done
done
for g in 1 10 100 1024; do echo "$g $(secs "dv$g")" >>"$work/datavol.tsv"; done
dv1=$(secs dv1); dv1t=$(secs dv1024)
for g in 1 10 100 1024; do rss=$(( $(rss_max "dv$g") > rss ? $(rss_max "dv$g") : rss )); done

log "payload scaling"
# Random bytes: this measures how the build scales with the payload's size,
# not how well anything compresses (the initramfs is uncompressed).
: >"$work/payload.tsv"
for m in 1 8 64 512; do
  d=$work/payload$m; mkdir -p "$d"; cp "$work/hello" "$d/hello"
  head -c "$((m << 20))" /dev/urandom >"$d/data.bin"
  timed "p$m" "$work/pout" new "$PAYLOAD_RUNS" --app "$d" --entrypoint hello --name hello --no-data
  echo "$m $(secs "p$m") $(stat -c %s "$work/pout/hello.raw")" >>"$work/payload.tsv"
  rss=$(( $(rss_max "p$m") > rss ? $(rss_max "p$m") : rss ))
  rm -rf "$d" "$work/pout"
done
p512rss=$(rss_max p512)

# The hand-made pipeline on the same inputs; COMP is cat (none, what
# bootapp does by default) or xz.
hand() {
  local d=$work/hand; rm -rf "$d"; mkdir -p "$d/x" "$d/root/app" "$d/root/etc"
  dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$d/x" --wildcards './boot/vmlinuz-*'
  dpkg-deb --fsys-tarfile "$ldeb" | tar -x -C "$d/x" ./usr/lib/systemd/boot/efi/systemd-bootx64.efi
  cp "$work/hello" "$d/root/app/hello"
  if [ "$1" = xz ]; then
    (cd "$d/root" && find . | cpio -o -H newc --quiet | xz --check=crc32 -T1 >"$d/initrd")
  else
    (cd "$d/root" && find . | cpio -o -H newc --quiet >"$d/initrd")
  fi
  truncate -s 80M "$d/esp.img"; mkfs.vfat -F 32 -n ESP "$d/esp.img" >/dev/null
  mmd -i "$d/esp.img" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/bootapp
  mcopy -i "$d/esp.img" "$d/x/usr/lib/systemd/boot/efi/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
  mcopy -i "$d/esp.img" "$d/x"/boot/vmlinuz-* ::/bootapp/linux
  mcopy -i "$d/esp.img" "$d/initrd" ::/bootapp/initrd
  truncate -s 82M "$d/disk.raw"; sgdisk -q -n 1:2048:+80M -t 1:ef00 "$d/disk.raw"
  dd if="$d/esp.img" of="$d/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
  truncate -s 1G "$d/data.raw"; mkfs.ext4 -q -L bootapp-data "$d/data.raw"
}
log "hand-made pipeline"
for c in none xz; do
  : >"$work/hand-$c.txt"
  for i in $(seq "$RUNS"); do
    s=$(date +%s.%N); hand "$c"; e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN{printf "%.3f\n", e-s}' >>"$work/hand-$c.txt"
  done
done
hand_none=$(stats <"$work/hand-none.txt"); hand_xz=$(stats <"$work/hand-xz.txt")

log "VMDK"
"$work/mkbootapp" build -q --app "$work/hello" -o "$work/v" --format raw,vmdk-stream,gce --no-data >/dev/null
raw=$work/v/hello.raw
ours_vmdk=$(stat -c %s "$work/v/hello.vmdk")
ours_gce=$(stat -c %s "$work/v/hello.tar.gz")
(cd "$work/v" && tar --format=oldgnu -Sczf "$work/ref.tar.gz" hello.raw)
tar_gce=$(stat -c %s "$work/ref.tar.gz")
gce_ratio=$(awk -v a="$ours_gce" -v b="$tar_gce" 'BEGIN{printf "%.4f", a/b}')
: >"$work/qvmdk.txt"
for i in $(seq "$RUNS"); do
  rm -f "$work/qemu.vmdk"; s=$(date +%s.%N)
  qemu-img convert -O vmdk -o subformat=streamOptimized "$raw" "$work/qemu.vmdk"
  e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN{printf "%.3f\n", e-s}' >>"$work/qvmdk.txt"
done
qemu_vmdk_s=$(stats <"$work/qvmdk.txt")
qemu_vmdk=$(stat -c %s "$work/qemu.vmdk")
# Encoder throughput on the image package's realistic 70 MiB disk (real
# kernel + random initramfs), against qemu-img in the same benchmark run.
go test -run '^$' -bench 'BenchmarkEncode/vmdk-stream$' -benchtime 5x -count "$RUNS" ./image/ 2>/dev/null | grep 'BenchmarkEncode/vmdk-stream' >"$work/enc.txt" || true
metric() { awk -v m="$1" '{for(i=2;i<=NF;i++) if ($(i+1)==m) {print $i}}' "$work/enc.txt" | stats; }
if [ -s "$work/enc.txt" ]; then enc_mbs=$(metric MB/s); enc_ref=$(metric ref-MB/s); enc_speedup=$(metric speedup); else enc_mbs="n/a"; enc_ref="n/a"; enc_speedup="n/a"; fi

# The deflate encoder against the one it replaced (klauspost/compress
# level 7, which finds no 3-byte matches), on this run's boot disk and on
# the kernel alone, one grain after another on one core, RUNS rounds in
# turn (BenchmarkPrevious): each round's time ratio, and the output sizes.
log "deflate against klauspost/compress level 7"
: >"$work/prev.txt"
for i in $(seq "$RUNS"); do
  BOOTAPP_BENCH_DISK=$raw go test -run '^$' -bench '^BenchmarkPrevious$' -benchtime 2x -cpu 1 ./image/internal/deflate/ | grep '^BenchmarkPrevious/' >>"$work/prev.txt"
done
prev_time() { awk -v key="$1/$2" -v ref="$1/klauspost7" '
  { split($1, k, "/"); n[k[2] "/" k[3]]++; t[k[2] "/" k[3], n[k[2] "/" k[3]]] = $3 }
  END { for (r = 1; r <= n[key]; r++) print t[key, r] / t[ref, r] }' "$work/prev.txt" | stats; }
prev_bytes() { awk -v key="$1" '{ split($1, k, "/"); if (k[2] "/" k[3] == key) for (j = 2; j < NF; j++) if ($(j+1) == "out-bytes") b = $j } END { print b }' "$work/prev.txt"; }
# row_prev INPUT ENCODER [TARGET]: a table row; without TARGET the row
# has a target of no more than klauspost's time and a verdict.
row_prev() {
  local t b r target verdict
  t=$(prev_time "$1" "$2"); b=$(prev_bytes "$1/$2"); r=$(prev_bytes "$1/klauspost7")
  target=${3:-<= 1x time}; verdict=""
  [ -n "${3:-}" ] || verdict=$(verdict "$(echo "$t" | med)" le 1)
  printf '%sx its time (%s-%s), %s | %s | %sx its size | %s | %s' \
    "$(echo "$t" | cut -d' ' -f1 | xargs printf '%.3f')" "$(echo "$t" | cut -d' ' -f2 | xargs printf '%.3f')" "$(echo "$t" | cut -d' ' -f3 | xargs printf '%.3f')" \
    "$(mb2 "$b")" "$(mb2 "$r")" "$(awk -v a="$b" -v c="$r" 'BEGIN{printf "%.3f", a/c}')" "$target" "$verdict"
}

log "boots ($BOOT_RUNS per mode)"
: >"$work/boot.jsonl"
BOOTAPP_BENCH_BOOT_SAMPLES=$work/boot.jsonl BOOTAPP_E2E=1 go test -timeout 60m -run '^$' \
  -bench 'BenchmarkBootInterleaved$' -benchtime "${BOOT_RUNS}x" ./builder/ >"$work/boot.txt" 2>&1 ||
  { echo "bench: boot benchmarks failed:" >&2; tail -30 "$work/boot.txt" >&2; }
accel=$(grep -o '"accel":"[a-z]*"' "$work/boot.jsonl" | sort -u | cut -d'"' -f4 | paste -sd, -)

log "gokrazy"
# gokrazy's image builder is gok (github.com/gokrazy/tools); its PC kernel
# is github.com/gokrazy/kernel.amd64. Both come from the Go module proxy.
gok_err=$(GOBIN=$work/gobin timeout 120 go install github.com/gokrazy/tools/cmd/gok@latest 2>&1 | head -2 | tr '\n' ' ' | sed 's/|/\\|/g') || true
if [ -x "$work/gobin/gok" ]; then
  gok_status="gok installed; an image build is not scripted yet"
else
  gok_status="gok could not be installed: \`${gok_err:-unknown error}\`"
fi
gkdir=$(timeout 120 go mod download -json github.com/gokrazy/kernel.amd64@latest 2>/dev/null | awk -F'"' '/"Dir"/ {print $4}') || true
if [ -n "$gkdir" ] && [ -f "$gkdir/vmlinuz" ]; then
  ourk=$(dpkg-deb --fsys-tarfile "$kdeb" | tar -x -O --wildcards './boot/vmlinuz-*' | wc -c)
  gk="$(basename "$gkdir") downloads from the proxy: vmlinuz $(mb "$(stat -c %s "$gkdir/vmlinuz")") (ours, the Debian cloud kernel: $(mb "$ourk"))"
else
  gk="github.com/gokrazy/kernel.amd64 could not be downloaded"
fi

log "plots"
mkdir -p docs/bench
"$work/benchplot" -out docs/bench -payload "$work/payload.tsv" -datavol "$work/datavol.tsv" -boot "$work/boot.jsonl" >"$work/boottable.md"
if [ -s "$work/apps.jsonl" ]; then
  "$work/benchplot" -out docs/bench -apps "$work/apps.jsonl" >"$work/apptable.md"
  apps_plot="![build time and image size of the apps against Boxfuse](bench/apps.png)"
else
  echo "Not measured in this run: BenchmarkBuildApps failed (\`$(grep -m1 -E 'missing prerequisite|FAIL|Error|error' "$work/apps.txt" | sed 's/|/\\|/g; s/`//g' | cut -c1-300)\`)." >"$work/apptable.md"
  apps_plot=""
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(( $(date +%s) - t0 ))

row_dv() { awk -v g="$1" '$1==g {printf "%.2f s (%.2f-%.2f)", $2, $3, $4}' "$work/datavol.tsv"; }
row_p() { awk -v m="$1" '$1==m {printf "%.2f s (%.2f-%.2f) | %.1f MB", $2, $3, $4, $5/1e6}' "$work/payload.tsv"; }
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN{ if (v == "n/a") print "n/a"; else if ((op=="le" && v+0 <= t+0) || (op=="ge" && v+0 >= t+0)) print "met"; else print "not met" }'; }
dv_ratio=$(awk -v a="$(echo "$dv1t" | med)" -v b="$(echo "$dv1" | med)" 'BEGIN{printf "%.2f", a/b}')
vmdk_ratio=$(awk -v a="$ours_vmdk" -v b="$qemu_vmdk" 'BEGIN{printf "%.3f", a/b}')
speed=$(echo "$enc_speedup" | med)

doc=$(cat <<EOT
# Benchmarks

Written by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d) in ${elapsed} s.
Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) memory, $(uname -m);
load average $load_start at the start and $load_end at the end (shared with other jobs: absolute figures are noisy, the same-run ratios carry over);
QEMU accelerator as reported by the VMs: ${accel:-n/a} (TCG, no KVM).
App: examples/hello, static Go, ${app_mb} MB; kernel $(basename "$kdeb").
Each figure is the median of the runs, with (min-max): ${RUNS} runs per build row, ${PAYLOAD_RUNS} per payload size, ${BOOT_RUNS} boots per mode.

## Build, size, encoder

| what | bootapp | baseline (same run) | ratio | target | |
|---|---|---|---|---|---|
| build boot disk + 1 GiB data volume, raw, warm cache, fresh process | $(echo "$ours" | fmt3) | $(echo "$hand_none" | fmt3) hand-made pipeline, initramfs uncompressed (as ours) | $(ratio "$(echo "$hand_none" | med)" "$(echo "$ours" | med)") faster | <= 0.3 s | $(verdict "$(echo "$ours" | med)" le 0.3) |
| same | | $(echo "$hand_xz" | fmt3) hand-made pipeline, initramfs through xz | $(ratio "$(echo "$hand_xz" | med)" "$(echo "$ours" | med)") faster | | |
| same, boot disk only (no data volume) | $(secs bootonly | fmt3) | | | | |
| same, boot disk + 256 MiB data volume | $(secs smalldata | fmt3) | | | | |
| redeploy: new boot disk, existing data volume kept | $(secs redeploy | fmt3) | | | | |
| same, 1 TiB data volume | $(echo "$dv1t" | fmt3) | $(echo "$dv1" | fmt3) with 1 GiB | ${dv_ratio}x of 1 GiB | <= 1.2x | $(verdict "$dv_ratio" le 1.2) |
| builder peak RSS (max over every build above, 512 MiB payload included) | $((rss / 1024)) MB | | | <= 150 MB | $(verdict $((rss / 1024)) le 150) |
| builder peak RSS, 512 MiB payload | $((p512rss / 1024)) MB | | | | |
| boot disk as streamOptimized VMDK | $(mb "$ours_vmdk") | $(mb "$qemu_vmdk") qemu-img convert | ${vmdk_ratio}x its size | <= 1x | $(verdict "$vmdk_ratio" le 1) |
| streamOptimized VMDK encoding, 70 MiB disk (real kernel) | $(echo "$enc_mbs" | awk '{printf "%s MB/s (%s-%s)", $1, $2, $3}') | $(echo "$enc_ref" | awk '{printf "%s MB/s (%s-%s)", $1, $2, $3}') qemu-img convert | ${speed}x faster | >= 3x | $(verdict "$speed" ge 3) |
| qemu-img convert of our boot disk to streamOptimized VMDK | | $(echo "$qemu_vmdk_s" | fmt3) | | | |
| boot disk as GCE archive (tar.gz) | $(mb "$ours_gce") | $(mb "$tar_gce") GNU tar -Sczf (gzip -6) | ${gce_ratio}x its size | <= 1x | $(verdict "$gce_ratio" le 1) |

The deflate encoder against klauspost/compress level 7, the encoder
before it (BenchmarkPrevious): the 64 KiB grains of the same boot disk
(not all zeros, not random-looking) and of the kernel alone, compressed
one after another on one core, ${RUNS} rounds in turn; time is the median
(min-max) of each round's ratio. Level 5 is the streamOptimized VMDK's
(and the OVA's), whose grains were compressed on every core before too:
its boot disk row is issue 12's "no loss of speed". Level 6 is the GCE
archive's, which now compresses 1 MiB chunks on every core where the
encoder before compressed one gzip stream on one. The kernel, an LZ4
image, is the part where klauspost gives up early (8% larger output).

| grains, encoder | bootapp | klauspost level 7 (same run) | size | target | |
|---|---|---|---|---|---|
| boot disk, level 5 (VMDK) | $(row_prev disk level5) |
| boot disk, level 6 (GCE) | $(row_prev disk level6 "none on one core: GCE's chunks are compressed on every core") |
| kernel alone, level 5 | $(row_prev kernel level5 "none: a part of the disk") |
| kernel alone, level 6 | $(row_prev kernel level6 "none: a part of the disk") |

## Apps: Go, Node.js and Java against Boxfuse

The three example apps, each built by \`mkbootapp build\` as a fresh
process, warm cache (one warm-up build per app first: it fills the jdeps,
jlink and initramfs caches), with the default outputs: a raw boot disk and a
new 1 GiB raw data volume (BenchmarkBuildApps). Go: examples/hello; Node.js:
a copy of examples/node after \`npm ci --omit=dev\`, \`--runtime node\`, Node.js
from the cached Debian packages; Java: examples/java's app.jar (build.sh:
javac and jar), \`--runtime java\`, a runtime jlinked from the cached JDK
package with the modules jdeps finds. The apps are built in turn, ${APP_RUNS} rounds,
so that the machine's changing load weighs on each alike: build time is the
median (min-max) of the ${APP_RUNS} builds; peak RSS the largest of them (of the
mkbootapp process and the children it waited for, GNU time's %M); the
streamOptimized VMDK is NAME.vmdk of one more build with \`--format
vmdk-stream --no-data\` (the boot disk alone). MB = 10^6 bytes; "of Boxfuse's"
is our figure divided by Boxfuse's published one for the same kind of app
(issue 10); met or missed compares the median with the target. The Go row is
the same build as the first row above, measured again here, in turn with the
others.

$(cat "$work/apptable.md")

${apps_plot}

## Scaling

Payload: an app directory with examples/hello and a data file of the given
size, **random bytes** (this measures how the build scales with the payload's
size, not compression: the initramfs is stored uncompressed); boot disk only
(\`--no-data\`), raw.

| payload | build time | raw boot disk |
|---|---|---|
| 1 MiB | $(row_p 1) |
| 8 MiB | $(row_p 8) |
| 64 MiB | $(row_p 64) |
| 512 MiB | $(row_p 512) |

![build time against payload](bench/payload-build.png)

![boot disk size against payload](bench/payload-size.png)

Data volume: boot disk + a new raw data volume of the given size.

| data volume | build time |
|---|---|
| 1 GiB | $(row_dv 1) |
| 10 GiB | $(row_dv 10) |
| 100 GiB | $(row_dv 100) |
| 1 TiB | $(row_dv 1024) |

![build time against data volume size](bench/datavolume-build.png)

## Boot time, with its parts

QEMU start to the first HTTP 200 from examples/hello (256 MiB data volume),
in seconds. The host timestamps each serial console line as it arrives; the
guest init's lines carry the kernel's clock, so the kernel's entry is at
(host time - kernel time) of its lines. "firmware + loader" is everything
before the kernel's clock starts: QEMU's own start, OVMF and systemd-boot (for
a direct boot QEMU's Linux loader), and the kernel's decompression. Data
volume and network run concurrently ("data ‖ network" is the longer of the
two). The limit rows boot the same QEMU, firmware, loader, kernel and command
line with a trivial init (builder/testdata/poweroff) in an uncompressed
initramfs that prints one line and powers off: QEMU start to QEMU's exit.
The four modes are booted in turn, ${BOOT_RUNS} rounds (BenchmarkBootInterleaved), so
that the machine's changing load weighs on each alike. The medians of the
parts need not add up to the median total.

$(cat "$work/boottable.md")

![boot time breakdown](bench/boot.png)

## Peer: gokrazy

- image builder: ${gok_status}
- PC kernel: ${gk}
- so no gokrazy build time, RSS, image size or boot time is measured here.
EOT
)
echo "$doc"
echo "$doc" >docs/benchmarks.md
log "done"
