#!/usr/bin/env bash
# Every Kubernetes object tandem renders validates against the Kubernetes
# OpenAPI schemas (node/validate.mjs, kubernetes-models) and is consistent
# across objects (selectors match labels, the HPA targets the Deployment);
# broken objects are refused (node/negative_test.mjs); the committed
# kustomize base builds with kubectl and validates; rendering refuses bad
# input with a message naming the field.
# Usage: schema_test.sh TANDEM_BIN SERVING_TEST_MODEL_BIN SOURCE_ROOT
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
MAKE_MODEL=$2
SRC=$3
NODE_DIR=$SRC/tests/kubernetes/node
if [ ! -d "$NODE_DIR/node_modules/kubernetes-models" ]; then
  echo "FAIL: $NODE_DIR/node_modules is missing: run scripts/bootstrap (npm ci)"
  exit 1
fi
WORK=$(mktemp -d)
cleanup() { stop_control_plane; rm -rf "$WORK"; }
trap cleanup EXIT
validate() { node "$NODE_DIR/validate.mjs" "$@"; }

# 1. Specs rendered offline, as YAML and as JSON.
cat >"$WORK/minimal.yaml" <<'YAML'
name: minimal
model: churn@champion
YAML
cat >"$WORK/full.yaml" <<'YAML'
name: fraud-api
team: risk
model: fraud@champion
replicas: {min: 2, max: 8}
autoscaling: {target_in_flight_per_replica: 2.5, scale_down_stabilization_s: 60, tolerance: 0.2}
disruption_budget: {min_available: 1}
batching: {max_batch_size: 32, max_queue_delay_us: 500, queue_size: 256}
resources: {cpu: 750m, memory: 1Gi, gpus: 1}
shadow: {model: fraud@challenger, sample: 0.25}
canary: {model: fraud@candidate, weight: 0.1, rollback: {max_error_rate: 0.02, max_p99_ms: 50}}
YAML
cat >"$WORK/budget.yaml" <<'YAML'
name: pinned
team: Data Science
model: pinned/3
replicas: {min: 3, max: 3}
disruption_budget: {min_available: 3}
resources: {cpus: 2, memory_mb: 4096}
YAML
for s in minimal full budget; do
  expect_rc 0 "$TANDEM" deployments render -f "$WORK/$s.yaml"
  printf '%s\n' "$OUT" >"$WORK/$s.out.yaml"
  expect_rc 0 "$TANDEM" deployments render -f "$WORK/$s.yaml" -o json --namespace ml
  printf '%s\n' "$OUT" >"$WORK/$s.out.json"
