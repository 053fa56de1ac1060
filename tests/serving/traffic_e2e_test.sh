#!/usr/bin/env bash
# Traffic policies end to end, as real processes: `tandem up`, a deployment
# with a shadow (churn@challenger) and a canary (churn@candidate, weight 0.25)
# on the local fleet; the caller only sees primary/candidate answers, never
# the shadow's; shadow and canary metrics count requests; the candidate alias
# moves to a version that cannot take the primary's requests (21 features):
# the rollback rule restores 100% primary and "Deployment Canary Rolled Back"
# is published.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
MAKE_MODEL=$2
require_built "$TANDEM" "$MAKE_MODEL"
WORK=$(mktemp -d /tmp/tandem-traffic-e2e.XXXXXX)
TAIL_PID=""
cleanup() {
  [ -n "$TAIL_PID" ] && kill -TERM "$TAIL_PID" 2>/dev/null
  "$TANDEM" deployments delete traffic-api >/dev/null 2>&1
  stop_control_plane
  kill_replicas "$WORK/home"
  rm -rf "$WORK"
}
trap cleanup EXIT

"$MAKE_MODEL" "$WORK/m1" 1 10 && "$MAKE_MODEL" "$WORK/m2" 2 5 && "$MAKE_MODEL" "$WORK/m3" 3 7 ||
  { echo "cannot write models"; exit 1; }
# A candidate that takes 21 features (the primary takes 20).
/usr/bin/python3 - "$WORK/wide.json" <<'PY' || { echo "cannot write the 21-feature model"; exit 1; }
import sys
import numpy as np
import xgboost as xgb
X = np.random.default_rng(1).normal(size=(300, 21)).astype(np.float32)
b = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
              xgb.DMatrix(X, label=(X[:, 0] > 0).astype(np.float32)), num_boost_round=5)
b.save_model(sys.argv[1])
PY

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }
expect_rc 0 "$TANDEM" models register churn "$WORK/m1" --alias champion     # v1
expect_rc 0 "$TANDEM" models register churn "$WORK/m2" --alias candidate    # v2
expect_rc 0 "$TANDEM" models register churn "$WORK/m3" --alias challenger   # v3
expect_rc 0 "$TANDEM" models register churn "$WORK/wide.json"              # v4

# Bad policies name the field.
printf 'name: traffic-api\nmodel: churn@champion\ncanary: {model: churn@candidate, weight: 2}\n' \
  >"$WORK/bad.yaml"
expect_rc 1 "$TANDEM" deployments apply -f "$WORK/bad.yaml"
expect_contains "$OUT" "canary.weight" "bad canary weight"
printf 'name: traffic-api\nmodel: churn@champion\nshadow: {model: churn@challenger, sampel: 1}\n' \
  >"$WORK/bad.yaml"
expect_rc 1 "$TANDEM" deployments apply -f "$WORK/bad.yaml"
expect_contains "$OUT" "shadow.sampel" "unknown shadow field"

cat >"$WORK/deploy.yaml" <<YAML
name: traffic-api
model: churn@champion
replicas: {min: 1, max: 1}
batching: {max_batch_size: 1}
shadow: {model: churn@challenger, sample: 1.0}
canary:
  model: churn@candidate
  weight: 0.25
  rollback: {max_error_rate: 0.05, window_seconds: 60, min_requests: 20}
