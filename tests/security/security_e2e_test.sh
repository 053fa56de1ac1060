#!/usr/bin/env bash
# Attacks on a real `tandem up`, as two teams would: A (alice, member of team
# a) against team B's (bob's) job, model alias, deployment spec and artifacts;
# and requests with no, wrong, expired or revoked tokens. Each attack expects
# its refusal (401/403 in the {"error":{code,message}} shape) AND checks that
# nothing changed; refusals and writes show up in `tandem audit`.
source "$(dirname "$0")/lib.sh"
TANDEM=$1
WORK=$(mktemp -d /tmp/tandem-security.XXXXXX)
trap 'stop_control_plane; rm -rf "$WORK"' EXIT

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }
ADMIN=$TANDEM_TOKEN

# The admin credential: 0600, printed by `tandem up`.
expect_eq "$(stat -c %a "$WORK/home/admin-token")" 600 "admin-token mode"
expect_contains "$(cat "$WORK/home.log")" "$WORK/home/admin-token" "tandem up prints the token's path"

# --- setup: teams a and b, alice (member of a), bob (member of b), vera (viewer of b)
for t in a b; do expect_rc 0 "$TANDEM" teams create "$t"; done
for p in alice bob vera; do expect_rc 0 "$TANDEM" auth principals create "$p"; done
expect_rc 0 "$TANDEM" teams add-member a alice --role member
expect_rc 0 "$TANDEM" teams add-member b bob --role member
expect_rc 0 "$TANDEM" teams add-member b vera --role viewer
ALICE=$(token_of alice); BOB=$(token_of bob); VERA=$(token_of vera)
expect_contains "$(as "$ALICE" "$TANDEM" auth whoami)" "alice" "whoami"

