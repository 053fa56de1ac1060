#!/usr/bin/env bash
# Python handler replica start from a cached image vs the host's Python:
# `tandem serve --model-dir M` (one handler worker, numpy imported, load()
# run) until it prints "serving", with and without `--image REPO@DIGEST`,
# interleaved (host, image, image, host, ...). The image is the numpy base of
# examples/images/python-base.sh (the host's own python3 + numpy packages, so
# both sides import the same bytes). The first image start (pull + unpack into
# an empty layer cache) is reported apart.
# Usage: bench/images/handler_start/run.sh BUILD_DIR [RUNS]
set -euo pipefail
BUILD=${1:-build}
RUNS=${2:-20}
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
ninja -C "$BUILD" tandem >/dev/null
TANDEM=$(cd "$BUILD" && pwd)/bin/tandem
WORK=$(mktemp -d /tmp/tandem-handler-start.XXXXXX)
CP=""
trap '[ -n "$CP" ] && kill "$CP" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

BASE=$("$REPO/examples/images/python-base.sh" "$TANDEM" "$BUILD/image-cache" numpy)
"$TANDEM" up --home "$WORK/home" --port 0 >"$WORK/cp.log" 2>&1 &
CP=$!
for _ in $(seq 1 200); do grep -q "control plane on http://" "$WORK/cp.log" && break; sleep 0.05; done
export TANDEM_SERVER=$(grep -o "http://[0-9.:]*" "$WORK/cp.log" | head -1)
export TANDEM_TOKEN=$(cat "$WORK/home/admin-token")
DIGEST=$("$TANDEM" images push "$BASE" bench/python:numpy -o json | grep -o 'sha256:[0-9a-f]*' | head -1)
IMAGE="bench/python@$DIGEST"

mkdir -p "$WORK/model"
cat >"$WORK/model/handler.py" <<'PY'
import numpy as np
def load(model_dir):
    return 2.0
def predict(model, features):
    return model * features.sum(axis=1)
PY
printf 'flavor: python\nhandler: handler.py\nnum_features: 3\npython: {workers: 1}\n' \
  >"$WORK/model/tandem-model.yaml"

# start_ms [--image REF]: milliseconds from exec to "serving ..." on stdout.
start_ms() {
  local log="$WORK/serve.log" t0 t1 pid
  : >"$log"
  t0=$(date +%s%N)
  "$TANDEM" serve --home "$WORK/home" --model-dir "$WORK/model" --port 0 "$@" >"$log" 2>&1 &
  pid=$!
  until grep -q "^serving " "$log"; do
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.002
  done
  t1=$(date +%s%N)
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  echo $(((t1 - t0) / 1000000))
}

rm -rf "$WORK/home/cache/images"
echo "first start in the image (pull + verify + unpack into an empty cache): $(start_ms --image "$IMAGE") ms"
HOST=()
IMG=()
for i in $(seq 1 "$RUNS"); do
  if [ $((i % 2)) -eq 0 ]; then
    HOST+=("$(start_ms)")
    IMG+=("$(start_ms --image "$IMAGE")")
  else
    IMG+=("$(start_ms --image "$IMAGE")")
    HOST+=("$(start_ms)")
  fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
p90() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.9+0.5); if (i<1) i=1; print a[i]}'; }
MH=$(median "${HOST[@]}")
MI=$(median "${IMG[@]}")
echo "runs: $RUNS each, interleaved"
echo "host  (python3 on the host):        p50 ${MH} ms  p90 $(p90 "${HOST[@]}") ms"
echo "image (cached, bubblewrap, --image): p50 ${MI} ms  p90 $(p90 "${IMG[@]}") ms"
awk -v h="$MH" -v i="$MI" 'BEGIN {printf "image - host: %+.0f ms at p50 (ratio %.2f)\n", i - h, i / h}'
