#!/usr/bin/env bash
# The curves the demo's budget was chosen from (docs/cli.md, "demo"): the four trainings of
# `kdstudio-cli demo` (ours from the Q layers, ours from the standard layers, vanilla KD, the
# student alone) on the bundled Fashion-MNIST teacher, for EPOCHS epochs at each training size, one
# seed each, and a Markdown table of the test accuracy after every epoch with the time per run.
#
# Usage: scripts/demo-curves.sh [--build DIR] [--epochs N] [--out DIR] PER_CLASS...
#   e.g. scripts/demo-curves.sh --epochs 12 200 300 500
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/dev; epochs=12; out=""
while (($#)); do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
out="${out:-$(mktemp -d /tmp/kd-demo-curves.XXXXXX)}"; mkdir -p "$out"
(($#)) || { echo "give at least one PER_CLASS (see --help)" >&2; exit 2; }
cli="$build/app/kdstudio-cli"
[[ -x "$cli" ]] || { echo "missing $cli: build the target kdstudio-cli" >&2; exit 1; }
teacher=resources/models/fashion-mnist-teacher.kdmodel
student="resnet9:channels=1,size=28,width=0.125"
for per in "$@"; do
  for m in ours-q ours-standard kd student; do
    case $m in
      ours-q) extra='"method": "ours", "teacher_layers": "Q"' ;;
      ours-standard) extra='"method": "ours", "teacher_layers": "standard"' ;;
      kd) extra='"method": "kd"' ;;
      student) extra='"method": "student"' ;;
    esac
    cfg="$out/$m-$per.json"
    cat >"$cfg" <<JSON
{"name": "$m-$per", "dataset": "fashion-mnist", "teacher": "$teacher", "student": "$student",
 "train_per_class": $per, "epochs": $epochs, "seeds": 1, "analysis_per_class": 100, $extra}
JSON
    echo "[$(date +%T)] $m, $per per class, $epochs epochs" >&2
    start=$SECONDS
    "$cli" train --config "$cfg" --out "$out/runs" --restart >"$out/$m-$per.log" 2>&1 ||
      { tail -5 "$out/$m-$per.log" >&2; exit 1; }
    echo "$((SECONDS - start))" >"$out/$m-$per.seconds"
  done
done
python3 - "$out" "$epochs" "$@" <<'PY'
import glob, json, sys
out, epochs, sizes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
names = {"ours-q": "ours (Q layers)", "ours-standard": "ours (standard layers)", "kd": "vanilla KD",
         "student": "student alone"}
for per in sizes:
    print(f"\n{per} images per class ({int(per) * 10} training images), test accuracy (%) after each epoch:\n")
    print("| training | " + " | ".join(str(e + 1) for e in range(epochs)) + " | time |")
    print("|---" * (epochs + 2) + "|")
    for m, label in names.items():
        run = glob.glob(f"{out}/runs/{m}-{per}-*/seed-0/epochs.jsonl")[0]
        acc = [json.loads(line)["test_acc"] for line in open(run)]
        secs = open(f"{out}/{m}-{per}.seconds").read().strip()
        print(f"| {label} | " + " | ".join(f"{a:.1f}" for a in acc) + f" | {secs} s |")
PY
