#!/bin/sh
# Side by side in one run: tandem's Random / TPE / Hyperband (hpo_bench, the
# samplers driven in-process) vs Optuna's TPE sampler (Debian python3-optuna),
# all calling the same native XGBoost trainer on examples/data.
#   bench/hpo/run.sh [BUILD_DIR] [SEEDS] [BUDGET] [MAX_ROUNDS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
seeds=${2:-1,2,3}
budget=${3:-16}
rounds=${4:-27}
ninja -C "$build" hpo_bench tandem-train-xgboost >/dev/null
trainer=$build/bin/tandem-train-xgboost
data=$root/examples/data
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for s in random tpe hyperband; do
  "$build/bench/hpo/hpo_bench" --trainer "$trainer" --data "$data" --strategy $s \
    --seeds "$seeds" --budget "$budget" --max-rounds "$rounds" --min-rounds 1 --eta 3 >>"$out"
done
/usr/bin/python3 "$here/optuna_baseline.py" --trainer "$trainer" --data "$data" \
  --seeds "$seeds" --budget "$budget" --max-rounds "$rounds" >>"$out"
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    groups.setdefault((r["tool"], r["strategy"]), []).append(r)
base = groups[("optuna", "tpe")]
base_best = statistics.median(r["best"] for r in base)
base_cpu = statistics.median(r["cpu_seconds"] for r in base)
print("%-18s %6s %12s %12s %10s %12s %s" % ("tool/strategy", "seeds", "median best", "median cpu s",
                                         "cpu/optuna", "reached?", "bests"))
for (tool, strat), rs in groups.items():
    best = statistics.median(r["best"] for r in rs)
    cpu = statistics.median(r["cpu_seconds"] for r in rs)
    print("%-18s %6d %12.5f %12.2f %10.2f %12s %s" % (
        tool + "/" + strat, len(rs), best, cpu, cpu / base_cpu,
        "yes" if best <= base_best else "no",
        " ".join("%.4f" % r["best"] for r in rs)))
hb = groups.get(("tandem", "hyperband"), [])
if hb:
    best = statistics.median(r["best"] for r in hb)
    cpu = statistics.median(r["cpu_seconds"] for r in hb)
    ok = best <= base_best and cpu <= 0.5 * base_cpu
    print("goal (Hyperband reaches Optuna-TPE's median best with <= 1/2 its CPU): %s" %
          ("MET" if ok else "NOT MET"))
PY
