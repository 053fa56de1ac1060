#!/usr/bin/env bash
# Batch transform benchmark: 1,000,000 rows x 20 features, CSV -> CSV, with an
# XGBoost model (100 trees, depth 6), side by side in one run:
#   tandem     tandem-transform end to end (read, parse, predict, format, write),
#              MultiRecord 6 MB batches, 2 scoring threads; also the engine's own
#              time for the object as tandem-transform logs it (no process start,
#              model load or self-test)
#   control    the same through the control plane: `tandem transform run --wait`
#              (submit -> job staged, run, output object published -> the CLI sees
#              Completed; the CLI polls every 250 ms) on a `tandem up` started
#              once, with the model registered and the input put in its store
#              beforehand (not timed), as a SageMaker input already sits in S3
#   python     /usr/bin/python3 + python3-xgboost with pandas' C reader and writer:
#              pandas.read_csv (engine c), inplace_predict (nthread 2), DataFrame.to_csv
#   numpy      the same with numpy.loadtxt / numpy.savetxt (the earlier baseline)
#   in-memory  the native evaluator on preloaded floats (2 threads, best of 3 per run), the ceiling
# Each end-to-end contender runs REPEATS times, interleaved; medians reported,
# with the CPU-seconds (user + system, all threads) each used, so work can be
# told from waiting on this shared machine: the processes' own (GNU time) for
# tandem-transform and python, the engine's own as it logs it, the control
# plane's process tree from /proc (which does not hold the job: its sandbox
# is not reaped inside the tree, so that figure is the control plane's own
# work, not the job's), and the
# in-memory kernel's best run. The load average is printed before and after.
#   bench/transform/run.sh [BUILD_DIR] [ROWS] [REPEATS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
rows=${2:-1000000}
repeats=${3:-3}
[[ -x $build/libexec/tandem/tandem-transform ]] || ninja -C "$build" tandem-transform
[[ -x $build/bin/tandem ]] || ninja -C "$build" tandem
[[ -x $build/bench/transform/transform_inmemory_bench ]] || ninja -C "$build" transform_inmemory_bench
work=$(mktemp -d /tmp/tandem-bench-transform-XXXXXX)
CP_PID=""
trap 'stop_control_plane; rm -rf "$work"' EXIT
mkdir -p "$work/model" "$work/out"
/usr/bin/python3 "$here/gen.py" "$work" "$rows"
echo "input: $(wc -l <"$work/in.csv") rows, $(du -m "$work/in.csv" | cut -f1) MB"

# The control plane (tests/cli/lib.sh: `tandem up --port 0` on a fresh home,
# admin token exported), the model registered, the input in its store.
source "$root/tests/cli/lib.sh"
tandem=$build/bin/tandem
start_control_plane "$tandem" "$work/home" || { echo "control plane did not start"; exit 1; }
"$tandem" models register bench-forest "$work/model" --alias champion >/dev/null
"$tandem" artifacts put datasets/bench/in.csv "$work/in.csv" >/dev/null
source "$root/bench/transform/spec.sh"
write_spec() { write_transform_spec "$work/transform.yaml" "$1"; }  # write_spec OUTPUT_PREFIX

