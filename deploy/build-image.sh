#!/usr/bin/env bash
# Build the fhirplugin image here:
#   deploy/build-image.sh [TAG]           # default TAG fhirplugin; BASE=… picks the base image
# 1. build/wheelhouse: the fhirplugin wheel and its dependencies at the versions pinned in
#    deploy/constraints.txt (pip on this machine, from its package index);
# 2. the base image: $BASE if set; else python:3.11-slim when it is present or can be pulled; else a
#    local Debian base built by deploy/build-base.sh (no container registry needed);
# 3. docker build, which installs from the wheelhouse only (no network inside the build).
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-fhirplugin}"
PY="${PYTHON:-python3}"
rm -rf build/wheelhouse
"$PY" -m pip wheel --quiet --wheel-dir build/wheelhouse -c deploy/constraints.txt .
if [ -z "${BASE:-}" ]; then
    if docker image inspect python:3.11-slim >/dev/null 2>&1 || timeout 60 docker pull -q python:3.11-slim >/dev/null 2>&1; then
        BASE=python:3.11-slim
    else
        echo "no registry answered for python:3.11-slim: building a local Debian base" >&2
        deploy/build-base.sh fhirplugin-base:bookworm
        BASE=fhirplugin-base:bookworm
    fi
fi
docker build --network none --build-arg BASE="$BASE" -t "$TAG" .
docker image ls "$TAG"
