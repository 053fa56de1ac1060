#!/usr/bin/env bash
# The CLI against a real `tandem up`: registry, artifacts, events, errors and
# exit codes (0 ok, 1 failure, 2 usage).
source "$(dirname "$0")/lib.sh"
TANDEM=$1
WORK=$(mktemp -d /tmp/tandem-cli-e2e.XXXXXX)
trap 'stop_control_plane; rm -rf "$WORK"' EXIT
require_built "$TANDEM"

# require_built (lib.sh): a program that is not built ends the test at once,
# naming the ninja target that builds it; built ones and "" pass.
expect_rc 1 bash -c "source '$(dirname "$0")/lib.sh'; require_built '$TANDEM' \
  '$(dirname "$TANDEM")/tandem-not-built' '' '$(dirname "$TANDEM")/libnot_built_plugin.so'"
expect_contains "$OUT" "ninja -C $(cd "$(dirname "$TANDEM")/.." && pwd) tandem-not-built" "require_built names the target"
expect_contains "$OUT" "ninja -C $(cd "$(dirname "$TANDEM")/.." && pwd) not_built_plugin" "require_built names a plugin's target"
expect_rc 0 bash -c "source '$(dirname "$0")/lib.sh'; require_built '$TANDEM' ''"

# The version is the project version of CMakeLists.txt.
expect_rc 0 "$TANDEM" --version
if [ "$OUT" = "tandem ${TANDEM_EXPECTED_VERSION:?set by tests/cli/CMakeLists.txt}" ]; then pass; else
  fail "tandem --version printed '$OUT', want 'tandem $TANDEM_EXPECTED_VERSION'"
fi

# No control plane yet: a clear message and exit 1.
expect_rc 1 "$TANDEM" --server http://127.0.0.1:1 models list
expect_contains "$OUT" "no control plane reachable" "unreachable server message"

# A command that only reads a configuration creates no home in its cwd:
# `tandem serve --config FILE` without --home or $TANDEM_HOME reads FILE, then
# fails here on the missing model package, leaving the empty cwd empty.
mkdir -p "$WORK/empty-cwd"
echo "log_level: debug" > "$WORK/serve.yaml"
expect_rc 1 bash -c "cd '$WORK/empty-cwd' && env -u TANDEM_HOME '$TANDEM' serve \
  --config '$WORK/serve.yaml' --model-dir '$WORK/no-such-package' --port 0"
left=$(ls -A "$WORK/empty-cwd")
[ -z "$left" ] && pass || fail "tandem serve --config created '$left' in its cwd"

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }

# Usage errors exit 2.
expect_rc 2 "$TANDEM" models
expect_rc 2 "$TANDEM" models get
expect_rc 2 "$TANDEM" -o xml models list
expect_rc 0 "$TANDEM" models register --help
expect_contains "$OUT" "Examples" "help has examples"

# An unknown command says so (and suggests a close one) instead of printing the help.
expect_rc 2 "$TANDEM" widgets
expect_contains "$OUT" "unknown command 'tandem widgets'" "unknown command named"
[[ "$OUT" != *"Subcommands:"* ]] && pass || fail "unknown command printed the whole help: $OUT"
expect_rc 2 "$TANDEM" model list
expect_contains "$OUT" "did you mean 'tandem models'?" "close command suggested"
expect_rc 2 "$TANDEM" models lst
expect_contains "$OUT" "unknown command 'tandem models lst'" "unknown subcommand named"
expect_contains "$OUT" "did you mean 'tandem models list'?" "close subcommand suggested"

# A malformed spec file is named once.
printf 'name: [unclosed\n' >"$WORK/bad.yaml"
for cmd in "jobs run" "tune run" "transform run" "deployments apply"; do
  # shellcheck disable=SC2086
  expect_rc 1 "$TANDEM" $cmd -f "$WORK/bad.yaml"
  N=$(grep -o "$WORK/bad.yaml" <<<"$OUT" | wc -l)
  [ "$N" -eq 1 ] && pass || fail "'$cmd' names the spec path $N times: $OUT"
  expect_contains "$OUT" "malformed YAML" "'$cmd' says what is wrong"
