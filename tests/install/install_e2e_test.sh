#!/usr/bin/env bash
# install_e2e_test.sh BUILD_DIR: tandem installed with `cmake --install` under
# a fresh prefix below /opt, then run from there with no build tree in reach:
# the layout (bin/, libexec/tandem/, include/tandem/, share/), a training job
# (the installed scikit-learn example), a batch transform of the model it
# registered (tandem-transform inside the job's sandbox) and a deployment of
# it (a Python handler) answering /infer. Then the same transform from a
# second installation under /tmp, which the job sandbox replaces with its own.
source "$(dirname "$0")/../cli/lib.sh"
BUILD=$(cd "$1" && pwd)
unset TANDEM_LIBEXEC_DIR TANDEM_BINARY
PREFIX=$(mktemp -d /opt/tandem-test-XXXXXX)
WORK=$(mktemp -d /tmp/tandem-install-e2e.XXXXXX)
cleanup() {
  [ -n "${TANDEM_SERVER:-}" ] && "$TANDEM" deployments delete installed >/dev/null 2>&1
  stop_control_plane
  rm -rf "$PREFIX" "$WORK"
}
trap cleanup EXIT

# --- the layout
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 \
  || { cat "$WORK/install.log"; echo "cmake --install failed"; exit 1; }
for f in bin/tandem bin/tandem-train-xgboost libexec/tandem/tandem-job-runner \
         libexec/tandem/tandem-slurm-step libexec/tandem/tandem-transform; do
  [ -x "$PREFIX/$f" ] && pass || fail "$PREFIX/$f missing or not executable"
done
for f in include/tandem/plugin.h share/tandem/examples/sklearn-train/job.yaml \
         share/doc/tandem/README.md share/doc/tandem/openapi.yaml; do
  [ -f "$PREFIX/$f" ] && pass || fail "$PREFIX/$f missing"
done
TANDEM=$PREFIX/bin/tandem
EXAMPLES=$PREFIX/share/tandem/examples

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }

# --- a training job: the installed example registers sklearn-demo@champion
expect_rc 0 "$TANDEM" jobs run -f "$EXAMPLES/sklearn-train/job.yaml" --wait
expect_contains "$OUT" "Completed" "the training job completes"
expect_rc 0 "$TANDEM" jobs list -o json
expect_contains "$OUT" '"sandboxed": true' "jobs run sandboxed (bubblewrap)"
expect_rc 0 "$TANDEM" models get sklearn-demo@champion
expect_contains "$OUT" "sklearn-demo" "the job registered its model"

# --- a batch transform of that model (a Python handler inside tandem-transform)
cut -d, -f2- "$EXAMPLES/data/validation.csv" | head -40 >"$WORK/rows.csv"
cat >"$WORK/transform.yaml" <<YAML
name: installed-scores
model: sklearn-demo@champion
input: {uri: $WORK/rows.csv}
output: {prefix: scores/opt}
max_runtime_seconds: 300
YAML
expect_rc 0 "$TANDEM" transform run -f "$WORK/transform.yaml" --wait
expect_contains "$OUT" "Completed" "the transform completes from $PREFIX"
expect_rc 0 "$TANDEM" transform list -o json
expect_contains "$OUT" '"/opt/tandem-libexec/tandem-transform"' "the job runs the fixed helper path"
expect_rc 0 "$TANDEM" artifacts get scores/opt/rows.csv.out "$WORK/opt.out"
LINES=$(wc -l <"$WORK/opt.out" 2>/dev/null || echo 0)
[ "$LINES" -eq 40 ] && pass || fail "rows.csv.out has $LINES lines, want 40"

# --- a deployment of it: the Python handler behind /infer
cat >"$WORK/deploy.yaml" <<'YAML'
name: installed
model: sklearn-demo@champion
replicas: {min: 1, max: 1}
YAML
expect_rc 0 "$TANDEM" deployments apply -f "$WORK/deploy.yaml" --wait
expect_rc 0 "$TANDEM" deployments get installed -o json
URL=$(echo "$OUT" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])' 2>/dev/null)
ROW=$(head -1 "$WORK/rows.csv")
PRED=$(curl -s -X POST "$URL/infer" -d '{"model":"sklearn-demo","features":[['"$ROW"']]}')
expect_contains "$PRED" '"scores":[' "the deployment predicts: $PRED"
expect_rc 0 "$TANDEM" deployments delete installed
stop_control_plane

# --- the same transform from an installation under /tmp (hidden in the sandbox)
cmake --install "$BUILD" --prefix "$WORK/prefix" >"$WORK/install-tmp.log" 2>&1 \
  || { cat "$WORK/install-tmp.log"; echo "cmake --install under /tmp failed"; exit 1; }
rm -rf "$PREFIX"  # nothing of the first installation is left to fall back on
TANDEM=$WORK/prefix/bin/tandem
start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }
sed -i 's#scores/opt#scores/tmp#; s#installed-scores#tmp-scores#' "$WORK/transform.yaml"
expect_rc 0 "$TANDEM" transform run -f "$WORK/transform.yaml" --wait
expect_contains "$OUT" "Completed" "the transform completes from $WORK/prefix"
expect_rc 0 "$TANDEM" artifacts get scores/tmp/rows.csv.out "$WORK/tmp.out"
cmp -s "$WORK/opt.out" "$WORK/tmp.out" && pass || fail "the two installations scored differently"
finish
