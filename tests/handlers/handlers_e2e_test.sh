#!/usr/bin/env bash
# handlers_e2e_test.sh TANDEM_BIN LINEAR_PLUGIN_SO
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
PLUGIN=$2
require_built "$TANDEM" "$PLUGIN"
WORK=$(mktemp -d /tmp/tandem-handlers-e2e.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# serve DIR NAME -> sets URL once the model answers ready
serve() {
  local dir=$1 name=$2
  "$TANDEM" serve --model-dir "$dir" --name "$name" --port 0 --state-file "$WORK/$name.state" \
    >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  URL=""
  for _ in $(seq 1 1200); do
    if [ -s "$WORK/$name.state" ]; then
      local port
      port=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' \
             "$WORK/$name.state")
      if curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null; then
        URL="http://127.0.0.1:$port"; return 0
      fi
    fi
    sleep 0.1
  done
  cat "$WORK/$name.log" >&2
  return 1
}

# infer URL BODY -> HTTP status in $CODE, body in $BODY
infer() {
  BODY=$(curl -s -o /dev/stdout -w '\n%{http_code}' -X POST -d "$2" "$1/infer")
  CODE=${BODY##*$'\n'}
  BODY=${BODY%$'\n'*}
}

# body EXPR: evaluates a Python expression over the last response body, parsed as `r`.
body() {
  python3 -c '
import json, sys
try:
    r = json.loads(sys.stdin.read())
    print(eval(sys.argv[1]))
except Exception as e:
    print("unparsable:", e)' "$1" <<<"$BODY"
}

# --- Python handler
mkdir -p "$WORK/py"
cat >"$WORK/py/handler.py" <<'PY'
import time
def load(model_dir):
    return 10.0
def predict(model, features):
    if features[0, 0] == -1:
        raise ValueError("feature 0 is -1")
    if features[0, 0] == -2:
        time.sleep(60)
    return model + features.sum(axis=1)
def test_data():
    return [[1, 2]], [[13]]
PY
printf 'flavor: python\nhandler: handler.py\npython: {workers: 2, timeout_ms: 1500}\n' \
  >"$WORK/py/tandem-model.yaml"
if serve "$WORK/py" py; then pass; else fail "python handler model never became ready"; fi
infer "$URL" '{"model": "py", "features": [1, 2.5]}'
expect_eq "$CODE" 200 "python handler answers: $BODY"
expect_eq "$(body 'r["scores"] == [13.5]')" True "python handler score: $BODY"
infer "$URL" '{"model": "py", "features": [[1, 1], [2, 2]]}'
expect_eq "$CODE" 200 "python handler batch: $BODY"
expect_eq "$(body 'r["scores"] == [12, 14]')" True "python handler batch scores: $BODY"
infer "$URL" '{"model": "py", "features": [-1, 0]}'
expect_eq "$CODE" 500 "a raising handler answers 500"
expect_contains "$BODY" "ValueError: feature 0 is -1" "the 500 names the exception"
infer "$URL" '{"model": "py", "features": [-2, 0]}'
expect_eq "$CODE" 504 "a handler past its timeout answers 504"
expect_contains "$BODY" "did not answer within 1500 ms" "the 504 names the timeout"
ok=0
for _ in $(seq 1 300); do
  infer "$URL" '{"model": "py", "features": [0, 0]}'
  if [ "$CODE" = 200 ]; then ok=1; break; fi
  sleep 0.1
done
if [ $ok = 1 ]; then pass; else fail "the pool did not recover after a timeout: $CODE $BODY"; fi

# A handler whose test_data() disagrees is refused (never ready).
mkdir -p "$WORK/bad"
sed 's/\[\[13\]\]/[[14]]/' "$WORK/py/handler.py" >"$WORK/bad/handler.py"
cp "$WORK/py/tandem-model.yaml" "$WORK/bad/"
"$TANDEM" serve --model-dir "$WORK/bad" --name bad --port 0 >"$WORK/bad.log" 2>&1 &
BAD_PID=$!; PIDS+=($BAD_PID)
for _ in $(seq 1 600); do grep -q "test_data" "$WORK/bad.log" && break; sleep 0.1; done
expect_contains "$(cat "$WORK/bad.log")" "output[0] = 13 but expected 14" "bad test_data refuses"

# --- native plugin
mkdir -p "$WORK/plugin"
cp "$PLUGIN" "$WORK/plugin/liblinear.so"
echo "0.5 1 -2" >"$WORK/plugin/weights.txt"
printf 'flavor: plugin\nlibrary: liblinear.so\n' >"$WORK/plugin/tandem-model.yaml"
if serve "$WORK/plugin" plug; then pass; else fail "plugin model never became ready"; fi
infer "$URL" '{"model": "plug", "features": [3, 1]}'
expect_eq "$CODE" 200 "plugin answers: $BODY"
expect_eq "$(body 'r["scores"] == [1.5]')" True "plugin score: $BODY"

echo "handlers_e2e_test: $PASSES passed, $FAILURES failed"
[ "$FAILURES" -eq 0 ]
