#!/usr/bin/env bash
# Builds the Debian package, installs it on this machine, checks the installed app and CLI, and
# removes the package again, checking that nothing of it stays behind. See docs/packaging.md.
#
#   scripts/test-deb.sh            configure + build build/deb (Release), cpack, install, check, remove
#   KD_DEB_KEEP=1 scripts/test-deb.sh   leave the package installed at the end
#
# Needs root or sudo (apt-get install/remove), Debian 12 with scripts/install-deps.sh --dev done
# (xvfb, desktop-file-utils, appstream, man-db). Takes the build lock /tmp/kd-build.lock while
# building so that it does not fight other builds on the machine. JOBS=N sets the build jobs (2).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${KD_DEB_BUILD_DIR:-build/deb}
JOBS=${JOBS:-2}
APP_ID=io.github.kdstudio.kdstudio
TEACHER=/usr/share/kdstudio/models/fashion-mnist-teacher.kdmodel
START=$SECONDS

step() { printf '\n== [%4ds] %s\n' $((SECONDS - START)) "$*"; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || fail "run as root or install sudo (apt-get install/remove)"
  SUDO="sudo"
fi
for tool in cmake cpack dpkg-deb apt-get xvfb-run desktop-file-validate appstreamcli man python3; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/install-deps.sh --dev"
done

TMP=$(mktemp -d /tmp/kd-test-deb.XXXXXX)
chmod 755 "$TMP"  # apt's _apt user must be able to read the .deb
INSTALLED=0
cleanup() {
  if [[ $INSTALLED -eq 1 && -z "${KD_DEB_KEEP:-}" ]]; then
    echo "test-deb: removing the package after a failure"
    $SUDO apt-get remove -y -qq kdstudio >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

if dpkg-query -W -f='${Status}' kdstudio 2>/dev/null | grep -q "install ok installed"; then
  fail "kdstudio is installed already; remove it first (sudo apt-get remove kdstudio)"
fi

step "configure $BUILD (Release, prefix /usr, no tests or benchmarks)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DKD_BUILD_GUI=ON -DKD_BUILD_TESTS=OFF -DKD_BUILD_BENCH=OFF >"$TMP/configure.log" \
  || { cat "$TMP/configure.log"; fail "configure"; }

step "build (-j$JOBS, under /tmp/kd-build.lock)"
if command -v flock >/dev/null; then
  flock /tmp/kd-build.lock cmake --build "$BUILD" -j"$JOBS"
else
  cmake --build "$BUILD" -j"$JOBS"
fi

step "cpack -G DEB"
rm -f "$BUILD"/kdstudio_*.deb
(cd "$BUILD" && cpack -G DEB >"$TMP/cpack.log") || { cat "$TMP/cpack.log"; fail "cpack"; }
DEB=$(ls "$BUILD"/kdstudio_*.deb)
cp "$DEB" "$TMP/" && chmod 644 "$TMP/$(basename "$DEB")"
echo "$(basename "$DEB"): $(du -k "$DEB" | cut -f1) KiB"
dpkg-deb --field "$DEB" Package Version Section Depends Recommends

step "package contents"
dpkg-deb --contents "$DEB" | awk '{print $6}' >"$TMP/contents"
bad=$(grep -v -e '^\./$' -e '^\./usr/' "$TMP/contents" || true)
[[ -z "$bad" ]] || fail "files outside /usr: $bad"
bundled=$(grep -E '\.so(\.|$)' "$TMP/contents" || true)
[[ -z "$bundled" ]] || fail "shared libraries bundled in the package: $bundled"
for f in usr/bin/kdstudio usr/bin/kdstudio-cli "${TEACHER#/}" \
         usr/share/applications/$APP_ID.desktop usr/share/metainfo/$APP_ID.metainfo.xml \
         usr/share/icons/hicolor/scalable/apps/$APP_ID.svg usr/share/mime/packages/kdstudio.xml \
         usr/share/man/man1/kdstudio.1.gz usr/share/man/man1/kdstudio-cli.1.gz \
         usr/share/doc/kdstudio/user-guide.md usr/share/doc/kdstudio/screenshots/layers.png; do
  grep -qx "\./$f" "$TMP/contents" || fail "$f is not in the package"
done
echo "$(grep -cv '/$' "$TMP/contents") files, all under /usr, no bundled libraries"

step "validate the desktop file and the AppStream metadata in the package"
dpkg-deb -x "$DEB" "$TMP/root"
desktop-file-validate "$TMP/root/usr/share/applications/$APP_ID.desktop"
appstreamcli validate --no-net "$TMP/root/usr/share/metainfo/$APP_ID.metainfo.xml"
appstreamcli validate-tree --no-net "$TMP/root"

step "apt-get install ./$(basename "$DEB")"
INSTALLED=1
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$TMP/$(basename "$DEB")"
dpkg -L kdstudio | sort >"$TMP/installed"
[[ $(command -v kdstudio-cli) == /usr/bin/kdstudio-cli ]] || fail "kdstudio-cli is not /usr/bin/kdstudio-cli"
[[ $(command -v kdstudio) == /usr/bin/kdstudio ]] || fail "kdstudio is not /usr/bin/kdstudio"

# Run the installed programs from a folder outside the source tree, with no teacher override.
cd "$TMP"
unset KDSTUDIO_TEACHER

step "installed CLI"
/usr/bin/kdstudio-cli --version
/usr/bin/kdstudio --version
for cmd in "" inspect data analyze project cka train resume export demo; do
  # shellcheck disable=SC2086  # an empty $cmd is the top-level help
  /usr/bin/kdstudio-cli $cmd --help | grep -q "^Examples\?:" || fail "kdstudio-cli $cmd --help has no examples"
done
/usr/bin/kdstudio --help | grep -q "^Examples:" || fail "kdstudio --help has no examples"
/usr/bin/kdstudio-cli inspect --model "$TEACHER" | tee "$TMP/inspect.txt" | tail -4
grep -q "resnet18" "$TMP/inspect.txt" || fail "inspect did not describe the bundled teacher"

if [[ -d /usr/share/datasets/fashion-mnist ]]; then
  # Two short epochs: after a single one (of 50 or 100 images per class) both students are still
  # at chance level on the test split, so "it trains" is checked as a falling training loss.
  /usr/bin/kdstudio-cli demo --epochs 2 --per-class 100 --out "$TMP/demo" | tee "$TMP/demo.txt" | tail -6
  grep -q "distilled (ours): *[0-9]" "$TMP/demo.txt" || fail "the demo did not report an accuracy"
  grep -rqs "$TEACHER" "$TMP/demo" || fail "the demo did not use the installed teacher $TEACHER"
  for log in "$TMP"/demo/demo-*/seed-0/epochs.jsonl; do
    python3 - "$log" <<'PY' || fail "the demo's training loss did not fall: $log"
import json, sys
epochs = [json.loads(line) for line in open(sys.argv[1])]
print(f"{sys.argv[1].split('/')[-3]}: loss", " -> ".join(f"{e['loss']:.3f}" for e in epochs))
sys.exit(0 if len(epochs) == 2 and epochs[1]["loss"] < epochs[0]["loss"] else 1)
PY
  done
else
  echo "dataset-fashion-mnist is not installed: demo and tour skipped"
fi

step "installed app under Xvfb (the screenshot tour, about a minute)"
if [[ -d /usr/share/datasets/fashion-mnist ]]; then
  xvfb-run -a -s "-screen 0 1280x1024x24" /usr/bin/kdstudio --tour "$TMP/shots" >"$TMP/tour.log" 2>&1 \
    || { tail -20 "$TMP/tour.log"; fail "the tour failed"; }
  shots=$(find "$TMP/shots" -name '*.png' | wc -l)
  [[ $shots -ge 6 ]] || fail "the tour wrote $shots screenshots, expected 6 or more"
  echo "the tour wrote $shots screenshots"
fi

# Without Fashion-MNIST (the dataset is only recommended) the message must say how to get it.
# Needs a private mount namespace (root); skipped where unshare cannot make one.
if $SUDO unshare -m true 2>/dev/null; then
  step "without Fashion-MNIST (hidden in a private mount namespace)"
  msg=$($SUDO unshare -m sh -c 'mount -t tmpfs none /usr/share/datasets 2>/dev/null || exit 0;
          /usr/bin/kdstudio-cli data' 2>&1 || true)
  echo "$msg"
  [[ -z "$msg" ]] || grep -q "apt-get install dataset-fashion-mnist" <<<"$msg" \
    || fail "the missing-dataset message does not say how to install it"
fi

step "man pages"
man -w kdstudio kdstudio-cli
for page in kdstudio kdstudio-cli; do
  MANWIDTH=80 man -P cat "$page" >"$TMP/$page.man" 2>/dev/null || fail "man $page failed"
  grep -q "^NAME" "$TMP/$page.man" || fail "man $page does not render"
done

step "installed desktop files"
desktop-file-validate "/usr/share/applications/$APP_ID.desktop"
appstreamcli validate --no-net "/usr/share/metainfo/$APP_ID.metainfo.xml"
if command -v gio >/dev/null && [[ -f /usr/share/mime/application/x-kdstudio-model.xml ]]; then
  gio info -a standard::content-type "$TEACHER" | grep -q x-kdstudio-model \
    || fail "the .kdmodel file type is not registered"
  experiment="$ROOT/experiments/fashion-mnist/ours-q.json"
  gio info -a standard::content-type "$experiment" | grep -q x-kdstudio-experiment \
    || fail "$experiment is not recognised as a KD Studio experiment"
  gio info -a standard::content-type "$ROOT/CMakePresets.json" | grep -q "application/json" \
    || fail "a plain JSON file is no longer application/json"
  echo "MIME types registered (application/x-kdstudio-model, application/x-kdstudio-experiment)"
fi
cd "$ROOT"

if [[ -n "${KD_DEB_KEEP:-}" ]]; then
  step "KD_DEB_KEEP set: the package stays installed"
  INSTALLED=0
  echo "test-deb: PASS in $((SECONDS - START)) s ($(basename "$DEB"), $(du -k "$DEB" | cut -f1) KiB)"
  exit 0
fi

step "apt-get remove kdstudio"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq kdstudio
INSTALLED=0
if dpkg-query -W -f='${Status}' kdstudio 2>/dev/null | grep -q "installed"; then
  fail "dpkg still lists kdstudio: $(dpkg-query -W -f='${Status}' kdstudio)"
fi
left=""
while read -r f; do
  [[ -f "$f" || -L "$f" ]] && left+="$f "
done <"$TMP/installed"
[[ -z "$left" ]] || fail "files left after removal: $left"
left=$(find /usr -path '*kdstudio*' 2>/dev/null || true)
[[ -z "$left" ]] || fail "left under /usr after removal: $left"
echo "nothing of kdstudio remains under /usr"

echo
echo "test-deb: PASS in $((SECONDS - START)) s ($(basename "$DEB"), $(du -k "$DEB" | cut -f1) KiB)"
