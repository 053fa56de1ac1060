#!/usr/bin/env bash
# The s3 test fixture's s3rver runs one worker process per core (Node's
# cluster module, scripts/test-servers/s3). Checks that requests really are
# spread over the workers and that state crosses them: a multipart upload
# initiated, fed and completed by different workers, and a listing whose
# second page (continuation token) another worker serves. Each curl call is a
# new connection; the primary hands connections to the workers round-robin.
# Needs TANDEM_TEST_S3_DIR (ctest's s3 fixture).
set -euo pipefail
dir=${TANDEM_TEST_S3_DIR:?run under ctest (the s3 fixture sets TANDEM_TEST_S3_DIR)}
[[ -s $dir/env ]] || { echo "no s3 test server in $dir" >&2; exit 1; }
set -a; source "$dir/env"; set +a
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
workers=$({ pgrep -P "$(cat "$dir/pid")" || true; } | wc -l)
(( workers >= 2 )) || { echo "the s3 fixture runs $workers worker(s); this test needs 2 or more" >&2; exit 1; }
base="$S3_ENDPOINT/$S3_BUCKET/cluster-test-$$"
sig=(--aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
     -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -fsS -D "$tmp/h")
: > "$tmp/workers"
# s3 ARGS...: one request on a new connection; notes which worker answered.
s3() {
  curl "${sig[@]}" "$@"
  local w; w=$(tr -d '\r' < "$tmp/h" | sed -n 's/^x-s3rver-worker: //Ip')
  [[ -n $w ]] || { echo "no x-s3rver-worker header in the answer to: $*" >&2; exit 1; }
  echo "$w" >> "$tmp/workers"
}

# Multipart: initiate, two parts, complete, then read back.
head -c $((5 * 1024 * 1024 + 17)) /dev/urandom > "$tmp/p1"
head -c 1000 /dev/urandom > "$tmp/p2"
s3 -X POST -o "$tmp/init" "$base/mp?uploads"
id=$(sed -n 's/.*<UploadId>\([^<]*\)<.*/\1/p' "$tmp/init")
[[ -n $id ]] || { echo "no UploadId in: $(cat "$tmp/init")" >&2; exit 1; }
parts=""
for n in 1 2; do
  s3 -T "$tmp/p$n" -o /dev/null "$base/mp?partNumber=$n&uploadId=$id"
  etag=$(tr -d '\r' < "$tmp/h" | sed -n 's/^etag: //Ip')
  parts+="<Part><PartNumber>$n</PartNumber><ETag>$etag</ETag></Part>"
done
echo "<CompleteMultipartUpload>$parts</CompleteMultipartUpload>" > "$tmp/complete.xml"
s3 -X POST --data-binary @"$tmp/complete.xml" -o "$tmp/done" "$base/mp?uploadId=$id"
grep -q "<CompleteMultipartUploadResult>" "$tmp/done" || { echo "complete failed: $(cat "$tmp/done")" >&2; exit 1; }
s3 -o "$tmp/got" "$base/mp"
cat "$tmp/p1" "$tmp/p2" | cmp - "$tmp/got" || { echo "the assembled object differs from its parts" >&2; exit 1; }

# Listing in pages of two, each page on a new connection.
for k in a b c d e; do s3 -T "$tmp/p2" -o /dev/null "$base/l/$k"; done
prefix="cluster-test-$$/l/"
s3 -G -o "$tmp/page" --data-urlencode "list-type=2" --data-urlencode "prefix=$prefix" \
   --data-urlencode "max-keys=2" "$S3_ENDPOINT/$S3_BUCKET"
keys=$(sed 's/<Key>/\n<Key>/g' "$tmp/page" | sed -n 's/^<Key>\([^<]*\)<.*/\1/p')
while token=$(sed -n 's/.*<NextContinuationToken>\([^<]*\)<.*/\1/p' "$tmp/page"); [[ -n $token ]]; do
  s3 -G -o "$tmp/page" --data-urlencode "list-type=2" --data-urlencode "prefix=$prefix" \
     --data-urlencode "max-keys=2" --data-urlencode "continuation-token=$token" "$S3_ENDPOINT/$S3_BUCKET"
  keys+=" $(sed 's/<Key>/\n<Key>/g' "$tmp/page" | sed -n 's/^<Key>\([^<]*\)<.*/\1/p')"
done
want="${prefix}a ${prefix}b ${prefix}c ${prefix}d ${prefix}e"
[[ $(echo $keys) == "$want" ]] || { echo "listing in pages gave '$(echo $keys)', not '$want'" >&2; exit 1; }

seen=$(sort -u "$tmp/workers" | wc -l)
(( seen >= 2 )) || { echo "every request was answered by one worker ($(sort -u "$tmp/workers"))" >&2; exit 1; }
echo "ok: $(wc -l < "$tmp/workers") requests answered by $seen of $workers workers"
