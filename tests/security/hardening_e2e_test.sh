#!/usr/bin/env bash
# Hardening attacks on a real `tandem up` (docs/security.md "Attacks and their
# tests"): what users send is bounded. Each attack expects its refusal AND
# checks that nothing changed (no job, no alias moved, no file written outside
# its place), and that the control plane still answers.
#  1. a YAML billion-laughs job and deployment spec through the CLI
#  2. deeply nested JSON as a job body, an alias PUT and a CLI spec file
#  3. oversized headers (431) and bodies (413)
#  4. a slowloris client (runs in the background during 1-3, 5-7)
#  5. tar.gz bombs (ratio, entry count) as a job's uploaded source and as a
#     model archive (a transform job and a deployment unpack it)
#  6. a catastrophic regex with a hostile log line; a regex RE2 refuses
#  7. path traversal in artifact keys and image names; paths and queries
#     whose percent-encoded bytes are not UTF-8
#  8. slow bodies (an artifact PUT and a job POST dripping a byte every
#     0.5 s): 408, no artifact, no job, others answered meanwhile
#  9. 200 idle connections against max_connections 64: the server keeps
#     answering (idle connections give way to new ones)
# The home is outside /tmp: the sandbox's private /tmp would hide it anyway.
source "$(dirname "$0")/lib.sh"
TANDEM=$1
DRIP=$(dirname "$0")/drip.py  # the slow client of attacks 4 and 8
WORK=$(mktemp -d /var/tmp/tandem-hardening.XXXXXX)
SLOW_PID=""
DRIP_PIDS=()
cleanup() {
  [ -n "$SLOW_PID" ] && kill "$SLOW_PID" 2>/dev/null
  for p in "${DRIP_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  stop_control_plane
  kill_replicas "$HOME_DIR"
  rm -rf "$WORK"
}
trap cleanup EXIT
HOME_DIR=$WORK/home
IN=$WORK/in  # what the attacker sends; everything else under $WORK is tandem's
mkdir -p "$HOME_DIR" "$IN"
# Artifact uploads up to 4 MiB here (default 1 GiB), so the 413 is cheap to
# reach; bodies measured over 2 s windows (default 20 s) at the default
# minimum of 1024 bytes/s, and 64 connections at most (default 4096), so
# slow bodies and connection floods are refused within seconds.
printf 'max_body_mb: 4\nserver:\n  body_window_s: 2\n  max_connections: 64\n' >"$HOME_DIR/tandem.yaml"

