#!/usr/bin/env bash
# Runtime smoke test with a real container engine: the serving image
# (deploy/images/build-serving-image) loaded into a private podman storage;
# a rendered serving Deployment, through a test overlay (kustomize: hostNetwork,
# no ports, the glue URIs as plain values, the control plane's home mounted),
# run by `podman kube play`: the pod follows a model registered on a `tandem
# up` on loopback and answers the Open Inference Protocol with the same score
# as a local replica of that model; a SIGKILL of the server is followed by a
# restart (restartPolicy Always); the liveness probe, which podman maps to a
# healthcheck, passes with `podman healthcheck run`, and the readiness and
# startup probes' HTTP checks (which podman 4 does not run) pass from here.
# Then a rendered Job's pod template runs as a Pod (restartPolicy Never; podman
# kube play rejects kind Job): stage, train, finalize, and the model it
# registered is in the registry; a failing training exits non-zero and
# registers nothing. Exit codes are reported.
# Skipped (exit 77, shown by ctest) only if podman cannot run a container here.
# Usage: podman_smoke_test.sh BUILD_DIR TANDEM_BIN SERVING_TEST_MODEL_BIN SOURCE_ROOT
source "$(dirname "$0")/../cli/lib.sh"
source "$(dirname "$0")/../images/podman.sh"
BUILD=$1
TANDEM=$2
MAKE_MODEL=$3
SRC=$4
NODE_DIR=$SRC/tests/kubernetes/node
for tool in podman runc umoci skopeo kubectl node curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing (scripts/bootstrap installs it)"; exit 77; }
done
WORK=$(mktemp -d /tmp/tandem-kube-smoke.XXXXXX)
private_podman "$WORK/podman"
LOCAL_PID=""
cleanup() {
  podman_cleanup
  [ -n "$LOCAL_PID" ] && kill "$LOCAL_PID" 2>/dev/null
  stop_control_plane
  rm -rf "$WORK"
}
trap cleanup EXIT

# 0. Can podman run a container at all? (The image is needed for that.)
TAG=$(bash "$SRC/deploy/images/build-serving-image" "$BUILD" "$BUILD/images/serving")
if [ -z "$TAG" ]; then echo "FAIL: the serving image was not built"; exit 1; fi
IMAGE=localhost/tandem-serving:$TAG
if ! skopeo copy -q "oci:$BUILD/images/serving/oci:$TAG" \
    "containers-storage:[overlay@$PODMAN_ROOT+$PODMAN_RUNROOT]$IMAGE" 2>"$WORK/skopeo.err"; then
  echo "FAIL: cannot load the image: $(cat "$WORK/skopeo.err")"
  exit 1
fi
if ! podman_ run --rm --network host "$IMAGE" --version >"$WORK/run.out" 2>&1; then
  echo "SKIP: podman cannot run a container here: $(tail -3 "$WORK/run.out")"
  exit 77
fi
expect_contains "$(cat "$WORK/run.out")" "tandem" "the image runs tandem"
echo "image $IMAGE ($(du -sh "$BUILD/images/serving/oci" | cut -f1) OCI layout)"

