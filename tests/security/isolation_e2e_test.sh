#!/usr/bin/env bash
# Isolation attacks on a real `tandem up` (docs/security.md "Isolation"):
#  1. REST specs naming local paths (the control plane's home, /etc) are
#     refused and create nothing; the CLI uploads local files instead.
#  2. A running job cannot read the control plane's database or admin token,
#     nor another running job's input or model directory, and has no network
#     unless its spec asks (each with a positive control that can fail).
#  3. Symlinks and tar-slip in an uploaded source, and symlinks the job leaves
#     in its model or output directories, do not reach outside the job.
# The home is outside /tmp: the sandbox's private /tmp would hide it anyway.
source "$(dirname "$0")/lib.sh"
TANDEM=$1
WORK=$(mktemp -d /var/tmp/tandem-isolation.XXXXXX)
trap 'stop_control_plane; rm -rf "$WORK"' EXIT
HOME_DIR=$WORK/home

start_control_plane "$TANDEM" "$HOME_DIR" || { echo "control plane did not start"; exit 1; }
PORT=${TANDEM_SERVER##*:}
ADMIN=$TANDEM_TOKEN

wait_running() {
  for _ in $(seq 1 300); do [ "$(job_state "$1")" = Running ] && return 0; sleep 0.1; done
  return 1
}

# --- 1. local paths in REST specs: refused (403), nothing created ----------
for body in \
  '{"name":"x","entry_point":"run.sh","source_dir":"'"$HOME_DIR"'"}' \
  '{"name":"x","entry_point":"/bin/true","inputs":{"db":"'"$HOME_DIR"'/tandem.db"}}' \
  '{"name":"x","entry_point":"/bin/true","inputs":{"etc":"/etc"}}' \
  '{"name":"x","entry_point":"/bin/true","inputs":{"pw":"file:///etc/passwd"}}' \
  '{"name":"x","entry_point":"/bin/true","inputs":{"up":"/var/tmp/../..'"$HOME_DIR"'/admin-token"}}'; do
  code=$(status_of POST /api/v1/jobs "$body")
  expect_eq "$code" 403 "REST job spec with a local path: $body"
  expect_contains "$(cat "$WORK/body")" "security.allowed_local_paths" "the refusal says why"
done
code=$(status_of POST /api/v1/tuning-jobs '{"name":"t","objective":{"metric":"loss","type":"Minimize"},"strategy":"Random","max_jobs":1,"max_parallel_jobs":1,"parameter_ranges":[{"name":"lr","type":"Continuous","min":0.1,"max":0.2}],"training_job":{"entry_point":"/bin/true","inputs":{"etc":"/etc"},"metric_definitions":[{"name":"loss","regex":"loss=([0-9.]+)"}]}}')
expect_eq "$code" 403 "REST tuning spec with a local input"
expect_contains "$(cat "$WORK/body")" "training_job.inputs.etc" "names the field"
code=$(status_of POST /api/v1/transform-jobs '{"name":"tr","model":"none@champion","input":{"uri":"'"$HOME_DIR"'"},"output":{"prefix":"out/x"}}')
expect_eq "$code" 403 "REST transform spec reading the home"
expect_eq "$(count_jobs)" 0 "no job was created by the refused specs"
expect_eq "$("$TANDEM" tune list -o json | field '["tuning_jobs"].__len__()')" 0 "no tuning job was created"
[ ! -e "$HOME_DIR/jobs" ] || [ -z "$(ls -A "$HOME_DIR/jobs")" ] && pass || fail "job directories were created"

# The CLI uploads local inputs (a file and a directory) and the job reads them.
mkdir -p "$WORK/cli/code" "$WORK/cli/data/more"
printf 'a,b\n1,2\n' >"$WORK/cli/data/train.csv"
printf 'nested' >"$WORK/cli/data/more/x.txt"
printf '#!/bin/sh\ncat "$SM_CHANNEL_TRAIN/train.csv"\ncat "$SM_CHANNEL_ALL/more/x.txt"; echo\n' >"$WORK/cli/code/run.sh"
chmod +x "$WORK/cli/code/run.sh"
printf 'name: uploaded\nentry_point: run.sh\nsource_dir: code\ninputs: {train: data/train.csv, all: %s}\n' \
  "$WORK/cli/data" >"$WORK/cli/job.yaml"
expect_rc 0 "$TANDEM" jobs run -f "$WORK/cli/job.yaml" --wait
expect_contains "$OUT" "1,2" "the uploaded file channel was staged"
expect_contains "$OUT" "nested" "the uploaded directory channel was staged"
UP=$("$TANDEM" jobs list --name uploaded -o json | field '["jobs"][0]["id"]')
SPEC=$("$TANDEM" jobs get "$UP" -o json)
expect_contains "$SPEC" '"train": "teams/default/uploads/' "the spec names the uploaded key"
[[ "$SPEC" != *"$WORK/cli/data"* ]] && pass || fail "the spec still names a local path: $SPEC"

# --- 2. a running job sees only its own directories ------------------------
mkdir -p "$WORK/victim/code" "$WORK/victim/data"
printf 'VICTIM-INPUT-%s' "$RANDOM$RANDOM" >"$WORK/victim/data/secret.txt"
printf '#!/bin/sh\necho VICTIM-MODEL > "$SM_MODEL_DIR/weights"\nsleep 120\n' >"$WORK/victim/code/run.sh"
chmod +x "$WORK/victim/code/run.sh"
printf 'name: victim\nentry_point: run.sh\nsource_dir: code\ninputs: {train: data/secret.txt}\n' >"$WORK/victim/job.yaml"
VICTIM=$("$TANDEM" jobs run -f "$WORK/victim/job.yaml")
wait_running "$VICTIM" && pass || fail "the victim job is not running"
VICTIM_ML=$HOME_DIR/jobs/$VICTIM/attempt-1/ml
[ -f "$VICTIM_ML/input/data/train/secret.txt" ] && pass || fail "victim input not at $VICTIM_ML"

mkdir -p "$WORK/spy/code"
cat >"$WORK/spy/code/run.sh" <<'SH'
#!/bin/sh
for f in "$CP_HOME/tandem.db" "$CP_HOME/admin-token" "$VICTIM_ML/input/data/train/secret.txt" \
         "$VICTIM_ML/model/weights"; do
  if cat "$f" 2>/dev/null; then echo "READ $f"; else echo "CANNOT-READ $f"; fi
done
ls -A "$CP_HOME" 2>/dev/null | sed 's/^/HOME-ENTRY /'
cat "$SM_CHANNEL_OWN/own.txt"; echo
python3 - "$CP_PORT" <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3).close()
    print("NET-OK")