done

# `jobs run --wait` prints the final state line once.
printf 'name: once\nentry_point: /bin/true\n' >"$WORK/once.yaml"
expect_rc 0 "$TANDEM" jobs run -f "$WORK/once.yaml" --wait
N=$(grep -c ': Completed$' <<<"$OUT")
[ "$N" -eq 1 ] && pass || fail "final state printed $N times: $OUT"

# The control plane exposes Prometheus metrics that promtool accepts.
CODE=$(curl -s -o "$WORK/metrics.txt" -w '%{http_code}' "$TANDEM_SERVER/metrics")
expect_eq "$CODE" 200 "GET /metrics"
expect_contains "$(cat "$WORK/metrics.txt")" 'tandem_jobs{state="Completed",team=' "jobs by state and team"
if command -v promtool >/dev/null; then
  OUT=$(promtool check metrics <"$WORK/metrics.txt" 2>&1)
  [ -z "$OUT" ] && pass || fail "promtool: $OUT"
else
  fail "promtool is missing (scripts/bootstrap installs prometheus)"
fi

# Register a model file and a model directory.
echo '{"learner": "fake"}' > "$WORK/model.json"
mkdir -p "$WORK/model_dir/sub" && echo "weights" > "$WORK/model_dir/sub/w.bin" && cp "$WORK/model.json" "$WORK/model_dir/"
expect_rc 0 "$TANDEM" models register fraud "$WORK/model.json" --team risk --tag data=2026-11 -o json
expect_contains "$OUT" '"version": "1"' "first version"
expect_rc 0 "$TANDEM" models register fraud "$WORK/model_dir" --alias champion -o json
expect_contains "$OUT" '"version": "2"' "second version"
expect_contains "$OUT" '"champion"' "alias set on register"

expect_rc 0 "$TANDEM" models list
expect_contains "$OUT" "fraud" "models list"
expect_contains "$OUT" "risk" "models list team"
expect_rc 0 "$TANDEM" models versions fraud
expect_contains "$OUT" "READY" "versions list"
expect_rc 0 "$TANDEM" models get fraud@champion -o json
expect_contains "$OUT" '"version": "2"' "resolve alias"
expect_rc 0 "$TANDEM" models alias fraud champion 1
expect_rc 0 "$TANDEM" models get fraud@champion -o yaml
expect_contains "$OUT" "version: 1" "alias moved"
expect_rc 0 "$TANDEM" models tag fraud/1 validated=true -o json
expect_contains "$OUT" '"validated": "true"' "version tag"

# The registered directory comes back as a safe archive with the same files.
DIGEST=$("$TANDEM" models get fraud/2 -o json | grep -o '"source": "sha256:[0-9a-f]*"' | cut -d'"' -f4)
KEY=$("$TANDEM" models get fraud/2 -o json | grep -o '"artifact_key": "[^"]*"' | cut -d'"' -f4)
expect_rc 0 "$TANDEM" artifacts get "$KEY" "$WORK/back.tar.gz"
mkdir -p "$WORK/unpacked" && tar -xzf "$WORK/back.tar.gz" -C "$WORK/unpacked"
if cmp -s "$WORK/unpacked/sub/w.bin" "$WORK/model_dir/sub/w.bin"; then pass; else fail "model dir round trip"; fi
if [ "sha256:$(sha256sum "$WORK/back.tar.gz" | cut -d' ' -f1)" = "$DIGEST" ]; then pass; else fail "digest matches content"; fi

# Not found and invalid input exit 1 with the name in the message.
expect_rc 1 "$TANDEM" models get nosuch
expect_contains "$OUT" "nosuch" "not found names the model"
expect_rc 1 "$TANDEM" models alias fraud champion 99
expect_rc 1 "$TANDEM" models alias fraud 123 1
expect_rc 1 "$TANDEM" models register "bad name" "$WORK/model.json"
expect_rc 1 "$TANDEM" models register fraud "$WORK/does-not-exist"

