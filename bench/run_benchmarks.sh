#!/usr/bin/env bash
# Runs KD Studio's benchmark suite and writes bench/results.json and the "Benchmark suite"
# section of docs/performance.md (docs/performance.md explains every entry).
#
# Usage: bench/run_benchmarks.sh [--quick] [--out FILE] [--build DIR] [--reps N] [--threads T]
#                                [--no-doc] [--label TEXT] [--device D] [--only REGEX]
#   --quick    few steps and one repetition (under 5 minutes on a quiet 2-core CPU); for
#              checking that everything runs, not for figures
#   --out      results file (default bench/results.json)
#   --build    build folder holding bench/kdstudio-bench-* (default build/dev)
#   --reps     repetitions of every comparison (default 5, quick 1)
#   --threads  intra-op threads of both sides (default: the machine's cores)
#   --no-doc   do not touch docs/performance.md
#   --label    a note stored with the results and printed above the table (e.g.
#              "preliminary, measured under load")
#   --device   cuda (or cuda:N): the training comparisons run on the GPU on both sides, plus
#              bf16 autocast entries; the report goes to docs/gpu.md instead (docs/gpu.md)
#   --only     run only the entries whose name matches this bash regular expression (e.g.
#              '^fmnist_(ours|student)'; "analysis" and "gui" name those benchmarks); the other
#              entries of the results file are kept, with their date in the table
#
# Every comparison runs KD Studio ("ours", build/dev/bench/kdstudio-bench-train) and the PyTorch
# reference (bench/reference_train.py, Debian's python3-torch) in separate processes, one after
# the other, REPS times, alternating which goes first; the report gives the medians. Needs the
# targets kdstudio-bench-train and kdstudio-bench-analysis (and kdstudio-bench-gui plus xvfb-run
# for the GUI entries):
#   cmake --build build/dev --target kdstudio-bench-train kdstudio-bench-analysis kdstudio-bench-gui
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0; out=bench/results.json; build=build/dev; reps=""; threads=""; doc=1; label=""; device=cpu
only=""
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --out) out="$2"; shift ;;
    --build) build="$2"; shift ;;
    --reps) reps="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --no-doc) doc=0 ;;
    --label) label="$2"; shift ;;
    --device) device="$2"; shift ;;
    --only) only="$2"; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
py="${PYTHON:-/usr/bin/python3}"
ours="$build/bench/kdstudio-bench-train"
[[ -x "$ours" ]] || { echo "missing $ours: build the target kdstudio-bench-train" >&2; exit 1; }
"$py" -c 'import torch' 2>/dev/null || { echo "$py cannot import torch (install python3-torch)" >&2; exit 1; }
threads="${threads:-$(nproc)}"
if ((quick)); then
  reps="${reps:-1}"; cw=2; cs=4; fw=3; fs=15; lw=3; ls=50; sizes="1280 3840"
  compile_modes="reduce-overhead"; compile_warmup=3
  an_a=20; an_b=20; gui_opts="--analysis-per-class 10 --train-per-class 20 --points 20000"
else
  reps="${reps:-5}"; cw=5; cs=30; fw=10; fs=100; lw=10; ls=200; sizes="10000 60000"
  compile_modes="reduce-overhead max-autotune"; compile_warmup=10
  an_a=500; an_b=100; gui_opts=""
fi

raw="$(mktemp)"; trap 'rm -f "$raw"' EXIT
start=$(date +%s)
cifar=(--teacher resnet34 --student resnet9 --batch 128)
fmnist=(--teacher "resnet18:channels=1,size=28,width=0.25"
        --student "resnet9:channels=1,size=28,width=0.125" --batch 128)

# layers ARGS...: "T S" layer lists the method pairs (what the reference must use).
layers() {
  "$ours" --mode layers "$@" | "$py" -c 'import json,sys; j=json.load(sys.stdin); print(",".join(map(str,j["teacher_layers"])), ",".join(map(str,j["student_layers"])))'
}
read -r cifar_t cifar_s < <(layers "${cifar[@]}")
read -r fm_t fm_s < <(layers "${fmnist[@]}")

# wanted ENTRY: whether --only lets it run.
wanted() { [[ -z "$only" || "$1" =~ $only ]]; }

