#!/usr/bin/env bash
# Produces docs/results.md: the Fashion-MNIST comparison of experiments/fashion-mnist/*.json
# (3 seeds each) and the bundled teacher's per-layer S/I/E/Q, with our own CLI.
#
#   scripts/make_results.sh            # trains what is missing, then writes docs/results.md
#   KDSTUDIO_CLI=path/to/kdstudio-cli scripts/make_results.sh
#
# Runs go to runs/results/ (a finished experiment is recognised by its folder and not trained
# again). Takes about twenty minutes on a 2-core CPU, and the layer-choice study about fifteen more.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI="${KDSTUDIO_CLI:-build/dev/app/kdstudio-cli}"
OUT=runs/results
[ -x "$CLI" ] || { echo "error: $CLI not found; build first (scripts/run.sh test) or set KDSTUDIO_CLI" >&2; exit 1; }
mkdir -p "$OUT"
for name in student kd fitnets sp ours-standard ours-q; do
  config="experiments/fashion-mnist/$name.json"
  echo "== $name"
  # An existing finished run is reused; an unfinished one is resumed.
  if ! "$CLI" train --config "$config" --out "$OUT" 2> "$OUT/$name.log"; then
    dir=$(grep -o "$OUT/[^ ;]*" "$OUT/$name.log" | head -1 || true)
    if grep -q "has been run already" "$OUT/$name.log"; then
      echo "   (already done: $dir)"
    elif grep -q "unfinished run" "$OUT/$name.log"; then
      "$CLI" resume "$dir"
    else
      cat "$OUT/$name.log" >&2
      exit 1
    fi
  fi
done
"$CLI" analyze -m resources/models/fashion-mnist-teacher.kdmodel --json > "$OUT/teacher-analysis.json"
# The layer-choice study (docs/sweeps.md): a sweep; running it again continues it.
echo "== layer-choice study"
"$CLI" study layers --config experiments/fashion-mnist/layer-study.json --seeds "${KD_STUDY_SEEDS:-2}" \
  --random-sets 3 --jobs 2 --out "$OUT"
"$CLI" study report "$OUT/fmnist-layers-study" --json > "$OUT/layer-study.json"
python3 scripts/write_results_md.py "$OUT" experiments/fashion-mnist "$OUT/layer-study.json" \
  experiments/fashion-mnist/layer-study.json > docs/results.md
echo "wrote docs/results.md"
