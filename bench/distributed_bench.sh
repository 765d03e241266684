#!/usr/bin/env bash
# Data parallelism on this machine (docs/distributed.md): the same experiment trained by one
# process with all the cores' threads and by N processes with one share each (kdstudio-cli
# train --nproc N, Gloo over loopback), REPS times each, alternating which goes first. Prints
# the training throughput of the last epoch (images per second, evaluation excluded), the
# wall-clock time, the gradient bytes each rank all-reduces per step, and writes
# bench/distributed.json.
#
# Usage: bench/distributed_bench.sh [--nproc N] [--reps R] [--per-class K] [--epochs E]
#                                   [--student SPEC] [--cli PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
nproc_=2 reps=3 per_class=500 epochs=2 student="resnet9:channels=1,size=28,width=0.25"
cli=build/dev/app/kdstudio-cli
while (($#)); do
  case $1 in
    --nproc) nproc_=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --per-class) per_class=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --student) student=$2; shift 2 ;;
    --cli) cli=$2; shift 2 ;;
    *) echo "distributed_bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -x $cli ]] || { echo "distributed_bench: $cli is not built" >&2; exit 1; }
cores=$(nproc)
work=$(mktemp -d /tmp/kd-distributed-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export KDSTUDIO_CACHE_DIR="$work/cache"
cat > "$work/config.json" <<JSON
{
  "format": "kdstudio-experiment", "dataset": "fashion-mnist", "name": "bench",
  "teacher": "$(pwd)/resources/models/fashion-mnist-teacher.kdmodel",
  "student": "$student", "method": "ours", "teacher_layers": "standard", "student_layers": "standard",
  "train_per_class": $per_class, "test_per_class": 100, "epochs": $epochs, "batch_size": 128,
  "device": "cpu", "seeds": 1
}
JSON

# run one|many: one training, by 1 process with every core's thread or by $nproc_ processes;
# appends "LABEL wall_seconds run_dir log" to $work/runs.
run() {
  local label=$1
  local out="$work/out-$label-$RANDOM" t0 t1
  local -a args=(train --config "$work/config.json" --out "$out")
  if [[ $label == one ]]; then args=(--threads "$cores" "${args[@]}"); else args+=(--nproc "$nproc_"); fi
  t0=$(date +%s.%N)
  "$cli" "${args[@]}" >"$out.log" 2>&1 || { cat "$out.log"; exit 1; }
  t1=$(date +%s.%N)
  echo "$label $(python3 -c "print($t1 - $t0)") $(ls -d "$out"/*/) $out.log" >> "$work/runs"
}

for ((i = 0; i < reps; i++)); do
  if ((i % 2 == 0)); then
    run one; run many
  else
    run many; run one
  fi
done

python3 - "$work/runs" "$nproc_" "$cores" "$per_class" "$epochs" "$student" <<'PY'
import json, re, statistics, sys, datetime, platform
runs, n, cores, per_class, epochs, student = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
images = 10 * per_class
rows = {"one": [], "many": []}
bucket_note = None
for line in open(runs):
    label, wall, run_dir, log = line.split()
    last = [json.loads(l) for l in open(run_dir + "seed-0/epochs.jsonl") if l.strip()][-1]
    steps = [json.loads(l) for l in open(run_dir + "seed-0/steps.jsonl") if l.strip()]
    ips = [s["images_per_second"] for s in steps if s["epoch"] == last["epoch"]]
    rows[label].append({"wall_s": float(wall), "images_per_s": statistics.median(ips),
                        "test_acc": last["test_acc"]})
    m = re.search(r"gradients: (\d+) buckets?, ([0-9.]+) MiB", open(log).read())
    if m: bucket_note = (int(m.group(1)), float(m.group(2)))
med = lambda label, key: statistics.median(r[key] for r in rows[label])
out = {
    "date": datetime.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
    "cores": cores, "processes": n, "student": student, "train_images": images, "epochs": epochs,
    "one_process": {"threads": cores, "images_per_s": med("one", "images_per_s"), "wall_s": med("one", "wall_s")},
    "processes_run": {"threads_each": max(1, cores // n), "images_per_s": med("many", "images_per_s"),
                      "wall_s": med("many", "wall_s")},
    "buckets": bucket_note[0] if bucket_note else None,
    "allreduce_mib_per_step": bucket_note[1] if bucket_note else None,
    "runs": rows,
}
json.dump(out, open("bench/distributed.json", "w"), indent=2)
print(f"data parallelism on {cores} cores, {student}, {images} images x {epochs} epochs, batch 128 "
      f"(median of {len(rows['one'])}):")
print(f"  1 process  x {cores} threads: {out['one_process']['images_per_s']:8.0f} images/s, {out['one_process']['wall_s']:6.1f} s in all")
print(f"  {n} processes x {max(1, cores // n)} thread(s): {out['processes_run']['images_per_s']:8.0f} images/s, {out['processes_run']['wall_s']:6.1f} s in all")
if bucket_note:
    print(f"  gradients: {bucket_note[0]} bucket(s), {bucket_note[1]:.2f} MiB all-reduced per step by each rank")
print("written: bench/distributed.json")
PY
