#!/usr/bin/env bash
# build-go-image.sh builds, without a container registry, an image that can
# run the build stage of Labhub's Dockerfile: Debian bookworm with gcc and
# libc headers (for SQLite through cgo) and this machine's Go toolchain.
#
# Usage: scripts/build-go-image.sh [TAG]   (default labhub/golang:bookworm)
#
# The image carries this machine's CA bundle, so module downloads inside the
# build trust the same certificates the machine does.
# Then:  docker build --build-arg GO_IMAGE=labhub/golang:bookworm -t labhub/labhub .
#
# An image that already carries the tag is reused unless FORCE=1. Needs root,
# debootstrap, a Docker engine and Go in /usr/local/go.
set -euo pipefail

tag=${1:-labhub/golang:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
goroot=${GOROOT_SRC:-/usr/local/go}

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "image $tag exists; set FORCE=1 to rebuild"
  exit 0
fi
[ -x "$goroot/bin/go" ] || { echo "no Go toolchain in $goroot" >&2; exit 1; }

root=$(mktemp -d /var/tmp/labhub-goroot.XXXXXX)
cleanup() {
  for m in dev/pts dev proc sys; do
    if mountpoint -q "$root/$m" 2>/dev/null; then umount -l "$root/$m" || true; fi
  done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "bootstrapping bookworm into $root"
debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates,git bookworm "$root" "$mirror" >/dev/null
# The image trusts what this machine trusts, so a TLS-inspecting egress
# proxy in front of the Go module proxy works from inside the build too.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
echo "copying Go from $goroot"
mkdir -p "$root/usr/local"
cp -a "$goroot" "$root/usr/local/go"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb

echo "importing $tag"
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/go/bin:/root/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV GOPATH=/root/go' \
  --change 'WORKDIR /src' \
  - "$tag" >/dev/null
echo "built $tag"
