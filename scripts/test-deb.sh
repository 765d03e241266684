#!/usr/bin/env bash
# Builds the Debian package, installs it on this machine, checks the installed app and CLI, and
# removes the package again, checking that nothing of it stays behind. See docs/packaging.md.
#
#   scripts/test-deb.sh            configure + build build/deb (Release), cpack, install, check, remove
#   KD_DEB_KEEP=1 scripts/test-deb.sh   leave the package installed at the end
#
# Needs root or sudo (apt-get install/remove), Debian 12 with scripts/install-deps.sh --dev done
# (xvfb, desktop-file-utils, appstream, man-db; x11-utils' xwininfo, when present, is used to see
# the app's window). Takes the build lock /tmp/kd-build.lock while building so that it does not
# fight other builds on the machine. JOBS=N sets the build jobs (2). A check that cannot run here
# says "test-deb: SKIPPED: <why>" and is listed again on the last line.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${KD_DEB_BUILD_DIR:-build/deb}
# scripts/debian13.sh deb reuses its build/debian13 (Release at -O2, stripped in the package)
# instead of building everything a second time.
BUILD_TYPE=${KD_DEB_BUILD_TYPE:-Release}
JOBS=${JOBS:-2}
APP_ID=io.github.kdstudio.kdstudio
TEACHER=/usr/share/kdstudio/models/fashion-mnist-teacher.kdmodel
START=$SECONDS