done
expect_rc 0 validate "$WORK"/*.out.yaml "$WORK"/*.out.json
echo "$OUT"
expect_contains "$(cat "$WORK/full.out.yaml")" "kind: HorizontalPodAutoscaler" "full spec has an HPA"
expect_contains "$(cat "$WORK/full.out.yaml")" "--canary" "canary flags reach the replica"
if grep -q "kind: HorizontalPodAutoscaler" "$WORK/budget.out.yaml"; then
  fail "a deployment without autoscaling got an HPA"
else
  pass
fi
expect_contains "$(cat "$WORK/budget.out.yaml")" "maxUnavailable: 0" "a full budget rolls by surge only"

# Jobs: a batch/v1 Job with the contract, deadline, retries and resources.
cat >"$WORK/job.yaml" <<'YAML'
name: Churn-Train
team: growth
image: registry.local/team/train:1.2
entry_point: train.py
source_dir: code/churn.tar.gz
hyperparameters: {max_depth: 6, eta: 0.3}
inputs: {train: datasets/train.csv}
resources: {cpus: 0.5, memory_mb: 512, gpus: 1}
max_runtime_seconds: 900
retries: 3
register: {model: churn, alias: challenger}
YAML
expect_rc 0 "$TANDEM" jobs render -f "$WORK/job.yaml" --ttl-seconds 600
printf '%s\n' "$OUT" >"$WORK/job.out.yaml"
expect_rc 0 "$TANDEM" jobs render -f "$WORK/job.yaml" -o json --namespace ml
printf '%s\n' "$OUT" >"$WORK/job.out.json"
expect_rc 0 validate "$WORK/job.out.yaml" "$WORK/job.out.json"
JOB=$(cat "$WORK/job.out.yaml")
expect_contains "$JOB" "activeDeadlineSeconds: 900" "max_runtime_seconds is the deadline"
expect_contains "$JOB" "backoffLimit: 3" "retries are the backoff limit"
expect_contains "$JOB" "ttlSecondsAfterFinished: 600" "the TTL option"
expect_contains "$JOB" "SM_CHANNEL_TRAIN" "the contract's environment"
expect_contains "$JOB" "/opt/ml/code/train.py" "the entry point under /opt/ml/code"
printf 'name: j\nentry_point: train.py\n' >"$WORK/noimage.yaml"
expect_rc 1 "$TANDEM" jobs render -f "$WORK/noimage.yaml"
expect_contains "$OUT" "training image" "a job without image is refused"
printf 'name: j\nentry_point: train.py\nretries: 99\n' >"$WORK/badjob.yaml"
expect_rc 1 "$TANDEM" jobs render -f "$WORK/badjob.yaml" --image x
expect_contains "$OUT" "retries" "job spec errors come from the jobs' parser"

# 2. Broken objects are refused by the validator.
expect_rc 0 node "$NODE_DIR/negative_test.mjs" "$WORK/full.out.yaml"
echo "$OUT" | tail -1
# ... and a file that is not YAML, or holds no objects.
printf 'kind: [unclosed\n' >"$WORK/bad.yaml"
expect_rc 1 validate "$WORK/bad.yaml"
: >"$WORK/empty.yaml"
expect_rc 1 validate "$WORK/empty.yaml"

# 3. Rendering refuses what Kubernetes cannot take, naming it, and prints nothing.
printf 'name: a\nmodel: m@x\nresources: {cpu: 2x}\n' >"$WORK/badq.yaml"
expect_rc 1 "$TANDEM" deployments render -f "$WORK/badq.yaml"
expect_contains "$OUT" "'resources.cpu' is not a Kubernetes quantity" "bad quantity named"
expect_eq "$(grep -c '^---' <<<"$OUT")" "0" "no objects printed on error"
printf 'name: a\nmodel: m@x\nresources: {disk: 10}\n' >"$WORK/badk.yaml"
expect_rc 1 "$TANDEM" deployments render -f "$WORK/badk.yaml"
expect_contains "$OUT" "resources.disk" "unknown resource named"
printf 'name: a\nmodel: m@x\nreplicas: {min: 3, max: 1}\n' >"$WORK/badr.yaml"
expect_rc 1 "$TANDEM" deployments render -f "$WORK/badr.yaml"
expect_contains "$OUT" "replicas.max" "spec errors come from the fleet's parser"
expect_rc 1 "$TANDEM" deployments render -f "$WORK/minimal.yaml" --grace-seconds 3
expect_contains "$OUT" "grace period" "options are checked"
expect_rc 2 "$TANDEM" deployments render
expect_contains "$OUT" "NAME and -f" "a name or a file is required"

# 4. The committed kustomize base: its rendered template is what the spec
# renders to today, and the example overlay builds and validates.
K=$SRC/deploy/kubernetes
expect_rc 0 "$TANDEM" deployments render -f "$K/specs/serving-example.yaml"
if diff <(printf '%s\n' "$OUT") "$K/base/serving-example.yaml" >"$WORK/diff"; then
  pass
else
  fail "deploy/kubernetes/base/serving-example.yaml is stale (re-render it): $(head -20 "$WORK/diff")"
fi
expect_rc 0 "$TANDEM" jobs render -f "$K/specs/job-example.yaml"
if diff <(printf '%s\n' "$OUT") "$K/base/job-example.yaml" >"$WORK/diff"; then
  pass
else
  fail "deploy/kubernetes/base/job-example.yaml is stale (re-render it): $(head -20 "$WORK/diff")"
fi
if command -v kubectl >/dev/null; then
  for dir in base overlays/example; do
    if kubectl kustomize "$K/$dir" >"$WORK/kustomize.yaml" 2>"$WORK/kustomize.err"; then
      pass
      expect_rc 0 validate "$WORK/kustomize.yaml"
    else
      fail "kubectl kustomize $dir: $(cat "$WORK/kustomize.err")"
    fi
  done
  expect_contains "$(cat "$WORK/kustomize.yaml")" "namespace: ml" "the overlay sets the namespace"
  expect_contains "$(cat "$WORK/kustomize.yaml")" "image: registry.example.com/tandem/tandem-serving:0.1.0" \
    "the overlay sets the image"
  expect_contains "$(cat "$WORK/kustomize.yaml")" "kind: Secret" "the overlay generates the glue secret"
  expect_contains "$(cat "$WORK/kustomize.yaml")" "kind: Job" "the base has the job template"
  # The control plane's tandem.yaml from the base is one `tandem up` accepts
  # (bound to loopback here: TANDEM_LISTEN overrides its 0.0.0.0).
  mkdir -p "$WORK/cp"
  node -e '
    const yaml = require(process.argv[1] + "/node_modules/js-yaml");
    const fs = require("fs");
    const cm = yaml.loadAll(fs.readFileSync(process.argv[2], "utf8"))
      .find((o) => o && o.kind === "ConfigMap" && o.metadata.name === "tandem-config");
    fs.writeFileSync(process.argv[3], cm.data["tandem.yaml"]);
  ' "$NODE_DIR" "$WORK/kustomize.yaml" "$WORK/cp/tandem.yaml"
  TANDEM_LISTEN=127.0.0.1:0 timeout 10 "$TANDEM" up --home "$WORK/cp/home" \
    --config "$WORK/cp/tandem.yaml" --port 0 >"$WORK/cp.log" 2>&1 &
  CPB=$!
  for _ in $(seq 1 100); do grep -q "control plane on http://" "$WORK/cp.log" && break; sleep 0.1; done
  expect_contains "$(cat "$WORK/cp.log")" "control plane on http://127.0.0.1:" \
    "tandem up accepts the base's tandem.yaml"
  kill "$CPB" 2>/dev/null
  wait "$CPB" 2>/dev/null
else
  fail "kubectl is missing (scripts/bootstrap installs it)"
fi

# 5. Rendering a deployment the control plane runs.
start_with_churn_model "$TANDEM" "$MAKE_MODEL" "$WORK"
printf 'name: churn-api\nmodel: churn@champion\nreplicas: {min: 1, max: 3}\nautoscaling: {target_in_flight_per_replica: 4}\n' >"$WORK/live.yaml"
expect_rc 0 "$TANDEM" deployments apply -f "$WORK/live.yaml"
expect_rc 0 "$TANDEM" deployments render churn-api --image localhost/tandem-serving:test
printf '%s\n' "$OUT" >"$WORK/live.out.yaml"
expect_rc 0 validate "$WORK/live.out.yaml"
expect_contains "$(cat "$WORK/live.out.yaml")" "churn@champion" "the live spec's model"
expect_contains "$(cat "$WORK/live.out.yaml")" "image: localhost/tandem-serving:test" "the image option"
expect_rc 1 "$TANDEM" deployments render no-such-deployment
expect_contains "$OUT" "no-such-deployment" "an unknown deployment is named"
expect_rc 0 "$TANDEM" deployments delete churn-api
# A job whose source_dir is local: --upload puts it in the store (as `jobs
# run` does) and the Job's stage step reads it from there.
mkdir -p "$WORK/src"
printf '#!/bin/sh\necho train\n' >"$WORK/src/train.sh"
printf 'name: up-job\nimage: registry.local/train:1\nentry_point: train.sh\nsource_dir: src\n' >"$WORK/upjob.yaml"
expect_rc 0 "$TANDEM" jobs render -f "$WORK/upjob.yaml" --upload -o json
KEY=$(printf '%s' "$OUT" | grep -o 'source_dir[^,]*' | head -1)
expect_contains "$KEY" "jobs/uploads/" "the uploaded source_dir is a store key"
expect_rc 0 "$TANDEM" artifacts ls jobs/uploads/
expect_contains "$OUT" "source.tar.gz" "the code is in the store"

finish
