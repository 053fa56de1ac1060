# Shared helpers for the security end-to-end tests (attacks on a running
# `tandem up`): raw HTTP requests with a chosen token, tokens for other
# principals, and the JSON reads their "nothing changed" checks make.
# Sources tests/cli/lib.sh (control plane, assertions); expects $TANDEM (the
# CLI) and $WORK (the test's scratch directory) to be set by the test.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"

# http_status TOKEN METHOD PATH [CURL ARGS...]: the HTTP status of one request
# to the control plane, sent with TOKEN as bearer (no Authorization header if
# TOKEN is empty) and the path as written (no ../ squashing). The response
# body goes to $RESPONSE (default $WORK/body).
http_status() {
  local t=$1 m=$2 p=$3; shift 3
  local auth=()
  [ -n "$t" ] && auth=(-H "Authorization: Bearer $t")
  command curl -s --path-as-is -o "${RESPONSE:-$WORK/body}" -w '%{http_code}' -X "$m" \
    "${auth[@]}" "$@" "$TANDEM_SERVER$p"
}

# status_as TOKEN METHOD PATH [JSON BODY]: http_status with an optional JSON body.
status_as() {
  local t=$1 m=$2 p=$3 body=${4:-}
  local data=()
  [ -n "$body" ] && data=(-H 'content-type: application/json' -d "$body")
  http_status "$t" "$m" "$p" "${data[@]}"
}

# status_of METHOD PATH [JSON BODY]: status_as the admin ($TANDEM_TOKEN).
status_of() { status_as "$TANDEM_TOKEN" "$@"; }

# as TOKEN CMD...: CMD (the CLI, or a function calling it) with another token.
as() { local t=$1; shift; TANDEM_TOKEN=$t "$@"; }

# token_of PRINCIPAL [EXPIRES]: a new API token for PRINCIPAL (made by the admin).
token_of() {
  local extra=()
  [ -n "${2:-}" ] && extra=(--expires-in "$2")
  "$TANDEM" auth tokens create --principal "$1" "${extra[@]}" -o json | field '["token"]'
}

# field EXPR: prints d EXPR of the JSON document on stdin, e.g. field '["jobs"][0]["id"]'.
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }

# count_jobs [NAME]: how many jobs the caller lists (named NAME if given).
count_jobs() { "$TANDEM" jobs list ${1:+--name "$1"} -o json | field '["jobs"].__len__()'; }

# job_state ID, job_reason ID: a job's state and failure reason ("" if none).
job_state() { "$TANDEM" jobs get "$1" -o json | field '["state"]'; }
job_reason() { "$TANDEM" jobs get "$1" -o json | field '.get("failure_reason", "")'; }

# champion: the version churn@champion points at.
champion() { "$TANDEM" models get churn@champion -o json | field '["version"]'; }
