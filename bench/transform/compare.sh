#!/usr/bin/env bash
# Output check: this build's tandem-transform against another build's (e.g.
# main's) on odd but valid CSV (odd_csv.py, 170,000 lines, two seeds), with and
# without join_source Input, and on bad inputs (same error messages). Prints
# IDENTICAL or the first difference; exit status 1 on any difference.
#   bench/transform/compare.sh OTHER_BUILD_DIR [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
other=$1/libexec/tandem/tandem-transform
mine=${2:-$root/build}/libexec/tandem/tandem-transform
work=$(mktemp -d /tmp/tandem-transform-compare-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/model"
/usr/bin/python3 "$here/gen.py" "$work" 10 >/dev/null  # the model (and 10 rows)
/usr/bin/python3 "$here/odd_csv.py" 170000 3 >"$work/odd3.csv"
/usr/bin/python3 "$here/odd_csv.py" 170000 4 >"$work/odd4.csv"
head -100000 "$work/odd3.csv" >"$work/bad1.csv"; echo "1,2,abc,4" >>"$work/bad1.csv"
tail -1000 "$work/odd3.csv" >>"$work/bad1.csv"
head -5000 "$work/odd4.csv" >"$work/bad2.csv"; seq -s, 21 >>"$work/bad2.csv"
head -5000 "$work/odd4.csv" >"$work/bad3.csv"; echo "1,2,3-4" >>"$work/bad3.csv"
status=0
for input in odd3 odd4 in bad1 bad2 bad3; do
  for join in None Input; do
    for who in other mine; do
      bin=$other; [[ $who == mine ]] && bin=$mine
      mkdir -p "$work/$who"
      "$bin" --model-dir "$work/model" --input-path "$work/$input.csv" --output-dir "$work/$who" \
        --max_concurrent_transforms 2 --join_source "$join" 2>&1 | grep -v '^model:' |
        sed -E 's/ in [0-9.]* s \([0-9]* records\/s(, [0-9.]* CPU-s)?\)//' >"$work/$who.log" || true
    done
    if ! cmp -s "$work/other.log" "$work/mine.log"; then
      echo "$input.csv join $join: messages differ:"; diff "$work/other.log" "$work/mine.log" || true
      status=1
    elif [[ -f $work/other/$input.csv.out || -f $work/mine/$input.csv.out ]] &&
         ! cmp "$work/other/$input.csv.out" "$work/mine/$input.csv.out"; then
      status=1
    else
      echo "$input.csv join $join: identical ($(head -1 "$work/mine.log"))"
    fi
    rm -rf "$work/other" "$work/mine"
  done
done
[[ $status == 0 ]] && echo IDENTICAL
exit $status