# Bob's resources: a model with two versions and champion -> 1, a long job,
# an artifact under teams/b/.
printf 'model bytes' >"$WORK/m.bin"
expect_rc 0 as "$BOB" "$TANDEM" models register churn "$WORK/m.bin" --alias champion --team b
expect_rc 0 as "$BOB" "$TANDEM" models register churn "$WORK/m.bin" --team b
expect_eq "$(as "$BOB" "$TANDEM" models get churn -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["owner_team"])')" b "churn belongs to team b"
mkdir -p "$WORK/src"
printf '#!/bin/sh\nsleep 60\n' >"$WORK/src/run.sh"
chmod +x "$WORK/src/run.sh"
cat >"$WORK/job.yaml" <<SPEC
name: bobs-long-job
team: b
entry_point: run.sh
source_dir: $WORK/src
SPEC
JOB=$(as "$BOB" "$TANDEM" jobs run -f "$WORK/job.yaml" -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
[ -n "$JOB" ] && pass || fail "bob could not submit his job"
printf 'secret data' >"$WORK/secret.csv"
expect_rc 0 as "$BOB" "$TANDEM" artifacts put teams/b/secret.csv "$WORK/secret.csv"

STATE_BEFORE=$(job_state "$JOB")

# --- 1. no token, a wrong one, an expired one, a revoked one: 401, nothing done
EXPIRED=$(token_of alice 1s)
REVOKED=$(token_of alice)
REVOKED_ID=$("$TANDEM" auth tokens list --principal alice -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"][-1]["id"])')
expect_rc 0 "$TANDEM" auth tokens revoke "$REVOKED_ID"
sleep 1.1  # the expired token's one second (wall clock of the control plane)
for t in "" "tdm_t0000000000000000_$(printf '0%.0s' {1..64})" "not-a-token" "$EXPIRED" "$REVOKED"; do
  code=$(status_as "$t" POST "/api/v1/jobs/$JOB/stop")
  expect_eq "$code" 401 "stop with token '${t:0:12}'"
  expect_contains "$(cat "$WORK/body")" '"code":"UNAUTHENTICATED"' "401 error shape"
  code=$(status_as "$t" PUT /api/v1/models/churn/aliases/champion '{"version":2}')
  expect_eq "$code" 401 "alias move with token '${t:0:12}'"
done
expect_contains "$(as "" "$TANDEM" models list 2>&1)" "TANDEM_TOKEN" "CLI without a token says how to get one"
expect_eq "$(job_state "$JOB")" "$STATE_BEFORE" "job untouched by unauthenticated stops"
expect_eq "$(champion)" 1 "champion untouched by unauthenticated moves"

# --- 2. team A against team B: 403, nothing changed
code=$(status_as "$ALICE" POST "/api/v1/jobs/$JOB/stop"); expect_eq "$code" 403 "alice stops bob's job"
expect_contains "$(cat "$WORK/body")" '"code":"PERMISSION_DENIED"' "403 error shape"
expect_rc 1 as "$ALICE" "$TANDEM" jobs stop "$JOB"
expect_eq "$(job_state "$JOB")" "$STATE_BEFORE" "bob's job still $STATE_BEFORE"

code=$(status_as "$ALICE" PUT /api/v1/models/churn/aliases/champion '{"version":2}'); expect_eq "$code" 403 "alice moves bob's alias"
code=$(status_as "$ALICE" DELETE /api/v1/models/churn/aliases/champion); expect_eq "$code" 403 "alice deletes bob's alias"
code=$(status_as "$ALICE" DELETE /api/v1/models/churn); expect_eq "$code" 403 "alice deletes bob's model"
code=$(status_as "$ALICE" PATCH /api/v1/models/churn '{"owner_team":"a"}'); expect_eq "$code" 403 "alice takes bob's model"
code=$(status_as "$ALICE" POST /api/v1/models/churn/versions '{"source":"sha256:'"$(printf '0%.0s' {1..64})"'"}'); expect_eq "$code" 403 "alice adds a version to bob's model"
expect_eq "$(champion)" 1 "champion still -> 1"
expect_eq "$("$TANDEM" models get churn -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["owner_team"])')" b "churn still team b's"
# ...but she may read it (model versions are readable across teams).
expect_rc 0 as "$ALICE" "$TANDEM" models get churn@champion

# A job of team a that registers into bob's model, a job spec claiming team b.
code=$(status_as "$ALICE" POST /api/v1/jobs '{"name":"sneaky","team":"a","entry_point":"/bin/true","register":{"model":"churn","alias":"champion"}}')
expect_eq "$code" 403 "alice's job registering into bob's model"
code=$(status_as "$ALICE" POST /api/v1/jobs '{"name":"sneaky","team":"b","entry_point":"/bin/true"}')
expect_eq "$code" 403 "alice submitting as team b"
expect_eq "$(count_jobs sneaky)" 0 "no sneaky job exists"

# Bob's deployment spec: alice may neither create one for team b nor delete it.
code=$(status_as "$ALICE" POST /api/v1/deployments '{"name":"churn-svc","team":"b","model":"churn@champion"}')
expect_eq "$code" 403 "alice deploys as team b"
code=$(status_as "$ADMIN" GET /api/v1/deployments/churn-svc); expect_eq "$code" 404 "no deployment was made"

# Bob's artifacts: alice may neither read, list, overwrite nor delete them.
code=$(status_as "$ALICE" GET /api/v1/artifacts/teams/b/secret.csv); expect_eq "$code" 403 "alice reads bob's artifact"
[[ "$(cat "$WORK/body")" != *"secret data"* ]] && pass || fail "the refusal leaked the artifact"
code=$(status_as "$ALICE" GET "/api/v1/artifacts?prefix=teams/b/"); expect_eq "$code" 403 "alice lists bob's artifacts"
code=$(status_as "$ALICE" GET "/api/v1/artifacts?prefix=teams/"); expect_eq "$code" 403 "alice lists every team's artifacts"
code=$(status_as "$ALICE" PUT /api/v1/artifacts/teams/b/secret.csv 'overwritten'); expect_eq "$code" 403 "alice overwrites bob's artifact"
code=$(status_as "$ALICE" DELETE /api/v1/artifacts/teams/b/secret.csv); expect_eq "$code" 403 "alice deletes bob's artifact"
code=$(status_as "$BOB" GET /api/v1/artifacts/teams/b/secret.csv); expect_eq "$code" 200 "bob reads his artifact"
expect_eq "$(cat "$WORK/body")" "secret data" "bob's artifact unchanged"

# ...nor reach them through a job or transform spec of her own team: an
# input naming bob's key, a publish_prefix or output prefix inside team b.
code=$(status_as "$ALICE" POST /api/v1/jobs '{"name":"sneaky2","team":"a","entry_point":"/bin/cat","inputs":{"x":"teams/b/secret.csv"}}')
expect_eq "$code" 403 "alice's job reading bob's artifact"
expect_contains "$(cat "$WORK/body")" "inputs.x 'teams/b/secret.csv'" "the refusal names the input"
code=$(status_as "$ALICE" POST /api/v1/jobs '{"name":"sneaky2","team":"a","entry_point":"/bin/true","publish_prefix":"teams/b/planted"}')
expect_eq "$code" 403 "alice's job publishing into team b"
code=$(status_as "$ALICE" POST /api/v1/transform-jobs '{"name":"sneaky2","team":"a","model":"churn@champion","input":{"uri":"teams/b/secret.csv"},"output":{"prefix":"teams/a/out"}}')
expect_eq "$code" 403 "alice's transform reading bob's artifact"
code=$(status_as "$ALICE" POST /api/v1/tuning-jobs '{"name":"sneaky2","objective":{"metric":"m","type":"Minimize"},"strategy":"Random","max_jobs":1,"max_parallel_jobs":1,"parameter_ranges":[{"name":"lr","type":"Continuous","min":0.1,"max":0.2}],"training_job":{"team":"a","entry_point":"/bin/true","inputs":{"x":"teams/b/secret.csv"},"metric_definitions":[{"name":"m","regex":"m=([0-9.]+)"}]}}')
expect_eq "$code" 403 "alice's tuning job reading bob's artifact"
expect_eq "$(count_jobs sneaky2)" 0 "no sneaky2 job exists"
code=$(status_as "$BOB" POST /api/v1/jobs '{"name":"bobs-reader","team":"b","entry_point":"/bin/true","inputs":{"x":"teams/b/secret.csv"}}')
expect_eq "$code" 201 "bob's own job may read his artifact"
[ -z "$("$TANDEM" artifacts ls teams/b/planted/ -o json | python3 -c 'import json,sys; print("".join(a["key"] for a in json.load(sys.stdin)["artifacts"]))')" ] && pass || fail "something was published into team b"

# A viewer of team b reads but does not write.
code=$(status_as "$VERA" GET "/api/v1/jobs/$JOB"); expect_eq "$code" 200 "vera reads bob's job"
code=$(status_as "$VERA" POST "/api/v1/jobs/$JOB/stop"); expect_eq "$code" 403 "vera stops bob's job"
expect_eq "$(job_state "$JOB")" "$STATE_BEFORE" "bob's job still $STATE_BEFORE"

# Non-admins do not administer: teams, principals, other people's tokens, bus rules.
code=$(status_as "$ALICE" POST /api/v1/teams '{"name":"c"}'); expect_eq "$code" 403 "alice creates a team"
code=$(status_as "$ALICE" PUT /api/v1/teams/b/members/alice '{"role":"owner"}'); expect_eq "$code" 403 "alice joins team b"
code=$(status_as "$ALICE" POST /api/v1/principals '{"name":"mallory","admin":true}'); expect_eq "$code" 403 "alice creates an admin"
code=$(status_as "$ALICE" POST /api/v1/auth/tokens '{"principal":"bob"}'); expect_eq "$code" 403 "alice mints a token for bob"
code=$(status_as "$ALICE" PUT /api/v1/rules/steal '{"pattern":{"source":["tandem.registry"]},"target":"q"}'); expect_eq "$code" 403 "alice adds a bus rule"
code=$(status_as "$ALICE" GET /api/v1/audit); expect_eq "$code" 403 "alice reads the audit log"
expect_eq "$("$TANDEM" teams list -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["teams"][1]["members"].get("alice","-"))')" - "alice is not in team b"

# Lists show only the teams the caller may read (admins: everything).
teams_in() { python3 -c 'import json,sys; print(",".join(sorted(set(x["team"] for x in json.load(sys.stdin)[sys.argv[1]]))))' "$1"; }
expect_eq "$(as "$ALICE" "$TANDEM" jobs list -o json | teams_in jobs)" "" "alice lists no team b job"
expect_eq "$(as "$VERA" "$TANDEM" jobs list -o json | teams_in jobs)" "b" "a viewer of b lists b's jobs"
expect_eq "$("$TANDEM" jobs list -o json | teams_in jobs)" "b" "the admin lists every job"
expect_eq "$(as "$ALICE" "$TANDEM" jobs spend -o json | teams_in teams)" "" "alice sees no team b spend"
expect_eq "$(as "$BOB" "$TANDEM" jobs spend -o json | teams_in teams)" "b" "bob sees team b's spend"
code=$(status_as "$ALICE" GET /api/v1/transform-jobs); expect_eq "$code" 200 "alice lists transform jobs"
code=$(status_as "$ALICE" GET /api/v1/deployments); expect_eq "$code" 200 "alice lists deployments"

# The owner of the job may stop it.
expect_rc 0 as "$BOB" "$TANDEM" jobs stop "$JOB"

# --- 3. audit: refusals and writes, by whom
AUDIT=$("$TANDEM" audit --principal alice -o json)
expect_contains "$AUDIT" "/api/v1/jobs/$JOB/stop" "alice's refused stop is audited"
expect_contains "$AUDIT" '"decision": "denied"' "as denied"
expect_contains "$AUDIT" '"status": 403' "with its status"
ALL=$("$TANDEM" audit --since 1h -o json)
expect_contains "$ALL" '"principal": "bob"' "bob's writes are audited"
expect_contains "$ALL" '"decision": "allowed"' "allowed writes too"
expect_contains "$ALL" '"status": 401' "unauthenticated attempts too"

finish
