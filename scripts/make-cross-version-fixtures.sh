#!/usr/bin/env bash
# Writes tests/fixtures/cross_version/libtorch-1.13 (this Debian 12 build, build/dev) and
# libtorch-2.6 (the Debian 13 build of scripts/debian13.sh, build/debian13): a tiny teacher model
# file, a checkpoint after epoch 1 and the checkpoint after epoch 2 of the same run, each written
# by that LibTorch. tests/core/test_cross_version.cpp then checks, in both builds, that every
# version's checkpoint resumes to that version's result and that the model files are identical.
# Needs both builds done (scripts/run.sh test or cmake --build --preset dev; scripts/debian13.sh build).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=tests/fixtures/cross_version
mkdir -p "$OUT"
[[ -x build/dev/tests/test_cross_version ]] || { echo "build build/dev first (cmake --build --preset dev)" >&2; exit 1; }
[[ -x build/debian13/tests/test_cross_version ]] || { echo "build build/debian13 first (scripts/debian13.sh build)" >&2; exit 1; }
# In writer mode the test writes its version's folder and skips the comparisons.
KD_WRITE_CROSS_VERSION=$OUT build/dev/tests/test_cross_version
scripts/debian13.sh run "KD_WRITE_CROSS_VERSION=$OUT build/debian13/tests/test_cross_version"
ls -l "$OUT"/*/