YAML
expect_rc 0 "$TANDEM" deployments apply -f "$WORK/deploy.yaml" --wait --timeout 120
URL=$("$TANDEM" deployments get traffic-api -o json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')
# traffic EXPR: evaluates a Python expression over replica 0's traffic document `t`.
traffic() {
  "$TANDEM" deployments traffic traffic-api -o json 2>/dev/null | python3 -c "
import json, sys
try:
    t = json.load(sys.stdin)['replicas'][0]['traffic']
    print($1)
except Exception:
    print('')"
}
wait_traffic() {  # wait_traffic EXPR WANT
  for _ in $(seq 1 600); do [ "$(traffic "$1")" = "$2" ] && return 0; sleep 0.1; done
  fail "traffic: $1 never became $2: $("$TANDEM" deployments traffic traffic-api -o json 2>&1)"
  return 1
}
wait_traffic "t['shadow']['served'].get('version')" 3 && pass
wait_traffic "t['canary']['served'].get('version')" 2 && pass

ROW='[0.5,-1,0.25,0,1,2,0,0,0,0,0,0,0,0,0,0,0,0,0.5,-0.5]'
# send N: N /infer requests; prints one "version score" line per answer (or "error CODE").
send() {
  for _ in $(seq 1 "$1"); do
    curl -s -w '\n%{http_code}\n' -X POST "$URL/infer" -d "{\"model\":\"churn\",\"features\":$ROW}" |
      python3 -c '
import json, sys
body, code = sys.stdin.read().rsplit("\n", 2)[:2]
if code != "200":
    print("error", code)
else:
    r = json.loads(body)
    print(r["version"], r["scores"][0])'
  done
}
send 200 >"$WORK/answers.txt"
V1=$(grep -c '^1 ' "$WORK/answers.txt"); V2=$(grep -c '^2 ' "$WORK/answers.txt")
OTHER=$(grep -vc '^[12] ' "$WORK/answers.txt")
[ "$V1" -eq 150 ] && [ "$V2" -eq 50 ] && [ "$OTHER" -eq 0 ] && pass ||
  fail "split over 200 requests: v1=$V1 v2=$V2 other=$OTHER (want 150/50/0)"
[ "$(grep '^1 ' "$WORK/answers.txt" | sort -u | wc -l)" -eq 1 ] && pass ||
  fail "primary answers differ: $(grep '^1 ' "$WORK/answers.txt" | sort -u)"
wait_traffic "t['shadow']['mirrored'] - t['shadow']['errors'] == t['shadow']['compared_rows'] >= 150" True && pass
expect_eq "$(traffic "t['canary']['variants']['candidate']['requests']")" 50 "canary candidate count"
METRICS=$(curl -s "$URL/metrics")
expect_eq "$(metric_value "$METRICS" 'tandem_canary_requests_total{model="churn",variant="candidate"}')" \
  50 "canary metric"
expect_eq "$(metric_value "$METRICS" 'tandem_canary_requests_total{model="churn",variant="primary"}')" \
  150 "primary metric"
expect_eq "$(metric_value "$METRICS" 'tandem_shadow_requests_total{model="churn"}')" 150 "shadow metric"
expect_rc 0 "$TANDEM" deployments traffic traffic-api
expect_contains "$OUT" "CANDIDATE" "traffic table"

# The candidate alias moves to a version that cannot score the primary's rows.
"$TANDEM" events tail --pattern '{"detail-type":["Deployment Canary Rolled Back"]}' --count 1 \
  >"$WORK/events.txt" 2>&1 &
TAIL_PID=$!
expect_rc 0 "$TANDEM" models alias churn candidate 4
wait_traffic "t['canary']['served'].get('version')" 4 && pass
for _ in $(seq 1 20); do
  send 20 >>"$WORK/after.txt"
  [ "$(traffic "t['canary']['rolled_back']")" = True ] && break
done
expect_eq "$(traffic "t['canary']['rolled_back']")" True "rolled back"
expect_eq "$(traffic "t['canary']['weight'] == 0")" True "weight 0 after rollback"
expect_contains "$(traffic "t['canary']['rollback_reason']")" "error rate" "rollback reason"
[ "$(grep -c '^error' "$WORK/after.txt")" -eq 0 ] && pass ||
  fail "callers saw errors during the bad canary: $(grep '^error' "$WORK/after.txt" | head -3)"
send 20 >"$WORK/final.txt"
[ "$(grep -c '^1 ' "$WORK/final.txt")" -eq 20 ] && pass ||
  fail "not 100% primary after rollback: $(sort "$WORK/final.txt" | uniq -c)"
for _ in $(seq 1 300); do grep -q "Deployment Canary Rolled Back" "$WORK/events.txt" && break; sleep 0.1; done
expect_contains "$(cat "$WORK/events.txt")" "Deployment Canary Rolled Back" "rollback event"
expect_contains "$(cat "$WORK/events.txt")" "traffic-api" "event names the deployment"

expect_rc 0 "$TANDEM" deployments delete traffic-api
finish
