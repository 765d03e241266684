#!/usr/bin/env bash
# Installs the Debian packages KD Studio needs to build, test and run, skipping those already
# installed. Idempotent; needs root or sudo only when something is missing. Debian 12 (bookworm)
# and Debian 13 (trixie: scripts/debian13.sh runs this inside its chroot) have the same names
# except where noted.
#   --test    also what scripts/run.sh test needs (clang for the fuzz smoke test)
#   --dev     also the developers' tools (screenshots, fixture scripts, scripts/test-deb.sh)
#   --python  only Debian's PyTorch (the fixture and reference scripts)
#   --slurm   also munge and Slurm's daemons and client (scripts/slurm-local.sh, scripts/test-slurm.sh)
set -euo pipefail
codename=$( . /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  qt6-base-dev qt6-svg-dev libgl-dev
  libqcustomplot-dev libqcustomplot2.1-qt6
  libtorch-dev libgloo-dev libopenblas0-pthread libopencv-dev libonnx-dev
  nlohmann-json3-dev libcli11-dev zlib1g-dev
  dataset-fashion-mnist
)
# The fuzz smoke test of scripts/run.sh test (scripts/fuzz.sh), with bookworm's clang 14 runtime.
# Not on trixie: the Debian 13 leg (scripts/debian13.sh) builds and tests without fuzzing.
if [[ ("${1:-}" == "--test" || "${1:-}" == "--dev") && "$codename" != trixie ]]; then
  PACKAGES+=(clang libclang-rt-14-dev)
fi
if [[ "${1:-}" == "--slurm" ]]; then
  PACKAGES+=(munge slurmctld slurmd slurm-client)
fi
if [[ "${1:-}" == "--python" ]]; then
  PACKAGES=(python3-torch python3-torchvision)
fi
# Extra tools for developers (screenshots, fixture scripts): scripts/install-deps.sh --dev
if [[ "${1:-}" == "--dev" ]]; then
  PACKAGES+=(xvfb xauth imagemagick python3-torch python3-torchvision
             desktop-file-utils appstream man-db x11-utils libglib2.0-bin mount)  # the last six: scripts/test-deb.sh
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: missing packages (${missing[*]}) and not root; install them or use sudo" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
