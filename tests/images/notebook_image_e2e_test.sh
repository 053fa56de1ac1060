#!/usr/bin/env bash
# Notebooks in images through `tandem up` and the CLI (docs/images.md,
# "Notebooks in images"): a Jupyter image made of the host's Debian packages
# (examples/images/python-base.sh notebook, cached under CACHE_DIR) plus a
# layer with a Python module the host does not have; `tandem notebooks start
# --image` runs Jupyter inside it: a cell on its kernel imports the module,
# the notebook records the image digest, is culled when idle and its
# directory saved as on the host; an unknown image is refused naming it and
# nothing is started. Usage: notebook_image_e2e_test.sh TANDEM REPO CACHE_DIR
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
REPO=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
CACHE=${3:-/tmp/tandem-image-cache}
HERE=$(cd "$(dirname "$0")/../notebooks" && pwd)
WORK=$(mktemp -d /tmp/tandem-nb-image-e2e.XXXXXX)
trap '"$TANDEM" notebooks stop lab >/dev/null 2>&1; stop_control_plane; rm -rf "$WORK"' EXIT

command -v bwrap >/dev/null || { echo "SKIP: bubblewrap is not installed"; exit 0; }
BASE=$("$REPO/examples/images/python-base.sh" "$TANDEM" "$CACHE" notebook) || {
  echo "FAIL: cannot build the Jupyter base image"; exit 1; }
python3 -c 'import tandem_nb_only' 2>/dev/null && { echo "FAIL: the host has the module"; exit 1; }

mkdir -p "$WORK/home"
printf 'notebooks:\n  idle_timeout_seconds: 3600\n' > "$WORK/home/tandem.yaml"
start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }

expect_rc 0 "$TANDEM" images push "$BASE" e2e/jupyter:base
mkdir -p "$WORK/img/tandem_nb_only"
printf 'VALUE = "only-in-the-image"\n' > "$WORK/img/tandem_nb_only/__init__.py"
cat > "$WORK/img/image.yaml" <<'YAML'
from: e2e/jupyter:base
layers:
  - {src: tandem_nb_only, dest: /usr/lib/python3/dist-packages/tandem_nb_only}
YAML
expect_rc 0 "$TANDEM" images build -f "$WORK/img/image.yaml" -t e2e/jupyter:1 -o json
DIGEST=$(grep -o '"digest": *"sha256:[0-9a-f]*"' <<<"$OUT" | grep -o 'sha256:[0-9a-f]*')
[ -n "$DIGEST" ] || fail "build printed no digest: $OUT"

# An unknown image: refused naming it, nothing started or stored.
expect_rc 1 "$TANDEM" notebooks start ghost --team e2e --image e2e/nope:1
expect_contains "$OUT" "e2e/nope:1" "the unknown image is named"
expect_rc 1 "$TANDEM" notebooks get ghost
expect_contains "$OUT" "not found" "nothing stored for the unknown image"

# Jupyter in the image.
expect_rc 0 "$TANDEM" notebooks start lab --team e2e --image e2e/jupyter:1 --idle-timeout 8 --timeout 240
expect_contains "$OUT" "InService" "a notebook in an image reaches InService"
expect_rc 0 "$TANDEM" notebooks get lab -o json
expect_contains "$OUT" "\"digest\": \"$DIGEST\"" "the notebook records the image digest"
URL=$("$TANDEM" notebooks url lab)
NBBASE=${URL%%/\?token=*}
TOKEN=${URL##*token=}
CODE='import os, sys, tandem_nb_only
open("from_image.txt", "w").write(tandem_nb_only.VALUE)
print(tandem_nb_only.VALUE, os.environ["TANDEM_NOTEBOOK"], os.path.exists("/opt/ml/work"))'
expect_rc 0 /usr/bin/python3 "$HERE/run_cell.py" "$NBBASE" "$TOKEN" "$CODE"
expect_contains "$OUT" "only-in-the-image lab True" "the kernel runs in the image"

# Culled when idle, the directory saved, metered: as on the host.
STATE=""
for _ in $(seq 1 240); do
  DOC=$("$TANDEM" notebooks get lab -o json 2>/dev/null)
  STATE=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' <<<"$DOC")
  [ "$STATE" = "Stopped" ] && break
  sleep 0.5
done
[ "$STATE" = "Stopped" ] && pass || fail "lab not culled (state $STATE)"
expect_contains "$DOC" '"stop_reason": "idle"' "culled for idleness"
expect_contains "$DOC" '"snapshot_key": "notebooks/lab/workdir.tar.gz"' "directory saved"
expect_contains "$DOC" '"cost"' "metered"

# Started again on the host (no --image): the saved file is back, the
# image's module is not.
expect_rc 0 "$TANDEM" notebooks start lab --team e2e --idle-timeout 0
URL=$("$TANDEM" notebooks url lab)
NBBASE=${URL%%/\?token=*}
TOKEN=${URL##*token=}
expect_rc 0 curl -sf "$NBBASE/api/contents/from_image.txt?token=$TOKEN"
expect_contains "$OUT" '"content": "only-in-the-image"' "the file written in the image is restored"
expect_rc 1 /usr/bin/python3 "$HERE/run_cell.py" "$NBBASE" "$TOKEN" "import tandem_nb_only"
expect_contains "$OUT" "ModuleNotFoundError" "the host kernel lacks the image's module"
expect_rc 0 "$TANDEM" notebooks get lab -o json
[[ "$OUT" != *"$DIGEST"* ]] && pass || fail "a start without --image runs on the host: $OUT"
expect_rc 0 "$TANDEM" notebooks stop lab

echo "notebook image e2e: $PASSES passed, $FAILURES failed"
[ "$FAILURES" -eq 0 ]
