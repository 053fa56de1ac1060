#!/usr/bin/env bash
# A large artifact upload through a real control plane, two builds side by
# side: `PUT /api/v1/artifacts/bench/big.bin` of a random file (curl -T, which
# streams it from the file) against a fresh `tandem up` per upload, rounds
# alternating A / B. Per upload: the wall time of the PUT, the control
# plane's CPU seconds during it (utime + stime from /proc/<pid>/stat) and its
# peak RSS (VmHWM from /proc/<pid>/status, reset to the current RSS just
# before the PUT), and the CLI's peak RSS for the same file through
# `tandem artifacts put` (/usr/bin/time). Medians are printed as a markdown
# table, with the load average.
# Usage: bench/store/upload_put.sh BUILD_A BUILD_B [rounds] [MiB]
# Scratch (the file, the homes) under BUILD_B, removed on exit.
set -euo pipefail
A=$1
B=$2
ROUNDS=${3:-3}
MIB=${4:-1024}
for b in "$A" "$B"; do
  [[ -x $b/bin/tandem ]] || { echo "missing $b/bin/tandem (ninja -C $b tandem)" >&2; exit 1; }
done
TMP=$(mktemp -d "$B/upload-bench.XXXXXX")
CP=""
cleanup() {
  [[ -n $CP ]] && kill "$CP" 2>/dev/null && wait "$CP" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
head -c $((MIB << 20)) /dev/urandom >"$TMP/big.bin"
sync

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }

# one BUILD TAG ROUND: appends "wall cpu_s cp_hwm_mib cli_hwm_mib" to $TMP/TAG.
one() {
  local build=$1 tag=$2 home="$TMP/home-$2-$3"
  mkdir -p "$home"
  # The default limit (max_body_mb 1024) would refuse a body over 1 GiB.
  echo "max_body_mb: $((MIB + 16))" >"$home/tandem.yaml"
  "$build/bin/tandem" up --home "$home" --port 0 >"$home.log" 2>&1 &
  CP=$!
  local url=""
  for _ in $(seq 1 400); do
    url=$(grep -o "control plane on http://[0-9.:]*" "$home.log" 2>/dev/null | head -1 |
          grep -o "http://.*" || true)
    [[ -n $url ]] && break
    sleep 0.05
  done
  [[ -n $url ]] || { cat "$home.log" >&2; exit 1; }
  local token
  token=$(cat "$home/admin-token")
  echo 5 >"/proc/$CP/clear_refs"  # VmHWM := the current RSS
  local t0 c0 t1 c1 code
  c0=$(ticks "$CP")
  t0=$(date +%s.%N)
  code=$(curl -sS -o "$home.out" -w '%{http_code}' -T "$TMP/big.bin" \
    -H "Authorization: Bearer $token" "$url/api/v1/artifacts/bench/big.bin")
  t1=$(date +%s.%N)
  c1=$(ticks "$CP")
  [[ $code == 201 ]] || { echo "$tag: PUT answered $code: $(cat "$home.out")" >&2; exit 1; }
  local cp_hwm cli_hwm
  cp_hwm=$(hwm_kib "$CP")
  cli_hwm=$(TANDEM_SERVER=$url TANDEM_TOKEN=$token /usr/bin/time -f '%M' -o "$home.time" \
    "$build/bin/tandem" artifacts put bench/again.bin "$TMP/big.bin" >/dev/null && cat "$home.time")
  kill "$CP"
  wait "$CP" 2>/dev/null || true
  CP=""
  rm -rf "$home"
  awk -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" -v h="$cp_hwm" -v k="$cli_hwm" \
    'BEGIN {printf "%.3f %.2f %.0f %.0f\n", t1 - t0, c / 100, h / 1024, k / 1024}' >>"$TMP/$tag"
}

for ((i = 1; i <= ROUNDS; i++)); do
  one "$A" a "$i"
  one "$B" b "$i"
done

echo "PUT of a ${MIB} MiB random file, ${ROUNDS} rounds alternating, medians; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| build | wall s | control-plane CPU s | control-plane peak RSS MiB | CLI peak RSS MiB |"
echo "|---|---:|---:|---:|---:|"
for tag in a b; do
  build=$A
  [[ $tag == b ]] && build=$B
  row="| $build"
  for col in 1 2 3 4; do row="$row | $(awk -v c=$col '{print $c}' "$TMP/$tag" | median)"; done
  echo "$row |"
done
echo
echo "per upload (wall cpu cp_hwm cli_hwm):"
for tag in a b; do echo "$tag: $(tr '\n' ';' <"$TMP/$tag")"; done
