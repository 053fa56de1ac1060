#!/usr/bin/env bash
# Spend budgets (docs/security.md "Spend budgets") on a real `tandem up`: once
# a team's metered spend reaches its budget, "Budget Threshold Crossed" is
# published once per period (also across a restart), and with
# budget_enforce new work is 429 naming the budget and creates nothing;
# a budget without enforce only reports, a team without one is unaffected.
source "$(dirname "$0")/lib.sh"
TANDEM=$1
WORK=$(mktemp -d /tmp/tandem-budgets.XXXXXX)
trap 'stop_control_plane; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/home" "$WORK/src"
# 1000 per CPU-second, so a job of a fraction of a second crosses 5.
cat >"$WORK/home/tandem.yaml" <<'YAML'
compute: {cpus: 4}
pricing:
  default: {cpu_hour: 3600000}
quotas:
  budget_check_seconds: 1
  teams:
    fraud: {spend_budget: 5, budget_enforce: true}
    eta: {spend_budget: 5}
YAML
start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }

printf '#!/bin/sh\nsleep 0.3\n' >"$WORK/src/run.sh"
chmod +x "$WORK/src/run.sh"
run_job() {  # TEAM -> the job's final state
  printf 'name: spend-%s\nteam: %s\nentry_point: run.sh\nsource_dir: src\n' "$1" "$1" >"$WORK/$1.yaml"
  local id
  id=$(cd "$WORK" && "$TANDEM" jobs run -f "$WORK/$1.yaml")
  wait_job_end "$TANDEM" "$id"
}
budget_events() {  # TEAM -> how many crossing events name it
  curl -s "$TANDEM_SERVER/api/v1/events?after=0&limit=1000" | python3 -c '
import json, sys
team = sys.argv[1]
print(sum(1 for e in json.load(sys.stdin)["events"]
          if e["source"] == "tandem.quotas" and e["detail-type"] == "Budget Threshold Crossed"
          and e["detail"]["team"] == team))' "$1"
}

# Below the budget: work is admitted, no event.
expect_eq "$(budget_events fraud)" 0 "no event before any spend"
expect_eq "$(run_job fraud)" Completed "fraud's first job ran"
expect_eq "$(run_job eta)" Completed "eta's first job ran"
SPENT=$(curl -s "$TANDEM_SERVER/api/v1/metering/teams" | python3 -c 'import json,sys; print([t["cost"] for t in json.load(sys.stdin)["teams"] if t["team"]=="fraud"][0] >= 5)')
expect_eq "$SPENT" True "fraud's metered spend reached 5"

# Enforced: 429 naming the budget, nothing created; one event however often refused.
for kind in jobs transform-jobs notebooks; do
  case $kind in
    jobs) body='{"name":"over-budget","team":"fraud","entry_point":"/bin/true"}' ;;
    transform-jobs) body='{"name":"over-budget","team":"fraud","model":"m@a","input":{"uri":"teams/fraud/in.jsonl"},"output":{"prefix":"teams/fraud/out"}}' ;;
    notebooks) body='{"name":"over-budget","team":"fraud"}' ;;
  esac
  code=$(status_of POST "/api/v1/$kind" "$body")
  expect_eq "$code" 429 "fraud over its budget: $kind"
  expect_contains "$(cat "$WORK/body")" "team 'fraud' spend budget:" "$kind: the refusal names the budget"
  expect_contains "$(cat "$WORK/body")" '"code":"RESOURCE_EXHAUSTED"' "$kind: 429 error shape"
done
expect_eq "$(count_jobs over-budget)" 0 "no job over the budget was created"
expect_eq "$(budget_events fraud)" 1 "one crossing event for fraud"
detail=$(curl -s "$TANDEM_SERVER/api/v1/events?after=0&limit=1000" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]:
    if e["detail-type"] == "Budget Threshold Crossed" and e["detail"]["team"] == "fraud":
        d = e["detail"]; print(d["budget"], d["period"], d["enforce"], d["spend"] >= 5)')
expect_eq "$detail" "5.0 month True True" "the event's detail"

# Reported only: eta's work goes on; the sweep publishes its event without a submission.
for _ in $(seq 1 50); do [ "$(budget_events eta)" = 1 ] && break; sleep 0.1; done
expect_eq "$(budget_events eta)" 1 "the sweep published eta's crossing"
code=$(status_of POST /api/v1/jobs '{"name":"eta-more","team":"eta","entry_point":"/bin/true"}')
expect_eq "$code" 201 "eta (budget not enforced) may still submit"
code=$(status_of POST /api/v1/jobs '{"name":"other","team":"pricing","entry_point":"/bin/true"}')
expect_eq "$code" 201 "a team without a budget is unaffected"

# Once per period, across a restart too.
stop_control_plane
start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not restart"; exit 1; }
code=$(status_of POST /api/v1/jobs '{"name":"over-budget","team":"fraud","entry_point":"/bin/true"}')
expect_eq "$code" 429 "still refused after a restart"
sleep 1.5  # a sweep or two
expect_eq "$(budget_events fraud)" 1 "still one event for fraud"
expect_eq "$(budget_events eta)" 1 "still one event for eta"
finish
