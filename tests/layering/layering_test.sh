#!/usr/bin/env bash
# The layering of src/ (docs/architecture.md), checked on every quoted
# #include of every file under src/ and on the CMake link lists:
#
#   room       may include
#   common     common            (common/kube: Kubernetes pieces both tiers share)
#   glue       common, glue
#   runtime    common, runtime, tandem/ (include/tandem/plugin.h)
#   compute    common, glue, runtime, compute      -- never serving
#   serving    common, glue, runtime, serving      -- never compute
#   api        everything but cli
#   cli        everything
#
# and no CMakeLists.txt under src/compute links a tandem_serving_* target (nor
# the reverse), none under common/glue/runtime links a compute, serving, api or
# cli target. Prints every violation as file:line and exits 1 if there is one.
# Usage: layering_test.sh [SOURCE_ROOT] (default: the repository of this script).
set -uo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT/src" || { echo "no src/ under $ROOT"; exit 1; }

allowed() {  # allowed ROOM -> the top-level folders ROOM may include
  case $1 in
    common) echo "common" ;;
    glue) echo "common glue" ;;
    runtime) echo "common runtime tandem" ;;
    compute) echo "common glue runtime compute" ;;
    serving) echo "common glue runtime serving" ;;
    api) echo "common glue runtime compute serving api" ;;
    cli) echo "common glue runtime compute serving api cli" ;;
  esac
}
PROJECT_DIRS=" common glue runtime compute serving api cli tandem "
# A quoted #include of a file in a folder; BASH_REMATCH[1] is the folder.
INCLUDE_RE='^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^/"]+)/'

violations=0
checked=0
for room in common glue runtime compute serving api cli; do
  [ -d "$room" ] || { echo "FAIL: src/$room is missing (update this test with the tree)"; violations=$((violations + 1)); continue; }
  ok=" $(allowed "$room") "
  # The folder is taken with bash's own regex match: a sed per line (2,000
  # forks) made this test take 50 s of wall time on a loaded machine.
  while IFS=: read -r file line text; do
    [[ "$text" =~ $INCLUDE_RE ]] || continue
    target=${BASH_REMATCH[1]}
    [[ "$PROJECT_DIRS" == *" $target "* ]] || continue  # a system or third-party header
    checked=$((checked + 1))
    if [[ "$ok" != *" $target "* ]]; then
      echo "FAIL: src/$file:$line: $room may not include $target/ ($text)"
      violations=$((violations + 1))
    fi
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^/"]+/' "$room" \
             --include='*.h' --include='*.cc' --include='*.in' || true)
done

# The link graph, as written in the CMakeLists.txt of each room.
check_links() {  # check_links DIR REGEX WHAT
  local hits
  hits=$(grep -rnE "$2" "$1" --include=CMakeLists.txt | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true)
  if [ -n "$hits" ]; then
    while IFS= read -r h; do echo "FAIL: src/$h: $3"; done <<<"$hits"
    violations=$((violations + $(wc -l <<<"$hits")))
  fi
}
check_links compute '\btandem_serving_' "compute links serving"
check_links serving '\btandem_compute_' "serving links compute"
for low in common glue runtime; do
  check_links "$low" '\btandem_(compute|serving|api|cli)' "$low links an upper layer"
done

if [ "$checked" -lt 100 ]; then
  echo "FAIL: only $checked project includes checked; the scan is broken"
  exit 1
fi
if [ "$violations" -gt 0 ]; then
  echo "$violations layering violation(s) (rules: tests/layering/layering_test.sh, docs/architecture.md)"
  exit 1
fi
echo "layering ok: $checked project includes checked"
