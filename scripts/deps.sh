#!/usr/bin/env bash
# Installs the host tools bootapp's demo and tests need, when missing, and
# fills the package cache (kernel and systemd-boot .debs, the Node.js and
# Java runtimes) with apt-get download. Safe to run again: it only does
# what is missing.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have qemu-system-x86_64 || need+=(qemu-system-x86)
have qemu-img || need+=(qemu-utils)
[ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || need+=(ovmf)
have e2fsck || need+=(e2fsprogs)
have fsck.fat || need+=(dosfstools)
have mdir || need+=(mtools)
have cpio || need+=(cpio)
have zstd || need+=(zstd)
have xz || need+=(xz-utils)
have sfdisk || need+=(fdisk)
have sgdisk || need+=(gdisk)
have depmod || need+=(kmod)
have readelf || need+=(binutils)
have python3 || need+=(python3)
have dpkg-deb || need+=(dpkg)
have curl || need+=(curl)
have gcc || need+=(gcc libc6-dev zlib1g-dev) # the dynamically linked test apps (cgo, C)
[ -x /usr/bin/time ] || need+=(time)
# Building the Node.js and Java examples: npm, javac and jar. Only when
# absent: a host may have them from elsewhere (nodesource's nodejs ships
# npm, and Debian's npm would conflict with it).
have npm || need+=(npm)
have javac || need+=(default-jdk-headless)

sudo=""
if [ "$(id -u)" != 0 ]; then
  if have sudo; then sudo="sudo"; else
    [ ${#need[@]} -eq 0 ] || { echo "deps: need root or sudo to install: ${need[*]}" >&2; exit 1; }
  fi
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# apt-get download needs package lists; a fresh machine may have none.
if ! apt-cache show systemd-boot-efi >/dev/null 2>&1; then
  $sudo apt-get update -qq
fi
go run ./cmd/mkbootapp fetch
# Debian's generic kernel too: the hardware tests boot its e1000/AHCI
# drivers, which the cloud kernel lacks.
go run ./cmd/mkbootapp fetch --kernel-package linux-image-amd64 >/dev/null
# The Node.js and Java runtimes (Debian's nodejs and OpenJDK with the
# packages of the libraries they need), unpacked in the cache.
go run ./cmd/mkbootapp fetch --runtime node,java