step() { printf '\n== [%4ds] %s\n' $((SECONDS - START)) "$*"; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
SKIPPED=()
skip() {  # on one line, also when it quotes a tool's message
  local why
  why=$(tr -s '\n\t ' ' ' <<<"$*")
  echo "test-deb: SKIPPED: ${why% }" >&2
  SKIPPED+=("${why% }")
}
skipped() {  # for the last line
  if [[ ${#SKIPPED[@]} -gt 0 ]]; then
    printf '; SKIPPED %d check(s):' ${#SKIPPED[@]}
    printf ' [%s]' "${SKIPPED[@]}"
  fi
}
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
  # The checks without the dataset run as root and leave root's files in $TMP.
  rm -rf "$TMP" 2>/dev/null || $SUDO rm -rf "$TMP"
}
trap cleanup EXIT

if dpkg-query -W -f='${Status}' kdstudio 2>/dev/null | grep -q "install ok installed"; then
  fail "kdstudio is installed already; remove it first (sudo apt-get remove kdstudio)"
fi

step "configure $BUILD ($BUILD_TYPE, prefix /usr, no tests or benchmarks)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DCMAKE_INSTALL_PREFIX=/usr \
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
desc=$(dpkg-deb --field "$DEB" Description)
[[ "$(sed -n '2s/^ //p' <<<"$desc")" != "$(head -1 <<<"$desc")" ]] \
  || fail "the package description repeats its synopsis: $(head -1 <<<"$desc")"

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
         usr/share/doc/kdstudio/user-guide.md usr/share/doc/kdstudio/screenshots/layers.png \
         usr/share/doc/kdstudio/copyright; do
  grep -qx "\./$f" "$TMP/contents" || fail "$f is not in the package"
done
echo "$(grep -cv '/$' "$TMP/contents") files, all under /usr, no bundled libraries"

step "validate the desktop file, the AppStream metadata, the copyright file and the docs"
dpkg-deb -x "$DEB" "$TMP/root"
grep -qx "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" \
  "$TMP/root/usr/share/doc/kdstudio/copyright" || fail "the copyright file is not machine-readable"
# Every relative link of the packaged docs must lead to a file in the package.
python3 - "$TMP/root/usr/share/doc/kdstudio" <<'PY' || fail "the packaged docs link to files the package does not hold"
import glob, os, re, sys
bad = []
for doc in sorted(glob.glob(os.path.join(sys.argv[1], "*.md"))):
    text = re.sub(r"```.*?```", "", open(doc, encoding="utf-8").read(), flags=re.S)
    for link in re.findall(r"\]\(([^)\s]+)\)", text):
        path = link.split("#")[0]
        if re.match(r"[a-z]+:", link) or not path:
            continue
        if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(doc), path))):
            bad.append(f"{os.path.basename(doc)}: {link}")
print("\n".join(bad) or "every relative link of the packaged docs resolves")
sys.exit(1 if bad else 0)
PY
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
  grep -Eq "^ours \(Q layers\) +\[[0-9,]+\] -> \[[0-9,]+\] +[0-9]+\.[0-9]+" "$TMP/demo.txt" ||
    fail "the demo did not report ours' accuracy"
  grep -q "^Verdict" "$TMP/demo.txt" || fail "the demo gave no verdict"
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
  skip "kdstudio-cli demo: dataset-fashion-mnist is not installed"
fi

# The installed app always runs under Xvfb, with or without Fashion-MNIST. gui-smoke.sh, run
# inside xvfb-run: start the app, wait for its main window (WM_CLASS "kdstudio", the desktop
# file's StartupWMClass; seen with xwininfo when x11-utils is installed), check that it is still
# running 3 s later, send SIGTERM and check that it ends at once by that signal (status 143), not
# by crashing or hanging. KD_SMOKE_TITLE: a text the window title must contain.
GUI_SMOKE="$TMP/gui-smoke.sh"
cat >"$GUI_SMOKE" <<'SH'
#!/usr/bin/env bash
set -u
"$@" &
pid=$!
window=""
for _ in $(seq 1 60); do  # the window, within 30 s
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"
    echo "gui-smoke: FAIL: $* exited by itself with status $? before its window appeared"
    exit 1
  fi
  if ! command -v xwininfo >/dev/null; then
    window="not checked (no xwininfo: install x11-utils)"
    break
  fi
  line=$(xwininfo -root -tree 2>/dev/null | grep -m1 '("kdstudio" ' || true)
  title=$(sed -E 's/^[^"]*"([^"]*)".*/\1/' <<<"$line")
  if [[ -n "$line" && "$title" == *"${KD_SMOKE_TITLE:-}"* ]]; then
    window="\"$title\""
    break
  fi
  sleep 0.5
done
if [[ -z "$window" ]]; then
  kill -KILL "$pid" 2>/dev/null
  echo "gui-smoke: FAIL: no KD Studio window${KD_SMOKE_TITLE:+ titled *$KD_SMOKE_TITLE*} after 30 s (last: ${title:-none})"
  exit 1
fi
sleep 3
if ! kill -0 "$pid" 2>/dev/null; then
  wait "$pid"
  echo "gui-smoke: FAIL: $* exited by itself with status $? after its window appeared"
  exit 1
fi
kill -TERM "$pid"
for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
if kill -0 "$pid" 2>/dev/null; then
  kill -KILL "$pid" 2>/dev/null
  echo "gui-smoke: FAIL: $* still running 10 s after SIGTERM"
  exit 1
fi
wait "$pid"
status=$?
if [[ $status -ne 0 && $status -ne 143 ]]; then
  echo "gui-smoke: FAIL: $* ended with status $status after SIGTERM (143 expected)"
  exit 1
fi
echo "gui-smoke: window $window, still up 3 s later; SIGTERM ended it (status $status)"
SH
chmod 755 "$GUI_SMOKE"
# Settings and the analysis cache of these runs stay in $TMP: the user's are neither read nor changed.
gui_smoke() {  # gui_smoke LOG ARGS...: kdstudio ARGS under Xvfb
  local log=$1
  shift
  timeout 120 xvfb-run -a -s "-screen 0 1280x1024x24" \
    env XDG_CONFIG_HOME="$TMP/config" KDSTUDIO_CACHE_DIR="$TMP/cache" KD_SMOKE_TITLE="${KD_SMOKE_TITLE:-}" \
    "$GUI_SMOKE" /usr/bin/kdstudio "$@" >"$log" 2>&1 || { tail -20 "$log"; fail "kdstudio $* under Xvfb"; }
  grep "^gui-smoke:" "$log"
  if grep -q "^gui-smoke: window not checked" "$log"; then
    skip "the app's window (kdstudio $*): xwininfo is missing, install x11-utils"
  fi
}

# A run folder as training writes it (docs/run-folders.md), with a checkpoint, for the file
# association of checkpoints: the smallest experiment and a checkpoint with only its metadata.
python3 - "$TMP/runs/smoke-00000000" <<'PY'
import json, os, struct, sys
run = sys.argv[1]
os.makedirs(f"{run}/seed-0")
config = json.dumps({"format": "kdstudio-experiment", "version": 1, "name": "smoke",
                     "dataset": "fashion-mnist", "student": "resnet9:channels=1,size=28,width=0.125",
                     "method": "student", "epochs": 1, "seeds": 1}, indent=2)
for name in ("config.json", "resolved.json"):
    open(f"{run}/{name}", "w").write(config)
meta = {"epochs_done": "1", "format": "kdstudio-checkpoint", "history": "[]", "seconds": "1",
        "seed": "0", "step": "1"}  # keys sorted and no spaces, as nlohmann::json writes them
header = json.dumps({"__metadata__": meta}, separators=(",", ":")).encode()
header += b" " * (-len(header) % 8)
with open(f"{run}/seed-0/checkpoint.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header)
PY
CHECKPOINT="$TMP/runs/smoke-00000000/seed-0/checkpoint.safetensors"

step "installed app under Xvfb: start, window, SIGTERM"
gui_smoke "$TMP/gui-empty.log" --empty
# The bundled teacher, a small student and Fashion-MNIST (where it is missing: the Data page's
# message saying how to get it).
gui_smoke "$TMP/gui-defaults.log" --defaults
# A checkpoint opens its run: the run's config.json is the experiment (the window title).
KD_SMOKE_TITLE="config.json" gui_smoke "$TMP/gui-checkpoint.log" --empty "$CHECKPOINT"

step "installed app under Xvfb: the screenshot tour (about a minute)"
if [[ -d /usr/share/datasets/fashion-mnist ]]; then
  xvfb-run -a -s "-screen 0 1280x1024x24" /usr/bin/kdstudio --tour "$TMP/shots" >"$TMP/tour.log" 2>&1 \
    || { tail -20 "$TMP/tour.log"; fail "the tour failed"; }
  shots=$(find "$TMP/shots" -name '*.png' | wc -l)
  [[ $shots -ge 6 ]] || fail "the tour wrote $shots screenshots, expected 6 or more"
  echo "the tour wrote $shots screenshots"
else
  skip "the screenshot tour: dataset-fashion-mnist is not installed (the app was started above without it)"
fi

# Without Fashion-MNIST (the dataset is only recommended) the CLI must say how to get it and the
# app must still start. Where the dataset is installed it is hidden in a private mount namespace
# (root); where that cannot be done, the check is skipped, loudly.
NO_DATASET="$TMP/no-dataset.sh"
cat >"$NO_DATASET" <<'SH'
#!/usr/bin/env bash
# no-dataset.sh TMP: the checks without Fashion-MNIST; results in TMP/no-dataset/.
set -u
out=$1/no-dataset
mkdir -p "$out"
/usr/bin/kdstudio-cli data >"$out/cli.log" 2>&1
echo $? >"$out/cli.rc"
timeout 120 xvfb-run -a -s "-screen 0 1280x1024x24" \
  env XDG_CONFIG_HOME="$out/config" KDSTUDIO_CACHE_DIR="$out/cache" \
  "$1/gui-smoke.sh" /usr/bin/kdstudio --defaults >"$out/gui.log" 2>&1
echo $? >"$out/gui.rc"
SH
chmod 755 "$NO_DATASET"
no_dataset_ran=0
if [[ ! -e /usr/share/datasets/fashion-mnist ]]; then
  step "without Fashion-MNIST (not installed here)"
  "$NO_DATASET" "$TMP"
  no_dataset_ran=1
else
  step "without Fashion-MNIST (hidden in a private mount namespace)"
  if ! why=$($SUDO unshare -m true 2>&1); then
    skip "the missing-dataset check: cannot make a private mount namespace (unshare -m: ${why:-failed})"
  else
    rc=0
    # shellcheck disable=SC2016  # $1 is expanded by the inner sh
    why=$($SUDO unshare -m sh -c '
        mount -t tmpfs none /usr/share/datasets 2>&1 || exit 90
        [ ! -e /usr/share/datasets/fashion-mnist ] || { echo "still visible after the mount"; exit 91; }
        exec "$1/no-dataset.sh" "$1"' sh "$TMP" 2>&1) || rc=$?
    case $rc in
      0) no_dataset_ran=1 ;;
      90 | 91) skip "the missing-dataset check: cannot hide /usr/share/datasets/fashion-mnist (mount -t tmpfs: ${why:-failed})" ;;
      *) echo "$why"; fail "the missing-dataset check did not run (status $rc)" ;;
    esac
  fi
