#!/usr/bin/env bash
# Sweeps on a real Slurm: a one-node cluster of Debian's munge and slurm-wlm daemons started here
# (scripts/slurm-local.sh), the built kdstudio-cli submitting to it, and checks of what came back:
#   1. a 4-point sweep (2 methods x 2 seeds, with a teacher) submitted as one job array runs to
#      the end: a result.json per point, `sweep status --json` says 4 done and pools them;
#      submitting again submits nothing;
#   2. requeue, both ways a cluster does it, on 2 longer points: `scontrol requeue` (preemption:
#      Slurm sends TERM) and the time-limit warning (`scancel --signal=USR1 --batch`, what
#      --signal=B:USR1@120 sends before --time runs out: the job script stops the point and
#      requeues itself). Each point must resume from its checkpoint ("resuming after epoch" in
#      its log), train every epoch exactly once (epochs.jsonl) and finish;
#   3. data-parallel training under srun: a batch job of 2 tasks runs `srun kdstudio-cli train`,
#      the ranks find each other from Slurm's environment (SLURM_PROCID, the step's node list,
#      a port from the job id) and rank 0 writes one run folder (result.json: 2 processes).
# Needs root; installs Debian's munge and Slurm when missing (scripts/install-deps.sh --slurm);
# builds nothing (KD_CLI, default build/dev/app/kdstudio-cli). Stops the daemons and removes its
# folder (KD_KEEP=1 keeps it; a failure keeps it too).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "test-slurm: needs root (slurmd runs the jobs)" >&2; exit 1; }
  exec sudo -E "$0" "$@"
fi
root=$(pwd)
scripts/install-deps.sh --slurm >/dev/null
cli=$(realpath "${KD_CLI:-build/dev/app/kdstudio-cli}")
[[ -x "$cli" ]] || { echo "test-slurm: $cli is not built (cmake --build --preset dev)" >&2; exit 1; }
work=$(mktemp -d /tmp/kd-test-slurm.XXXXXX)
start=$SECONDS
failures=0

finish() {
  scripts/slurm-local.sh stop "$work/cluster" || true
  if [[ "${KD_KEEP:-0}" == 1 || $failures -ne 0 ]]; then
    echo "test-slurm: files kept in $work"
  else
    rm -rf "$work"
  fi
}
trap finish EXIT

check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then
    echo "  ok: $what"
  else
    echo "  FAILED: $what"
    failures=$((failures + 1))
  fi
}

eval "$(scripts/slurm-local.sh start "$work/cluster")"
echo "test-slurm: cluster up ($(sinfo -h -o '%P %D node(s) %c cpus %t'), $((SECONDS - start)) s)"
export KDSTUDIO_CACHE_DIR="$work/cache"

# Waits until no task of the sweep folder's jobs is left in the queue (or $2 seconds pass).
wait_jobs() {
  local folder=$1 limit=$2 t0=$SECONDS jobs
  jobs=$(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))))' "$folder/slurm/jobs.json")
  while [[ -n "$(squeue -h -r -j "$jobs" -o %i 2>/dev/null)" ]]; do
    if ((SECONDS - t0 > limit)); then
      echo "  the jobs did not end within $limit s:"; squeue -r -j "$jobs"; return 1
    fi
    sleep 2
  done
}

# Waits until point $2's epochs.jsonl has at least $3 lines, then prints the task's id.
wait_epochs() {
  local folder=$1 point=$2 n=$3 t0=$SECONDS file
  while ((SECONDS - t0 < 300)); do
    file=$(find "$folder/$(printf 'point-%04d' "$point")" -name epochs.jsonl 2>/dev/null | head -1)
    if [[ -n "$file" && $(grep -c . "$file") -ge $n ]]; then return 0; fi
    sleep 0.5
  done
  echo "  point $point did not reach epoch $n"; return 1
}