# record ENTRY SIDE REP COMMAND...: runs the command, stores its JSON line tagged.
record() {
  local entry="$1" side="$2" rep="$3"; shift 3
  wanted "$entry" || return 0
  local line
  echo "[$(date +%T)] $entry / $side (rep $rep)" >&2
  if ! line="$("$@" | grep '^{' | tail -1)" || [[ -z "$line" ]]; then
    echo "  FAILED: $*" >&2
    line='{"error": "failed"}'
  fi
  printf '{"entry":"%s","side":"%s","rep":%d,"result":%s}\n' "$entry" "$side" "$rep" "$line" >>"$raw"
}

# compare ENTRY "OURS ARGS" "REFERENCE ARGS" (word-split; both get --threads)
compare() {
  local entry="$1" rep="$2"; local -a o r
  eval "o=($3)"; eval "r=($4)"
  local a=("$ours" --mode train --threads "$threads" --device "$device" "${o[@]}")
  local b=("$py" bench/reference_train.py --threads "$threads" --device "$device" "${r[@]}")
  if ((rep % 2 == 0)); then
    record "$entry" ours "$rep" "${a[@]}"; record "$entry" reference "$rep" "${b[@]}"
  else
    record "$entry" reference "$rep" "${b[@]}"; record "$entry" ours "$rep" "${a[@]}"
  fi
}

# 0. Both sides compute the same losses for the same weights and batch.
chk="$(mktemp --suffix=.safetensors)"
for m in ours kd; do
  for cfg in cifar fmnist; do
    declare -n args="$cfg"
    echo "[$(date +%T)] loss check: $cfg $m" >&2
    if "$ours" --mode check --method "$m" "${args[@]}" --out "$chk" >/dev/null &&
       line="$("$py" bench/reference_train.py --check "$chk")"; then
      printf '{"entry":"check","side":"%s","rep":0,"result":%s}\n' "${cfg}_$m" "$line" >>"$raw"
    else
      echo "  loss check FAILED for $cfg $m: the reference does not compute what ours does" >&2
      printf '{"entry":"check","side":"%s","rep":0,"result":{"agree":false}}\n' "${cfg}_$m" >>"$raw"
    fi
    unset -n args
  done
done
rm -f "$chk"

