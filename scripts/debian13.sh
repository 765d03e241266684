#!/usr/bin/env bash
# KD Studio on Debian 13 (trixie: LibTorch 2.6, Qt 6.8, OpenCV 4.10), in a chroot made once with
# mmdebstrap. The guard that keeps one codebase building on LibTorch 1.13 and 2.x (docs/packaging.md).
#
#   scripts/debian13.sh prepare          make the chroot if needed and install the build dependencies
#                                        (no build: .ci/run does this while the Debian 12 leg builds)
#   scripts/debian13.sh build            make the chroot if needed, configure + build build/debian13
#   scripts/debian13.sh test [ARGS]      build, then ctest there (ARGS go to ctest, e.g. -L unit)
#   scripts/debian13.sh guard            what CI runs: build the engine (kdcore) and the tests of what
#                                        differs between LibTorch versions (test_cross_version,
#                                        test_torchscript_v2, test_geometry, and c10d: test_distributed,
#                                        test_cli_distributed with kdstudio-cli; test_deploy; test_graph_step), and run those
#   scripts/debian13.sh deb              package and install-test the Debian 13 .deb (scripts/test-deb.sh
#                                        inside the chroot, on build/debian13): build/debian13/*+deb13_*.deb
#   scripts/debian13.sh python SCRIPT [ARGS]   run a Python script of the repo with Debian 13's
#                                        PyTorch 2.6 (installs python3-torch there first)
#   scripts/debian13.sh run 'COMMAND'    run a shell command in the chroot, in /src
#   scripts/debian13.sh shell            a shell in the chroot, the checkout at /src
#
# Needs root (mmdebstrap, mount, chroot) and Debian's mirrors. The chroot lives in
# $KD_DEBIAN13_ROOT (default /var/cache/kdstudio/debian13, about 2.5 GiB) and is reused; delete
# the folder to start afresh. The checkout is bind-mounted at /src inside a private mount
# namespace (unshare), so nothing stays mounted when the script ends, whatever way it ends.
# The build folders (build/debian13, build/deb13) sit in the checkout like build/dev.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
ROOT=${KD_DEBIAN13_ROOT:-/var/cache/kdstudio/debian13}
MIRROR=${KD_DEBIAN13_MIRROR:-http://deb.debian.org/debian}
JOBS=${JOBS:-$(nproc)}
READY=$ROOT/etc/kdstudio-chroot-ready

die() { echo "debian13: $*" >&2; exit 1; }
say() { printf '== [debian13 %4ds] %s\n' "$SECONDS" "$*"; }

what=${1:-}
shift || true
case "$what" in
  prepare|build|guard|test|deb|python|run|shell) ;;
  *) die "usage: scripts/debian13.sh build|test [ctest args]|deb|python SCRIPT [args]|run 'COMMAND'|shell" ;;
esac
[[ $(id -u) -eq 0 ]] || die "needs root (mmdebstrap, mount and chroot); run it with sudo"

# The chroot: Debian 13 with what scripts/install-deps.sh installs there (its own package list
# for trixie). Made in a temporary folder and renamed, so an interrupted run leaves no half chroot.
make_chroot() {
  [[ -f $READY ]] && return 0
  command -v mmdebstrap >/dev/null || {
    say "installing mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null ||
      die "cannot install mmdebstrap (apt-get install mmdebstrap)"
  }
  local tmp=$ROOT.partial
  rm -rf "$tmp"
  mkdir -p "$(dirname "$ROOT")"
  say "mmdebstrap trixie -> $ROOT (once; a few minutes)"
  mmdebstrap --variant=apt --include=ca-certificates,bash,coreutils,dpkg-dev \
    trixie "$tmp" "$MIRROR" >"$tmp.log" 2>&1 || { tail -20 "$tmp.log"; die "mmdebstrap failed (log: $tmp.log)"; }
  rm -rf "$ROOT"
  mv "$tmp" "$ROOT"
  rm -f "$tmp.log"
}

# in_chroot COMMAND: runs a bash command in the chroot, in /src, in its own mount namespace.
in_chroot() {
  unshare --mount --propagation private -- bash -c '
    set -e
    root=$1; src=$2; shift 2
    mkdir -p "$root/src"
    mount --bind "$root" "$root"  # a mount point as its root, so that unshare -m works inside
    mount --bind "$src" "$root/src"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --rbind /sys "$root/sys"
    mount -t tmpfs tmpfs "$root/tmp"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    exec chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
      TERM="${TERM:-dumb}" CI="${CI:-}" JOBS="$JOBS" KD_FUZZ_SECONDS=0 \
      bash -c "cd /src && $*"' _ "$ROOT" "$SRC" "$@"
}

# Packages: the list scripts/install-deps.sh keeps for trixie, installed (and updated) every time,
# so that a change of the list reaches an existing chroot.
deps() {
  in_chroot "scripts/install-deps.sh $*" || die "installing the Debian 13 build dependencies failed"
  touch "$READY"
}

build() {
  make_chroot
  deps --test
  say "configure + build build/debian13 (preset debian13, -j$JOBS)"
  in_chroot "cmake --preset debian13 >/dev/null && cmake --build --preset debian13 -j $JOBS" ||
    die "the Debian 13 build failed"
}

case "$what" in
  prepare)
    make_chroot
    deps --test
    ;;
  build) build ;;
  guard)
    make_chroot
    deps --test
    targets="test_cross_version test_torchscript_v2 test_geometry test_distributed test_cli_distributed test_deploy test_graph_step"
    say "configure + build kdcore and $targets (preset debian13, -j$JOBS)"
    in_chroot "cmake --preset debian13 >/dev/null && cmake --build --preset debian13 -j $JOBS --target $targets" ||
      die "the Debian 13 build failed"
    say "ctest --preset debian13 -R ($targets)"
    in_chroot "ctest --preset debian13 -j $JOBS -R '^(${targets// /|})\$'" || die "tests failed on Debian 13"
    ;;
  test)
    build
    say "ctest --preset debian13 $*"
    in_chroot "ctest --preset debian13 -j $JOBS $(printf '%q ' "$@")" || die "tests failed on Debian 13"
    ;;
  deb)
    make_chroot
    deps --dev
    # The package is built in build/debian13 (the objects of `build` are reused: only the tests
    # and benchmarks are switched off, and the install prefix set), then the preset is restored.
    say "scripts/test-deb.sh in the chroot (build/debian13, its -O2 objects, stripped)"
    status=0
    in_chroot "KD_DEB_BUILD_DIR=build/debian13 KD_DEB_BUILD_TYPE=Release JOBS=$JOBS scripts/test-deb.sh" ||
      status=$?
    in_chroot "cmake --preset debian13 >/dev/null" || true
    [[ $status -eq 0 ]] || die "the Debian 13 package test failed"
    ;;
  python)
    [[ $# -ge 1 ]] || die "python needs a script of the repository"
    make_chroot
    deps --python
    in_chroot "python3 $(printf '%q ' "$@")"
    ;;
  run)
    [[ $# -eq 1 ]] || die "run needs one quoted command"
    [[ -f $READY ]] || die "no chroot yet: run scripts/debian13.sh build first"
    in_chroot "$1"
    ;;
  shell)
    make_chroot
    in_chroot "exec bash -i"
    ;;
esac
