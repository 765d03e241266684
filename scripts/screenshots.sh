#!/usr/bin/env bash
# Launches the real KD Studio under Xvfb, drives it through the default workflow (kdstudio --tour:
# models, data, layer analysis and choice, geometry, a short training, experiments, dark scheme)
# and saves a screenshot of each page to docs/screenshots/ (used by the README and
# docs/user-guide.md). Also one high-DPI shot (scale factor 2, as on a 4K screen).
# Usage: scripts/screenshots.sh [BUILD_DIR] [OUT_DIR]      (needs: scripts/install-deps.sh --dev)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/dev}"
out="${2:-docs/screenshots}"
app="$build/app/kdstudio"
if [[ ! -x "$app" ]]; then
  cmake --preset dev >/dev/null && cmake --build --preset dev -j "$(nproc)" --target kdstudio
fi
command -v xvfb-run >/dev/null || { echo "xvfb-run is missing: scripts/install-deps.sh --dev" >&2; exit 1; }
cache="$(mktemp -d)"
trap 'rm -rf "$cache"' EXIT
export KDSTUDIO_CACHE_DIR="$cache"
xvfb-run -a -s "-screen 0 1280x800x24" "$app" --tour "$out"
# 4K check: the same window at twice the scale on a 2560x1600 screen.
QT_SCALE_FACTOR=2 KD_TOUR_PREFIX=hidpi- xvfb-run -a -s "-screen 0 2560x1600x24" "$app" --tour "$cache/hidpi"
cp "$cache/hidpi/hidpi-layers.png" "$cache/hidpi/hidpi-training.png" "$out/"
echo "screenshots in $out"