q() { printf '%q ' "$@"; }
C="$(q "${cifar[@]}")"; F="$(q "${fmnist[@]}")"
RC="--teacher-layers $cifar_t --student-layers $cifar_s"
RF="--teacher-layers $fm_t --student-layers $fm_s"
for ((rep = 0; rep < reps; rep++)); do
  # 1. KD training throughput at CIFAR size.
  compare cifar_ours_online "$rep" "$C --method ours --cache off --warmup $cw --steps $cs" \
    "$C $RC --method ours --warmup $cw --steps $cs"
  compare cifar_ours_cached "$rep" "$C --method ours --cache on --warmup $cw --steps $cs" \
    "$C $RC --method ours --warmup $cw --steps $cs"
  compare cifar_kd_online "$rep" "$C --method kd --cache off --warmup $cw --steps $cs" \
    "$C --method kd --warmup $cw --steps $cs"
  compare cifar_kd_cached "$rep" "$C --method kd --cache on --warmup $cw --steps $cs" \
    "$C --method kd --warmup $cw --steps $cs"
  compare cifar_student "$rep" "$C --method student --warmup $cw --steps $cs" \
    "$C --method student --warmup $cw --steps $cs"
  if [[ "$device" == cuda* ]]; then  # mixed precision on the GPU (issue 9)
    compare cifar_ours_online_bf16 "$rep" "$C --method ours --cache off --bf16 --warmup $cw --steps $cs" \
      "$C $RC --method ours --bf16 --warmup $cw --steps $cs"
    compare cifar_ours_cached_bf16 "$rep" "$C --method ours --cache on --bf16 --warmup $cw --steps $cs" \
      "$C $RC --method ours --bf16 --warmup $cw --steps $cs"
    # torch.compile, the peer on a GPU (issue 17): once (compilation takes minutes), its warm-up
    # (compilation included) timed apart. The reference has no target cache, so the online step
    # is the peer of both of ours.
    if ((rep == 0)); then
      for mode in $compile_modes; do
        for bf in "" --bf16; do
          r=("$py" bench/reference_train.py --threads "$threads" --device "$device" "${cifar[@]}" \
             --teacher-layers "$cifar_t" --student-layers "$cifar_s" --method ours $bf \
             --compile "$mode" --warmup "$compile_warmup" --steps "$cs")
          e=cifar_ours_online${bf:+_bf16}
          record "$e" "compile:$mode" "$rep" "${r[@]}"
          # the same run, the peer of the cached entry too
          grep -F "{\"entry\":\"$e\",\"side\":\"compile:$mode\"," "$raw" | tail -1 |
            sed "s/\"entry\":\"cifar_ours_online/\"entry\":\"cifar_ours_cached/" >>"$raw" || true
        done
      done
    fi
  fi
  # 2. The Fashion-MNIST CPU demo case.
  compare fmnist_ours_online "$rep" "$F --method ours --cache off --warmup $fw --steps $fs" \
    "$F $RF --method ours --warmup $fw --steps $fs"
  compare fmnist_ours_cached "$rep" "$F --method ours --cache on --warmup $fw --steps $fs" \
    "$F $RF --method ours --warmup $fw --steps $fs"
  compare fmnist_student "$rep" "$F --method student --warmup $fw --steps $fs" \
    "$F --method student --warmup $fw --steps $fs"
  # 3. Data loading with augmentation (compared with the trainer's consumption in the report).
  record loader_cifar ours "$rep" "$ours" --mode loader --threads "$threads" --student resnet9 \
    --batch 128 --augment --warmup "$lw" --steps "$ls"
  record loader_fmnist ours "$rep" "$ours" --mode loader --threads "$threads" \
    --student "resnet9:channels=1,size=28,width=0.125" --batch 128 --augment --warmup "$lw" --steps "$ls"
  # 5. Scaling: one thread, and time per epoch as the training set grows.
  if ((threads > 1)) && [[ "$device" == cpu ]]; then
    a=("$ours" --mode train --threads 1 "${fmnist[@]}" --method ours --warmup "$fw" --steps "$fs")
    b=("$py" bench/reference_train.py --threads 1 "${fmnist[@]}" --teacher-layers "$fm_t" \
       --student-layers "$fm_s" --method ours --warmup "$fw" --steps "$fs")
    record fmnist_ours_online_1thread ours "$rep" "${a[@]}"
    record fmnist_ours_online_1thread reference "$rep" "${b[@]}"
  fi
  for n in $sizes; do
    compare "fmnist_epoch_$n" "$rep" "$F --method ours --cache off --warmup 10 --images $n" \
      "$F $RF --method ours --warmup 10 --images $n"
  done
  # 6. Geometry tracking's cost: one end-of-epoch snapshot (default probe) against the epoch
  #    of the same run without tracking (docs/geometry-tracking.md).
  n="${sizes##* }"
  record geometry_tracking ours "$rep" "$ours" --mode train --threads "$threads" --device "$device" \
    "${fmnist[@]}" --method ours --cache off --warmup 10 --images "$n" --track-geometry
  record geometry_tracking reference "$rep" "$ours" --mode train --threads "$threads" --device "$device" \
    "${fmnist[@]}" --method ours --cache off --warmup 10 --images "$n"
done

# 4. The layer-analysis and GUI benchmarks, collected.
if [[ -x "$build/bench/kdstudio-bench-analysis" ]] && wanted analysis; then
  echo "[$(date +%T)] analysis bench ($an_a / $an_b per class)" >&2
  bench/run_analysis_bench.sh "$build" "$an_a" "$an_b" 1 | grep '^{' |
    while read -r line; do
      mode="$("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["mode"])' "$line")"
      printf '{"entry":"analysis","side":"%s","rep":0,"result":%s}\n' "$mode" "$line" >>"$raw"
    done || echo "  analysis bench FAILED" >&2
fi
if [[ -x "$build/bench/kdstudio-bench-gui" ]] && command -v xvfb-run >/dev/null && wanted gui; then
  echo "[$(date +%T)] GUI bench" >&2
  # shellcheck disable=SC2086
  line="$(xvfb-run -a "$build/bench/kdstudio-bench-gui" $gui_opts 2>/dev/null | grep '^{' | tail -1)" || true
  [[ -n "$line" ]] && printf '{"entry":"gui","side":"ours","rep":0,"result":%s}\n' "$line" >>"$raw" ||
    echo "  GUI bench FAILED" >&2
fi

wall=$(($(date +%s) - start))
mode=$([[ $quick == 1 ]] && echo quick || echo full)
args=(--raw "$raw" --out "$out" --mode "$mode" --reps "$reps" --threads "$threads" --wall "$wall"
      --device "$device")
if ((doc)); then
  [[ "$device" == cpu ]] && args+=(--doc docs/performance.md) || args+=(--doc docs/gpu.md)
fi
[[ -n "$label" ]] && args+=(--label "$label")
[[ -n "$only" && -f "$out" ]] && args+=(--merge "$out")
"$py" bench/write_report.py "${args[@]}"
echo "suite finished in ${wall} s; results in $out" >&2