# Releases a requeued task early (Slurm holds a requeued job about 2 minutes: BeginTime). It
# waits until the task's old batch script has ended: Slurm shows the task PENDING while that
# script still finishes (it requeues itself on USR1), and a release before then lets the old
# script's exit be taken for the new run's.
release() {
  local task=$1 point=$2
  for _ in $(seq 120); do
    if [[ "$(squeue -h -j "$task" -o %T 2>/dev/null)" == PENDING ]] &&
       ! pgrep -f "sweep run-point .*/slurm-requeue $point\$" >/dev/null; then
      sleep 2
      scontrol update jobid="$task" StartTime=now
      return 0
    fi
    sleep 0.5
  done
  echo "  task $task was not requeued"; return 1
}

point_json() { python3 -c "$2" "$work/status-$1.json"; }

# --- 1. a whole sweep -----------------------------------------------------------------------------
echo "test-slurm: 1. a 4-point sweep as one job array"
cat > "$work/methods.json" <<EOF
{
  "format": "kdstudio-sweep", "version": 1, "name": "slurm-methods",
  "base": {
    "format": "kdstudio-experiment", "dataset": "fashion-mnist",
    "teacher": "$root/resources/models/fashion-mnist-teacher.kdmodel",
    "student": "resnet9:channels=1,size=28,width=0.125",
    "train_per_class": 20, "test_per_class": 20, "epochs": 2, "batch_size": 50,
    "device": "cpu", "seeds": 1, "teacher_layers": "standard", "student_layers": "standard"
  },
  "axes": {"method": ["ours", "student"], "seed": [0, 1]}
}
EOF
t0=$SECONDS
(cd "$work" && "$cli" sweep submit methods.json --slurm --out sweeps --cpus-per-task 1) | tee "$work/submit.txt"
folder="$work/sweeps/slurm-methods"
check "sbatch took the array" grep -q "submitted job array [0-9]" "$work/submit.txt"
wait_jobs "$folder" 600
echo "  the array ran in $((SECONDS - t0)) s"
"$cli" sweep status "$folder" --json > "$work/status-1.json"
"$cli" sweep status "$folder"
check "4 result.json files" test "$(find "$folder" -name result.json | wc -l)" -eq 4
check "status: 4 of 4 done" point_json 1 '
import json, sys
s = json.load(open(sys.argv[1]))
points = s["points"]
sys.exit(0 if len(points) == 4 and all(p["status"] == "done" for p in points) else 1)'
check "status: pooled 2 groups of 2 seeds, as the result.json files say" point_json 1 '
import glob, json, os, statistics, sys
s = json.load(open(sys.argv[1]))
ok = len(s["groups"]) == 2
for g in s["groups"]:
    best = []
    for p in g["points"]:
        point = s["points"][p]
        best.append(json.load(open(os.path.join(point["run_dir"], "result.json")))["best_test_acc_mean"])
    ok = ok and g["points_done"] == 2 and g["seeds"] == 2
    ok = ok and abs(g["best_mean"] - statistics.fmean(best)) < 1e-9 and abs(g["best_std"] - statistics.pstdev(best)) < 1e-9
sys.exit(0 if ok else 1)'
check "each task appended its header to its point log" \
  test "$(cat "$folder"/point-*/log.txt | grep -c '^== task [0-3] of job')" -eq 4
(cd "$work" && "$cli" sweep submit "$folder" --slurm) > "$work/resubmit.txt"
check "submitting a finished sweep submits nothing" grep -q "Nothing to submit" "$work/resubmit.txt"

