#!/bin/sh
# Side by side in one run: tandem's Random / TPE / Hyperband (hpo_bench, the
# samplers driven in-process) vs Optuna's TPE sampler (Debian python3-optuna),
# all calling the same native XGBoost trainer on examples/data.
#   bench/hpo/run.sh [BUILD_DIR] [SEEDS] [BUDGET] [MAX_ROUNDS]
# Hyperband runs as a tuning spec's defaults make it: rungs MAX_ROUNDS/9,
# MAX_ROUNDS/3, MAX_ROUNDS (3/9/27), eta 3, BOHB-sampled new configurations
# (compute/tuning/bohb.h) and checkpoint resume (a promotion continues from the
# configuration's checkpoint, as the tuning service makes it), with BUDGET jobs
# and with HB_BUDGET jobs (default 40); beside them the same with random new
# configurations (ASHA, `hyperband.sampler: Random`), without resume, and the
# old default rungs from 1 round, and BOHB's model pooled over the rungs
# (`--bohb-pool 1`), and without BOHB's Latin-hypercube initial design
# (`--bohb-init 0`), and BOHB's model with the paper's rules (`--bohb-min-good 0
# --bohb-bandwidth-factor 3`). tandem's TPE runs independent (Optuna's default) and
# multivariate.
# and with HB_LONG jobs (default 60) for the anytime curve. After the
# end-of-run table it prints the anytime table: per seed, the CPU-seconds at
# which the best loss so far first reaches Optuna-TPE's median best (from each
# run's "trajectory"), the median over seeds against Optuna's CPU and against
# Optuna's own CPU to reach it.
# Every trainer run of both drivers shares one data cache
# (TANDEM_DATA_CACHE_DIR, tools/train_xgboost/data_cache.h): the first run
# parses examples/data, the others read the parsed matrix (HPO_DATA_CACHE=0:
# parse every time, as before).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
seeds=${2:-1,2,3,4,5}
budget=${3:-16}
rounds=${4:-27}
hb_budget=${HB_BUDGET:-40}
hb_long=${HB_LONG:-60}
hb_min=$((rounds / 9 > 0 ? rounds / 9 : 1))
ninja -C "$build" hpo_bench tandem-train-xgboost >/dev/null
# HPO_TRAINER=FILE: run that trainer instead (another build's, for an A/B of
# the trainer alone; the drivers stay this build's).
trainer=${HPO_TRAINER:-$build/bin/tandem-train-xgboost}
data=$root/examples/data
out=$(mktemp)
cache=$(mktemp -d)
trap 'rm -rf "$out" "$cache"' EXIT
if [ "${HPO_DATA_CACHE:-1}" != 0 ]; then
  export TANDEM_DATA_CACHE_DIR="$cache"
else
  unset TANDEM_DATA_CACHE_DIR
fi
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
raw=${HPO_RAW:-}  # also keep the per-seed JSON lines there
bench() {
  "$build/bench/hpo/hpo_bench" --trainer "$trainer" --data "$data" --seeds "$seeds" \
    --max-rounds "$rounds" --eta 3 "$@" >>"$out"
}
# HPO_VARIANTS=goal: only what the goal compares (the default Hyperband with
# BUDGET, HB_BUDGET and HB_LONG jobs, and Optuna), for quick A/B runs of two builds.
if [ "${HPO_VARIANTS:-all}" = goal ]; then
  bench --strategy hyperband --budget "$budget" --min-rounds "$hb_min" --label "hyperband-default"
  bench --strategy hyperband --budget "$hb_budget" --min-rounds "$hb_min" \
    --label "hyperband-default-${hb_budget}jobs"
  bench --strategy hyperband --budget "$hb_long" --min-rounds "$hb_min" \
    --label "hyperband-default-${hb_long}jobs"
else
bench --strategy random --budget "$budget" --min-rounds 1
bench --strategy tpe --budget "$budget" --min-rounds 1
bench --strategy tpe --budget "$budget" --min-rounds 1 --tpe-multivariate 1 --label tpe-multivariate
bench --strategy hyperband --budget "$budget" --min-rounds "$hb_min" --label "hyperband-default"
bench --strategy hyperband --budget "$budget" --min-rounds "$hb_min" --hb-sampler random \
  --label "hyperband-default-asha"
bench --strategy hyperband --budget "$budget" --min-rounds "$hb_min" --resume 0 \
  --label "hyperband-default-noresume"
bench --strategy hyperband --budget "$budget" --min-rounds 1 --label "hyperband-default-from1round"
bench --strategy hyperband --budget "$hb_budget" --min-rounds "$hb_min" \
  --label "hyperband-default-${hb_budget}jobs"
bench --strategy hyperband --budget "$hb_budget" --min-rounds "$hb_min" --hb-sampler random \
  --label "hyperband-asha-${hb_budget}jobs"
bench --strategy hyperband --budget "$hb_budget" --min-rounds "$hb_min" --bohb-pool 1 \
  --label "hyperband-bohb-pooled-${hb_budget}jobs"
