#!/usr/bin/env bash
# The two setup commands of the README:
#   scripts/run.sh gui    install what is missing, build, launch KD Studio on the embedded default
#   scripts/run.sh test   install what is missing, build, run the whole test suite
# Extra arguments after "gui" go to kdstudio; after "test" to ctest (e.g. -L unit).
# "test" without extra arguments then runs the fuzz smoke test: every libFuzzer target for
# KD_FUZZ_SECONDS (default 60; 0 skips it) with AddressSanitizer and UBSan (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-}"
shift || true
case "$what" in
  gui|test) ;;
  *) echo "usage: scripts/run.sh gui|test [args]" >&2; exit 2 ;;
esac

if [[ "$what" == "test" ]]; then scripts/install-deps.sh --test; else scripts/install-deps.sh; fi
jobs="$(nproc)"
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$jobs"

if [[ "$what" == "gui" ]]; then
  if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
    echo "No display found: run it under a desktop session, or 'xvfb-run build/dev/app/kdstudio'," >&2
    echo "or use the command-line tool: build/dev/app/kdstudio-cli --help" >&2
    exit 1
  fi
  exec build/dev/app/kdstudio "$@"
fi
ctest --preset dev -j "$jobs" "$@"
if [[ $# -eq 0 && "${KD_FUZZ_SECONDS:-60}" != 0 ]]; then
  scripts/fuzz.sh "${KD_FUZZ_SECONDS:-60}"
fi
