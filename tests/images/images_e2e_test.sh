#!/usr/bin/env bash
# Standard clients against tandem's OCI registry API at /v2/: an image built
# with umoci is pushed with `skopeo copy`, inspected, copied back out with the
# same digest, pulled and run with podman; bad input gets the spec's errors
# and stores nothing. Usage: images_e2e_test.sh TANDEM_BIN
set -uo pipefail
BIN=$1
source "$(dirname "$0")/../cli/lib.sh"
source "$(dirname "$0")/podman.sh"

for tool in skopeo umoci podman runc; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: $tool is not installed (scripts/bootstrap installs it)" >&2
    exit 1
  fi
done

WORK=$(mktemp -d /tmp/tandem-images-e2e.XXXXXX)
cleanup() {
  stop_control_plane
  podman_cleanup
  # podman's storage holds read-only layers; make them removable first.
  chmod -R u+w "$WORK" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

start_control_plane "$BIN" "$WORK/home" || { echo "control plane did not start"; exit 1; }
HOSTPORT=${TANDEM_SERVER#http://}
CREDS="admin:$TANDEM_TOKEN"

# --- A tiny image built with umoci: /bin/sh (the host's dash and its libc) ----
mkdir -p "$WORK/root/bin" "$WORK/root/lib/x86_64-linux-gnu" "$WORK/root/lib64"
cp /bin/dash "$WORK/root/bin/sh"
cp -L /lib/x86_64-linux-gnu/libc.so.6 "$WORK/root/lib/x86_64-linux-gnu/"
cp -L /lib64/ld-linux-x86-64.so.2 "$WORK/root/lib64/"
(
  cd "$WORK" &&
    umoci init --layout oci &&
    umoci new --image oci:1 &&
    umoci insert --image oci:1 root / &&
    umoci config --image oci:1 --config.cmd /bin/sh --config.cmd -c \
      --config.cmd 'echo hello from a tandem image'
) >"$WORK/umoci.log" 2>&1 || { cat "$WORK/umoci.log"; echo "FAIL: umoci could not build the image"; exit 1; }
SRC_DIGEST=$(grep -o '"digest":"sha256:[0-9a-f]*"' "$WORK/oci/index.json" | head -1 | cut -d'"' -f4)

# --- skopeo copy in, inspect, copy out: the digest is unchanged ----------------
expect_rc 0 skopeo copy --preserve-digests --dest-tls-verify=false --dest-creds "$CREDS" \
  "oci:$WORK/oci:1" "docker://$HOSTPORT/team/x:1"
expect_rc 0 skopeo inspect --tls-verify=false --creds "$CREDS" "docker://$HOSTPORT/team/x:1"
expect_contains "$OUT" "\"Digest\": \"$SRC_DIGEST\"" "skopeo inspect shows the pushed digest"
expect_contains "$(tr -d ' \n' <<<"$OUT")" '"RepoTags":["1"]' "skopeo inspect shows the tag"
expect_rc 0 skopeo copy --preserve-digests --src-tls-verify=false --src-creds "$CREDS" \
  "docker://$HOSTPORT/team/x:1" "oci:$WORK/out:1"
OUT_DIGEST=$(grep -o '"digest":"sha256:[0-9a-f]*"' "$WORK/out/index.json" | head -1 | cut -d'"' -f4)
expect_eq "$OUT_DIGEST" "$SRC_DIGEST" "digest after a round trip through tandem"
expect_rc 0 skopeo list-tags --tls-verify=false --creds "$CREDS" "docker://$HOSTPORT/team/x"
expect_contains "$OUT" '"1"' "skopeo list-tags"
# A second tag by copying within the registry (blobs are mounted, not re-sent).
expect_rc 0 skopeo copy --src-tls-verify=false --dest-tls-verify=false --src-creds "$CREDS" \
  --dest-creds "$CREDS" "docker://$HOSTPORT/team/x:1" "docker://$HOSTPORT/team/y:latest"

# --- Without credentials: 401 with the Basic challenge -------------------------
expect_rc 0 command curl -s -D - -o /dev/null "$TANDEM_SERVER/v2/"
expect_contains "$OUT" "401" "GET /v2/ without credentials"
expect_contains "${OUT,,}" 'www-authenticate: basic realm="tandem"' "the Basic challenge"
expect_rc 1 skopeo inspect --tls-verify=false --creds "admin:tdm_wrong" "docker://$HOSTPORT/team/x:1"

# --- Bad input: the spec's errors, naming what was asked for ------------------
expect_rc 0 curl -s "$TANDEM_SERVER/v2/team/nothing/manifests/latest"
expect_contains "$OUT" '"code":"NAME_UNKNOWN"' "unknown repository"
expect_contains "$OUT" "team/nothing" "the error names the repository"
expect_rc 0 curl -s "$TANDEM_SERVER/v2/team/x/manifests/nope"
expect_contains "$OUT" '"code":"MANIFEST_UNKNOWN"' "unknown tag"
expect_contains "$OUT" "nope" "the error names the tag"
WRONG=sha256:$(printf 'promised' | sha256sum | cut -d' ' -f1)
expect_rc 0 curl -s -X POST --data-binary delivered "$TANDEM_SERVER/v2/team/x/blobs/uploads/?digest=$WRONG"
expect_contains "$OUT" '"code":"DIGEST_INVALID"' "digest mismatch"
expect_rc 0 curl -s -o /dev/null -w '%{http_code}' -I "$TANDEM_SERVER/v2/team/x/blobs/$WRONG"
expect_eq "$OUT" "404" "nothing stored after a digest mismatch"
MISSING=sha256:$(printf 'missing' | sha256sum | cut -d' ' -f1)
expect_rc 0 curl -s -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$MISSING\",\"size\":7},\"layers\":[]}" \
  "$TANDEM_SERVER/v2/team/x/manifests/broken"
expect_contains "$OUT" '"code":"MANIFEST_BLOB_UNKNOWN"' "manifest naming a missing blob"
expect_contains "$OUT" "$MISSING" "the error names the blob"
head -c 5000000 /dev/zero | tr '\0' 'x' >"$WORK/big.json"
expect_rc 0 curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$WORK/big.json" \
  "$TANDEM_SERVER/v2/team/x/manifests/big"
expect_eq "$OUT" "413" "oversized manifest"
expect_rc 0 curl -s "$TANDEM_SERVER/v2/team/x/manifests/broken"
expect_contains "$OUT" '"code":"MANIFEST_UNKNOWN"' "the refused manifest is not stored"
expect_rc 0 curl -s --path-as-is "$TANDEM_SERVER/v2/%2e%2e/%2e%2e/etc/manifests/latest"
expect_contains "$OUT" '"code":"NAME_INVALID"' "path traversal in the name"

# --- podman pulls and runs the image ------------------------------------------
private_podman "$WORK/podman" vfs
expect_rc 0 podman_ pull --tls-verify=false --creds "$CREDS" "$HOSTPORT/team/x:1"
expect_rc 0 podman_ image inspect --format '{{.Digest}}' "$HOSTPORT/team/x:1"
expect_eq "$OUT" "$SRC_DIGEST" "podman sees the pushed digest"
expect_rc 0 podman_ run --rm --network none "$HOSTPORT/team/x:1"
expect_contains "$OUT" "hello from a tandem image" "podman run of the pushed image"

# --- The image skopeo pushed runs as a job ------------------------------------
# entry_point /bin/sh with the one-letter hyperparameter c: the command is
# `/bin/sh -c '...'` (hyperparameters are `-k value` for one-letter keys),
# run inside the image (its root at /, the host's hidden).
command -v bwrap >/dev/null && {
  cat > "$WORK/job.yaml" <<'YAML'
name: from-skopeo
image: team/x:1
entry_point: /bin/sh
hyperparameters: {c: 'echo "ran in the skopeo image"; [ -e /usr/bin/python3 ] || echo host-hidden'}
YAML
  expect_rc 0 "$BIN" jobs run -f "$WORK/job.yaml" --wait
  JOB=$(grep -o 'submitted [0-9a-z]*' <<<"$OUT" | cut -d' ' -f2)
  expect_rc 0 "$BIN" jobs logs "$JOB"
  expect_contains "$OUT" "ran in the skopeo image" "a job runs in the image skopeo pushed"
  expect_contains "$OUT" "host-hidden" "the job sees the image's root, not the host's"
}

# --- The CLI: list, inspect, tag, rm, gc -------------------------------------------
expect_rc 0 "$BIN" images list
expect_contains "$OUT" "team/x" "images list shows the repository"
expect_rc 0 "$BIN" images list -o json
expect_contains "$OUT" "$SRC_DIGEST" "images list shows the digest"
expect_rc 0 "$BIN" images inspect "team/x:1" -o json
expect_contains "$OUT" "\"digest\": \"$SRC_DIGEST\"" "images inspect: the digest"
expect_contains "$OUT" "echo hello from a tandem image" "images inspect: the config's Cmd"
expect_rc 0 "$BIN" images tag team/x:1 team/x:stable
expect_rc 0 "$BIN" images tag team/x:1 other/z:1
expect_rc 0 skopeo inspect --tls-verify=false --creds "$CREDS" "docker://$HOSTPORT/other/z:1"
expect_contains "$OUT" "$SRC_DIGEST" "a tag in another repository has the same digest"
expect_rc 0 "$BIN" images rm team/x:stable
expect_rc 0 "$BIN" images list team/x -o json
[[ "$OUT" != *stable* ]] && pass || fail "images rm left the tag: $OUT"
expect_rc 1 "$BIN" images inspect team/x:stable
expect_contains "$OUT" "MANIFEST_UNKNOWN" "inspect of a removed tag"
expect_rc 1 "$BIN" images inspect "Bad/Name:1"
expect_contains "$OUT" "lower case" "a bad reference is refused before any call"
expect_rc 0 "$BIN" images gc --grace-seconds 0 -o json
expect_contains "$OUT" "blobs_deleted" "images gc"
expect_rc 0 skopeo copy --src-tls-verify=false --src-creds "$CREDS" \
  "docker://$HOSTPORT/team/x:1" "oci:$WORK/after-gc:1"

# --- Events: the push and a delete are on the bus ------------------------------
expect_rc 0 curl -s -o /dev/null -w '%{http_code}' -X DELETE "$TANDEM_SERVER/v2/team/y/manifests/$SRC_DIGEST"
expect_eq "$OUT" "202" "DELETE manifest"
expect_rc 0 timeout 20 "$BIN" events tail --from-start --count 5 \
  --pattern '{"source":["tandem.images"],"detail-type":["Image Action"]}' -o json
expect_contains "$OUT" 'PUSH' "a PUSH event"
expect_contains "$OUT" 'team/x' "the PUSH event names the repository"
expect_contains "$OUT" 'DELETE' "a DELETE event"

finish
