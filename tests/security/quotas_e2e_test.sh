#!/usr/bin/env bash
# Per-team quotas (docs/security.md "Quotas") on a real `tandem up`: a job,
# tuning job or deployment over its team's quota is 429 RESOURCE_EXHAUSTED
# naming the quota and creates nothing; another team's quota is its own; once
# work ends the same request is admitted.
source "$(dirname "$0")/lib.sh"
TANDEM=$1
MAKE_MODEL=$2
require_built "$TANDEM" "$MAKE_MODEL"
WORK=$(mktemp -d /tmp/tandem-quotas.XXXXXX)
cleanup() {
  stop_control_plane
  kill_replicas "$WORK/home"
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/home"
cat >"$WORK/home/tandem.yaml" <<'YAML'
compute: {cpus: 16}
quotas:
  default: {job_cpus: 2, replicas: 2, notebooks: 1}
  teams:
    big: {job_cpus: 8}
YAML
start_with_churn_model "$TANDEM" "$MAKE_MODEL" "$WORK"


# /bin/sleep gets no arguments from an empty hyperparameter set: use a script instead.
mkdir -p "$WORK/src"
printf '#!/bin/sh\nsleep 60\n' >"$WORK/src/run.sh"
chmod +x "$WORK/src/run.sh"
for t in default big; do
  printf 'name: hold-%s\nteam: %s\nentry_point: run.sh\nsource_dir: src\nresources: {cpus: 1.5}\n' "$t" "$t" >"$WORK/hold-$t.yaml"
done
HOLD=$("$TANDEM" jobs run -f "$WORK/hold-default.yaml")
[ -n "$HOLD" ] && pass || fail "first job refused"
code=$(status_of POST /api/v1/jobs '{"name":"over","entry_point":"/bin/true","resources":{"cpus":1}}')
expect_eq "$code" 429 "a job over the team's CPU quota"
expect_contains "$(cat "$WORK/body")" "team 'default' quota: at most 2 concurrent job CPUs (1.5 in use, this request asks 1)" "names the quota"
expect_contains "$(cat "$WORK/body")" '"code":"RESOURCE_EXHAUSTED"' "429 error shape"
code=$(status_of POST /api/v1/tuning-jobs '{"name":"over-tune","objective":{"metric":"m","type":"Minimize"},"strategy":"Random","max_jobs":2,"max_parallel_jobs":2,"parameter_ranges":[{"name":"lr","type":"Continuous","min":0.1,"max":0.2}],"training_job":{"entry_point":"/bin/true","resources":{"cpus":0.5},"metric_definitions":[{"name":"m","regex":"m=([0-9.]+)"}]}}')
expect_eq "$code" 429 "a tuning job whose parallel trials exceed the quota"
expect_contains "$(cat "$WORK/body")" "2 parallel trials" "names the trials"
expect_eq "$(count_jobs over)" 0 "no job over the quota was created"
expect_eq "$("$TANDEM" tune list -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tuning_jobs"]))')" 0 "no tuning job"
code=$(status_of POST /api/v1/jobs '{"name":"fits","entry_point":"/bin/true","resources":{"cpus":0.5}}')
expect_eq "$code" 201 "a job within the quota"
# Another team has its own quota.
BIG=$("$TANDEM" jobs run -f "$WORK/hold-big.yaml")
[ -n "$BIG" ] && pass || fail "team big's job refused"
# When work ends, room returns.
expect_rc 0 "$TANDEM" jobs stop "$HOLD"
expect_eq "$(wait_job_end "$TANDEM" "$HOLD")" Stopped "the holding job stopped"
code=$(status_of POST /api/v1/jobs '{"name":"over","entry_point":"/bin/true","resources":{"cpus":1}}')
expect_eq "$code" 201 "the same job fits once the first ended"
expect_rc 0 "$TANDEM" jobs stop "$BIG"

# Replicas: the team's deployments' max replicas together.
code=$(status_of POST /api/v1/deployments '{"name":"too-big","model":"churn@champion","replicas":{"min":1,"max":3}}')
expect_eq "$code" 429 "a deployment over the replica quota"
expect_contains "$(cat "$WORK/body")" "at most 2 serving replicas (0 in use, this request asks 3 (replicas.max))" "names the replica quota"
code=$(status_of GET /api/v1/deployments/too-big); expect_eq "$code" 404 "no deployment was made"
code=$(status_of POST /api/v1/deployments '{"name":"fits","model":"churn@champion","replicas":{"min":1,"max":2}}')
expect_eq "$code" 201 "a deployment within the quota"
code=$(status_of POST /api/v1/deployments '{"name":"second","model":"churn@champion","replicas":{"min":1,"max":1}}')
expect_eq "$code" 429 "a second deployment over the quota"
code=$(status_of POST /api/v1/deployments '{"name":"fits","model":"churn@champion","replicas":{"min":1,"max":1}}')
expect_eq "$code" 200 "re-applying the same deployment smaller counts it once"
expect_rc 0 "$TANDEM" deployments delete fits

finish