except OSError as e:
    print("NO-NET", e)
PY
SH
chmod +x "$WORK/spy/code/run.sh"
printf 'own-input-visible' >"$WORK/spy/own.txt"
for net in false true; do
  cat >"$WORK/spy/job.yaml" <<YAML
name: spy-$net
entry_point: run.sh
source_dir: code
inputs: {own: own.txt}
network: $net
environment: {CP_HOME: "$HOME_DIR", VICTIM_ML: "$VICTIM_ML", CP_PORT: "$PORT"}
YAML
  expect_rc 0 "$TANDEM" jobs run -f "$WORK/spy/job.yaml" --wait
  SPY_LOG=$OUT
  expect_contains "$SPY_LOG" "own-input-visible" "the job reads its own input (network: $net)"
  expect_contains "$SPY_LOG" "CANNOT-READ $HOME_DIR/tandem.db" "the control plane's database is hidden"
  expect_contains "$SPY_LOG" "CANNOT-READ $HOME_DIR/admin-token" "the admin token is hidden"
  expect_contains "$SPY_LOG" "CANNOT-READ $VICTIM_ML/input/data/train/secret.txt" "another job's input is hidden"
  expect_contains "$SPY_LOG" "CANNOT-READ $VICTIM_ML/model/weights" "another job's model dir is hidden"
  [[ "$SPY_LOG" != *"HOME-ENTRY"* && "$SPY_LOG" != *"VICTIM-"* && "$SPY_LOG" != *"$ADMIN"* ]] \
    && pass || fail "the job saw the control plane's home: $SPY_LOG"
  if [ "$net" = false ]; then
    expect_contains "$SPY_LOG" "NO-NET" "no network unless the spec asks"
  else
    expect_contains "$SPY_LOG" "NET-OK" "network: true reaches the control plane (the check can fail)"
  fi
