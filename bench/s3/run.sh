#!/usr/bin/env bash
# S3 put/get throughput of one artifact against s3rver (scripts/test-servers/s3),
# side by side in one run, rounds alternating between the clients:
#   tandem  s3://  PutBlobFromFile + GetBlobToFile (sha256 computed on put and
#                  verified while streaming on get; one streamed PUT up to
#                  multipart_threshold, 5 GiB by default)
#   boto3          upload_file + download_file (default TransferConfig)
#   s3cmd          put + get
#   curl           one unsigned PUT + one GET (s3rver's own ceiling)
#   tandem file:// the same calls on the local file store, for reference
# once per server mode: s3rver with one worker per core (S3_WORKERS, Node's
# cluster module, one socket and data directory), then a single s3rver
# process. Every client of a table talks to the same server.
# Usage: bench/s3/run.sh [build-dir] [rounds] [size-MiB]
# Extra s3:// URI parameters for tandem (e.g. "&concurrency=2") in S3_BENCH_PARAMS;
# S3_BENCH_ALT="&concurrency=2" adds a second tandem row with those parameters
# (instead of S3_BENCH_PARAMS), in the same rounds, for a side-by-side A/B;
# the server modes (worker counts, in order) in S3_BENCH_WORKERS (default "$(nproc) 1").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
ROUNDS=${2:-3}
MIB=${3:-256}
MODES=${S3_BENCH_WORKERS:-"$(nproc) 1"}
BIN="$BUILD/bench/s3/s3_bench"
[[ -x $BIN ]] || { echo "missing $BIN (ninja -C $BUILD s3_bench)" >&2; exit 1; }
command -v s3cmd >/dev/null || { echo "s3cmd missing (scripts/bootstrap)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time missing (Debian package time)" >&2; exit 1; }
TMP=$(mktemp -d "$BUILD/s3-bench.XXXXXX")
SERVER="$TMP/server"
cleanup() { "$ROOT/scripts/test-servers/s3" stop "$SERVER" >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT
head -c $((MIB * 1024 * 1024)) /dev/urandom > "$TMP/src"
sync

CLIENTS="tandem tandemmem${S3_BENCH_ALT:+ tandemalt} boto3 boto3v s3cmd curl file"
median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
now() { date +%s.%N; }
field() { sed -E "s/.*\b$1=([0-9.]+).*/\1/" <<<"$2"; }
check() { cmp -s "$TMP/src" "$1" || { echo "$2: downloaded bytes differ" >&2; exit 1; }; rm -f "$1"; }
sum() { awk -v a="$1" -v b="$2" 'BEGIN {print a + b}'; }
diff_() { awk -v a="$1" -v b="$2" 'BEGIN {print b - a}'; }
# CPU seconds (user + system) a command used: timed OUT-FILE cmd...
timed() { local out=$1; shift; /usr/bin/time -f "%U %S" -o "$TMP/time" "$@"; awk '{print $1 + $2}' "$TMP/time" >> "$out"; }
source "$ROOT/bench/s3/lib.sh"  # server_cpu

bench_mode() {
  local workers=$1 i line t0 t1 t2 s0
  S3_WORKERS=$workers "$ROOT/scripts/test-servers/s3" start "$SERVER" >/dev/null
  set -a; source "$SERVER/env"; set +a
  local uri; uri=$(cat "$SERVER/uri")
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
  for c in $CLIENTS; do for k in put get putcpu getcpu srvcpu; do : > "$TMP/$c.$k"; done; done
  : > "$TMP/fsync"
  local load0; load0=$(cut -d' ' -f1-3 /proc/loadavg)
  for ((i = 1; i <= ROUNDS; i++)); do
    # tandem s3:// (a fresh prefix per round: no dedup)
    s0=$(server_cpu)
    line=$("$BIN" "${uri%%\?*}/bench-$i?${uri#*\?}${S3_BENCH_PARAMS:-}" "$TMP/src" "$TMP/out")
    diff_ "$s0" "$(server_cpu)" >> "$TMP/tandem.srvcpu"
    field put_s "$line" >> "$TMP/tandem.put"; field get_s "$line" >> "$TMP/tandem.get"
    field put_cpu_s "$line" >> "$TMP/tandem.putcpu"; field get_cpu_s "$line" >> "$TMP/tandem.getcpu"
    field put_s "$line" >> "$TMP/tandemmem.put"; field read_verify_s "$line" >> "$TMP/tandemmem.get"
    field put_cpu_s "$line" >> "$TMP/tandemmem.putcpu"
    field read_verify_cpu_s "$line" >> "$TMP/tandemmem.getcpu"
    check "$TMP/out" tandem
    if [[ -n ${S3_BENCH_ALT:-} ]]; then
      s0=$(server_cpu)
      line=$("$BIN" "${uri%%\?*}/bench-alt-$i?${uri#*\?}$S3_BENCH_ALT" "$TMP/src" "$TMP/out")
      diff_ "$s0" "$(server_cpu)" >> "$TMP/tandemalt.srvcpu"
      field put_s "$line" >> "$TMP/tandemalt.put"; field get_s "$line" >> "$TMP/tandemalt.get"
      field put_cpu_s "$line" >> "$TMP/tandemalt.putcpu"; field get_cpu_s "$line" >> "$TMP/tandemalt.getcpu"
      check "$TMP/out" "tandem $S3_BENCH_ALT"
    fi
    # boto3
    s0=$(server_cpu)
    line=$(/usr/bin/python3 "$ROOT/bench/s3/boto3_xfer.py" "$S3_ENDPOINT" "$S3_BUCKET" \
           "boto3/$i.bin" "$TMP/src" "$TMP/out")
    diff_ "$s0" "$(server_cpu)" >> "$TMP/boto3.srvcpu"
    field put_s "$line" >> "$TMP/boto3.put"; field get_s "$line" >> "$TMP/boto3.get"
    field put_cpu_s "$line" >> "$TMP/boto3.putcpu"; field get_cpu_s "$line" >> "$TMP/boto3.getcpu"
    # boto3 with tandem's extra work: sha256 of the source; sha256 + fsync of the download
    sum "$(field put_s "$line")" "$(field sha_src_s "$line")" >> "$TMP/boto3v.put"
    sum "$(field get_s "$line")" "$(field sha_fsync_dst_s "$line")" >> "$TMP/boto3v.get"
    field fsync_dst_s "$line" >> "$TMP/fsync"
    check "$TMP/out" boto3
    # s3cmd
    s0=$(server_cpu)
    t0=$(now); timed "$TMP/s3cmd.putcpu" s3cmd -q -c "$TMP/s3cfg" put "$TMP/src" "s3://$S3_BUCKET/s3cmd/$i.bin"
    t1=$(now); timed "$TMP/s3cmd.getcpu" s3cmd -q -c "$TMP/s3cfg" get "s3://$S3_BUCKET/s3cmd/$i.bin" "$TMP/out"
    t2=$(now)
    diff_ "$s0" "$(server_cpu)" >> "$TMP/s3cmd.srvcpu"
    diff_ "$t0" "$t1" >> "$TMP/s3cmd.put"; diff_ "$t1" "$t2" >> "$TMP/s3cmd.get"
    check "$TMP/out" s3cmd
    # curl: one PUT of the whole file (payload unsigned: no hashing) and one
    # GET, the least any client can ask of s3rver (its own ceiling)
    local sig=(--aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
               -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -fsS)
    s0=$(server_cpu)
    t0=$(now); timed "$TMP/curl.putcpu" curl "${sig[@]}" -o /dev/null -T "$TMP/src" "$S3_ENDPOINT/$S3_BUCKET/curl/$i.bin"
    t1=$(now); timed "$TMP/curl.getcpu" curl "${sig[@]}" -o "$TMP/out" "$S3_ENDPOINT/$S3_BUCKET/curl/$i.bin"
    t2=$(now)
    diff_ "$s0" "$(server_cpu)" >> "$TMP/curl.srvcpu"
    diff_ "$t0" "$t1" >> "$TMP/curl.put"; diff_ "$t1" "$t2" >> "$TMP/curl.get"
    check "$TMP/out" curl
    # tandem file:// reference
    line=$("$BIN" "file://$TMP/filestore-$i" "$TMP/src" "$TMP/out")
    field put_s "$line" >> "$TMP/file.put"; field get_s "$line" >> "$TMP/file.get"
    field put_cpu_s "$line" >> "$TMP/file.putcpu"; field get_cpu_s "$line" >> "$TMP/file.getcpu"
    check "$TMP/out" file
    rm -rf "$TMP/filestore-$i" "$SERVER/data/tandem/"*  # keep the disk use bounded
  done
  "$ROOT/scripts/test-servers/s3" stop "$SERVER" >/dev/null

  echo "### s3rver with $workers worker(s)"
  echo
  echo "${MIB} MiB random artifact, ${ROUNDS} rounds alternating, medians; s3rver $(node -p "require('$ROOT/scripts/test-servers/s3-node/node_modules/s3rver/package.json').version") on 127.0.0.1, $workers worker process(es)"
  echo
  echo "| client | put s | put MiB/s | get s | get MiB/s | client CPU s put / get | server CPU s put+get |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  local c name p g pc gc sc
  for c in $CLIENTS; do
    p=$(median < "$TMP/$c.put"); g=$(median < "$TMP/$c.get")
    pc=$(median < "$TMP/$c.putcpu"); gc=$(median < "$TMP/$c.getcpu"); sc=$(median < "$TMP/$c.srvcpu")
    case $c in
      tandem) name="tandem s3:// (sha256 + verify)";;
      tandemalt) name="tandem s3:// with $S3_BENCH_ALT";; boto3) name="boto3 upload_file/download_file";;
      tandemmem) name="tandem s3:// get into memory (verify, no file)"; sc=;;
      boto3v) name="boto3 + sha256 (put) / + sha256 + fsync (get)"; pc=; gc=; sc=;;
      s3cmd) name="s3cmd put/get";; file) name="tandem file:// (reference)"; sc=;;
      curl) name="curl: one unsigned PUT / one GET (s3rver's ceiling)";;
    esac
    awk -v n="$name" -v p="$p" -v g="$g" -v m="$MIB" -v pc="$pc" -v gc="$gc" -v sc="$sc" \
      'BEGIN {cpu = (pc == "") ? "—" : sprintf("%.2f / %.2f", pc, gc); srv = (sc == "") ? "—" : sprintf("%.2f", sc)
              printf "| %s | %.2f | %.0f | %.2f | %.0f | %s | %s |\n", n, p, m / p, g, m / g, cpu, srv}'
  done
  echo
  echo "fsync of boto3's freshly downloaded ${MIB} MiB file alone (tandem's get includes one; boto3 does none): $(median < "$TMP/fsync") s"
  echo "load average at the start / end: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "(tandem's get-into-memory row repeats its put; its server CPU is in the tandem row, as is the put's)"
  echo
  echo "| operation | vs plain boto3 | vs boto3 with the same guarantees |"
  echo "|---|---:|---:|"
  ratio() { awk -v a="$(median < "$TMP/$1")" -v b="$(median < "$TMP/$2")" 'BEGIN {printf "%.2f", a / b}'; }
  echo "| put | $(ratio boto3.put tandem.put) | $(ratio boto3v.put tandem.put) |"
  echo "| get to a file, verified + fsync'ed | $(ratio boto3.get tandem.get) | $(ratio boto3v.get tandem.get) |"
  if [[ -n ${S3_BENCH_ALT:-} ]]; then
    echo "| put with $S3_BENCH_ALT | $(ratio boto3.put tandemalt.put) | $(ratio boto3v.put tandemalt.put) |"
    echo "| get to a file with $S3_BENCH_ALT | $(ratio boto3.get tandemalt.get) | $(ratio boto3v.get tandemalt.get) |"
  fi
  echo "| verified get into memory | $(ratio boto3.get tandemmem.get) | — |"
  echo
}

for w in $MODES; do bench_mode "$w"; done