# --- 2. requeue ------------------------------------------------------------------------------------
echo "test-slurm: 2. requeue: preemption (scontrol requeue) and the time-limit warning (USR1)"
epochs=12
cat > "$work/long.json" <<EOF
{
  "format": "kdstudio-sweep", "version": 1, "name": "slurm-requeue",
  "base": {
    "format": "kdstudio-experiment", "dataset": "fashion-mnist",
    "student": "resnet9:channels=1,size=28,width=0.125", "method": "student",
    "train_per_class": 150, "test_per_class": 20, "epochs": $epochs, "batch_size": 50,
    "device": "cpu", "seeds": 1
  },
  "axes": {"seed": [0, 1]}
}
EOF
t0=$SECONDS
(cd "$work" && "$cli" sweep submit long.json --slurm --out sweeps --cpus-per-task 1 --time 10:00) | tee "$work/submit-long.txt"
folder="$work/sweeps/slurm-requeue"
job=$(sed -n 's/^submitted job array \([0-9]*\).*/\1/p' "$work/submit-long.txt")
wait_epochs "$folder" 0 2
scontrol requeue "${job}_0"
wait_epochs "$folder" 1 2
scancel --signal=USR1 --batch "${job}_1"
release "${job}_0" 0
release "${job}_1" 1
wait_jobs "$folder" 900
echo "  both points ran, stopped, requeued and finished in $((SECONDS - t0)) s"
"$cli" sweep status "$folder" --json > "$work/status-2.json"
"$cli" sweep status "$folder"
for p in 0 1; do
  pdir="$folder/$(printf 'point-%04d' $p)"
  check "point $p: resumed from its checkpoint" grep -q "resuming after epoch" "$pdir/log.txt"
  check "point $p: ran twice (two task headers)" test "$(grep -c '^== task' "$pdir/log.txt")" -eq 2
  check "point $p: every epoch exactly once" python3 -c '
import json, sys
epochs = [json.loads(l)["epoch"] for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if epochs == list(range(int(sys.argv[2]))) else 1)' \
    "$(find "$pdir" -name epochs.jsonl | head -1)" "$epochs"
done
check "status: both points done" point_json 2 '
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if [p["status"] for p in s["points"]] == ["done", "done"] else 1)'

# --- 3. data parallelism under srun ----------------------------------------------------------------
echo "test-slurm: 3. one experiment trained by 2 ranks started by srun"
cat > "$work/ddp.json" <<EOF
{
  "format": "kdstudio-experiment", "dataset": "fashion-mnist", "name": "srun-ddp",
  "teacher": "$root/resources/models/fashion-mnist-teacher.kdmodel",
  "student": "resnet9:channels=1,size=28,width=0.125", "method": "ours",
  "teacher_layers": "standard", "student_layers": "standard",
  "train_per_class": 64, "test_per_class": 20, "epochs": 2, "batch_size": 64, "device": "cpu", "seeds": 1
}
EOF
t0=$SECONDS
job=$(cd "$work" && sbatch --parsable --ntasks 2 --cpus-per-task 1 --output "$work/ddp.log" \
        --wrap "srun $cli train --config $work/ddp.json --out $work/ddp-runs --dist-timeout 60 --check-replicas")
while [[ -n "$(squeue -h -j "$job" -o %i 2>/dev/null)" ]]; do
  if ((SECONDS - t0 > 300)); then echo "  the job did not end within 300 s"; scancel "$job"; break; fi
  sleep 1
done
echo "  the job ran in $((SECONDS - t0)) s"
ddp_result=$(find "$work/ddp-runs" -name result.json 2>/dev/null | head -1)
check "rank 0 wrote result.json" test -n "$ddp_result"
check "result.json: 2 processes, complete" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if r["processes"] == 2 and r["complete"] else 1)' "${ddp_result:-/nonexistent}"
check "the ranks were started by Slurm" grep -q "rank 0 of 2 (local 0 of 2), rendezvous at .*, started by slurm" "$work/ddp.log"
check "one run folder, one seed folder" test "$(find "$work/ddp-runs" -mindepth 2 -maxdepth 2 -type d | wc -l)" -eq 1
[[ -n "$ddp_result" ]] || tail -20 "$work/ddp.log"

echo "test-slurm: $((SECONDS - start)) s in all, $failures failed"
[[ $failures -eq 0 ]]
