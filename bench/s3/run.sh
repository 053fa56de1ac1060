#!/usr/bin/env bash
# S3 put/get throughput of one artifact against s3rver (scripts/test-servers/s3),
# side by side in one run, rounds alternating between the clients:
#   tandem  s3://  PutBlobFromFile + GetBlobToFile (sha256 computed on put and
#                  verified while streaming on get; one streamed PUT up to
#                  multipart_threshold, 5 GiB by default)
#   boto3          upload_file + download_file (default TransferConfig)
#   s3cmd          put + get
#   tandem file:// the same calls on the local file store, for reference
# Usage: bench/s3/run.sh [build-dir] [rounds] [size-MiB]
# Extra s3:// URI parameters for tandem (e.g. "&concurrency=2") in S3_BENCH_PARAMS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
ROUNDS=${2:-3}
MIB=${3:-256}
BIN="$BUILD/bench/s3/s3_bench"
[[ -x $BIN ]] || { echo "missing $BIN (ninja -C $BUILD s3_bench)" >&2; exit 1; }
command -v s3cmd >/dev/null || { echo "s3cmd missing (scripts/bootstrap)" >&2; exit 1; }
TMP=$(mktemp -d "$BUILD/s3-bench.XXXXXX")
SERVER="$TMP/server"
cleanup() { "$ROOT/scripts/test-servers/s3" stop "$SERVER" >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT
"$ROOT/scripts/test-servers/s3" start "$SERVER" >/dev/null
set -a; source "$SERVER/env"; set +a
URI=$(cat "$SERVER/uri")
cat > "$TMP/s3cfg" <<CFG
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = ${S3_ENDPOINT#http://}
host_bucket = ${S3_ENDPOINT#http://}
use_https = False
signature_v2 = False
bucket_location = us-east-1
CFG
head -c $((MIB * 1024 * 1024)) /dev/urandom > "$TMP/src"
sync

median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
now() { date +%s.%N; }
field() { sed -E "s/.*\b$1=([0-9.]+).*/\1/" <<<"$2"; }
check() { cmp -s "$TMP/src" "$1" || { echo "$2: downloaded bytes differ" >&2; exit 1; }; rm -f "$1"; }

for c in tandem tandemmem boto3 boto3v s3cmd curl file; do : > "$TMP/$c.put"; : > "$TMP/$c.get"; done
: > "$TMP/fsync"
for ((i = 1; i <= ROUNDS; i++)); do
  # tandem s3:// (a fresh prefix per round: no dedup)
  line=$("$BIN" "${URI%%\?*}/bench-$i?${URI#*\?}${S3_BENCH_PARAMS:-}" "$TMP/src" "$TMP/out")
  field put_s "$line" >> "$TMP/tandem.put"; field get_s "$line" >> "$TMP/tandem.get"
  field put_s "$line" >> "$TMP/tandemmem.put"; field read_verify_s "$line" >> "$TMP/tandemmem.get"
  check "$TMP/out" tandem
  # boto3
  line=$(/usr/bin/python3 "$ROOT/bench/s3/boto3_xfer.py" "$S3_ENDPOINT" "$S3_BUCKET" \
         "boto3/$i.bin" "$TMP/src" "$TMP/out")
  field put_s "$line" >> "$TMP/boto3.put"; field get_s "$line" >> "$TMP/boto3.get"
  # boto3 with tandem's extra work: sha256 of the source; sha256 + fsync of the download
  awk -v p="$(field put_s "$line")" -v s="$(field sha_src_s "$line")" 'BEGIN {print p + s}' >> "$TMP/boto3v.put"
  awk -v g="$(field get_s "$line")" -v s="$(field sha_fsync_dst_s "$line")" 'BEGIN {print g + s}' >> "$TMP/boto3v.get"
  field fsync_dst_s "$line" >> "$TMP/fsync"
  check "$TMP/out" boto3
  # s3cmd
  t0=$(now); s3cmd -q -c "$TMP/s3cfg" put "$TMP/src" "s3://$S3_BUCKET/s3cmd/$i.bin"; t1=$(now)
  s3cmd -q -c "$TMP/s3cfg" get "s3://$S3_BUCKET/s3cmd/$i.bin" "$TMP/out"; t2=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}' >> "$TMP/s3cmd.put"
  awk -v a="$t1" -v b="$t2" 'BEGIN {print b - a}' >> "$TMP/s3cmd.get"
  check "$TMP/out" s3cmd
  # curl: one PUT of the whole file (payload unsigned: no hashing) and one
  # GET, the least any client can ask of s3rver (its own ceiling)
  sig=(--aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
       -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -fsS)
  t0=$(now); curl "${sig[@]}" -o /dev/null -T "$TMP/src" "$S3_ENDPOINT/$S3_BUCKET/curl/$i.bin"; t1=$(now)
  curl "${sig[@]}" -o "$TMP/out" "$S3_ENDPOINT/$S3_BUCKET/curl/$i.bin"; t2=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}' >> "$TMP/curl.put"
  awk -v a="$t1" -v b="$t2" 'BEGIN {print b - a}' >> "$TMP/curl.get"
  check "$TMP/out" curl
  # tandem file:// reference
  line=$("$BIN" "file://$TMP/filestore-$i" "$TMP/src" "$TMP/out")
  field put_s "$line" >> "$TMP/file.put"; field get_s "$line" >> "$TMP/file.get"
  check "$TMP/out" file
  rm -rf "$TMP/filestore-$i" "$SERVER/data/tandem/"*  # keep the disk use bounded
done

echo "${MIB} MiB random artifact, ${ROUNDS} rounds alternating, medians; s3rver $(node -p "require('$ROOT/scripts/test-servers/s3-node/node_modules/s3rver/package.json').version") on 127.0.0.1"
echo
echo "| client | put s | put MiB/s | get s | get MiB/s |"
echo "|---|---:|---:|---:|---:|"
for c in tandem tandemmem boto3 boto3v s3cmd curl file; do
  p=$(median < "$TMP/$c.put"); g=$(median < "$TMP/$c.get")
  case $c in
    tandem) name="tandem s3:// (sha256 + verify)";; boto3) name="boto3 upload_file/download_file";;
    tandemmem) name="tandem s3:// get into memory (verify, no file)";;
    boto3v) name="boto3 + sha256 (put) / + sha256 + fsync (get)";;
    s3cmd) name="s3cmd put/get";; file) name="tandem file:// (reference)";;
    curl) name="curl: one unsigned PUT / one GET (s3rver's ceiling)";;
  esac
  awk -v n="$name" -v p="$p" -v g="$g" -v m="$MIB" \
    'BEGIN {printf "| %s | %.2f | %.0f | %.2f | %.0f |\n", n, p, m / p, g, m / g}'
done
echo
echo "fsync of boto3's freshly downloaded ${MIB} MiB file alone (tandem's get includes one; boto3 does none): $(median < "$TMP/fsync") s"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| operation | vs plain boto3 | vs boto3 with the same guarantees |"
echo "|---|---:|---:|"
ratio() { awk -v a="$(median < "$TMP/$1")" -v b="$(median < "$TMP/$2")" 'BEGIN {printf "%.2f", a / b}'; }
echo "| put | $(ratio boto3.put tandem.put) | $(ratio boto3v.put tandem.put) |"
echo "| get to a file, verified + fsync'ed | $(ratio boto3.get tandem.get) | $(ratio boto3v.get tandem.get) |"
echo "| verified get into memory | $(ratio boto3.get tandemmem.get) | — |"
