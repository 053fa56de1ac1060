#!/usr/bin/env bash
# Side-by-side: `cp file dst && sha256sum dst` vs tandem PutBlob(file) +
# GetBlobToFile(dst), N rounds alternating, 256 MiB of random data.
# Usage: bench/store/run.sh [build-dir] [rounds] [size-MiB]
# The scratch dir is under the build dir (same filesystem as /work).
set -euo pipefail
BUILD=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build}
ROUNDS=${2:-5}
MIB=${3:-256}
BIN="$BUILD/bench/store/store_bench"
[[ -x $BIN ]] || { echo "missing $BIN (ninja -C $BUILD store_bench)" >&2; exit 1; }
TMP=$(mktemp -d "$BUILD/store-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
head -c $((MIB * 1024 * 1024)) /dev/urandom > "$TMP/src"
sync

now() { date +%s.%N; }
calc() { awk "BEGIN {print $1}"; }
median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }

: > "$TMP/base" ; : > "$TMP/put" ; : > "$TMP/get" ; : > "$TMP/tandem"
for ((i = 1; i <= ROUNDS; i++)); do
  rm -rf "$TMP/dst" "$TMP/store" "$TMP/out"
  t0=$(now)
  cp "$TMP/src" "$TMP/dst" && sha256sum "$TMP/dst" > /dev/null
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}' >> "$TMP/base"
  line=$("$BIN" "$TMP/src" "$TMP/out" "$TMP/store")
  for k in put get; do sed -E "s/.*\b${k}_s=([0-9.]+).*/\1/" <<<"$line" >> "$TMP/$k"; done
  sed -E 's/.*total_s=([0-9.]+).*/\1/' <<<"$line" >> "$TMP/tandem"
  cmp -s "$TMP/src" "$TMP/out" || { echo "round $i: output differs" >&2; exit 1; }
done

base=$(median < "$TMP/base"); put=$(median < "$TMP/put"); get=$(median < "$TMP/get")
tandem=$(median < "$TMP/tandem")
echo "${MIB} MiB random file, ${ROUNDS} rounds alternating, medians (scratch: $TMP)"
echo
echo "| method | median s | MiB/s |"
echo "|---|---:|---:|"
printf "| cp + sha256sum | %s | %.0f |\n" "$base" "$(calc "$MIB / $base")"
printf "| tandem PutBlob(file) | %s | %.0f |\n" "$put" "$(calc "$MIB / $put")"
printf "| tandem GetBlobToFile | %s | %.0f |\n" "$get" "$(calc "$MIB / $get")"
printf "| tandem put + get | %s | %.0f |\n" "$tandem" "$(calc "$MIB / $tandem")"
echo
printf "ratio tandem(put+get) / (cp+sha256sum) = %.2f\n" "$(calc "$tandem / $base")"