start_control_plane "$TANDEM" "$HOME_DIR" || { echo "control plane did not start"; exit 1; }
PORT=${TANDEM_SERVER##*:}

# Responses (http_status, lib.sh) go to $IN/body: not a file tandem wrote.
RESPONSE=$IN/body
# admin_status METHOD PATH [CURL ARGS...]: the HTTP status as the admin.
admin_status() { http_status "$TANDEM_TOKEN" "$@"; }
alive() {
  local code
  code=$(command curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$TANDEM_SERVER/api/v1/health")
  expect_eq "$code" 200 "control plane alive $1"
}
# expect_source_refused KEY ARCHIVE REASON: ARCHIVE, uploaded as KEY and
# named as a job's source_dir, is accepted for staging; the job then fails
# with a failure_reason containing REASON. The job's id is left in $JOB.
expect_source_refused() {
  local key=$1 archive=$2 reason=$3 name code got
  name=$(basename "$(dirname "$key")")
  expect_rc 0 "$TANDEM" artifacts put "$key" "$archive"
  code=$(admin_status POST /api/v1/jobs -H 'content-type: application/json' \
    -d '{"name":"'"$name"'","entry_point":"run.sh","source_dir":"'"$key"'"}')
  expect_eq "$code" 201 "the $name source is accepted for staging"
  JOB=$(field '["id"]' <"$IN/body")
  expect_eq "$(wait_job_end "$TANDEM" "$JOB")" Failed "the $name source fails the job"
  got=$(job_reason "$JOB")
  expect_contains "$got" "$reason" "the $name failure names the limit"
}
# Every file outside the home, and every file of the home outside where
# tandem keeps jobs, uploads and objects (those change by design).
outside_listing() {
  find "$WORK" \( -path "$HOME_DIR" -o -path "$IN" \) -prune -o -print | sort
}

# --- 4 (started first, checked last). A slowloris client drips one header
# byte every 0.5 s; the server must close it (header timeout: 10 s) while
# everyone else is answered meanwhile.
printf 'GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: ' \
  | python3 "$DRIP" "$PORT" 40 a >"$IN/slow.out" 2>&1 &
SLOW_PID=$!

# An archive of 100,001 empty files (limit 100,000 entries), built meanwhile.
python3 - "$IN/many.tar.gz" <<'PY' &
import sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    for i in range(100_001):
        t.addfile(tarfile.TarInfo(f"f{i}"))
PY
MANY_PID=$!

BEFORE_OUTSIDE=$(outside_listing)

# Setup: model churn with versions 1 and 2, champion -> 1.
printf 'model bytes' >"$IN/m.bin"
expect_rc 0 "$TANDEM" models register churn "$IN/m.bin" --alias champion
expect_rc 0 "$TANDEM" models register churn "$IN/m.bin"
expect_eq "$(champion)" 1 "champion -> 1 before the attacks"

# A healthy request while the slowloris client drips (it is one second in).
sleep 1
alive "while a slowloris client drips"
expect_rc 0 "$TANDEM" jobs list

# --- 1. YAML billion laughs through the CLI: refused naming the limit ------
laughs() {
  printf 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
  for i in 1 2 3 4 5 6 7 8; do
    printf 'l%d: &l%d [*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d]\n' \
      "$i" "$i" $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1))
  done
}
{ printf 'name: laughs\nentry_point: /bin/true\n'; laughs; printf 'environment: {X: *l8}\n'; } >"$IN/laughs-job.yaml"
{ printf 'name: laughs\nmodel: churn@champion\n'; laughs; printf 'replicas: *l8\n'; } >"$IN/laughs-dep.yaml"
expect_rc 1 "$TANDEM" jobs run -f "$IN/laughs-job.yaml"
expect_contains "$OUT" "expands to more than 100000 nodes" "billion-laughs job spec names the limit"
expect_rc 1 "$TANDEM" deployments apply -f "$IN/laughs-dep.yaml"
expect_contains "$OUT" "expands to more than 100000 nodes" "billion-laughs deployment spec names the limit"
expect_eq "$(count_jobs)" 0 "no job from the billion-laughs spec"
code=$(admin_status GET /api/v1/deployments/laughs); expect_eq "$code" 404 "no deployment from the billion-laughs spec"
alive "after the billion laughs"

# --- 2. deeply nested JSON: 400 naming the depth, nothing created ----------
python3 -c 'print("[" * 100000)' >"$IN/nested-arrays.json"
python3 -c 'print("{\"version\":" * 100000)' >"$IN/nested-objects.json"
for f in nested-arrays nested-objects; do
  code=$(admin_status POST /api/v1/jobs -H 'content-type: application/json' --data-binary "@$IN/$f.json")
  expect_eq "$code" 400 "POST /api/v1/jobs with $f"
  expect_contains "$(cat "$IN/body")" "nested deeper than 64 levels" "the $f job refusal names the depth"
  code=$(admin_status PUT /api/v1/models/churn/aliases/champion -H 'content-type: application/json' --data-binary "@$IN/$f.json")
  expect_eq "$code" 400 "alias PUT with $f"
  expect_contains "$(cat "$IN/body")" "nested deeper than 64 levels" "the $f alias refusal names the depth"
done
# ...and as a spec file through the CLI (parsed as YAML, a superset of JSON).
expect_rc 1 "$TANDEM" jobs run -f "$IN/nested-arrays.json"
expect_contains "$OUT" "nested deeper than 64 levels" "the CLI names the depth of a nested spec file"
expect_eq "$(count_jobs)" 0 "no job from nested JSON"
expect_eq "$(champion)" 1 "champion unmoved by nested JSON"
alive "after nested JSON"