# Artifacts.
head -c 100000 /dev/urandom > "$WORK/blob.bin"
expect_rc 0 "$TANDEM" artifacts put data/blob.bin "$WORK/blob.bin"
expect_rc 0 "$TANDEM" artifacts ls data/
expect_contains "$OUT" "data/blob.bin" "artifacts ls"
expect_rc 0 "$TANDEM" artifacts get data/blob.bin "$WORK/blob.out"
if cmp -s "$WORK/blob.bin" "$WORK/blob.out"; then pass; else fail "artifact round trip"; fi
expect_rc 1 "$TANDEM" artifacts get data/missing.bin "$WORK/missing.out"
[ ! -e "$WORK/missing.out" ] && [ ! -e "$WORK/missing.out.partial" ] && pass || fail "nothing written for a missing artifact"
expect_rc 1 "$TANDEM" artifacts put ../escape "$WORK/blob.bin"
expect_rc 0 "$TANDEM" artifacts rm data/blob.bin
expect_rc 1 "$TANDEM" artifacts get data/blob.bin -

# Events: history replay, filtered, then a live event arriving during a tail.
expect_rc 0 "$TANDEM" events tail --from-start --count 2 --pattern '{"detail-type":["Model Alias Changed"]}'
expect_contains "$OUT" "Model Alias Changed" "tail replays history"
"$TANDEM" events tail --count 1 --pattern '{"detail-type":["Ping"]}' -o json > "$WORK/tail.out" 2>&1 &
TAIL_PID=$!
for _ in $(seq 1 100); do
  "$TANDEM" events publish --detail-type Ping --detail '{"n": 1}' >/dev/null
  kill -0 $TAIL_PID 2>/dev/null || break
  sleep 0.1
done
wait $TAIL_PID; rc=$?
[ $rc -eq 0 ] && pass || fail "live tail exited $rc"
expect_contains "$(cat "$WORK/tail.out")" '"detail-type":"Ping"' "live tail sees a published event"
expect_rc 1 "$TANDEM" events tail --pattern '{"source": "not-a-list"}'

# Rules and queues through the CLI.
expect_rc 1 "$TANDEM" events queues create promotions --max-receive-count 3 --dead-letter-queue promotions-dlq
expect_contains "$OUT" "promotions-dlq" "missing dead-letter queue is named"
expect_rc 0 "$TANDEM" events queues create promotions-dlq
expect_rc 0 "$TANDEM" events queues create promotions --max-receive-count 3 --dead-letter-queue promotions-dlq
expect_rc 0 "$TANDEM" events rules put aliases --target promotions --pattern '{"detail-type":["Model Alias Changed"]}'
expect_rc 0 "$TANDEM" models alias fraud challenger 2
expect_rc 0 "$TANDEM" events queues list
expect_contains "$OUT" "promotions" "queues list"

# The control plane shuts down cleanly on SIGTERM and state survives a
# restart. A connected streaming client does not hold the stop up: its stream
# ends at once, cleanly (the final chunk, exit 0), not cut off after the
# 5 s drain timeout (a truncated transfer, exit 1).
"$TANDEM" events tail --pattern '{"detail-type":["Pong"]}' -o json > "$WORK/tail2.out" 2>&1 &
TAIL_PID=$!
for _ in $(seq 1 100); do
  "$TANDEM" events publish --detail-type Pong --detail '{"n": 1}' >/dev/null
  grep -q Pong "$WORK/tail2.out" && break
  sleep 0.1
done
expect_contains "$(cat "$WORK/tail2.out")" '"detail-type":"Pong"' "second tail is connected"
stop_control_plane
wait $TAIL_PID; rc=$?
[ $rc -eq 0 ] && pass || fail "events tail exited $rc when the control plane stopped: $(cat "$WORK/tail2.out")"
start_control_plane "$TANDEM" "$WORK/home" || { echo "restart failed"; exit 1; }
expect_rc 0 "$TANDEM" models get fraud@challenger -o json
expect_contains "$OUT" '"version": "2"' "state survives restart"

finish
