#!/usr/bin/env bash
# Runs the layer-analysis benchmark: KD Studio's streaming analysis ("ours") and the
# store-every-layer's-features method ("naive"), each in its own process (so peak memory is its
# own), alternating, REPS times each; prints one JSON line per run and a summary with medians.
# Usage: bench/run_analysis_bench.sh [BUILD_DIR] [PER_CLASS_A] [PER_CLASS_B] [REPS]
set -euo pipefail
build="${1:-build/dev}"; per_a="${2:-500}"; per_b="${3:-100}"; reps="${4:-1}"
exe="$build/bench/kdstudio-bench-analysis"
out="$(mktemp)"
for ((i = 0; i < reps; i++)); do
  for mode in naive ours; do
    "$exe" --mode "$mode" --per-class "$per_a" --per-class-b "$per_b" | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def med(mode, key):
    return statistics.median(r[key] for r in runs if r["mode"] == mode)
n, o = "naive", "ours"
same = all(abs(a - b) < 1e-6 for a, b in zip(runs[0]["Q"], runs[1]["Q"]))
print(f"model {runs[0]['model']}, sample A {runs[0]['sample_a']}, sample B {runs[0]['sample_b']}, "
      f"{runs[0]['threads']} threads, {len(runs)//2} run(s) each")
print(f"time:   naive {med(n,'seconds'):.1f} s, ours {med(o,'seconds'):.1f} s, "
      f"speed ratio {med(n,'seconds')/med(o,'seconds'):.2f}")
print(f"memory: naive {med(n,'peak_rss_mb'):.0f} MB, ours {med(o,'peak_rss_mb'):.0f} MB peak RSS "
      f"(of which {med(o,'rss_before_mb'):.0f} MB data and model before the analysis); "
      f"ratio {med(o,'peak_rss_mb')/med(n,'peak_rss_mb'):.3f}, "
      f"analysis-only ratio {(med(o,'peak_rss_mb')-med(o,'rss_before_mb'))/(med(n,'peak_rss_mb')-med(n,'rss_before_mb')):.3f}")
print(f"same Q per layer: {same}")
PY
