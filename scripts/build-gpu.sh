#!/usr/bin/env bash
# Builds KD Studio against the LibTorch inside the user's own PyTorch installation, with CUDA
# (docs/gpu.md). Checks first, and stops with a message saying what to do, when:
#   - python cannot import torch, or the installation has no LibTorch CMake files;
#   - that PyTorch uses the old C++ ABI (Debian's Qt, OpenCV and CLI11 use the cxx11 ABI);
#   - that PyTorch has no CUDA, or no CUDA toolkit (nvcc) of its CUDA major version is found.
# Then configures build/gpu (Release; override with KD_BUILD_DIR) with the CUDA hints, builds,
# and prints the versions it used.
#
#   scripts/build-gpu.sh [--python PYTHON] [--cuda DIR] [--gui|--no-gui] [--tests|--no-tests] [-j N]
#
# --python  the Python whose torch to use (default: python3 on the PATH)
# --cuda    the CUDA toolkit folder (default: the one of nvcc on the PATH, else /usr/local/cuda)
# --no-gui  build without Qt (kdstudio-cli and the benchmarks only); default: the GUI when Qt 6
#           is installed
# --tests   also the test suite (needs Qt 6); default: with the GUI
# KD_ALLOW_CPU_TORCH=1 builds against a CPU-only PyTorch too (to check the script without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=python3
CUDA_DIR=""
GUI=auto
TESTS=auto
JOBS=$(nproc)
BUILD=${KD_BUILD_DIR:-build/gpu}

die() { echo "build-gpu: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --python) PY=${2:?--python needs a program}; shift 2 ;;
    --cuda) CUDA_DIR=${2:?--cuda needs a folder}; shift 2 ;;
    --gui) GUI=ON; shift ;;
    --no-gui) GUI=OFF; shift ;;
    --tests) TESTS=ON; shift ;;
    --no-tests) TESTS=OFF; shift ;;
    -j) JOBS=${2:?-j needs a number}; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

command -v "$PY" >/dev/null || die "$PY not found: pass --python /path/to/python of your PyTorch installation"
command -v cmake >/dev/null || die "cmake not found: scripts/install-deps.sh installs it"

# What that PyTorch is: version, CMake prefix, ABI flag, CUDA version.
info=$("$PY" - <<'EOF' 2>&1
import torch, torch.utils
print(torch.__version__)
print(torch.utils.cmake_prefix_path)
print(int(bool(torch._C._GLIBCXX_USE_CXX11_ABI)))
print(torch.version.cuda or "")
EOF
) || die "$PY cannot import torch: $(tail -1 <<<"$info"). Install PyTorch 2.x (a wheel with CUDA) or pass --python"
{ read -r TORCH_VERSION; read -r PREFIX; read -r ABI; read -r TORCH_CUDA || true; } <<<"$info"
echo "build-gpu: PyTorch $TORCH_VERSION ($PY), CMake prefix $PREFIX"

[[ -f $PREFIX/Torch/TorchConfig.cmake ]] ||
  die "this PyTorch ($TORCH_VERSION) has no LibTorch CMake files ($PREFIX/Torch/TorchConfig.cmake is missing); Debian's python3-torch is one such: use a PyTorch wheel, or an official LibTorch by docs/gpu.md"
[[ $ABI == 1 ]] ||
  die "PyTorch $TORCH_VERSION was built with the pre-cxx11 C++ ABI (_GLIBCXX_USE_CXX11_ABI=0); Debian's Qt, OpenCV and CLI11 use the cxx11 ABI, so linking would fail. Use PyTorch 2.7 or later (its Linux wheels are cxx11), or the cxx11-abi LibTorch archive (docs/gpu.md)"

CMAKE_CUDA_ARGS=()
if [[ -z $TORCH_CUDA ]]; then
  [[ ${KD_ALLOW_CPU_TORCH:-0} == 1 ]] ||
    die "PyTorch $TORCH_VERSION has no CUDA (torch.version.cuda is None): install a CUDA build of PyTorch (e.g. the cu128 wheel), or set KD_ALLOW_CPU_TORCH=1 to build for the CPU only"
  echo "build-gpu: CPU-only PyTorch (KD_ALLOW_CPU_TORCH=1): no CUDA"