fi
if [[ $no_dataset_ran -eq 1 ]]; then
  msg=$(cat "$TMP/no-dataset/cli.log")
  echo "kdstudio-cli data: $msg"
  [[ -n "$msg" ]] || fail "kdstudio-cli data printed nothing without Fashion-MNIST"
  [[ $(cat "$TMP/no-dataset/cli.rc") -eq 1 ]] \
    || fail "kdstudio-cli data exited with $(cat "$TMP/no-dataset/cli.rc") without Fashion-MNIST, expected 1"
  grep -q "apt-get install dataset-fashion-mnist" <<<"$msg" \
    || fail "the missing-dataset message does not say how to install it"
  [[ $(cat "$TMP/no-dataset/gui.rc") -eq 0 ]] \
    || { tail -20 "$TMP/no-dataset/gui.log"; fail "kdstudio --defaults under Xvfb without Fashion-MNIST"; }
  echo "kdstudio --defaults without Fashion-MNIST: $(grep "^gui-smoke:" "$TMP/no-dataset/gui.log")"
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
if ! command -v gio >/dev/null; then
  skip "the MIME types: gio is missing (package libglib2.0-bin)"
elif [[ ! -f /usr/share/mime/application/x-kdstudio-model.xml ]]; then
  fail "the MIME database has no application/x-kdstudio-model (shared-mime-info trigger?)"
