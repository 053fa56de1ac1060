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
"$TANDEM" teams create e2e >/dev/null && "$TANDEM" teams create other >/dev/null ||
  { echo "cannot create the teams"; exit 1; }

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

# The notebook's own API token (TANDEM_TOKEN): acts as a member of its team
# and nothing else; it is revoked when the execution ends (checked below).
CODE='import json, os, urllib.request, urllib.error
def call(method, path, body=None):
    req = urllib.request.Request(os.environ["TANDEM_URL"] + path, method=method, data=body,
        headers={"Authorization": "Bearer " + os.environ["TANDEM_TOKEN"]})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
me = json.load(urllib.request.urlopen(urllib.request.Request(
    os.environ["TANDEM_URL"] + "/api/v1/auth/whoami",
    headers={"Authorization": "Bearer " + os.environ["TANDEM_TOKEN"]}), timeout=30))
print("whoami", me["name"], me["kind"], me["admin"], json.dumps(me["teams"], sort_keys=True))
print("own-team-write", call("PUT", "/api/v1/artifacts/teams/e2e/from-notebook.txt", b"hi"))
print("other-team-write", call("PUT", "/api/v1/artifacts/teams/other/from-notebook.txt", b"hi"))
print("admin-route", call("POST", "/api/v1/teams", b"{\"name\": \"made-by-notebook\"}"))
print("token", os.environ["TANDEM_TOKEN"])'
expect_rc 0 /usr/bin/python3 "$HERE/run_cell.py" "$BASE" "$TOKEN" "$CODE"
expect_contains "$OUT" 'whoami notebooks@e2e service False {"e2e": "member"}' "the notebook acts as its team's service principal"
expect_contains "$OUT" "own-team-write 201" "it may write in its own team"
expect_contains "$OUT" "other-team-write 403" "not in another team"
expect_contains "$OUT" "admin-route 403" "and administers nothing"
NB_API_TOKEN=$(sed -n 's/^token \(.*\)$/\1/p' <<<"$OUT" | head -1)
[ -n "$NB_API_TOKEN" ] && pass || fail "no token printed: $OUT"
expect_rc 1 "$TANDEM" artifacts get teams/other/from-notebook.txt "$WORK/should-not-exist"
expect_rc 0 "$TANDEM" teams list -o json
[[ "$OUT" == *made-by-notebook* ]] && fail "the notebook created a team" || pass
grep -rqF "$NB_API_TOKEN" "$WORK/home" && fail "the notebook's token is in a file under the home" || pass

# Idle: no activity for 8 s -> culled, the directory saved.
STATE=""
for _ in $(seq 1 240); do
  DOC=$("$TANDEM" notebooks get lab -o json 2>/dev/null)
  STATE=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' <<<"$DOC")
  [ "$STATE" = "Stopped" ] && break
  sleep 0.5
done
[ "$STATE" = "Stopped" ] && pass || fail "lab not culled (state $STATE)"
expect_rc 0 curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $NB_API_TOKEN" \
  "$TANDEM_SERVER/api/v1/auth/whoami"
expect_contains "$OUT" "401" "the notebook's token is revoked with its execution"
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