now() { date +%s.%N; }
timed_cpu() { /usr/bin/time -f '%U %S' -o "$work/cpu" "$@"; }  # then: cpu_used
cpu_used() { awk '{print $1 + $2}' "$work/cpu"; }
# CPU-seconds of the control plane's process tree (its own, its live
# children's, and what each reaped), from /proc. The job is not counted: it
# is not reaped inside this tree (measured: less than the job alone uses).
cp_cpu() {
  local pids=$CP_PID all=$CP_PID p
  while [[ -n $pids ]]; do
    pids=$(for p in $pids; do pgrep -P "$p" || true; done)
    all+=" $pids"
  done
  for p in $all; do sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null || true; done |
    awk -v hz="$(getconf CLK_TCK)" '{t += $12 + $13 + $14 + $15} END {print t / hz}'
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
tandem_t=() engine_t=() control_t=() python_t=() numpy_t=() mem_r=()
tandem_c=() engine_c=() control_c=() python_c=() numpy_c=() mem_c=()
for i in $(seq "$repeats"); do
  s=$(now)
  timed_cpu "$build/libexec/tandem/tandem-transform" --model-dir "$work/model" --input-path "$work/in.csv" \
    --output-dir "$work/out" --max_concurrent_transforms 2 >"$work/tandem.log"
  tandem_t+=("$(echo "$(now) - $s" | bc)")
  tandem_c+=("$(cpu_used)")
  # The engine's own time and CPU for the object (no process start, model load or self-test).
  engine_t+=("$(grep -o 'records in [0-9.]* s' "$work/tandem.log" | awk '{print $3}')")
  engine_c+=("$(grep -o '[0-9.]* CPU-s' "$work/tandem.log" | awk '{print $1}')")
  write_spec "results/bench-$i"
  c=$(cp_cpu)
  s=$(now)
  "$tandem" transform run -f "$work/transform.yaml" --wait >"$work/control.log" 2>&1 ||
    { cat "$work/control.log"; exit 1; }
  control_t+=("$(echo "$(now) - $s" | bc)")
  control_c+=("$(echo "$(cp_cpu) - $c" | bc)")
  s=$(now)
  timed_cpu /usr/bin/python3 "$here/python_score.py" "$work/model/model.json" "$work/in.csv" "$work/python.csv"
  python_t+=("$(echo "$(now) - $s" | bc)")
  python_c+=("$(cpu_used)")
  s=$(now)
  timed_cpu /usr/bin/python3 "$here/python_score.py" "$work/model/model.json" "$work/in.csv" "$work/numpy.csv" numpy
  numpy_t+=("$(echo "$(now) - $s" | bc)")
  numpy_c+=("$(cpu_used)")
  mem=$("$build/bench/transform/transform_inmemory_bench" "$work/model" "$work/in.csv" 2 3)
  mem_r+=("$(echo "$mem" | awk '{print $(NF-1)}')")
  mem_c+=("$(echo "$mem" | grep -o '[0-9.]* CPU-s' | awk '{print $1}')")
  echo "run $i: tandem ${tandem_t[-1]} s / ${tandem_c[-1]} CPU-s (engine ${engine_t[-1]} s / ${engine_c[-1]} CPU-s), control plane ${control_t[-1]} s / ${control_c[-1]} CPU-s, python ${python_t[-1]} s / ${python_c[-1]} CPU-s, numpy ${numpy_t[-1]} s / ${numpy_c[-1]} CPU-s, $mem"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
tm=$(median "${tandem_t[@]}")
em=$(median "${engine_t[@]}")
cm=$(median "${control_t[@]}")
pm=$(median "${python_t[@]}")
nm=$(median "${numpy_t[@]}")
mem_rate=$(median "${mem_r[@]}")
tc=$(median "${tandem_c[@]}") ec=$(median "${engine_c[@]}") cc=$(median "${control_c[@]}")
pc=$(median "${python_c[@]}") nc=$(median "${numpy_c[@]}") mc=$(median "${mem_c[@]}")
"$tandem" artifacts get "results/bench-1/in.csv.out" "$work/control.csv" >/dev/null
cmp "$work/control.csv" "$work/out/in.csv.out" && echo "control-plane output object = tandem-transform's output"
/usr/bin/python3 - "$work/out/in.csv.out" "$work/python.csv" <<'PY'
import sys, numpy as np
a, b = np.loadtxt(sys.argv[1]), np.loadtxt(sys.argv[2])
print("scores: %d rows, max |tandem - xgboost| = %.3g" % (len(a), np.abs(a - b).max()))
PY
awk -v rows="$rows" -v tm="$tm" -v em="$em" -v cm="$cm" -v pm="$pm" -v nm="$nm" -v mem="$mem_rate" \
    -v tc="$tc" -v ec="$ec" -v cc="$cc" -v pc="$pc" -v nc="$nc" -v mc="$mc" 'BEGIN {
  printf "tandem-transform end to end: median %.2f s, %.0f rows/s, %.3f CPU-s\n", tm, rows / tm, tc
  printf "  of which the engine:        median %.2f s, %.0f rows/s, %.3f CPU-s\n", em, rows / em, ec
  printf "through the control plane:   median %.2f s, %.0f rows/s, %.3f CPU-s (control plane processes, not the job)\n", cm, rows / cm, cc
  printf "python3-xgboost + pandas:    median %.2f s, %.0f rows/s, %.3f CPU-s\n", pm, rows / pm, pc
  printf "python3-xgboost + numpy:     median %.2f s, %.0f rows/s, %.3f CPU-s\n", nm, rows / nm, nc
  printf "native in-memory rate:       median %.0f rows/s (%.3f s), %.3f CPU-s\n", mem, rows / mem, mc
  printf "CPU-s / the kernel'"'"'s CPU-s: %.2fx (the engine), %.2fx (tandem-transform)\n", ec / mc, tc / mc
  printf "speed-up vs python+pandas: %.1fx (tandem-transform), %.1fx (control plane)\n", pm / tm, pm / cm
  printf "speed-up vs python+numpy:  %.1fx (tandem-transform), %.1fx (control plane)\n", nm / tm, nm / cm
  printf "in-memory rate / end-to-end rate: %.2fx (tandem-transform), %.2fx (control plane), %.2fx (the engine alone)\n", mem / (rows / tm), mem / (rows / cm), mem / (rows / em)
}'
