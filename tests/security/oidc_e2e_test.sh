#!/usr/bin/env bash
# OIDC on a real `tandem up` (docs/security.md "OIDC"): jwt_tool plays the
# identity provider (keys generated now, RSA 2048 and P-256, its JWKS served
# over http on loopback). A good JWT works wherever an API token does (REST,
# the CLI's credentials file, the registry's /v2/); every forged or invalid
# one -- wrong key, alg none, HS256 keyed with the RSA public key, expired,
# not yet valid, wrong iss or aud, unknown kid, malformed base64 or JSON, a
# huge token -- is 401 and changes nothing; a valid token acting beyond the
# teams its claim maps to is 403 and changes nothing.
source "$(dirname "$0")/lib.sh"
TANDEM=$1
JWT_TOOL=$2
require_built "$TANDEM" "$JWT_TOOL"
WORK=$(mktemp -d /tmp/tandem-oidc.XXXXXX)
IDP_PID=""
cleanup() {
  stop_control_plane
  [ -n "$IDP_PID" ] && kill "$IDP_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- the identity provider: two signing keys, its JWKS on http://127.0.0.1:PORT/jwks.json
mkdir -p "$WORK/keys" "$WORK/evil" "$WORK/idp" "$WORK/home"
"$JWT_TOOL" keygen rsa k-rsa "$WORK/keys" >/dev/null
"$JWT_TOOL" keygen ec k-ec "$WORK/keys" >/dev/null
"$JWT_TOOL" keygen rsa k-rsa "$WORK/evil" >/dev/null      # the attacker's key, same kid
"$JWT_TOOL" keygen ec k-unknown "$WORK/evil" >/dev/null   # a kid the provider never published
"$JWT_TOOL" jwks "$WORK/keys" k-rsa k-ec >"$WORK/idp/jwks.json"
PORT=$(shuf -i 20000-60000 -n1)
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/idp" >"$WORK/idp.log" 2>&1 &
IDP_PID=$!
for _ in $(seq 1 100); do
  command curl -sf "http://127.0.0.1:$PORT/jwks.json" >/dev/null && break
  sleep 0.05
done
cat >"$WORK/home/tandem.yaml" <<YAML
auth:
  oidc:
    issuer: https://idp.test
    audience: tandem
    jwks_uri: http://127.0.0.1:$PORT/jwks.json
    clock_skew_seconds: 5
    groups:
      eta-devs: {team: eta, role: member}
YAML
start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }
ADMIN=$TANDEM_TOKEN