# --- 3. oversized headers (431) and bodies (413): refused, nothing created --
JOB_BODY='{"name":"oversized","entry_point":"/bin/true"}'
BIG=$(head -c 20000 /dev/zero | tr '\0' a)
code=$(admin_status POST /api/v1/jobs -H "X-Big: $BIG" -H 'content-type: application/json' -d "$JOB_BODY")
expect_eq "$code" 431 "a 20 KB header field"
MANY=()
for i in $(seq 1 40); do MANY+=(-H "X-Many-$i: ${BIG:0:500}"); done
code=$(admin_status POST /api/v1/jobs "${MANY[@]}" -H 'content-type: application/json' -d "$JOB_BODY")
expect_eq "$code" 431 "40 header fields of 500 bytes"
# A 9 MiB job spec (the API's JSON routes take 8 MiB) and a 5 MiB artifact (4 MiB here).
python3 -c 'import json; print(json.dumps({"name":"oversized","entry_point":"/bin/true","environment":{"PAD":"x"*(9<<20)}}))' >"$IN/big-job.json"
code=$(admin_status POST /api/v1/jobs -H 'content-type: application/json' --data-binary "@$IN/big-job.json")
expect_eq "$code" 413 "a 9 MiB job body"
head -c $((5 << 20)) /dev/urandom >"$IN/big.bin"
code=$(admin_status PUT /api/v1/artifacts/teams/default/big.bin -H 'content-type: application/octet-stream' --data-binary "@$IN/big.bin")
expect_eq "$code" 413 "a 5 MiB artifact over max_body_mb 4"
code=$(admin_status GET /api/v1/artifacts/teams/default/big.bin); expect_eq "$code" 404 "the oversized artifact was not stored"
expect_eq "$(ls -A "$HOME_DIR/uploads/artifacts")" "" "no upload file left of the oversized artifact"
head -c $((1 << 20)) /dev/urandom >"$IN/ok.bin"
code=$(admin_status PUT /api/v1/artifacts/teams/default/ok.bin -H 'content-type: application/octet-stream' --data-binary "@$IN/ok.bin")
expect_eq "$code" 201 "a 1 MiB artifact is accepted (the limit is not everything)"
expect_eq "$(count_jobs)" 0 "no job from oversized requests"
alive "after oversized requests"

# --- 5. tar.gz bombs: a job's uploaded source and a model archive ----------
# 300 MiB of zeros in ~300 KB (ratio ~1000, limit 100 beyond 64 MiB).
python3 - "$IN/bomb.tar.gz" <<'PY'
import io, sys, tarfile
class Zeros(io.RawIOBase):
    def readable(self): return True
    def readinto(self, b):
        b[:] = bytes(len(b)); return len(b)
with tarfile.open(sys.argv[1], "w:gz", compresslevel=9) as t:
    run = tarfile.TarInfo("run.sh"); body = b"#!/bin/sh\necho ran\n"
    run.size, run.mode = len(body), 0o755
    t.addfile(run, io.BytesIO(body))
    z = tarfile.TarInfo("zeros.bin"); z.size = 300 << 20
    t.addfile(z, io.BufferedReader(Zeros(), 1 << 20))
