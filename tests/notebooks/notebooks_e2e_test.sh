#!/usr/bin/env bash
# Managed notebooks against a real `tandem up` and Debian's jupyter-notebook:
# start, execute a cell on a real kernel through Jupyter's REST and websocket
# API (the cell writes a file and reads the platform's environment), let the
# notebook be culled for idleness, start it again and find the file; bad
# input and usage errors.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/tandem-notebooks-e2e.XXXXXX)
trap '"$TANDEM" notebooks stop lab >/dev/null 2>&1; stop_control_plane; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/home"
cat > "$WORK/home/tandem.yaml" <<'YAML'
notebooks:
  idle_timeout_seconds: 3600
YAML
start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }

# Start: waits for InService and prints the URL with its token.
expect_rc 0 "$TANDEM" notebooks start lab --team e2e --idle-timeout 8
expect_contains "$OUT" "InService" "start reports InService"
expect_contains "$OUT" "token=" "start prints the URL"
URL=$("$TANDEM" notebooks url lab)
BASE=${URL%%/\?token=*}
TOKEN=${URL##*token=}
[ -n "$TOKEN" ] && [ "$BASE" != "$URL" ] && pass || fail "url '$URL' has no token"

# A cell on a real kernel: writes into the working directory, sees the
# platform's environment.
CODE='import os
open("from_kernel.txt", "w").write(os.environ["TANDEM_NOTEBOOK"] + " " + os.environ["TANDEM_TEAM"])
print(6 * 7, os.environ["TANDEM_URL"].startswith("http://127.0.0.1:"))'
expect_rc 0 /usr/bin/python3 "$HERE/run_cell.py" "$BASE" "$TOKEN" "$CODE"
expect_contains "$OUT" "42 True" "the cell ran on the kernel"
expect_rc 1 /usr/bin/python3 "$HERE/run_cell.py" "$BASE" "$TOKEN" "1/0"
expect_contains "$OUT" "ZeroDivisionError" "a failing cell reports its error"

# Idle: no activity for 8 s -> culled, the directory saved.
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
expect_rc 1 "$TANDEM" notebooks url lab
expect_contains "$OUT" "not InService" "no URL for a stopped notebook"
expect_rc 0 "$TANDEM" artifacts ls notebooks/
expect_contains "$OUT" "notebooks/lab/workdir.tar.gz" "the saved directory is an artifact"

# Start again: the file is back.
expect_rc 0 "$TANDEM" notebooks start lab --team e2e --idle-timeout 0
URL=$("$TANDEM" notebooks url lab)
BASE=${URL%%/\?token=*}
TOKEN=${URL##*token=}
expect_rc 0 curl -sf "$BASE/api/contents/from_kernel.txt?token=$TOKEN"
expect_contains "$OUT" '"content": "lab e2e"' "the file written in execution 1 is restored"
expect_rc 0 "$TANDEM" notebooks list -o json
expect_contains "$OUT" '"execution": 2' "second execution listed"
expect_rc 0 "$TANDEM" notebooks list --team nobody
expect_rc 0 "$TANDEM" notebooks stop lab
expect_contains "$OUT" "Stopped" "stop waits for Stopped"
expect_rc 0 "$TANDEM" notebooks get lab -o json
expect_contains "$OUT" '"stop_reason": "requested"' "stopped on request"
expect_contains "$OUT" '"cost"' "metered"

# The state changes are events on the bus.
expect_rc 0 curl -sf "$TANDEM_SERVER/api/v1/events?limit=1000"
expect_contains "$OUT" "Notebook Instance State Change" "events published"

# Bad input and usage.
expect_rc 1 "$TANDEM" notebooks start Bad_Name
expect_contains "$OUT" "must be 1-63 characters" "bad name explained"
expect_rc 1 "$TANDEM" notebooks stop ghost
expect_contains "$OUT" "not found" "unknown notebook"
expect_rc 2 "$TANDEM" notebooks start
expect_rc 0 "$TANDEM" notebooks start --help
expect_contains "$OUT" "Examples" "help has examples"

finish
