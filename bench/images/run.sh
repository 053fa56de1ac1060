#!/usr/bin/env bash
# Push and first pull of a ~200 MB image (4 incompressible layers) with
# skopeo: to/from tandem's /v2/ (embedded image store) vs to/from Debian's
# docker-registry (CNCF distribution, filesystem storage), side by side in one
# run. Each round starts both registries empty (and a fresh pull directory),
# so every push uploads every byte and every pull is a first pull.
# Usage: bench/images/run.sh [build-dir] [rounds] [MiB]     (medians printed)
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=$(cd "${1:-build}" && pwd) || { echo "no build directory" >&2; exit 2; }
ROUNDS=${2:-3}
MIB=${3:-200}
TANDEM="$BUILD/bin/tandem"
for tool in skopeo docker-registry python3; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/bootstrap)" >&2; exit 1; }
done
source tests/cli/lib.sh

WORK=$(mktemp -d "$BUILD/images-bench.XXXXXX")
cleanup() {
  stop_control_plane
  scripts/test-servers/registry stop "$WORK/registry" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
python3 bench/images/make_layout.py "$WORK/layout" "$MIB" 4 >/dev/null
BYTES=$(du -sb "$WORK/layout/blobs" | cut -f1)

secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; return 1; }; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -a TP TQ RP RQ
for r in $(seq 1 "$ROUNDS"); do
  # tandem, empty
  stop_control_plane
  rm -rf "$WORK/home"
  start_control_plane "$TANDEM" "$WORK/home" >/dev/null || { echo "tandem did not start" >&2; exit 1; }
  T=${TANDEM_SERVER#http://}
  TP+=("$(secs skopeo copy --preserve-digests --dest-tls-verify=false --dest-creds "b:$TANDEM_TOKEN" \
    "oci:$WORK/layout:1" "docker://$T/bench/img:1")") || exit 1
  rm -rf "$WORK/pull"
  TQ+=("$(secs skopeo copy --preserve-digests --src-tls-verify=false --src-creds "b:$TANDEM_TOKEN" \
    "docker://$T/bench/img:1" "oci:$WORK/pull:1")") || exit 1
  # docker-registry, empty
  scripts/test-servers/registry start "$WORK/registry" >/dev/null || exit 1
  R=$(sed 's|registry://||' "$WORK/registry/uri")
  RP+=("$(secs skopeo copy --preserve-digests --dest-tls-verify=false \
    "oci:$WORK/layout:1" "docker://$R/bench/img:1")") || exit 1
  rm -rf "$WORK/pull"
  RQ+=("$(secs skopeo copy --preserve-digests --src-tls-verify=false \
    "docker://$R/bench/img:1" "oci:$WORK/pull:1")") || exit 1
  scripts/test-servers/registry stop "$WORK/registry" >/dev/null
done
stop_control_plane

row() {  # name tandem-times registry-times
  local t r
  t=$(printf '%s\n' $2 | median); r=$(printf '%s\n' $3 | median)
  printf '| %s | %.2f | %.0f | %.2f | %.0f | %.2f |\n' "$1" "$t" "$(echo "$BYTES/1048576/$t" | bc -l)" \
    "$r" "$(echo "$BYTES/1048576/$r" | bc -l)" "$(echo "$t/$r" | bc -l)"
}
echo "image: $(echo "$BYTES/1048576" | bc) MiB in 4 layers, $ROUNDS rounds, medians"
echo
echo "| skopeo copy | tandem s | tandem MiB/s | docker-registry s | docker-registry MiB/s | tandem / registry time |"
echo "|---|---:|---:|---:|---:|---:|"
row "push (oci layout → registry)" "${TP[*]}" "${RP[*]}"
row "first pull (registry → oci layout)" "${TQ[*]}" "${RQ[*]}"
