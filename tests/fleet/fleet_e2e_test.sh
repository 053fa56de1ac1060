#!/usr/bin/env bash
# The fleet as real processes: apply a 2-replica deployment, serve through
# the shared port, SIGKILL a replica (restarted; requests keep succeeding),
# scale 3 -> 1, SIGKILL `tandem up` (replicas keep serving), restart it (the
# same pids are re-adopted), delete (replicas gone).
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
MAKE_MODEL=$2
require_built "$TANDEM" "$MAKE_MODEL"
WORK=$(mktemp -d /tmp/tandem-fleet-e2e.XXXXXX)
cleanup() {
  stop_control_plane
  kill_replicas "$WORK/home"
  rm -rf "$WORK"
}
trap cleanup EXIT

start_with_churn_model "$TANDEM" "$MAKE_MODEL" "$WORK"

# Bad specs name the field.
printf 'name: churn-api\nmodel: churn@champion\nreplicas: {min: two}\n' >"$WORK/bad.yaml"
expect_rc 1 "$TANDEM" deployments apply -f "$WORK/bad.yaml"
expect_contains "$OUT" "replicas.min" "bad spec error"
expect_rc 1 "$TANDEM" deployments get nope
expect_contains "$OUT" "not found" "get unknown deployment"

# A model or alias the registry does not know is refused at apply time (404
# naming it), not accepted to wait forever.
printf 'name: ghost-api\nmodel: nosuch@champion\n' >"$WORK/ghost.yaml"
expect_rc 1 "$TANDEM" deployments apply -f "$WORK/ghost.yaml"
expect_contains "$OUT" "nosuch@champion" "unknown model named"
CODE=$(curl -s -o "$WORK/ghost.out" -w '%{http_code}' -X POST "$TANDEM_SERVER/api/v1/deployments" \
  -H 'content-type: application/json' -d '{"name":"ghost-api","model":"churn@nosuchalias"}')
[ "$CODE" = 404 ] && pass || fail "unknown alias: HTTP $CODE, want 404: $(cat "$WORK/ghost.out")"
expect_contains "$(cat "$WORK/ghost.out")" "churn@nosuchalias" "unknown alias named"
expect_rc 1 "$TANDEM" deployments get ghost-api

# A replica that cannot become ready says why, per replica, and an event
# says so: here the model's self-test does not match its predictions.
"$MAKE_MODEL" "$WORK/bad" 1 10 || { echo "cannot write the model"; exit 1; }
python3 -c 'print("{\"input\": [%s], \"output\": [7.5]}" % ",".join(["0"] * 20))' \
  >"$WORK/bad/self_test.jsonl"
