#!/usr/bin/env bash
# The CLI is consistent across commands: every command's --help
# exits 0 and shows an "Examples" section; usage errors exit 2, failures 1;
# list commands share --limit/--all (--page-token where the API pages) and
# -o json|table|yaml; `tandem status` summarises the platform.
source "$(dirname "$0")/../cli/lib.sh"
TANDEM=$1
WORK=$(mktemp -d /tmp/tandem-cli-consistency.XXXXXX)
trap 'stop_control_plane; rm -rf "$WORK"' EXIT

# Subcommand names listed in the "Subcommands:" section of `tandem ARGS --help`.
subcommands() {
  "$TANDEM" "$@" --help 2>/dev/null | awk '
    /^[A-Za-z].*:$/ { in_sub = ($0 == "Subcommands:"); next }
    in_sub && /^  [a-z]/ { print $1 }'
}

# Walks the command tree; every node's help must exit 0 and show examples.
COMMANDS=0
walk() {
  local out rc
  out=$("$TANDEM" "$@" --help 2>&1); rc=$?
  COMMANDS=$((COMMANDS + 1))
  if [ "$rc" -ne 0 ]; then
    fail "'tandem $* --help' exited $rc, want 0"
  elif ! grep -Eq '^Examples?:' <<<"$out"; then
    fail "'tandem $* --help' has no Examples section: add ->footer(\"Examples:\\n  tandem $* ...\")"
  elif [ $# -gt 0 ] && ! awk '/^Examples?:/ { f = 1; next } f' <<<"$out" | grep -qF "tandem $*"; then
    # CLI11 inherits the parent's footer, so the examples must be the command's own.
    fail "'tandem $* --help' shows no example of 'tandem $*' (only inherited ones): add ->footer(\"Examples:\\n  tandem $* ...\")"
  else
    pass
  fi
  local sub
  for sub in $(subcommands "$@"); do walk "$@" "$sub"; done
}
walk
[ "$COMMANDS" -ge 30 ] && pass || fail "only $COMMANDS commands found: is the help parser right?"
for group in models artifacts events jobs deployments status; do
  subcommands | grep -qx "$group" && pass || fail "top-level help does not list '$group'"
done

# Usage errors exit 2 (CLI11 parse errors and the commands' own checks).
expect_rc 2 "$TANDEM"
expect_rc 2 "$TANDEM" no-such-command
expect_rc 2 "$TANDEM" models
expect_rc 2 "$TANDEM" models list --no-such-flag
expect_rc 2 "$TANDEM" jobs list --limit -1
expect_rc 2 "$TANDEM" jobs list --limit many
expect_rc 2 "$TANDEM" -o xml status
expect_rc 2 "$TANDEM" status extra-argument
expect_rc 2 "$TANDEM" models alias fraud champion  # VERSION required unless --delete
expect_rc 2 "$TANDEM" deployments scale web
# No control plane: exit 1 with a clear message.
expect_rc 1 "$TANDEM" --server http://127.0.0.1:1 status
expect_contains "$OUT" "no control plane reachable" "unreachable server message"

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }

# tandem status on an empty platform, in every format.
expect_rc 0 "$TANDEM" status
expect_contains "$OUT" "JOBS      0 total" "status table: jobs"
expect_contains "$OUT" "MODELS    0 registered" "status table: models"
expect_contains "$OUT" "DEPLOYMENTS" "status table: deployments"
expect_rc 0 "$TANDEM" status -o json
expect_contains "$OUT" '"by_state"' "status json"
expect_rc 0 "$TANDEM" status -o yaml
expect_contains "$OUT" "by_state:" "status yaml"

# Paged lists: --limit keeps a next_page_token, --page-token continues, --all gets everything.
for i in 1 2 3; do echo "$i" > "$WORK/f$i"; expect_rc 0 "$TANDEM" artifacts put "data/f$i" "$WORK/f$i"; done
expect_rc 0 "$TANDEM" artifacts ls data/ --limit 2 -o json
TOKEN=$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d["artifacts"])==2, d; print(d["next_page_token"])' "$OUT")
[ -n "$TOKEN" ] && pass || fail "artifacts ls --limit 2 kept no next_page_token: $OUT"
expect_rc 0 "$TANDEM" artifacts ls data/ --limit 2 --page-token "$TOKEN" -o json
expect_contains "$OUT" '"data/f3"' "--page-token continues after the first page"
[[ "$OUT" != *'"data/f1"'* ]] && pass || fail "--page-token repeated the first page: $OUT"
expect_rc 0 "$TANDEM" artifacts ls data/ --limit 1 --all -o yaml
expect_contains "$OUT" "data/f3" "--all overrides --limit"
expect_rc 0 "$TANDEM" artifacts ls data/ --limit 1
expect_contains "$OUT" "(more: --page-token" "table hints at the next page"

# Unpaged lists honour --limit too, and the formats.
for q in qa qb qc; do expect_rc 0 "$TANDEM" events queues create "$q"; done
expect_rc 0 "$TANDEM" events queues list --limit 2 -o json
N=$(/usr/bin/python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["queues"]))' "$OUT")
[ "$N" = 2 ] && pass || fail "queues list --limit 2 gave $N queues"
for cmd in "models list" "jobs list" "deployments list" "events rules list" "events queues list"; do
  for fmt in table json yaml; do
    # shellcheck disable=SC2086
    expect_rc 0 "$TANDEM" $cmd -o "$fmt"
  done
done
expect_rc 0 "$TANDEM" status
expect_contains "$OUT" "qa" "status shows queue depths"

finish
