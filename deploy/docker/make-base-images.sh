#!/usr/bin/env bash
# Local stand-ins for the official base images, for hosts that cannot pull from a registry.
#
# Makes ONE image from Debian's own packages (debootstrap + `docker import`, no registry): Debian
# bookworm with CPython 3.11 (a virtualenv at /opt/python, first on PATH, with pip), the shared
# libpython (Triton's python-backend stub needs it), ca-certificates and redis-server/redis-cli.
# It stands in for python:3.11-slim (the gateway, locust and CPU Merlin images' BASE_IMAGE) and
# for redis:7.2-alpine (REDIS_IMAGE). Idempotent: an existing image of that name is reused.
#
#   deploy/docker/make-base-images.sh            # prints the image name
#   LOCAL_BASE_IMAGE=name:tag deploy/docker/make-base-images.sh
#
# Needs root, debootstrap and a running Docker engine. The Debian mirror is the one apt uses
# (DEBIAN_MIRROR overrides it).
set -euo pipefail

IMAGE=${LOCAL_BASE_IMAGE:-multi-stage-recsys/base:bookworm-py311}
SUITE=bookworm
PACKAGES=python3,python3-venv,libpython3.11,ca-certificates,redis-server,tzdata

say() { echo "make-base-images: $*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "$IMAGE exists, reused"
  echo "$IMAGE"
  exit 0
fi

command -v debootstrap >/dev/null || {
  say "error: debootstrap is missing (apt-get install debootstrap)"
  exit 2
}

apt_mirror() {
  # The first Debian "main" archive apt is configured with (deb822 or one-line sources).
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
    | grep -v security | head -n1 || true)
  [ -n "$uri" ] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    | awk '{print $2}' | grep -v security | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${DEBIAN_MIRROR:-$(apt_mirror)}

ROOTFS=$(mktemp -d /var/tmp/recsys-rootfs.XXXXXX)
trap 'rm -rf --one-file-system "$ROOTFS"' EXIT
say "debootstrap $SUITE from $MIRROR into $ROOTFS"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >&2

# The image's pip reaches the index through a TLS-intercepting proxy only with the host's CA
# bundle: the builds get it as the optional pip_ca build secret, never baked in here.
chroot "$ROOTFS" /usr/bin/python3 -m venv /opt/python
chroot "$ROOTFS" /bin/sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin'
mkdir -p "$ROOTFS/data"

say "docker import -> $IMAGE"
tar -C "$ROOTFS" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'WORKDIR /data' \
  --change 'CMD ["python"]' \
  --message "Debian $SUITE minbase + $PACKAGES (deploy/docker/make-base-images.sh)" \
  - "$IMAGE" >&2
echo "$IMAGE"
