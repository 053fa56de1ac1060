#!/usr/bin/env bash
# Per-deployment tokens on the serving endpoints (docs/security.md "Serving
# endpoint tokens"): a deployment whose spec names a team secret in
# `auth.tokens` answers /v2/... and /infer with 401 (WWW-Authenticate) without
# that token, keeps health and /metrics open, never stores the token itself
# (only its SHA-256), and a deployment naming a secret of another team or a
# missing one is refused and not created.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
MAKE_MODEL=$2
require_built "$TANDEM" "$MAKE_MODEL"
WORK=$(mktemp -d /var/tmp/tandem-serving-auth.XXXXXX)
cleanup() {
  stop_control_plane
  kill_replicas "$WORK/home"
  rm -rf "$WORK"
}
trap cleanup EXIT

start_with_churn_model "$TANDEM" "$MAKE_MODEL" "$WORK"
TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
OTHER=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
expect_rc 0 "$TANDEM" teams create risk
expect_rc 0 "$TANDEM" teams create pricing
expect_rc 0 sh -c "printf %s '$TOKEN' | '$TANDEM' secrets create churn-client --team risk"
expect_rc 0 sh -c "printf %s '$OTHER' | '$TANDEM' secrets create other-client --team pricing"

# Refused applies create nothing: a secret of another team, a missing one.
for tok in other-client nosuch; do
  printf 'name: churn-api\nteam: risk\nmodel: churn@champion\nauth: {tokens: [%s]}\n' "$tok" >"$WORK/bad.yaml"
  expect_rc 1 "$TANDEM" deployments apply -f "$WORK/bad.yaml"
  expect_contains "$OUT" "secret '$tok' of team 'risk' not found" "apply names the missing secret"
  expect_rc 1 "$TANDEM" deployments get churn-api
done

cat >"$WORK/deploy.yaml" <<YAML
name: churn-api
team: risk
model: churn@champion
batching: {max_batch_size: 1}
auth: {tokens: [churn-client]}
YAML
expect_rc 0 "$TANDEM" deployments apply -f "$WORK/deploy.yaml" --wait --timeout 60
DOC=$("$TANDEM" deployments get churn-api -o json)
URL=$(echo "$DOC" | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')
expect_contains "$DOC" "$(printf %s "$TOKEN" | sha256sum | cut -c1-64)" "the spec keeps the token's SHA-256"
[[ "$DOC" != *"$TOKEN"* ]] && pass || fail "the deployment shows the token"

ROW='[0.5,-1,0.25,0,1,2,0,0,0,0,0,0,0,0,0,0,0,0,0.5,-0.5]'
V2="{\"inputs\":[{\"name\":\"input\",\"shape\":[1,20],\"datatype\":\"FP32\",\"data\":$ROW}]}"
SIMPLE="{\"model\":\"churn\",\"features\":$ROW}"
req() {  # req TOKEN METHOD PATH [BODY] -> status; headers in $WORK/h, body in $WORK/b
  local auth=()
  [ -n "$1" ] && auth=(-H "Authorization: Bearer $1")
  command curl -s -D "$WORK/h" -o "$WORK/b" -w '%{http_code}' -X "$2" "${auth[@]}" \
    -H 'content-type: application/json' ${4:+-d "$4"} "$URL$3"
}
for p in /v2/health/live /v2/health/ready /v2/models/churn/ready /metrics; do
  expect_eq "$(req "" GET "$p")" 200 "$p stays open"
done
for t in "" "$OTHER" "not-the-token" "${TOKEN}x"; do
  expect_eq "$(req "$t" POST /v2/models/churn/infer "$V2")" 401 "v2 infer with token '${t:0:6}'"
  expect_contains "$(tr -d '\r' <"$WORK/h")" 'www-authenticate: Bearer realm="tandem-serving"' "401 challenge"
  expect_eq "$(req "$t" POST /infer "$SIMPLE")" 401 "/infer with token '${t:0:6}'"
  expect_eq "$(req "$t" GET /v2/models/churn)" 401 "metadata with token '${t:0:6}'"
  expect_eq "$(req "$t" POST /v2/repository/models/churn/unload '{}')" 401 "unload with token '${t:0:6}'"
done
expect_eq "$(req "" GET /v2/health/ready)" 200 "still ready: the refused unload did nothing"
expect_eq "$(req "$TOKEN" POST /v2/models/churn/infer "$V2")" 200 "v2 infer with the token"
expect_eq "$(req "$TOKEN" POST /infer "$SIMPLE")" 200 "/infer with the token"
METRICS=$(command curl -s "$URL/metrics")
expect_eq "$(metric_value "$METRICS" 'tandem_inference_requests_total{model="churn"}')" 2 \
  "only the two authorized requests reached the model"

# The token appears nowhere tandem wrote (home, replica logs and command lines).
if grep -rqF "$TOKEN" "$WORK/home" "$WORK/home.log"; then fail "the token was written: $(grep -rlF "$TOKEN" "$WORK/home")"; else pass; fi
if grep -qF "$TOKEN" /proc/[0-9]*/cmdline 2>/dev/null; then fail "the token is on a command line"; else pass; fi

# Without auth the same deployment is open again (the replicas restart).
printf 'name: churn-api\nteam: risk\nmodel: churn@champion\nbatching: {max_batch_size: 1}\n' >"$WORK/open.yaml"
expect_rc 0 "$TANDEM" deployments apply -f "$WORK/open.yaml" --wait --timeout 60
ok=0
for _ in $(seq 1 300); do
  [ "$(req "" POST /infer "$SIMPLE")" = 200 ] && { ok=1; break; }
  sleep 0.1
done
expect_eq "$ok" 1 "open after auth was removed"
expect_rc 0 "$TANDEM" deployments delete churn-api

finish
