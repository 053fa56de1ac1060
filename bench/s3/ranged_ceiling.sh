#!/bin/bash
# s3rver's GET ceiling with parallel ranged GETs: curl GETs of one object into
# /dev/null (the client does nothing with the bytes), 1, 2 and 4 ranges at
# once, with the server's CPU-seconds per GET. Shows how fast the test server
# can hand out an object on this machine at all, whatever the client.
#   bench/s3/ranged_ceiling.sh [rounds] [size-MiB]     (S3_WORKERS: default nproc)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${1:-3}; MIB=${2:-256}
SERVER=$(mktemp -d "${TMPDIR:-/tmp}/s3ceiling-server.XXXXXX")
TMP=$(mktemp -d "${TMPDIR:-/tmp}/s3ceiling.XXXXXX")
trap '"$ROOT/scripts/test-servers/s3" stop "$SERVER" >/dev/null 2>&1 || true; rm -rf "$SERVER" "$TMP"' EXIT
S3_WORKERS=${S3_WORKERS:-$(nproc)} "$ROOT/scripts/test-servers/s3" start "$SERVER" >/dev/null
set -a; source "$SERVER/env"; set +a
head -c $((MIB << 20)) /dev/urandom > "$TMP/src"
sig=(--aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
     -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -fsS)
url="$S3_ENDPOINT/$S3_BUCKET/ceiling.bin"
curl "${sig[@]}" -o /dev/null -T "$TMP/src" "$url"
size=$((MIB << 20))
now() { date +%s.%N; }
source "$ROOT/bench/s3/lib.sh"  # server_cpu
echo "| round | parallel ranged GETs | wall s | s3rver CPU s | load |"
echo "|---:|---:|---:|---:|---|"
for ((r = 1; r <= ROUNDS; r++)); do
  for par in 1 2 4; do
    s0=$(server_cpu); t0=$(now)
    step=$((size / par))
    for ((k = 0; k < par; k++)); do
      a=$((k * step)); b=$((k == par - 1 ? size - 1 : (k + 1) * step - 1))
      curl "${sig[@]}" -r "$a-$b" -o /dev/null "$url" &
    done
    wait
    t1=$(now); s1=$(server_cpu)
    awk -v r="$r" -v p="$par" -v a="$t0" -v b="$t1" -v c0="$s0" -v c1="$s1" -v l="$(cut -d' ' -f1-3 /proc/loadavg)" \
      'BEGIN {printf "| %d | %d | %.3f | %.2f | %s |\n", r, p, b - a, c1 - c0, l}'
  done
done