else
  if [[ -z $CUDA_DIR ]]; then
    if command -v nvcc >/dev/null; then CUDA_DIR=$(dirname "$(dirname "$(command -v nvcc)")"); else CUDA_DIR=/usr/local/cuda; fi
  fi
  NVCC=$CUDA_DIR/bin/nvcc
  [[ -x $NVCC ]] ||
    die "no CUDA toolkit at $CUDA_DIR (bin/nvcc missing); PyTorch $TORCH_VERSION needs CUDA $TORCH_CUDA's toolkit: install it (NVIDIA's runfile or repository) and pass --cuda DIR"
  NVCC_VERSION=$("$NVCC" --version | sed -n 's/.*release \([0-9][0-9.]*\).*/\1/p' | head -1)
  [[ -n $NVCC_VERSION ]] || die "cannot read the version of $NVCC"
  [[ ${NVCC_VERSION%%.*} == "${TORCH_CUDA%%.*}" ]] ||
    die "the CUDA toolkit at $CUDA_DIR is $NVCC_VERSION but PyTorch $TORCH_VERSION was built with CUDA $TORCH_CUDA: the major versions must match (install CUDA ${TORCH_CUDA%%.*}.x, pass --cuda DIR)"
  echo "build-gpu: CUDA toolkit $NVCC_VERSION at $CUDA_DIR (PyTorch's CUDA: $TORCH_CUDA)"
  CMAKE_CUDA_ARGS=(-DCUDAToolkit_ROOT="$CUDA_DIR" -DCMAKE_CUDA_COMPILER="$NVCC")
  # Only the GPUs of this machine (faster configure; LibTorch's CMake needs some list).
  if [[ -z ${TORCH_CUDA_ARCH_LIST:-} ]] && command -v nvidia-smi >/dev/null; then
    cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | sort -u | paste -sd';')
    [[ -n $cc ]] && export TORCH_CUDA_ARCH_LIST=$cc
  fi
fi

if [[ $GUI == auto ]]; then
  if [[ -f /usr/lib/x86_64-linux-gnu/cmake/Qt6/Qt6Config.cmake || -n $(find /usr/lib -path '*cmake/Qt6/Qt6Config.cmake' -print -quit 2>/dev/null) ]]; then GUI=ON; else GUI=OFF; fi
fi
[[ $TESTS == auto ]] && TESTS=$GUI

echo "build-gpu: configuring $BUILD (GUI $GUI, tests $TESTS)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PREFIX" -DTorch_DIR="$PREFIX/Torch" "${CMAKE_CUDA_ARGS[@]}" \
  -DKD_BUILD_GUI="$GUI" -DKD_BUILD_TESTS="$TESTS" -DKD_BUILD_BENCH=ON >"$BUILD.configure.log" 2>&1 ||
  { tail -30 "$BUILD.configure.log"; die "configure failed (whole log: $BUILD.configure.log)"; }
grep -q "$PREFIX" "$BUILD/CMakeCache.txt" ||
  die "$BUILD's cache does not use $PREFIX (a cache from another LibTorch?): remove $BUILD and run again"

echo "build-gpu: building (-j$JOBS)"
cmake --build "$BUILD" -j"$JOBS"

echo "build-gpu: done"
"$BUILD/app/kdstudio-cli" --version
echo "  PyTorch $TORCH_VERSION, LibTorch from $PREFIX${TORCH_CUDA:+, CUDA $TORCH_CUDA (toolkit $NVCC_VERSION)}"
echo "  programs: $BUILD/app/kdstudio-cli$([[ $GUI == ON ]] && echo ", $BUILD/app/kdstudio"), $BUILD/bench/kdstudio-bench-train"
[[ $TESTS == ON ]] && echo "  tests: ctest --test-dir $BUILD --output-on-failure"
exit 0
