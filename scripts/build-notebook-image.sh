#!/usr/bin/env bash
# build-notebook-image.sh builds a Jupyter notebook image without a container
# registry: it bootstraps a Debian bookworm root filesystem, installs Debian's
# jupyterhub (the real jupyterhub-singleuser), notebook, nbclassic and ipykernel
# inside it, and imports the result into the local Docker engine.
#
# Usage: scripts/build-notebook-image.sh [TAG]
#
# The tag defaults to $LABHUB_TEST_IMAGE or labhub/notebook:bookworm. An image
# that already carries the tag is reused unless FORCE=1. Needs root, debootstrap
# and a Docker engine; DEBIAN_MIRROR picks the package mirror.
set -euo pipefail

tag=${1:-${LABHUB_TEST_IMAGE:-labhub/notebook:bookworm}}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "image $tag exists; set FORCE=1 to rebuild"
  exit 0
fi

root=$(mktemp -d /var/tmp/labhub-rootfs.XXXXXX)
cleanup() {
  for m in dev/pts dev proc sys; do
    if mountpoint -q "$root/$m" 2>/dev/null; then umount -l "$root/$m" || true; fi
  done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "bootstrapping bookworm into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null

cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"

echo "installing jupyterhub, notebook, nbclassic and ipykernel"
chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends \
  jupyterhub python3-notebook python3-nbclassic python3-ipykernel \
  ca-certificates procps iproute2 >/dev/null

# The notebook user matches Jupyter Docker Stacks: jovyan, uid 1000, gid 100.
chroot "$root" useradd --uid 1000 --gid 100 --create-home --shell /bin/bash jovyan
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/tmp/* "$root"/etc/resolv.conf
: >"$root/etc/resolv.conf"

for m in dev/pts dev proc sys; do umount -l "$root/$m"; done

echo "importing $tag"
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'USER 1000:100' \
  --change 'WORKDIR /home/jovyan' \
  --change 'ENV HOME=/home/jovyan SHELL=/bin/bash LANG=C.UTF-8' \
  --change 'EXPOSE 8888' \
  --change 'CMD ["jupyterhub-singleuser"]' \
  - "$tag" >/dev/null
echo "built $tag"
