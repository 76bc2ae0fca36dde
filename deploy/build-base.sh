#!/usr/bin/env bash
# Build a local Debian base image with Python 3.11 from Debian's own packages, for machines that
# reach Debian's package archive but no container registry (docker pull fails).
#
#   deploy/build-base.sh [TAG]        # default TAG: fhirplugin-base:bookworm
#   docker build --network host --build-arg BASE=fhirplugin-base:bookworm -t fhirplugin .
#
# It runs debootstrap (as root) into a temporary folder, adds python3, python3-venv and
# ca-certificates, cleans the apt caches and imports the folder as an image. Debian bookworm's
# python3 is 3.11, which fhirplugin needs at least. MIRROR overrides the Debian archive to use.
set -euo pipefail
TAG="${1:-fhirplugin-base:bookworm}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
if docker image inspect "$TAG" >/dev/null 2>&1 && [ -z "${REBUILD:-}" ]; then
    echo "base image $TAG already present (REBUILD=1 to build it again)"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is needed: apt-get install -y debootstrap" >&2; exit 2; }
ROOT="$(mktemp -d /tmp/fhirplugin-base.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOT" "$MIRROR"
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/usr/share/doc/* \
    "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/*
tar -C "$ROOT" -c . | docker import \
    --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$TAG"
docker image ls "$TAG"
