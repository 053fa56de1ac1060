#!/usr/bin/env bash
# Batch transform benchmark: 1,000,000 rows x 20 features, CSV -> CSV, with an
# XGBoost model (100 trees, depth 6), side by side in one run:
#   tandem     tandem-transform end to end (read, parse, predict, format, write),
#              MultiRecord 6 MB batches, 2 scoring threads
#   python     /usr/bin/python3 + python3-xgboost with pandas' C reader and writer:
#              pandas.read_csv (engine c), inplace_predict (nthread 2), DataFrame.to_csv
#   in-memory  the native evaluator on preloaded floats (2 threads, best of 3 per run), the ceiling
# Each end-to-end contender runs REPEATS times, interleaved; medians reported.
#   bench/transform/run.sh [BUILD_DIR] [ROWS] [REPEATS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
rows=${2:-1000000}
repeats=${3:-3}
[[ -x $build/libexec/tandem/tandem-transform ]] || ninja -C "$build" tandem-transform
[[ -x $build/bench/transform/transform_inmemory_bench ]] || ninja -C "$build" transform_inmemory_bench
work=$(mktemp -d /tmp/tandem-bench-transform-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/model" "$work/out"
/usr/bin/python3 "$here/gen.py" "$work" "$rows"
echo "input: $(wc -l <"$work/in.csv") rows, $(du -m "$work/in.csv" | cut -f1) MB"

now() { date +%s.%N; }
tandem_t=() python_t=() mem_r=()
for i in $(seq "$repeats"); do
  s=$(now)
  "$build/libexec/tandem/tandem-transform" --model-dir "$work/model" --input-path "$work/in.csv" \
    --output-dir "$work/out" --max_concurrent_transforms 2 >"$work/tandem.log"
  tandem_t+=("$(echo "$(now) - $s" | bc)")
  s=$(now)
  /usr/bin/python3 "$here/python_score.py" "$work/model/model.json" "$work/in.csv" "$work/python.csv"
  python_t+=("$(echo "$(now) - $s" | bc)")
  mem=$("$build/bench/transform/transform_inmemory_bench" "$work/model" "$work/in.csv" 2 3)
  mem_r+=("$(echo "$mem" | awk '{print $(NF-1)}')")
  echo "run $i: tandem ${tandem_t[-1]} s, python ${python_t[-1]} s, $mem"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
tm=$(median "${tandem_t[@]}")
pm=$(median "${python_t[@]}")
mem_rate=$(median "${mem_r[@]}")
/usr/bin/python3 - "$work/out/in.csv.out" "$work/python.csv" <<'PY'
import sys, numpy as np
a, b = np.loadtxt(sys.argv[1]), np.loadtxt(sys.argv[2])
print("scores: %d rows, max |tandem - xgboost| = %.3g" % (len(a), np.abs(a - b).max()))
PY
awk -v rows="$rows" -v tm="$tm" -v pm="$pm" -v mem="$mem_rate" 'BEGIN {
  printf "tandem-transform end to end: median %.2f s, %.0f rows/s\n", tm, rows / tm
  printf "python3-xgboost end to end:  median %.2f s, %.0f rows/s\n", pm, rows / pm
  printf "native in-memory rate:       median %.0f rows/s\n", mem
  printf "speed-up vs python: %.1fx;  in-memory rate / tandem end-to-end rate: %.2fx\n", pm / tm, mem / (rows / tm)
}'
