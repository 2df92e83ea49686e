#!/usr/bin/env bash
# Redirect cost (issue #5 part 1): nginx `return 302`, HAProxy `http-request
# redirect` and signpost-dispatcher, each pinned to CPU 0 with one worker,
# loaded by wrk pinned to CPU 1. The primary figure is the server's CPU time
# per request (utime + stime from /proc over the run ÷ requests); req/s and
# p50/p90 come second. Prints one Markdown table per wrk mode, medians of
# RUNS runs, with ratios against nginx and HAProxy. Not run in CI.
#
# Usage: bench/redirect.sh            (DURATION=10 RUNS=3 by default)
#        STICKY=0 MODES='close' bench/redirect.sh
#   STICKY=0 leaves out the two --sticky rows; MODES is an extended regex
#   that picks the modes by name (e.g. 'close' for the three
#   Connection: close modes). BASELINE=BINARY adds rows for another
#   build of the dispatcher (plain and with --access-log).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
STICKY=${STICKY:-1}
MODES=${MODES:-.}
PATH_QUERY=/app/page?id=42
# shellcheck source=bench/lib.sh
source bench/lib.sh

need nginx nginx-light
need haproxy haproxy
need wrk wrk
echo "building signpost-dispatcher (release)..." >&2
cargo build --release -q -p signpost-dispatcher --bin signpost-dispatcher

targets=() # name|pid|url|extra wrk flags

start_nginx 'location / { return 302 http://backend$request_uri; }'
targets+=("nginx|$NGINX_PID|http://127.0.0.1:$NGINX_PORT$PATH_QUERY|")
# With an access log (issue #19): nginx's default `combined` lines to a
# file, beside signpost's JSON lines to a file below.
start_nginx "access_log $work/nginx-access.log; location / { return 302 http://backend\$request_uri; }"
targets+=("nginx access_log on|$NGINX_PID|http://127.0.0.1:$NGINX_PORT$PATH_QUERY|")

start_haproxy http
targets+=("haproxy|$HAPROXY_PID|http://127.0.0.1:$HAPROXY_PORT$PATH_QUERY|")

start_signpost
seed_backends
targets+=("signpost|$SP_PID|http://$SP_PUBLIC$PATH_QUERY|")

# BASELINE=path/to/signpost-dispatcher adds its row beside this build's,
# to show a change within one run.
if [[ -n ${BASELINE:-} ]]; then
  SIGNPOST_BIN=$BASELINE start_signpost
  seed_backends
  targets+=("signpost baseline|$SP_PID|http://$SP_PUBLIC$PATH_QUERY|")
  SIGNPOST_BIN=$BASELINE start_signpost --access-log "$work/baseline-access.log"
  seed_backends
  targets+=("signpost baseline --access-log|$SP_PID|http://$SP_PUBLIC$PATH_QUERY|")
fi

if start_signpost --access-log "$work/signpost-access.log"; then
  seed_backends
  targets+=("signpost --access-log|$SP_PID|http://$SP_PUBLIC$PATH_QUERY|")
else
  echo "note: --access-log is not available in this build; its row is skipped" >&2
fi

secret=bench-secret-0123456789abcdefghij
if [[ $STICKY == 0 ]]; then
  : # rows left out on request
elif start_signpost --sticky cookie --cookie-secret "$secret"; then
  seed_backends
  cookie=$(curl -s -D - -o /dev/null "http://$SP_PUBLIC/" |
    awk 'tolower($1) == "set-cookie:" { sub(/;.*/, "", $2); print $2 }' | tr -d '\r')
  if [[ -n $cookie ]]; then
    targets+=("signpost --sticky cookie (new clients)|$SP_PID|http://$SP_PUBLIC$PATH_QUERY|")
    targets+=("signpost --sticky cookie (valid cookie)|$SP_PID|http://$SP_PUBLIC$PATH_QUERY|Cookie: $cookie")
  else
    echo "note: --sticky cookie set no cookie; its rows are skipped" >&2
  fi
else
  echo "note: --sticky cookie is not available in this build; its rows are skipped" >&2
fi

# The last mode is one connection: no queue at the server, so its p50/p90
# are the server's own latency. At -c64 and -c256 every server saturates
# CPU 0 and the mean latency is the same for all (connections ÷ req/s,
# Little's law); what the percentiles rank there is how evenly a server
# serves its connections.
all_modes=("keep-alive, -c64|-c64|" "keep-alive, -c256|-c256|" "Connection: close, -c64|-c64|Connection: close"
  "Connection: close, -c256|-c256|Connection: close" "Connection: close, one at a time (-c1)|-c1|Connection: close"
  "keep-alive, one connection (-c1)|-c1|")
modes=()
for mode in "${all_modes[@]}"; do
  [[ ${mode%%|*} =~ $MODES ]] && modes+=("$mode")
done
raw="$work/raw"
for run in $(seq "$RUNS"); do
  for mode in "${modes[@]}"; do
    IFS='|' read -r mode_name conns mode_header <<<"$mode"
    for target in "${targets[@]}"; do
      IFS='|' read -r name pid url header <<<"$target"
      flags=("$conns")
      [[ -n $mode_header ]] && flags+=(-H "$mode_header")
      [[ -n $header ]] && flags+=(-H "$header")
      result=$(measure "$pid" "$url" "${flags[@]}")
      echo "run $run | $mode_name | $name | $result" >&2
      echo "$run|$mode_name|$name|$result" >>"$raw"
    done
  done
done


echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average before the table: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t1 -d${DURATION}s --latency pinned to CPU 1; servers pinned to CPU 0; medians of $RUNS runs"
echo "(ratios: the median over runs of the ratio within each run)"
for mode in "${modes[@]}"; do
  IFS='|' read -r mode_name _ _ <<<"$mode"
  echo
  echo "#### $mode_name"
  echo
  echo "| server | CPU µs/req | ÷ nginx | ÷ HAProxy | of which user µs | req/s | req/s ÷ nginx | p50 ms | p90 ms |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for target in "${targets[@]}"; do
    IFS='|' read -r name _ _ _ <<<"$target"
    cpu=$(med "$mode_name" "$name" 5)
    rps=$(med "$mode_name" "$name" 2)
    awk -v n="$name" -v cpu="$cpu" -v cn="$(ratio "$mode_name" "$name" nginx 5)" -v ch="$(ratio "$mode_name" "$name" haproxy 5)" \
      -v rps="$rps" -v rn="$(ratio "$mode_name" "$name" nginx 2)" \
      -v p50="$(med "$mode_name" "$name" 3)" -v p90="$(med "$mode_name" "$name" 4)" -v user="$(med "$mode_name" "$name" 6)" \
      'BEGIN { printf "| %s | %.2f | %.2f | %.2f | %.2f | %.0f | %.2f | %.3f | %.3f |\n", n, cpu, cn, ch, user, rps, rn, p50, p90 }'
  done
done
echo
echo "#### with an access log: signpost --access-log ÷ nginx access_log on, CPU µs/req"
echo
for mode in "${modes[@]}"; do
  IFS='|' read -r mode_name _ _ <<<"$mode"
  echo "- $mode_name: $(ratio "$mode_name" "signpost --access-log" "nginx access_log on" 5)"
done
[[ -n ${RAW_OUT:-} ]] && cp "$raw" "$RAW_OUT"
true
