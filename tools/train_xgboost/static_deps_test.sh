#!/bin/bash
# The trainer starts once per tuning trial, so it carries abseil and yaml-cpp
# inside (tandem_static_deps, cmake/static_deps.cmake) instead of loading ~28
# shared libraries: none of them may be a dynamic dependency, and it links
# --as-needed (no shared library it does not use). It must still run.
# usage: static_deps_test.sh <tandem-train-xgboost>
set -euo pipefail
BIN=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
needed=$(readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || fail "readelf found no NEEDED entries in $BIN"
echo "$needed" | grep -q '^libxgboost\.so' || fail "libxgboost is not a dependency: $needed"
if echo "$needed" | grep -E '^lib(absl_|yaml-cpp)'; then
  fail "abseil or yaml-cpp is loaded as a shared library (above)"
fi
# --as-needed: the trainer logs with printf, not spdlog.
if echo "$needed" | grep -E '^lib(spdlog|fmt)\.'; then
  fail "a shared library the trainer does not use is a dependency (above)"
fi
"$BIN" --help | grep -q "^usage: tandem-train-xgboost" || fail "--help does not print the usage"
echo "PASS: $(echo "$needed" | wc -l) shared libraries: $(echo $needed)"