PY
echo "bomb: $(stat -c %s "$IN/bomb.tar.gz") bytes for 300 MiB"
HOME_KB_BEFORE=$(du -sk "$HOME_DIR" | cut -f1)
expect_source_refused teams/default/bomb/source.tar.gz "$IN/bomb.tar.gz" "unpacks to more than 100 times its size"
[[ "$("$TANDEM" jobs logs "$JOB" 2>&1)" != *"ran"* ]] && pass || fail "the bomb's run.sh ran"
# An archive of more entries than allowed.
wait "$MANY_PID"
expect_source_refused teams/default/many/source.tar.gz "$IN/many.tar.gz" "more than 100000 entries"
[ -z "$(find "$HOME_DIR" -name f100000)" ] && pass || fail "entries of the refused archive were left behind"
# As a model: registration stores the archive as given; a transform job
# unpacking it, and a deployment's replica pulling it, fail naming the limit.
expect_rc 0 "$TANDEM" models register bombm "$IN/bomb.tar.gz"
printf 'a,b\n1,2\n' >"$IN/in.csv"
expect_rc 0 "$TANDEM" artifacts put teams/default/in/x.csv "$IN/in.csv"
printf 'name: bombt\nmodel: bombm\ninput: {uri: teams/default/in/, content_type: text/csv}\noutput: {prefix: teams/default/out}\n' >"$IN/bombt.yaml"
expect_rc 1 "$TANDEM" transform run -f "$IN/bombt.yaml" --wait
expect_contains "$OUT" "unpacks to more than 100 times its size" "the bomb model fails the transform naming the limit"
expect_eq "$("$TANDEM" artifacts ls teams/default/out/ -o json | field '["artifacts"].__len__()')" 0 "the bomb transform wrote no output"
printf 'name: bombd\nmodel: bombm\nreplicas: {min: 1}\n' >"$IN/bombd.yaml"
expect_rc 0 "$TANDEM" deployments apply -f "$IN/bombd.yaml"
DEP=""
for _ in $(seq 1 300); do
  DEP=$("$TANDEM" deployments get bombd -o json 2>&1)
  [[ "$DEP" == *"unpacks to more than 100 times its size"* ]] && break
  sleep 0.1
done
expect_contains "$DEP" "unpacks to more than 100 times its size" "the bomb model's replica is not ready, naming the limit"
expect_eq "$(field '["ready"]' <<<"$DEP")" 0 "no replica of the bomb model is ready"
expect_rc 0 "$TANDEM" deployments delete bombd
HOME_KB_AFTER=$(du -sk "$HOME_DIR" | cut -f1)
echo "home: ${HOME_KB_BEFORE} KiB before the bombs, ${HOME_KB_AFTER} KiB after"
[ $((HOME_KB_AFTER - HOME_KB_BEFORE)) -lt $((32 << 10)) ] && pass \
  || fail "the bombs grew the home by $((HOME_KB_AFTER - HOME_KB_BEFORE)) KiB"
[ -z "$(find "$WORK" -name zeros.bin)" ] && pass || fail "zeros.bin was unpacked: $(find "$WORK" -name zeros.bin)"
alive "after the bombs"

# --- 6. catastrophic regex with a hostile log line; a regex RE2 refuses ----
mkdir -p "$IN/re/code"
cat >"$IN/re/code/run.sh" <<'SH'
#!/bin/sh
for i in 1 2 3 4 5 6 7 8 9 10; do
  python3 -c 'print("a" * 50000 + "!")'
  sleep 0.1
done
echo "loss=0.25"
SH
chmod +x "$IN/re/code/run.sh"
cat >"$IN/re/job.yaml" <<'YAML'
name: redos
entry_point: run.sh
source_dir: code
metric_definitions:
  - {name: evil, regex: '(a+)+$'}
  - {name: loss, regex: 'loss=([0-9.]+)'}
