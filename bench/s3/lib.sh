# Sourced by bench/s3's scripts; $SERVER is the s3rver state directory of
# scripts/test-servers/s3.

# CPU seconds the server (the primary and its workers) has used so far.
server_cpu() {
  local pid total=0 p
  pid=$(cat "$SERVER/pid")
  for p in $pid $(pgrep -P "$pid" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'
}