# 1. A control plane on loopback with a registered model, and a local
# replica of the same package for the expected scores.
start_with_churn_model "$TANDEM" "$MAKE_MODEL" "$WORK"
HOME_DIR=$WORK/home
# Two ports free right now (the kernel picks them; both held while picked so
# they differ): a random port could be one another test is using.
read -r LPORT PORT < <(python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
"$TANDEM" serve --model-dir "$WORK/m1" --name churn --port "$LPORT" >"$WORK/local.log" 2>&1 &
LOCAL_PID=$!
ROW='[0.5,-1.2,0.3,0.8,-0.4,1.1,0.0,-0.7,0.9,0.2,1,0,2,3,0,1,0,1,1,0]'
BODY='{"inputs":[{"name":"input","shape":[1,20],"datatype":"FP32","data":'$ROW'}]}'
score() {  # score PORT: the output data of one inference, "" if it failed
  command curl -s -m 5 -X POST "http://127.0.0.1:$1/v2/models/churn/infer" -d "$BODY" |
    grep -o '"data":\[[^]]*\]'
}
wait_ready() {  # wait_ready PORT SECONDS
  for _ in $(seq 1 $(($2 * 10))); do
    command curl -sf -m 2 "http://127.0.0.1:$1/v2/health/ready" >/dev/null && return 0
    sleep 0.1
  done
  return 1
}
wait_ready "$LPORT" 30 || fail "the local replica did not become ready: $(tail -3 "$WORK/local.log")"
WANT=$(score "$LPORT")
[ -n "$WANT" ] && pass || fail "no score from the local replica"

# 2. The rendered Deployment through the test overlay.
mkdir -p "$WORK/overlay"
printf 'name: smoke\nteam: risk\nmodel: churn@champion\nreplicas: {min: 1, max: 3}\nautoscaling: {target_in_flight_per_replica: 4}\ndisruption_budget: {min_available: 0}\nresources: {cpus: 1, memory_mb: 512}\n' >"$WORK/smoke.yaml"
expect_rc 0 "$TANDEM" deployments render -f "$WORK/smoke.yaml" --image "$IMAGE" \
  --image-pull-policy Never --host 127.0.0.1 --port "$PORT" --drain-seconds 1 --grace-seconds 5 \
  --startup-seconds 60
printf '%s\n' "$OUT" >"$WORK/overlay/rendered.yaml"
cat >"$WORK/overlay/kustomization.yaml" <<YAML
resources:
- rendered.yaml
patchesJson6902:
- target: {group: apps, version: v1, kind: Deployment, name: smoke}
  path: podman.yaml
YAML
C=/spec/template/spec/containers/0
cat >"$WORK/overlay/podman.yaml" <<YAML
- {op: add, path: /spec/template/spec/hostNetwork, value: true}
- {op: remove, path: $C/ports}
- {op: replace, path: $C/env/1, value: {name: TANDEM_DATABASE, value: "sqlite://$HOME_DIR/tandem.db"}}
- {op: replace, path: $C/env/2, value: {name: TANDEM_STORE, value: "file://$HOME_DIR/store"}}
- {op: remove, path: $C/env/3}
- {op: add, path: /spec/template/spec/volumes/-, value: {name: host, hostPath: {path: "$HOME_DIR", type: Directory}}}
- {op: add, path: $C/volumeMounts/-, value: {name: host, mountPath: "$HOME_DIR"}}
YAML
if kubectl kustomize "$WORK/overlay" >"$WORK/play.yaml" 2>"$WORK/kustomize.err"; then
  pass
else
  fail "kubectl kustomize of the test overlay: $(cat "$WORK/kustomize.err")"
fi
expect_rc 0 node "$NODE_DIR/validate.mjs" "$WORK/play.yaml"
if grep -q "containerPort" "$WORK/play.yaml"; then fail "the overlay kept ports"; else pass; fi
# podman plays the ConfigMap and the Deployment (a Service, HPA or PDB it
# would refuse or ignore: they have no meaning on one host).
node -e '
const yaml = require(process.argv[1] + "/node_modules/js-yaml");
const fs = require("fs");
const docs = yaml.loadAll(fs.readFileSync(process.argv[2], "utf8"))
  .filter((o) => o && ["ConfigMap", "Deployment"].includes(o.kind));
fs.writeFileSync(process.argv[3], docs.map((o) => "---\n" + yaml.dump(o)).join(""));
' "$NODE_DIR" "$WORK/play.yaml" "$WORK/podman-play.yaml"
expect_rc 0 podman_ kube play "$WORK/podman-play.yaml"
CTR=smoke-pod-0-replica
if wait_ready "$PORT" 60; then pass; else
  fail "the pod did not become ready: $(podman_ logs --tail 5 "$CTR" 2>&1)"
fi
GOT=$(score "$PORT")
expect_eq "$GOT" "$WANT" "the pod's score for churn@champion"
echo "pod score $GOT, local replica $WANT"

# 3. Probes: liveness through podman's healthcheck; readiness and startup
# (same endpoint) over HTTP from here.
expect_rc 0 podman_ healthcheck run "$CTR"
HC=$(podman_ inspect "$CTR" --format '{{json .Config.Healthcheck.Test}}')
expect_contains "$HC" "/v2/health/live" "the liveness probe became the healthcheck"
expect_rc 0 command curl -sf "http://127.0.0.1:$PORT/v2/health/ready"
expect_rc 0 command curl -sf "http://127.0.0.1:$PORT/v2/health/live"

# 4. SIGKILL of the server process: the container restarts and serves again.
PID=$(podman_ inspect "$CTR" --format '{{.State.Pid}}')
BEFORE=$(podman_ inspect "$CTR" --format '{{.RestartCount}}')
kill -KILL "$PID"
RESTARTED=""
for _ in $(seq 1 300); do
  NOW=$(podman_ inspect "$CTR" --format '{{.RestartCount}} {{.State.Pid}}' 2>/dev/null)
  if [ "${NOW%% *}" -gt "$BEFORE" ] 2>/dev/null && [ "${NOW##* }" != "$PID" ] && [ "${NOW##* }" != 0 ]; then
    RESTARTED=1
    break
  fi
  sleep 0.1
done
if [ -n "$RESTARTED" ]; then pass; else fail "no restart after SIGKILL (restarts $BEFORE -> ${NOW:-?})"; fi
if wait_ready "$PORT" 60; then pass; else fail "not ready again after the restart"; fi
expect_eq "$(score "$PORT")" "$WANT" "the score after the restart"
echo "server SIGKILLed (pid $PID), restarted: restarts ${NOW%% *}"
podman_ pod rm -f -t 5 smoke-pod-0 >/dev/null 2>&1

# 5. A rendered Job's pod template as a Pod: stage, train, finalize.
expect_rc 0 "$TANDEM" artifacts put datasets/train.csv "$SRC/examples/data/train.csv"
expect_rc 0 "$TANDEM" artifacts put datasets/validation.csv "$SRC/examples/data/validation.csv"
cat >"$WORK/job.yaml" <<'YAML'
name: smoke-train
team: risk
entry_point: /usr/bin/tandem-train-xgboost
hyperparameters: {num_round: 20, max_depth: 3, eta: 0.3, objective: "binary:logistic"}
inputs: {train: datasets/train.csv, validation: datasets/validation.csv}
resources: {cpus: 1, memory_mb: 1024}
max_runtime_seconds: 600
retries: 1
register: {model: smokejob, alias: champion}
YAML
run_job_pod() {  # run_job_pod SPEC NAME: renders, plays, waits; sets JOB_EXIT
  expect_rc 0 "$TANDEM" jobs render -f "$1" --image "$IMAGE" --tandem-image "$IMAGE" \
    --image-pull-policy Never
  printf '%s\n' "$OUT" >"$WORK/$2.job.yaml"
  expect_rc 0 node "$NODE_DIR/validate.mjs" "$WORK/$2.job.yaml"
  expect_rc 0 node "$NODE_DIR/pod_overlay.mjs" job-to-pod "$WORK/$2.job.yaml" "$WORK/$2.pod.yaml" \
    "$HOME_DIR" "sqlite://$HOME_DIR/tandem.db" "file://$HOME_DIR/store"
  podman_ kube play "$WORK/$2.pod.yaml" >"$WORK/$2.play.log" 2>&1
  JOB_PLAY=$?
  JOB_EXIT=""
  for _ in $(seq 1 600); do
    local st
    st=$(podman_ inspect "$2-finalize" --format '{{.State.Status}} {{.State.ExitCode}}' 2>/dev/null)
    if [[ "$st" == exited* ]]; then JOB_EXIT=${st##* }; break; fi
    [ "$JOB_PLAY" -ne 0 ] && break
    sleep 0.1
  done
}
run_job_pod "$WORK/job.yaml" smoke-train
echo "job pod smoke-train: kube play exit $JOB_PLAY, finalize container exit ${JOB_EXIT:-none}"
expect_eq "$JOB_PLAY" "0" "kube play of the job pod"
expect_eq "$JOB_EXIT" "0" "the job pod's finalize exit code"
podman_ logs smoke-train-finalize 2>&1 | tail -2
expect_rc 0 "$TANDEM" models get smokejob@champion -o json
expect_contains "$OUT" '"version": "1"' "the job pod registered version 1"
expect_contains "$OUT" "smoke-train" "the version's lineage names the job"

# A failing training: the pod fails in its train step, nothing is registered.
sed -e 's/^name: smoke-train/name: smoke-fail/' -e 's#^entry_point: .*#entry_point: /usr/bin/sh#' \
  -e 's/smokejob/smokefail/' "$WORK/job.yaml" >"$WORK/fail.yaml"
run_job_pod "$WORK/fail.yaml" smoke-fail
TRAIN_EXIT=$(podman_ inspect smoke-fail-train --format '{{.State.ExitCode}}' 2>/dev/null)
echo "job pod smoke-fail: kube play exit $JOB_PLAY, train exit ${TRAIN_EXIT:-gone}, finalize ${JOB_EXIT:-did not run}"
if [ "$JOB_PLAY" -ne 0 ] || [ -n "$TRAIN_EXIT" -a "$TRAIN_EXIT" != 0 ]; then pass; else
  fail "a failing training was not reported: $(cat "$WORK/smoke-fail.play.log")"
fi
[ -z "$JOB_EXIT" ] && pass || fail "finalize ran after a failed training (exit $JOB_EXIT)"
expect_rc 1 "$TANDEM" models get smokefail@champion

finish
