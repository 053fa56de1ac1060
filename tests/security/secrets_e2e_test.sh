#!/usr/bin/env bash
# Team secrets on a real `tandem up` (docs/security.md "Secrets"): a team
# stores a secret, its job gets it as an environment variable and as a file
# (0400, inside the sandbox only); then everything tandem wrote -- the home
# (database, store, job state), a dump of the database, the events, the audit
# log, `jobs get`, the job's log and the control plane's own log -- is searched
# for the value. Attacks: another team listing, deleting or using the secret,
# a viewer creating one, no token; each changes nothing.
source "$(dirname "$0")/lib.sh"
TANDEM=$1
WORK=$(mktemp -d /var/tmp/tandem-secrets.XXXXXX)
trap 'stop_control_plane; rm -rf "$WORK"' EXIT
HOME_DIR=$WORK/home

start_control_plane "$TANDEM" "$HOME_DIR" || { echo "control plane did not start"; exit 1; }
ADMIN=$TANDEM_TOKEN
names() { python3 -c 'import json,sys; print(",".join(s["name"] for s in json.load(sys.stdin)["secrets"]))'; }

for t in a b; do expect_rc 0 "$TANDEM" teams create "$t"; done
for p in alice bob vera; do expect_rc 0 "$TANDEM" auth principals create "$p"; done
expect_rc 0 "$TANDEM" teams add-member a alice --role member
expect_rc 0 "$TANDEM" teams add-member b bob --role member
expect_rc 0 "$TANDEM" teams add-member a vera --role viewer
ALICE=$(token_of alice); BOB=$(token_of bob); VERA=$(token_of vera)

ENV_VALUE="env-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
FILE_VALUE="file-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$FILE_VALUE" >"$WORK/key.json"
expect_rc 0 as "$ALICE" sh -c "printf %s '$ENV_VALUE' | '$TANDEM' secrets create db-password --team a"
expect_rc 0 as "$ALICE" "$TANDEM" secrets create gcp-key --team a --from-file "$WORK/key.json"
rm -f "$WORK/key.json"
expect_rc 1 as "$ALICE" "$TANDEM" secrets create db-password --team a --from-file /dev/null
expect_contains "$OUT" "empty" "an empty value is refused"
code=$(status_as "$ALICE" POST /api/v1/teams/a/secrets '{"name":"db-password","value":"other"}')
expect_eq "$code" 409 "a second secret of the same name"
expect_eq "$(as "$VERA" "$TANDEM" secrets list --team a -o json | names)" "db-password,gcp-key" "a viewer lists names"
expect_rc 0 as "$ALICE" "$TANDEM" secrets list --team a -o json
[[ "$OUT" != *"$ENV_VALUE"* && "$OUT" != *"$FILE_VALUE"* ]] && pass || fail "list shows a value: $OUT"

# --- attacks: nothing changes ---------------------------------------------
code=$(status_as "$BOB" GET /api/v1/teams/a/secrets); expect_eq "$code" 403 "bob lists team a's secrets"
code=$(status_as "$BOB" DELETE /api/v1/teams/a/secrets/db-password); expect_eq "$code" 403 "bob deletes team a's secret"
code=$(status_as "$BOB" POST /api/v1/teams/a/secrets '{"name":"planted","value":"x"}'); expect_eq "$code" 403 "bob plants a secret in team a"
code=$(status_as "$VERA" POST /api/v1/teams/a/secrets '{"name":"planted","value":"x"}'); expect_eq "$code" 403 "a viewer creates a secret"
code=$(status_as "$VERA" DELETE /api/v1/teams/a/secrets/gcp-key); expect_eq "$code" 403 "a viewer deletes a secret"
code=$(status_as "" GET /api/v1/teams/a/secrets); expect_eq "$code" 401 "no token"
# bob's job (team b) naming team a's secret: not found in team b, no job.
code=$(status_as "$BOB" POST /api/v1/jobs '{"name":"thief","team":"b","entry_point":"/bin/true","secrets":[{"name":"db-password","env":"X"}]}')
[ "$code" -ge 400 ] && pass || fail "bob's job using team a's secret was accepted ($code)"
expect_contains "$(cat "$WORK/body")" "secret 'db-password' of team 'b' not found" "names the missing secret"
code=$(status_as "$BOB" POST /api/v1/jobs '{"name":"thief","team":"a","entry_point":"/bin/true","secrets":[{"name":"db-password","env":"X"}]}')
expect_eq "$code" 403 "bob's job claiming team a"
expect_eq "$(count_jobs thief)" 0 "no thief job"
expect_eq "$("$TANDEM" secrets list --team a -o json | names)" "db-password,gcp-key" "team a's secrets unchanged"