YAML
"$TANDEM" jobs run -f "$IN/re/job.yaml" --wait >"$IN/re.out" 2>&1 &
RE_PID=$!
ANSWERED=0
while kill -0 "$RE_PID" 2>/dev/null; do
  code=$(command curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$TANDEM_SERVER/api/v1/health")
  [ "$code" = 200 ] && ANSWERED=$((ANSWERED + 1)) || fail "health $code while the hostile lines are parsed"
  sleep 0.2
done
echo "health answered $ANSWERED times while the hostile-line job ran"
[ "$ANSWERED" -ge 1 ] && pass || fail "no health request was answered while the job ran"
wait "$RE_PID"; expect_eq "$?" 0 "the job with the hostile line completes: $(cat "$IN/re.out")"
RE_JOB=$("$TANDEM" jobs list --name redos -o json | field '["jobs"][0]["id"]')
expect_contains "$("$TANDEM" jobs get "$RE_JOB" -o json)" "loss" "the metric after the hostile line was parsed"
for re in '(a)\\1' '(?=a)a' '(?<=a)b'; do
  code=$(admin_status POST /api/v1/jobs -H 'content-type: application/json' \
    -d '{"name":"badre","entry_point":"/bin/true","metric_definitions":[{"name":"m","regex":"'"$re"'"}]}')
  expect_eq "$code" 400 "a metric regex RE2 refuses: $re"
  expect_contains "$(cat "$IN/body")" "regex" "the refusal names the regex ($re)"
done
expect_eq "$("$TANDEM" jobs list --name badre -o json | field '["jobs"].__len__()')" 0 "no job with a refused regex"
alive "after the regexes"

# --- 7. path traversal in artifact keys and image names: 4xx, nothing written
printf 'planted' >"$IN/plant.txt"
for key in '../pwned1' 'teams/default/../../pwned2' '%2e%2e/pwned3' '%2E%2E%2Fpwned4' \
           'teams/default/%2e%2e/%2e%2e/pwned5' "$WORK/pwned6" '/etc/pwned7' 'teams/default/a/../../../pwned8'; do
  code=$(admin_status PUT "/api/v1/artifacts/$key" -H 'content-type: application/octet-stream' --data-binary "@$IN/plant.txt")
  echo "artifact PUT '$key' -> $code $(head -c 160 "$IN/body")"
  expect_eq "$code" 400 "artifact PUT '$key'"
  expect_contains "$(cat "$IN/body")" "invalid object key" "the refusal of '$key' says why"
  code=$(admin_status GET "/api/v1/artifacts/$key")
  [[ "$code" == 4?? ]] && pass || fail "artifact GET '$key': $code"
done
# Percent-encoded bytes that are not UTF-8 (they would land in JSON): 400, not 500.
for req in "PUT /api/v1/artifacts/teams/default/%ff%fe" "GET /api/v1/artifacts/teams/default/%ff%fe" \
           "DELETE /api/v1/artifacts/teams/default/%ff%fe" "GET /api/v1/artifacts?prefix=%ff" \
           "PUT /api/v1/models/churn/aliases/%ff" "PUT /api/v1/models/%ff/aliases/champion" \
           "GET /api/v1/jobs/%c0%af" "POST /api/v1/jobs/%ed%a0%80/stop"; do
  code=$(admin_status ${req% *} "${req#* }" -H 'content-type: application/json' -d '{"version":2}')
  expect_eq "$code" 400 "$req"
  expect_contains "$(cat "$IN/body")" "UTF-8" "the refusal of $req says why"
done
expect_eq "$(champion)" 1 "champion unmoved by a non-UTF-8 alias PUT"
DIGEST=sha256:$(sha256sum "$IN/plant.txt" | cut -d' ' -f1)
for name in '../pwned9' 'a/../../pwned10' '%2e%2e/pwned11' 'default/..%2fpwned12'; do
  code=$(admin_status POST "/v2/$name/blobs/uploads/?digest=$DIGEST" -H 'content-type: application/octet-stream' --data-binary "@$IN/plant.txt")
  echo "blob upload to image '$name' -> $code $(head -c 160 "$IN/body")"
  expect_eq "$code" 400 "blob upload to image '$name'"
  expect_contains "$(cat "$IN/body")" "NAME_INVALID" "the refusal of image '$name' says why"
  code=$(admin_status PUT "/v2/$name/manifests/latest" -H 'content-type: application/vnd.oci.image.manifest.v1+json' -d '{"schemaVersion":2}')
  [[ "$code" == 4?? ]] && pass || fail "manifest PUT to image '$name': $code $(cat "$IN/body")"
done
expect_eq "$(find "$WORK" /var/tmp /tmp -maxdepth 4 -name 'pwned*' 2>/dev/null)" "" "no traversal target was written"
expect_eq "$("$TANDEM" artifacts ls '' -o json | python3 -c 'import json,sys; print(",".join(a["key"] for a in json.load(sys.stdin)["artifacts"] if "pwned" in a["key"]))')" "" "no pwned key in the store"

# --- 8. slow bodies: a head announcing a body, then a byte every 0.5 s ----
# drip_body NAME METHOD PATH LENGTH FIRST: in the background; its outcome
# (status line, seconds, bytes dripped, body) in $IN/drip-NAME.out.
drip_body() {
  printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s' \
    "$2" "$3" "$TANDEM_TOKEN" "$4" "$5" | python3 "$DRIP" "$PORT" 60 ' ' >"$IN/drip-$1.out" 2>&1 &
  DRIP_PIDS+=($!)
}
drip_body artifact PUT /api/v1/artifacts/teams/default/slow.bin $((3 << 20)) "slow"
drip_body job POST /api/v1/jobs 1000 '{"name":"slowjob","entry_point":"/bin/true"'
# Everyone else is answered while they drip.
for i in 1 2 3; do
  sleep 0.5
  alive "while two slow bodies drip ($i)"
done
expect_rc 0 "$TANDEM" jobs list
for p in "${DRIP_PIDS[@]}"; do wait "$p"; done
DRIP_PIDS=()
for name in artifact job; do
  DRIP=$(cat "$IN/drip-$name.out")
  echo "slow $name body: $DRIP"
  expect_contains "$DRIP" "HTTP/1.1 408 Request Timeout" "the slow $name body is refused"
  expect_contains "$DRIP" "request body too slow" "the slow $name body's refusal says why"
done
code=$(admin_status GET /api/v1/artifacts/teams/default/slow.bin); expect_eq "$code" 404 "no artifact from the slow body"
expect_eq "$(find "$HOME_DIR" -name 'slow.bin*')" "" "no file of the slow artifact anywhere in the home"
expect_eq "$(ls -A "$HOME_DIR/uploads/artifacts")" "" "no upload file left of the slow artifact (its body was streamed to one)"
expect_eq "$("$TANDEM" jobs list --name slowjob -o json | field '["jobs"].__len__()')" 0 "no job from the slow body"
alive "after the slow bodies"

# --- 9. 200 idle connections (max_connections 64 here): still answering ----
python3 - "$PORT" >"$IN/idle.out" 2>&1 <<'PY' &
import socket, sys, time
conns = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(200)]
time.sleep(8)  # hold them while the test sends real requests
closed = 0
for c in conns:
    c.settimeout(0.01)
    try:
        closed += c.recv(1) == b""
    except socket.timeout:
        pass
    except OSError:
        closed += 1
