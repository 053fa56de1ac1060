#!/usr/bin/env bash
# TLS (docs/security.md "TLS"): `tandem up --tls-cert/--tls-key` serves HTTPS
# only; the CLI verifies it against --ca-file / TANDEM_CA_FILE / the
# credentials file's ca_file (host name checked); a job and a deployment's
# inference work over TLS, the fleet's replicas serving the same certificate;
# a wrong CA, an expired certificate and plain HTTP are refused with a clear
# error and reach no handler; a non-loopback address without TLS is refused
# before anything is opened or bound unless --insecure. All traffic stays on
# 127.0.0.1 (the non-loopback cases are refused before binding). SIGHUP makes
# `tandem serve` and `tandem up` reload their certificate at once (a bad one is
# logged and the old one kept).
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
MAKE_MODEL=$2
require_built "$TANDEM" "$MAKE_MODEL"
WORK=$(mktemp -d /var/tmp/tandem-tls.XXXXXX)
cleanup() {
  stop_control_plane
  kill_replicas "$WORK/home"
  [ -n "${SERVE_PID:-}" ] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
  [ -n "${HUP_PID:-}" ] && kill -TERM "$HUP_PID" 2>/dev/null && wait "$HUP_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
unset TANDEM_CA_FILE TANDEM_TOKEN TANDEM_SERVER
export XDG_CONFIG_HOME=$WORK/config

# --- certificates (made now; no private key is checked in) -------------------
C=$WORK/certs
mkdir -p "$C"
ossl() { openssl "$@" >/dev/null 2>&1 || { echo "openssl $* failed"; exit 1; }; }
EC=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
ossl req -x509 "${EC[@]}" -keyout "$C/ca.key" -out "$C/ca.pem" -days 2 -subj "/CN=tandem e2e CA"
ossl req -x509 "${EC[@]}" -keyout "$C/other-ca.key" -out "$C/other-ca.pem" -days 2 -subj "/CN=other CA"
ossl req "${EC[@]}" -keyout "$C/server.key" -out "$C/server.csr" -subj "/CN=localhost"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$C/san"
ossl x509 -req -in "$C/server.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
  -out "$C/expired.pem" -days 0 -extfile "$C/san"
ossl x509 -req -in "$C/server.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
  -out "$C/server.pem" -days 2 -extfile "$C/san"

# --- refusals before anything is opened or bound ------------------------------
PORT=$(shuf -i 20000-60000 -n1)
expect_rc 2 "$TANDEM" up --home "$WORK/refused" --listen "0.0.0.0:$PORT"
expect_contains "$OUT" "--insecure" "a non-loopback address without TLS names --insecure"
expect_contains "$OUT" "--tls-cert" "and the TLS flags"
[ ! -e "$WORK/refused/tandem.db" ] && [ ! -e "$WORK/refused/admin-token" ] && pass ||
  fail "a refused tandem up opened its database"
printf 'listen: 0.0.0.0:%s\n' "$PORT" >"$WORK/exposed.yaml"
expect_rc 2 "$TANDEM" up --home "$WORK/refused" --config "$WORK/exposed.yaml"
expect_contains "$OUT" "refusing to serve plain HTTP on 0.0.0.0" "the same from tandem.yaml"
expect_rc 2 "$TANDEM" up --home "$WORK/refused" --tls-cert "$C/server.pem"
expect_contains "$OUT" "both a TLS certificate and its key" "a certificate without its key"
expect_rc 1 "$TANDEM" up --home "$WORK/refused" --tls-cert "$C/server.pem" --tls-key "$C/other-ca.key"
expect_contains "$OUT" "does not match the certificate" "a key of another certificate"
[ ! -e "$WORK/refused/tandem.db" ] && pass || fail "a refused tandem up opened its database"
"$MAKE_MODEL" "$WORK/m1" 1 10 || { echo "cannot write the model"; exit 1; }
expect_rc 2 "$TANDEM" serve --model-dir "$WORK/m1" --host 0.0.0.0 --port "$PORT"
expect_contains "$OUT" "--insecure" "a replica on a non-loopback address without TLS"

# --- a control plane over TLS ---------------------------------------------------
"$TANDEM" up --home "$WORK/home" --port 0 --tls-cert "$C/server.pem" --tls-key "$C/server.key" \
  >"$WORK/home.log" 2>&1 &
CP_PID=$!
for _ in $(seq 1 200); do
  grep -q "control plane on https://" "$WORK/home.log" 2>/dev/null && break
  kill -0 "$CP_PID" 2>/dev/null || break
  sleep 0.05
done
URL=$(grep -o "https://[0-9.:]*" "$WORK/home.log" | head -1)
[ -n "$URL" ] || { cat "$WORK/home.log"; echo "control plane did not start"; exit 1; }
PLAIN=${URL/https:/http:}
export TANDEM_SERVER=$URL TANDEM_TOKEN=$(cat "$WORK/home/admin-token")

# Wrong CA, none, plain HTTP: clear errors; nothing reached a handler.
expect_rc 1 "$TANDEM" auth whoami
expect_contains "$OUT" "does not verify" "no CA: the system's CAs do not know ours"
expect_contains "$OUT" "--ca-file" "the error says how to give the CA"
expect_rc 1 "$TANDEM" --ca-file "$C/other-ca.pem" teams create wrong-ca
expect_contains "$OUT" "does not verify against $C/other-ca.pem" "a wrong CA"
expect_rc 1 "$TANDEM" --server "$PLAIN" teams create plain-http
expect_contains "$OUT" "this port speaks HTTPS" "plain HTTP to the TLS port"
code=$(command curl -s -o "$WORK/b" -w '%{http_code}' -H "Authorization: Bearer $TANDEM_TOKEN" \
  -X POST -d '{"name":"plain-curl"}' "$PLAIN/api/v1/teams")
expect_eq "$code" 400 "plain HTTP with curl"
expect_rc 0 "$TANDEM" --ca-file "$C/ca.pem" auth whoami
expect_rc 0 "$TANDEM" --ca-file "$C/ca.pem" teams list -o json
for t in wrong-ca plain-http plain-curl; do
  [[ "$OUT" != *"$t"* ]] && pass || fail "team $t was created by a refused request"
done
# The host name is checked: the certificate names 127.0.0.1 and localhost.
expect_rc 0 "$TANDEM" --ca-file "$C/ca.pem" --server "${URL/127.0.0.1/localhost}" auth whoami
# Failover (several control planes) with TLS: the CA verifies the one that answers
# (nothing listens on port 1: refused, so the next URL is tried).
expect_rc 0 "$TANDEM" --ca-file "$C/ca.pem" --server http://127.0.0.1:1 --server "$URL" auth whoami
expect_rc 1 env TANDEM_SERVER="http://127.0.0.1:1,$URL" "$TANDEM" --ca-file "$C/other-ca.pem" auth whoami
expect_contains "$OUT" "does not verify" "failover to a TLS control plane with a wrong CA"

# The credentials file keeps the CA (like kubeconfig's certificate-authority).
expect_rc 0 "$TANDEM" --ca-file "$C/ca.pem" auth login --token "$TANDEM_TOKEN"
expect_contains "$(cat "$XDG_CONFIG_HOME/tandem/credentials")" "\"ca_file\": \"$C/ca.pem\"" "login saved the CA"
expect_rc 0 env -u TANDEM_TOKEN "$TANDEM" auth whoami
export TANDEM_CA_FILE=$C/ca.pem

# --- a job over TLS ----------------------------------------------------------
mkdir -p "$WORK/job/code"
printf '#!/bin/sh\necho tls-job-ran\n' >"$WORK/job/code/run.sh"
chmod +x "$WORK/job/code/run.sh"
printf 'name: over-tls\nentry_point: run.sh\nsource_dir: code\n' >"$WORK/job/job.yaml"
expect_rc 0 "$TANDEM" jobs run -f "$WORK/job/job.yaml" --wait
expect_contains "$OUT" "tls-job-ran" "the job ran and its log came back over TLS"

# --- a deployment: replicas serve HTTPS with the same certificate -------------
expect_rc 0 "$TANDEM" models register churn "$WORK/m1" --alias champion
printf 'name: churn-api\nmodel: churn@champion\nbatching: {max_batch_size: 1}\n' >"$WORK/deploy.yaml"
expect_rc 0 "$TANDEM" deployments apply -f "$WORK/deploy.yaml" --wait --timeout 60
EP=$("$TANDEM" deployments get churn-api -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')
expect_contains "$EP" "https://" "the endpoint is https"
ROW='[0.5,-1,0.25,0,1,2,0,0,0,0,0,0,0,0,0,0,0,0,0.5,-0.5]'
SIMPLE="{\"model\":\"churn\",\"features\":$ROW}"
code=$(command curl -s -o "$WORK/b" -w '%{http_code}' --cacert "$C/ca.pem" -d "$SIMPLE" "$EP/infer")
expect_eq "$code" 200 "infer over TLS, verified"
command curl -s -o /dev/null --cacert "$C/other-ca.pem" -d "$SIMPLE" "$EP/infer"
expect_eq "$?" 60 "infer with a wrong CA: curl refuses the certificate"
code=$(command curl -s -o "$WORK/b" -w '%{http_code}' -d "$SIMPLE" "${EP/https:/http:}/infer")
expect_eq "$code" 400 "plain HTTP to the replica"
expect_eq "$(command curl -s --cacert "$C/ca.pem" "$EP/v2/health/ready" -o /dev/null -w '%{http_code}')" 200 "health stays open"
METRICS=$(command curl -s --cacert "$C/ca.pem" "$EP/metrics")
expect_eq "$(metric_value "$METRICS" 'tandem_inference_requests_total{model="churn"}')" 1 \
  "only the verified request reached the model"
# The control plane reads the replicas' metrics over TLS too.
OUT=$(curl -s --cacert "$C/ca.pem" "$URL/api/v1/deployments/churn-api/metrics")
expect_contains "$OUT" '"replicas"' "the deployment's metrics"
[[ "$OUT" != *'"error"'* ]] && pass || fail "the control plane could not scrape its replica: $OUT"

# --- an expired certificate ----------------------------------------------------
"$TANDEM" serve --model-dir "$WORK/m1" --name old --port 0 --tls-cert "$C/expired.pem" \
  --tls-key "$C/server.key" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 200); do
  grep -q "on https://" "$WORK/serve.log" 2>/dev/null && break
  sleep 0.05
done
OLD=$(grep -o "https://[0-9.:]*" "$WORK/serve.log" | head -1)
[ -n "$OLD" ] || fail "the replica with an expired certificate did not start: $(cat "$WORK/serve.log")"
ERR=$(command curl -sS --cacert "$C/ca.pem" -d "$SIMPLE" "$OLD/infer" 2>&1)
expect_contains "$ERR" "expired" "curl refuses the expired certificate"
expect_rc 1 "$TANDEM" --server "$OLD" auth whoami
expect_contains "$OUT" "expired" "so does the CLI"

# --- SIGHUP reloads the certificate --------------------------------------------
# wait_log FILE TEXT: until FILE holds TEXT (10 s).
wait_log() {
  for _ in $(seq 1 200); do
    grep -qF "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
cp "$C/expired.pem" "$WORK/live.pem"
"$TANDEM" serve --model-dir "$WORK/m1" --name hup --port 0 --tls-cert "$WORK/live.pem" \
  --tls-key "$C/server.key" >"$WORK/hup.log" 2>&1 &
HUP_PID=$!
wait_log "$WORK/hup.log" "on https://" || fail "the replica did not start: $(cat "$WORK/hup.log")"
HUP=$(grep -o "https://[0-9.:]*" "$WORK/hup.log" | head -1)
ERR=$(command curl -sS --cacert "$C/ca.pem" -d "$SIMPLE" "$HUP/infer" 2>&1)
expect_contains "$ERR" "expired" "the replica starts with the expired certificate"
cp "$C/server.pem" "$WORK/live.pem"
kill -HUP "$HUP_PID"
wait_log "$WORK/hup.log" "SIGHUP: TLS certificate reloaded" && pass ||
  fail "no reload logged after SIGHUP: $(cat "$WORK/hup.log")"
code=$(command curl -s -o "$WORK/b" -w '%{http_code}' --cacert "$C/ca.pem" "$HUP/v2/health/ready")
expect_eq "$code" 200 "after SIGHUP the replica serves the new certificate"
printf 'not a certificate\n' >"$WORK/live.pem"
kill -HUP "$HUP_PID"
wait_log "$WORK/hup.log" "SIGHUP: TLS certificate not reloaded; still serving the previous one" && pass ||
  fail "a bad certificate on SIGHUP was not logged: $(cat "$WORK/hup.log")"
expect_contains "$(cat "$WORK/hup.log")" "live.pem is not a PEM certificate" "the log says why"
kill -0 "$HUP_PID" 2>/dev/null && pass || fail "SIGHUP stopped the replica"
code=$(command curl -s -o "$WORK/b" -w '%{http_code}' --cacert "$C/ca.pem" "$HUP/v2/health/ready")
expect_eq "$code" 200 "the previous certificate is still served"
kill -HUP "$CP_PID"
wait_log "$WORK/home.log" "SIGHUP: TLS certificate reloaded" && pass ||
  fail "the control plane logged no reload after SIGHUP: $(cat "$WORK/home.log")"
expect_rc 0 "$TANDEM" auth whoami

finish
