#!/usr/bin/env bash
# Launches the real KD Studio under Xvfb, drives it through the default workflow (kdstudio --tour:
# models, data, layer analysis and choice, geometry, a short training, experiments, dark scheme)
# and saves a screenshot of each page to docs/screenshots/ (used by the README and
# docs/user-guide.md). Also one high-DPI shot (scale factor 2, as on a 4K screen), and the
# Sweeps tab on the layer-choice study when scripts/make_results.sh has made it.
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
# The Sweeps tab on the layer-choice study of scripts/make_results.sh, when it has been run.
study=runs/results/fmnist-layers-study
if [[ -f "$study/points.json" ]] && command -v import >/dev/null; then
  XDG_CONFIG_HOME="$cache/config" xvfb-run -a -s "-screen 0 1280x800x24" bash -c \
    "\"$app\" --empty \"$study\" & pid=\$!; sleep 8; import -window root \"$out/sweep.png\"; kill \$pid"
else
  echo "no $study (scripts/make_results.sh makes it): sweep.png not taken"
fi
echo "screenshots in $out"