# --- a job uses both ---------------------------------------------------------
mkdir -p "$WORK/job/code"
cat >"$WORK/job/code/run.sh" <<'SH'
#!/bin/sh
echo "env-sha=$(printf %s "$DB_PASSWORD" | sha256sum | cut -d' ' -f1)"
echo "file-sha=$(sha256sum < /run/secrets/gcp.json | cut -d' ' -f1)"
echo "file-mode=$(stat -c %a /run/secrets/gcp.json)"
if echo x >> /run/secrets/gcp.json 2>/dev/null; then echo "file-writable"; else echo "file-read-only"; fi
env | grep -c . >/dev/null
SH
chmod +x "$WORK/job/code/run.sh"
cat >"$WORK/job/job.yaml" <<'YAML'
name: uses-secrets
team: a
entry_point: run.sh
source_dir: code
secrets: [{name: db-password, env: DB_PASSWORD}, {name: gcp-key, file: gcp.json}]
YAML
expect_rc 0 as "$ALICE" "$TANDEM" jobs run -f "$WORK/job/job.yaml" --wait
LOG=$OUT
expect_contains "$LOG" "env-sha=$(printf %s "$ENV_VALUE" | sha256sum | cut -d' ' -f1)" "the job got the env secret"
expect_contains "$LOG" "file-sha=$(printf %s "$FILE_VALUE" | sha256sum | cut -d' ' -f1)" "the job got the file secret"
expect_contains "$LOG" "file-mode=400" "the secret file is 0400"
expect_contains "$LOG" "file-read-only" "the secret file is read-only"
JOB=$("$TANDEM" jobs list --name uses-secrets -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')

# --- grep everything tandem wrote for both values ---------------------------
sleep 0.5  # the outbox and the log upload are done when the job is terminal; be generous
{
  "$TANDEM" jobs get "$JOB" -o json
  "$TANDEM" jobs logs "$JOB"
  "$TANDEM" audit --since 1h -o json
  "$TANDEM" secrets list --team a -o json
  command curl -s -H "Authorization: Bearer $ADMIN" "$TANDEM_SERVER/api/v1/events?limit=1000"
  sqlite3 "$HOME_DIR/tandem.db" .dump
  cat "$HOME_DIR.log"
} >"$WORK/everything.txt" 2>&1
expect_contains "$(cat "$WORK/everything.txt")" "uses-secrets" "the search covers the job (positive control)"
expect_contains "$(sqlite3 "$HOME_DIR/tandem.db" .dump)" "INSERT INTO secrets" "the dump holds the (encrypted) secrets rows"
for v in "$ENV_VALUE" "$FILE_VALUE"; do
  if grep -rqF "$v" "$HOME_DIR" "$WORK/everything.txt"; then
    fail "a secret value was written: $(grep -rlF "$v" "$HOME_DIR" "$WORK/everything.txt")"
  else
    pass
  fi
done
expect_eq "$(stat -c %a "$HOME_DIR/secrets.key")" 600 "the key file is 0600"
[ -z "$(find "$HOME_DIR" -name secrets.json)" ] && pass || fail "a secrets.json was left behind"

# --- deleting: later jobs naming it are refused -----------------------------
expect_rc 0 as "$ALICE" "$TANDEM" secrets delete db-password --team a
expect_rc 1 as "$ALICE" "$TANDEM" jobs run -f "$WORK/job/job.yaml"
expect_contains "$OUT" "secret 'db-password' of team 'a' not found" "a deleted secret refuses the job"
expect_eq "$(count_jobs uses-secrets)" 1 "no second job"
expect_eq "$("$TANDEM" secrets list --team a -o json | names)" "gcp-key" "only gcp-key left"

finish