print(f"{closed} of {len(conns)} idle connections closed by the server")
PY
IDLE_PID=$!
sleep 2
for i in 1 2 3; do
  alive "with 200 idle connections open ($i)"
  expect_rc 0 "$TANDEM" jobs list
done
wait "$IDLE_PID"
IDLE=$(cat "$IN/idle.out")
echo "idle flood: $IDLE"
CLOSED=${IDLE%% of *}
[[ "$CLOSED" =~ ^[0-9]+$ ]] && [ "$CLOSED" -ge 136 ] && pass \
  || fail "at most 64 connections may stay open: $IDLE"
alive "after the idle flood"

# Nothing outside the home changed through any attack.
expect_eq "$(outside_listing)" "$BEFORE_OUTSIDE" "no file appeared or vanished outside the home"

# --- 4 (checked). The slowloris connection was closed.
wait "$SLOW_PID"; SLOW_PID=""
SLOW=$(cat "$IN/slow.out")
echo "slowloris: $SLOW"
expect_contains "$SLOW" "CLOSED after" "the slowloris client was cut off"
[[ "$SLOW" != *NOT-CLOSED* && "$SLOW" != *"HTTP/1.1 200"* ]] && pass || fail "the slowloris request was served or kept: $SLOW"
alive "after the slowloris client"

finish