else
  type_of() { gio info -a standard::content-type "$1" | sed -n 's/.*standard::content-type: //p'; }
  [[ $(type_of "$TEACHER") == application/x-kdstudio-model ]] \
    || fail "the .kdmodel file type is not registered"
  experiment="$ROOT/experiments/fashion-mnist/ours-q.json"
  [[ $(type_of "$experiment") == application/x-kdstudio-experiment ]] \
    || fail "$experiment is not recognised as a KD Studio experiment"
  [[ $(type_of "$ROOT/CMakePresets.json") == application/json ]] \
    || fail "a plain JSON file is no longer application/json"
  [[ $(type_of "$CHECKPOINT") == application/x-kdstudio-checkpoint ]] \
    || fail "$CHECKPOINT is not recognised as a KD Studio checkpoint (glob)"
  cp "$CHECKPOINT" "$TMP/renamed-checkpoint.bin"
  [[ $(type_of "$TMP/renamed-checkpoint.bin") == application/x-kdstudio-checkpoint ]] \
    || fail "a renamed checkpoint is not recognised as a KD Studio checkpoint (magic)"
  echo "MIME types registered (application/x-kdstudio-model, -experiment, -checkpoint)"
fi
cd "$ROOT"

if [[ -n "${KD_DEB_KEEP:-}" ]]; then
  step "KD_DEB_KEEP set: the package stays installed"
  INSTALLED=0
  echo "test-deb: PASS in $((SECONDS - START)) s ($(basename "$DEB"), $(du -k "$DEB" | cut -f1) KiB)$(skipped)"
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
echo "test-deb: PASS in $((SECONDS - START)) s ($(basename "$DEB"), $(du -k "$DEB" | cut -f1) KiB)$(skipped)"
