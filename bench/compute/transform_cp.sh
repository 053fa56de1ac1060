#!/usr/bin/env bash
# Batch transform through the control plane, this build against a baseline
# build, side by side in one run (issue 16 goal 6, the control-plane part):
# 1,000,000 rows x 20 features of CSV (bench/transform/gen.py), an XGBoost
# model (100 trees, depth 6), `tandem transform run -f spec --wait` timed from
# submit to the CLI seeing Completed (job staged, run sandboxed, output object
# published), on one `tandem up` per build started once, model registered
# and input put in its store beforehand (not timed). The builds alternate,
# REPEATS rounds; medians. With each figure: the control plane's CPU-seconds
# over the run (utime+stime of `tandem up`; the job's own processes are not
# in it), the job's staging time as it recorded it, and the load average.
# tandem-transform run directly on the same files is the floor.
#
#   bench/compute/transform_cp.sh BUILD BASELINE_PREFIX [ROWS=1000000] [REPEATS=3]
#   BASELINE_PREFIX: a directory with bin/tandem and libexec/tandem/* of the
#   build to compare with (e.g. main's build directory, or a copy of it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:?build dir}
base=${2:?baseline prefix}
rows=${3:-1000000}
repeats=${4:-3}
work=$(mktemp -d /tmp/tandem-bench-transform-cp-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/model" "$work/out"
/usr/bin/python3 "$root/bench/transform/gen.py" "$work" "$rows"
echo "input: $(wc -l <"$work/in.csv") rows, $(du -m "$work/in.csv" | cut -f1) MB; $(nproc) CPUs"

source "$root/tests/cli/lib.sh"
source "$root/bench/transform/spec.sh"
declare -A server token pid bin
for b in this base; do
  if [ "$b" = this ]; then bin[$b]=$build/bin/tandem; else bin[$b]=$base/bin/tandem; fi
  start_control_plane "${bin[$b]}" "$work/home-$b" || { echo "control plane did not start"; exit 1; }
  server[$b]=$TANDEM_SERVER token[$b]=$TANDEM_TOKEN pid[$b]=$CP_PID
  pids+=("$CP_PID")
  CP_PID=""
  "${bin[$b]}" models register bench-forest "$work/model" --alias champion >/dev/null
  "${bin[$b]}" artifacts put datasets/bench/in.csv "$work/in.csv" >/dev/null
done

cpu_seconds() {  # utime+stime of pid $1, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A wall cpu staging
direct=()
for i in $(seq "$repeats"); do
  s=$(now)
  "$build/libexec/tandem/tandem-transform" --model-dir "$work/model" --input-path "$work/in.csv" \
    --output-dir "$work/out" --max_concurrent_transforms 2 >"$work/direct.log"
  direct+=("$(echo "$(now) - $s" | bc)")
  for b in this base; do
    write_transform_spec "$work/spec.yaml" "results/bench-$i"
    c0=$(cpu_seconds "${pid[$b]}")
    s=$(now)
    TANDEM_SERVER=${server[$b]} TANDEM_TOKEN=${token[$b]} \
      "${bin[$b]}" transform run -f "$work/spec.yaml" --wait -o json >"$work/$b.json" 2>"$work/$b.err" ||
      { cat "$work/$b.err"; exit 1; }
    t=$(echo "$(now) - $s" | bc)
    c=$(echo "$(cpu_seconds "${pid[$b]}") - $c0" | bc)
    st=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("details",{}).get("staging_ms", d.get("staging_ms","?")))' "$work/$b.json" 2>/dev/null || echo "?")
    wall[$b]+="$t " cpu[$b]+="$c " staging[$b]+="$st "
    echo "round $i $b: submit -> Completed ${t} s, control-plane CPU ${c} s, staging ${st} ms, load $(cut -d' ' -f1 /proc/loadavg)"
  done
  echo "round $i direct tandem-transform: ${direct[-1]} s"
done
for b in this base; do
  TANDEM_SERVER=${server[$b]} TANDEM_TOKEN=${token[$b]} \
    "${bin[$b]}" artifacts get "results/bench-1/in.csv.out" "$work/$b.csv" >/dev/null
  cmp "$work/$b.csv" "$work/out/in.csv.out" && echo "$b: output object = tandem-transform's output"
done
dm=$(median "${direct[@]}")
echo
echo "| $rows rows, medians of $repeats | submit -> Completed s | rows/s | / direct tandem-transform | control-plane CPU s | staging ms |"
echo "|---|---|---|---|---|---|"
for b in this base; do
  # shellcheck disable=SC2086
  wm=$(median ${wall[$b]}) cm=$(median ${cpu[$b]}) sm=$(median ${staging[$b]})
  awk -v b="$b" -v w="$wm" -v c="$cm" -v s="$sm" -v d="$dm" -v r="$rows" \
    'BEGIN {printf "| %s | %.2f | %.0f | %.2fx | %.2f | %s |\n", b, w, r / w, w / d, c, s}'
done
awk -v d="$dm" -v r="$rows" 'BEGIN {printf "| tandem-transform directly | %.2f | %.0f | 1x | | |\n", d, r / d}'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