expect_rc 0 "$TANDEM" models register broken "$WORK/bad" --alias champion
printf 'name: broken-api\nmodel: broken@champion\nbatching: {max_batch_size: 1}\n' >"$WORK/broken.yaml"
expect_rc 1 "$TANDEM" deployments apply -f "$WORK/broken.yaml" --wait --timeout 10
expect_contains "$OUT" "self-test" "--wait timeout says why"
REASON=""
for _ in $(seq 1 300); do
  REASON=$("$TANDEM" deployments get broken-api -o json |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["replicas"]; print(r[0]["reason"] if r else "")')
  [[ "$REASON" == *"row 0"* ]] && break
  sleep 0.1
done
expect_contains "$REASON" "self-test" "replica reason names the self-test"
expect_contains "$REASON" "row 0" "replica reason names the mismatched row"
expect_rc 0 "$TANDEM" deployments get broken-api
expect_contains "$OUT" "REASON" "table shows the reason column"
expect_rc 0 "$TANDEM" events tail --from-start --count 1 -o json \
  --pattern '{"detail-type":["Deployment State Change"],"detail":{"deployment":["broken-api"],"state":["ReplicaNotReady"]}}'
expect_contains "$OUT" "row 0" "ReplicaNotReady event carries the reason"
expect_rc 0 "$TANDEM" deployments delete broken-api

cat >"$WORK/deploy.yaml" <<YAML
name: churn-api
team: risk
model: churn@champion
replicas: {min: 2, max: 4}
disruption_budget: {min_available: 1}
batching: {max_batch_size: 1}
YAML
expect_rc 0 "$TANDEM" deployments apply -f "$WORK/deploy.yaml" --wait --timeout 60
expect_rc 0 "$TANDEM" deployments get churn-api -o json
DOC=$OUT
URL=$(echo "$DOC" | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')
pids() {  # ready replica pids, sorted
  "$TANDEM" deployments get churn-api -o json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(sorted(str(r["pid"]) for r in d["replicas"] if r["ready"])))'
}
count_ready() { pids | wc -w; }
# alive PID: running and not a zombie (an orphan's reaper may be slow or absent).
alive() { [ -r "/proc/$1/stat" ] && ! awk '{ exit ($3 == "Z" ? 0 : 1) }' "/proc/$1/stat"; }
wait_ready() {  # wait_ready N
  for _ in $(seq 1 600); do [ "$(count_ready)" -eq "$1" ] && return 0; sleep 0.1; done
  return 1
}
ROW='[0.5,-1,0.25,0,1,2,0,0,0,0,0,0,0,0,0,0,0,0,0.5,-0.5]'
BODY="{\"inputs\":[{\"name\":\"input\",\"shape\":[1,20],\"datatype\":\"FP32\",\"data\":$ROW}]}"
burst() {  # burst N: N requests to the shared port; prints the non-200 count
  local bad=0
  for _ in $(seq 1 "$1"); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v2/models/churn/infer" \
      -H 'content-type: application/json' -d "$BODY")
    [ "$code" = 200 ] || bad=$((bad + 1))
  done
  echo "$bad"
}
[ "$(count_ready)" -eq 2 ] && pass || fail "want 2 ready replicas: $DOC"
[ "$(burst 20)" -eq 0 ] && pass || fail "requests to $URL failed"
echo "$DOC" | grep -q '"version": 1' && pass || fail "replicas should report version 1: $DOC"

# SIGKILL one replica: it is restarted, the shared port keeps answering.
BEFORE=$(pids)
VICTIM=${BEFORE%% *}
kill -KILL "$VICTIM"
# Connections already queued on the victim's listening socket die with it (a
# SIGKILL is a crash); once its socket is gone, the shared port must answer.
for _ in $(seq 1 100); do alive "$VICTIM" || break; sleep 0.05; done
[ "$(burst 20)" -eq 0 ] && pass || fail "requests failed while a replica was down"
# Ready again means two ready replicas of which the victim is not one: until
# the fleet notices the death, the victim's last ready flag still counts.
restarted() {
  for _ in $(seq 1 600); do
    local now; now=$(pids)
    [ "$(wc -w <<<"$now")" -eq 2 ] && [[ " $now " != *" $VICTIM "* ]] && return 0
    sleep 0.1
  done
  return 1
}
restarted && pass || fail "killed replica not restarted: $(pids)"
AFTER=$(pids)
[[ " $AFTER " != *" $VICTIM "* ]] && pass || fail "pid $VICTIM still listed: $AFTER"
expect_rc 0 "$TANDEM" deployments get churn-api -o json
expect_contains "$OUT" '"restarts": 1' "restart counted"

# Scale 3 then 1.
expect_rc 0 "$TANDEM" deployments scale churn-api 3
wait_ready 3 && pass || fail "scale to 3: $(pids)"
expect_rc 0 "$TANDEM" deployments scale churn-api 1
wait_ready 1 && pass || fail "scale to 1: $(pids)"
expect_rc 1 "$TANDEM" deployments scale churn-api 99
expect_contains "$OUT" "replicas" "scale out of range"
expect_rc 0 "$TANDEM" deployments scale churn-api 2
wait_ready 2 && pass || fail "scale to 2: $(pids)"
[ "$(burst 10)" -eq 0 ] && pass || fail "requests failed after scaling"

# Rolling restart on a spec change (batching): one surge replica at a time,
# never fewer than min_available (1) ready, requests keep succeeding.
OLD=$(pids)
sed 's/max_batch_size: 1/max_batch_size: 4/' "$WORK/deploy.yaml" >"$WORK/deploy2.yaml"
expect_rc 0 "$TANDEM" deployments apply -f "$WORK/deploy2.yaml"
MIN_READY=9
BAD=0
for _ in $(seq 1 300); do
  n=$(count_ready); [ "$n" -lt "$MIN_READY" ] && MIN_READY=$n
  BAD=$((BAD + $(burst 1)))
  gen=$("$TANDEM" deployments get churn-api -o json | python3 -c 'import json,sys; d=json.load(sys.stdin)
print(sum(1 for r in d["replicas"] if r["ready"] and r["generation"] == d["generation"] and r["state"] == "ready"), len(d["replicas"]))')
  [ "$gen" = "2 2" ] && break
done
[ "$gen" = "2 2" ] && pass || fail "rolling restart did not finish: $gen"
[ "$MIN_READY" -ge 1 ] && pass || fail "ready replicas dropped to $MIN_READY during the roll"
[ "$BAD" -eq 0 ] && pass || fail "$BAD requests failed during the roll"
NEW=$(pids)
for p in $OLD; do [[ " $NEW " != *" $p "* ]] && pass || fail "old replica $p still serving after the roll"; done
expect_rc 0 "$TANDEM" events tail --from-start --count 3 -o json \
  --pattern '{"detail-type":["Deployment State Change"],"detail":{"deployment":["churn-api"]}}'
expect_contains "$OUT" '"Created"' "Deployment State Change event"

# The data plane outlives the control plane; a new one re-adopts.
SURVIVORS=$(pids)
kill -KILL "$CP_PID"; wait "$CP_PID" 2>/dev/null; CP_PID=""
[ "$(burst 20)" -eq 0 ] && pass || fail "replicas stopped serving without the control plane"
for p in $SURVIVORS; do alive "$p" && pass || fail "replica $p died with tandem up"; done
start_control_plane "$TANDEM" "$WORK/home" || { fail "control plane did not restart"; exit 1; }
wait_ready 2 && pass || fail "not ready after restart: $(pids)"
[ "$(pids)" = "$SURVIVORS" ] && pass || fail "replicas not re-adopted: $SURVIVORS -> $(pids)"
expect_rc 0 "$TANDEM" deployments get churn-api -o json
expect_contains "$OUT" '"adopted": true' "adopted flag"
# This test's replicas only (other tests and worktrees may run a churn-api too).
N=$(pgrep -f -- "--name churn-api .*--home $WORK/home( |\$)" | wc -l)
[ "$N" -eq 2 ] && pass || fail "want 2 replica processes, found $N"
expect_rc 0 "$TANDEM" deployments list
expect_contains "$OUT" "churn-api" "list"

# Delete: replicas gone.
expect_rc 0 "$TANDEM" deployments delete churn-api
for p in $SURVIVORS; do alive "$p" && fail "replica $p survived delete" || pass; done
expect_rc 1 "$TANDEM" deployments get churn-api
finish