# The default Hyperband's anytime curve further out (its first HB_BUDGET jobs
# are the run above: the scheduler and sampler do not depend on the budget).
bench --strategy hyperband --budget "$hb_long" --min-rounds "$hb_min" \
  --label "hyperband-default-${hb_long}jobs"
# The same without BOHB's Latin-hypercube initial design (the default before it).
bench --strategy hyperband --budget "$hb_long" --min-rounds "$hb_min" --bohb-init 0 \
  --label "hyperband-no-initial-design-${hb_long}jobs"
# BOHB's model as the paper has it (good set at least parameters + 1 results,
# so a rung is modelled from 2 * (parameters + 1); candidates drawn 3x wider).
bench --strategy hyperband --budget "$hb_long" --min-rounds "$hb_min" --bohb-min-good 0 \
  --bohb-bandwidth-factor 3 --label "hyperband-bohb-paper-${hb_long}jobs"
fi
/usr/bin/python3 "$here/optuna_baseline.py" --trainer "$trainer" --data "$data" \
  --seeds "$seeds" --budget "$budget" --max-rounds "$rounds" >>"$out"
[ -z "$raw" ] || cp "$out" "$raw"
/usr/bin/python3 - "$out" <<'PY'
import json, math, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    groups.setdefault((r["tool"], r["strategy"]), []).append(r)
base = groups[("optuna", "tpe")]
base_best = statistics.median(r["best"] for r in base)
base_cpu = statistics.median(r["cpu_seconds"] for r in base)


def reach(r, target):
    """CPU-seconds at which the run's best so far first is <= target (inf: never)."""
    for cpu, best in r.get("trajectory", []):
        if best <= target:
            return cpu
    return math.inf


def median_reach(rs, target):
    # A seed that never reaches the target counts as infinitely late, so the
    # median is finite only when more than half of the seeds reach it.
    return statistics.median(sorted(reach(r, target) for r in rs))


base_reach = median_reach(base, base_best)
print("%-34s %5s %6s %12s %12s %10s %8s %s" % ("tool/strategy", "seeds", "jobs", "median best",
                                              "median cpu s", "cpu/optuna", "reached?", "bests"))
for (tool, strat), rs in groups.items():
    best = statistics.median(r["best"] for r in rs)
    cpu = statistics.median(r["cpu_seconds"] for r in rs)
    print("%-34s %5d %6d %12.5f %12.2f %10.2f %8s %s" % (
        tool + "/" + strat, len(rs), rs[0]["trials"], best, cpu, cpu / base_cpu,
        "yes" if best <= base_best else "no",
        " ".join("%.4f" % r["best"] for r in rs)))
    print("%-34s cpu s per seed: %s; boosting rounds per seed: %s" % (
        "", " ".join("%.2f" % r["cpu_seconds"] for r in rs),
        " ".join(str(r["boosting_rounds"]) for r in rs)))
print()
print("anytime: CPU-seconds at which each seed's best so far first reaches Optuna-TPE's median "
      "best %.5f (- = never within the run's jobs); median over seeds" % base_best)
print("%-34s %10s %12s %14s %s" % ("tool/strategy", "median s", "/optuna cpu", "/optuna reach",
                                   "per seed"))
for (tool, strat), rs in groups.items():
    m = median_reach(rs, base_best)
    print("%-34s %10s %12s %14s %s" % (
        tool + "/" + strat, "%.2f" % m if math.isfinite(m) else "never",
        "%.2f" % (m / base_cpu) if math.isfinite(m) else "-",
        "%.2f" % (m / base_reach) if math.isfinite(m) else "-",
        " ".join("%.2f" % x if math.isfinite(x) else "-" for x in (reach(r, base_best) for r in rs))))
print()
print("goal: a Hyperband run reaches Optuna-TPE's median best (%.5f) with <= 1/2 its CPU "
      "(%.2f s; Optuna's own median CPU to reach it: %.2f s)" % (base_best, 0.5 * base_cpu,
                                                                   base_reach))
for (tool, strat), rs in groups.items():
    if not strat.startswith("hyperband"):
        continue
    best = statistics.median(r["best"] for r in rs)
    cpu = statistics.median(r["cpu_seconds"] for r in rs)
    ok = best <= base_best and cpu <= 0.5 * base_cpu
    m = median_reach(rs, base_best)
    print("  %-32s end of run: %s (best %+.5f vs Optuna, CPU %.2fx Optuna's); anytime: %s" % (
        strat, "MET" if ok else "NOT MET", best - base_best, cpu / base_cpu,
        ("%s, reached at %.2fx Optuna's CPU" % ("MET" if m <= 0.5 * base_cpu else "NOT MET",
                                               m / base_cpu)) if math.isfinite(m)
        else "NOT MET, not reached on most seeds"))
PY
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CPU-seconds of this run (user system; the shell, then its children: drivers and trainers):"
times