NOW=$(date +%s)
# claims SUB GROUPS_JSON [EXTRA_JSON_FIELDS]
claims() { printf '{"iss":"https://idp.test","aud":"tandem","sub":"%s","iat":%d,"exp":%d,"groups":%s%s}' "$1" "$NOW" $((NOW + 600)) "$2" "${3:-}"; }
sign() { "$JWT_TOOL" sign "$@"; }
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# --- setup (admin): teams a, b, eta; bob (API token) owns team b's job, alias and artifact
for t in a b eta; do expect_rc 0 "$TANDEM" teams create "$t"; done
expect_rc 0 "$TANDEM" auth principals create bob
expect_rc 0 "$TANDEM" teams add-member b bob --role member
BOB=$(token_of bob)
printf 'model bytes' >"$WORK/m.bin"
expect_rc 0 env TANDEM_TOKEN="$BOB" "$TANDEM" models register churn "$WORK/m.bin" --alias champion --team b
expect_rc 0 env TANDEM_TOKEN="$BOB" "$TANDEM" models register churn "$WORK/m.bin" --team b
mkdir -p "$WORK/src"
printf '#!/bin/sh\nsleep 60\n' >"$WORK/src/run.sh"
chmod +x "$WORK/src/run.sh"
printf 'name: bobs-job\nteam: b\nentry_point: run.sh\nsource_dir: %s\n' "$WORK/src" >"$WORK/job.yaml"
JOB=$(TANDEM_TOKEN=$BOB "$TANDEM" jobs run -f "$WORK/job.yaml" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
[ -n "$JOB" ] && pass || fail "bob could not submit his job"
printf 'secret data' >"$WORK/secret.csv"
expect_rc 0 env TANDEM_TOKEN="$BOB" "$TANDEM" artifacts put teams/b/secret.csv "$WORK/secret.csv"
STATE_BEFORE=$(job_state "$JOB")

# --- a good JWT (RS256 and ES256): mapped teams, works for the REST API, the CLI and /v2/
ALICE=$(sign "$WORK/keys" k-rsa "$(claims alice '["team:a:member","eta-devs","team:nosuchteam:owner"]')")
ALICE_EC=$(sign "$WORK/keys" k-ec "$(claims alice '["team:a:member"]')")
WHO=$(TANDEM_TOKEN=$ALICE "$TANDEM" auth whoami -o json)
expect_contains "$WHO" '"name": "oidc:alice"' "whoami names the OIDC principal"
expect_eq "$(echo "$WHO" | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)["teams"].items()))')" "[('a', 'member'), ('eta', 'member')]" "whoami shows the mapped teams (an unknown team grants nothing)"
code=$(status_as "$ALICE_EC" GET /api/v1/auth/whoami); expect_eq "$code" 200 "an ES256 token"
export XDG_CONFIG_HOME="$WORK/config"
printf '%s\n' "$ALICE" >"$WORK/alice.jwt"
expect_rc 0 env -u TANDEM_TOKEN "$TANDEM" auth login --token-file "$WORK/alice.jwt"
expect_contains "$(env -u TANDEM_TOKEN "$TANDEM" auth whoami)" "oidc:alice" "the CLI uses the stored JWT"
code=$(status_as "$ALICE" POST /api/v1/jobs '{"name":"alices-job","team":"a","entry_point":"/bin/true"}')
expect_eq "$code" 201 "alice's JWT submits a job in her team"
code=$(status_as "$ALICE" GET /v2/); expect_eq "$code" 200 "a JWT on the registry's /v2/"
code=$(command curl -s -o /dev/null -w '%{http_code}' -u "x:$ALICE" "$TANDEM_SERVER/v2/_catalog")
expect_eq "$code" 200 "a JWT as the registry password"
NJOBS=$(count_jobs)

# --- forged and invalid JWTs: 401, nothing done
EXP=$((NOW - 120)); FUT=$((NOW + 3600))
declare -A BAD
BAD[wrong-key]=$(sign "$WORK/evil" k-rsa "$(claims mallory '["team:b:owner"]')")
BAD[alg-none]=$(sign "$WORK/keys" k-rsa "$(claims mallory '["team:b:owner"]')" none)
BAD[alg-confusion-hs256]=$(sign "$WORK/keys" k-rsa "$(claims mallory '["team:b:owner"]')" HS256)
BAD[alg-mismatch-es256-on-rsa]=$(sign "$WORK/keys" k-rsa "$(claims mallory '["team:b:owner"]')" ES256)
BAD[expired]=$(sign "$WORK/keys" k-rsa "$(printf '{"iss":"https://idp.test","aud":"tandem","sub":"alice","exp":%d,"groups":["team:b:owner"]}' "$EXP")")
BAD[not-yet-valid]=$(sign "$WORK/keys" k-rsa "$(claims alice '["team:b:owner"]' ",\"nbf\":$FUT")")
BAD[wrong-iss]=$(sign "$WORK/keys" k-rsa "$(claims alice '["team:b:owner"]' | sed 's|https://idp.test|https://evil.test|')")
BAD[wrong-aud]=$(sign "$WORK/keys" k-rsa "$(claims alice '["team:b:owner"]' | sed 's|"aud":"tandem"|"aud":["other"]|')")
BAD[unknown-kid]=$(sign "$WORK/evil" k-unknown "$(claims alice '["team:b:owner"]')")
BAD[malformed-base64]="@@@.$(echo "${BAD[wrong-key]}" | cut -d. -f2-)"
BAD[malformed-json]="$(printf '{"alg":"RS256",' | b64url).$(printf 'not json' | b64url).$(echo "${BAD[wrong-key]}" | cut -d. -f3)"
BAD[huge]=$(sign "$WORK/keys" k-rsa "$(claims alice '["team:b:owner"]' ",\"pad\":\"$(head -c 9000 /dev/zero | tr '\0' a)\"")")
for name in "${!BAD[@]}"; do
  t=${BAD[$name]}
  code=$(status_as "$t" POST "/api/v1/jobs/$JOB/stop"); expect_eq "$code" 401 "$name: stop bob's job"
  expect_contains "$(cat "$WORK/body")" '"code":"UNAUTHENTICATED"' "$name: 401 error shape"
  code=$(status_as "$t" PUT /api/v1/models/churn/aliases/champion '{"version":2}'); expect_eq "$code" 401 "$name: move bob's alias"
  code=$(status_as "$t" PUT /api/v1/artifacts/teams/b/secret.csv 'overwritten'); expect_eq "$code" 401 "$name: overwrite bob's artifact"
  code=$(status_as "$t" POST /api/v1/jobs '{"name":"forged","team":"b","entry_point":"/bin/true"}'); expect_eq "$code" 401 "$name: submit as team b"
  code=$(status_as "$t" GET /v2/); expect_eq "$code" 401 "$name: the registry"
done
expect_contains "$(status_as "${BAD[alg-none]}" GET /api/v1/auth/whoami; cat "$WORK/body")" 'alg \"none\" is not accepted' "alg none: the reason"
expect_contains "$(status_as "${BAD[unknown-kid]}" GET /api/v1/auth/whoami; cat "$WORK/body")" "unknown kid 'k-unknown'" "unknown kid: the reason"

# --- valid JWTs acting beyond their mapped teams: 403, nothing done
MALLORY=$(sign "$WORK/keys" k-rsa "$(claims mallory '["team:a:owner"]')")
VIEWER=$(sign "$WORK/keys" k-ec "$(claims vic '["team:b:viewer"]')")
GHOST=$(sign "$WORK/keys" k-rsa "$(claims ghost '["team:nosuchteam:owner","admins","team:b"]')")
for who in MALLORY VIEWER GHOST; do
  t=${!who}
  code=$(status_as "$t" POST "/api/v1/jobs/$JOB/stop"); expect_eq "$code" 403 "$who stops bob's job"
  code=$(status_as "$t" PUT /api/v1/models/churn/aliases/champion '{"version":2}'); expect_eq "$code" 403 "$who moves bob's alias"
  code=$(status_as "$t" DELETE /api/v1/artifacts/teams/b/secret.csv); expect_eq "$code" 403 "$who deletes bob's artifact"
  code=$(status_as "$t" POST /api/v1/jobs '{"name":"forged","team":"b","entry_point":"/bin/true"}'); expect_eq "$code" 403 "$who submits as team b"
  code=$(status_as "$t" POST /api/v1/teams '{"name":"mine"}'); expect_eq "$code" 403 "$who creates a team"
done
# An OIDC principal cannot pass for a tandem principal: "oidc:bob" is not bob.
BOB_JWT=$(sign "$WORK/keys" k-rsa "$(claims bob '[]')")
code=$(status_as "$BOB_JWT" GET /api/v1/auth/tokens); expect_eq "$code" 200 "a JWT named bob lists its tokens"
expect_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["tokens"]))' "$WORK/body")" 0 "...and sees none of bob's"
code=$(status_as "$VIEWER" GET "/api/v1/jobs/$JOB"); expect_eq "$code" 200 "a viewer JWT reads team b's job"

# --- nothing changed
expect_eq "$(job_state "$JOB")" "$STATE_BEFORE" "bob's job untouched"
expect_eq "$(champion)" 1 "champion still -> 1"
code=$(status_as "$BOB" GET /api/v1/artifacts/teams/b/secret.csv); expect_eq "$code" 200 "bob reads his artifact"
expect_eq "$(cat "$WORK/body")" "secret data" "bob's artifact unchanged"
expect_eq "$(count_jobs)" "$NJOBS" "no job was created by a refused token"
expect_eq "$("$TANDEM" teams list -o json | python3 -c 'import json,sys; print(sorted(t["name"] for t in json.load(sys.stdin)["teams"]))')" "['a', 'b', 'eta']" "no team was created"
# Refusals are audited (401s without a principal, 403s with the OIDC one).
AUDIT=$("$TANDEM" audit -o json)
expect_contains "$AUDIT" '"principal": "oidc:mallory"' "403s audited with the OIDC principal"
expect_contains "$AUDIT" "OIDC token refused" "401s audited with the reason"
"$TANDEM" jobs stop "$JOB" >/dev/null 2>&1
finish