done
# Positive control: the victim's files are there on the host, readable by tandem itself.
expect_eq "$(cat "$VICTIM_ML/model/weights")" "VICTIM-MODEL" "the victim's model file exists on the host"
expect_rc 0 "$TANDEM" jobs stop "$VICTIM"

# --- 3. symlinks and tar-slip ----------------------------------------------
# An uploaded source whose archive holds a link to the admin token, or a
# ../ entry: the job fails at staging and nothing lands outside.
python3 - "$WORK" "$HOME_DIR" <<'PY'
import io, sys, tarfile
work, home = sys.argv[1], sys.argv[2]
def pack(name, entries):
    with tarfile.open(f"{work}/{name}.tar.gz", "w:gz") as t:
        for kind, path, data in entries:
            info = tarfile.TarInfo(path)
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, data
                t.addfile(info)
            else:
                info.size, info.mode = len(data), 0o755
                t.addfile(info, io.BytesIO(data))
pack("symlink", [("file", "run.sh", b"#!/bin/sh\ncat token\n"), ("link", "token", f"{home}/admin-token")])
pack("slip", [("file", "run.sh", b"#!/bin/sh\ntrue\n"), ("file", f"../../../../slipped", b"x")])
PY
for kind in symlink slip; do
  expect_rc 0 "$TANDEM" artifacts put "jobs/uploads/evil-$kind/source.tar.gz" "$WORK/$kind.tar.gz"
  code=$(status_of POST /api/v1/jobs '{"name":"evil-'$kind'","entry_point":"run.sh","source_dir":"jobs/uploads/evil-'$kind'/source.tar.gz"}')
  expect_eq "$code" 201 "the evil $kind source is accepted for staging"
  ID=$(field '["id"]' <"$WORK/body")
  expect_eq "$(wait_job_end "$TANDEM" "$ID")" Failed "the $kind source fails the job"
  REASON=$(job_reason "$ID")
  [[ "$REASON" == *"token"* || "$REASON" == *"slipped"* ]] && pass || fail "$kind: reason names the entry: $REASON"
  [[ "$("$TANDEM" jobs logs "$ID")" != *"$ADMIN"* ]] && pass || fail "$kind: the token leaked into the log"
done
[ -z "$(find "$WORK" "$HOME_DIR" -name slipped)" ] && pass || fail "a tar-slip entry was written"

# A job leaving a link in its model directory, or replacing its model or
# output/data directory by a link to the home: Failed, nothing packed,
# published or registered.
for how in "ln -s $HOME_DIR/admin-token \$SM_MODEL_DIR/token" \
           "rm -rf \$SM_MODEL_DIR && ln -s $HOME_DIR \$SM_MODEL_DIR" \
           "rm -rf /opt/ml/output/data && ln -s $HOME_DIR /opt/ml/output/data"; do
  mkdir -p "$WORK/link/code"
  printf '#!/bin/sh\nset -e\n%s\n' "$how" >"$WORK/link/code/run.sh"
  chmod +x "$WORK/link/code/run.sh"
  printf 'name: linker\nentry_point: run.sh\nsource_dir: code\npublish_prefix: teams/default/published\nregister: {model: stolen, alias: champion}\n' >"$WORK/link/job.yaml"
  expect_rc 1 "$TANDEM" jobs run -f "$WORK/link/job.yaml" --wait
  expect_contains "$OUT" "symlink" "a link out of the job fails it ($how)"
  ID=$("$TANDEM" jobs list --name linker -o json | field '["jobs"][0]["id"]')
  expect_eq "$("$TANDEM" artifacts ls "jobs/$ID/output/" -o json | field "[\"artifacts\"].__len__()")" 0 \
    "nothing packed for $ID"
done
expect_rc 1 "$TANDEM" models get stolen
expect_eq "$("$TANDEM" artifacts ls teams/default/published/ -o json | field "[\"artifacts\"].__len__()")" 0 \
  "nothing published from the home"
expect_eq "$(cat "$HOME_DIR/admin-token")" "$ADMIN" "the admin token is unchanged"

finish
