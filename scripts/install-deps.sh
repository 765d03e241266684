#!/usr/bin/env bash
# Installs the Debian 12 packages KD Studio needs to build, test and run, skipping those already
# installed. Idempotent; needs root or sudo only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  qt6-base-dev qt6-svg-dev libgl-dev
  libqcustomplot-dev libqcustomplot2.1-qt6
  libtorch-dev libopenblas0-pthread libopencv-dev
  nlohmann-json3-dev libcli11-dev zlib1g-dev
  dataset-fashion-mnist
)
# The fuzz smoke test of scripts/run.sh test (scripts/fuzz.sh): scripts/install-deps.sh --test
if [[ "${1:-}" == "--test" || "${1:-}" == "--dev" ]]; then
  PACKAGES+=(clang libclang-rt-14-dev)
fi
# Extra tools for developers (screenshots, fixture scripts): scripts/install-deps.sh --dev
if [[ "${1:-}" == "--dev" ]]; then
  PACKAGES+=(xvfb xauth imagemagick python3-torch python3-torchvision
             desktop-file-utils appstream man-db x11-utils)  # the last four: scripts/test-deb.sh
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
