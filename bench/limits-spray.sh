#!/usr/bin/env bash
# Memory under a spray of distinct clients (issue #19): a release
# dispatcher with --rate-limit and a trusted proxy (127.0.0.1), then wrk
# sending every request as a new client (a distinct IPv6 /64 in
# X-Forwarded-For, so a new key of the rate-limit table each time). Prints
# the dispatcher's RSS before and after, the requests sent, the evictions
# counted, and the same spray's cost without the limit as the anchor. Not
# run in CI.
#
# Usage: bench/limits-spray.sh     (DURATION=30 TABLE=65536 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30}
TABLE=${TABLE:-65536}
# shellcheck source=bench/lib.sh
source bench/lib.sh

need wrk wrk
echo "building signpost-dispatcher (release)..." >&2
cargo build --release -q -p signpost-dispatcher --bin signpost-dispatcher

cat >"$work/spray.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local xff = string.format("2001:db8:%x:%x::1", math.floor(n / 65536) % 65536, n % 65536)
  return wrk.format("GET", "/", { ["X-Forwarded-For"] = xff })
end
LUA

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

spray() {
  local label=$1
  shift
  start_signpost --trust-forwarded 127.0.0.1/32 "$@"
  push_report "$SP_CONTROL" a http://127.0.0.1:18001 20
  sleep 0.2
  # Warm the connections and the allocator with a short spray first.
  taskset -c 1 wrk -t1 -c32 -d2s -s "$work/spray.lua" "http://$SP_PUBLIC/" >/dev/null
  local before after requests evictions
  before=$(rss "$SP_PID")
  requests=$(taskset -c 1 wrk -t1 -c32 -d"${DURATION}s" -s "$work/spray.lua" "http://$SP_PUBLIC/" |
    awk '/requests in/ { print $1 }')
  after=$(rss "$SP_PID")
  evictions=$(curl -fsS "http://$SP_CONTROL/metrics" |
    awk '/^signpost_rate_limit_evictions_total / { print $2 }')
  echo "| $label | $requests | $before | $after | $((after - before)) | ${evictions:-0} |"
  kill "$SP_PID"
}

echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t1 -c32 -d${DURATION}s, every request a distinct IPv6 /64 via X-Forwarded-For"
echo
echo "| dispatcher | distinct clients sent | RSS before KiB | RSS after KiB | growth KiB | evictions |"
echo "|---|---|---|---|---|---|"
spray "no rate limit (anchor)"
spray "--rate-limit 1/h --rate-limit-table $TABLE" --rate-limit 1/h --rate-limit-table "$TABLE"
