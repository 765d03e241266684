#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# in build/fuzz, then runs each for SECONDS (default 60) on a copy of its seed corpus.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Findings (crash-*, leak-*, timeout-*, oom-*) are written to build/fuzz/findings/<target>/;
# a finding must become a regression test (docs/reliability.md). Exit status 1 when any target
# found something. Environment: JOBS (build parallelism, default 2), FUZZ_RSS_MB (default 2560),
# FUZZ_RUNS (stop a target after that many executions, e.g. 10000000, if SECONDS come later).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_idx fuzz_cifar fuzz_safetensors fuzz_model_file fuzz_checkpoint
           fuzz_experiment_config fuzz_paper_config fuzz_image fuzz_geometry_log)
fi
build=build/fuzz
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKD_BUILD_FUZZERS=ON -DKD_BUILD_GUI=OFF -DKD_BUILD_TESTS=OFF -DKD_BUILD_BENCH=OFF \
    -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
fi
cmake --build "$build" -j "${JOBS:-2}" --target "${targets[@]}"

status=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  findings="$build/findings/$t"
  mkdir -p "$corpus" "$findings"
  cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  echo "== $t: ${seconds}s"
  log="$build/$t.log"
  if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       "$build/fuzz/$t" "$corpus" -max_total_time="$seconds" -timeout=10 \
       -rss_limit_mb="${FUZZ_RSS_MB:-2560}" -malloc_limit_mb="${FUZZ_RSS_MB:-2560}" \
       -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 \
       ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} >"$log" 2>&1; then
    echo "   FOUND a problem: see $log and $findings/"
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" | sed 's/^/   /' || true
done
exit $status
