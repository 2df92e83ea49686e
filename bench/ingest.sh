#!/usr/bin/env bash
# Ingest under load (issue #5 part 3): NODES distinct node ids (default
# 10 000) each push one report per second to /v1/report for SECONDS (default
# 20) while wrk loads the public listener. signpost-dispatcher is pinned to
# CPU 0 with one worker; wrk and the generator (bench/src/bin/ingest-load.rs)
# share CPU 1. nginx, the anchor, runs the same phases on CPU 0: it answers
# the public path `return 302` as in part 1 and every push `return 200`
# (body read and discarded), i.e. it pays for the pushes' HTTP and nothing
# else. Phases:
#   A  wrk alone                    redirect req/s and CPU per redirect
#   C  ingest + wrk                 the same under ingest
#   B  ingest alone                 the core the pushes alone cost (N: nginx's)
#   D  ingest + visibility probes   report → pool latency (p50/p99/max)
# A and C run for both servers in every run, in alternating order, with a
# fresh dispatcher each run. Goals: ≤ 10% loss of redirect throughput,
# report-to-visible p99 ≤ 50 ms.
#
# Both CPUs are saturated in A (the server on 0, wrk on 1), so C's req/s
# loss mixes two causes: the server's core spent on ingest, and wrk's core
# spent on the generator (printed as its share of CPU 1). The server's own
# loss of capacity is 1 − A's ÷ C's CPU per redirect.
# Not run in CI; loopback only; every process started is killed on exit.
#
# STATE=maintenance makes the nodes report without joining the pool, which
# separates what ingest costs from what a 10 000-backend pool costs.
#
# Usage: bench/ingest.sh            (NODES=10000 SECONDS_=20 RUNS=3 DURATION=10 STATE=ready)
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-10000}
SECONDS_=${SECONDS_:-20}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
STATE=${STATE:-ready}
# shellcheck source=bench/lib.sh
source bench/lib.sh

need wrk wrk
need nginx nginx-light
echo "building signpost-dispatcher (release) and ingest-load..." >&2
cargo build --release -q -p signpost-dispatcher --bin signpost-dispatcher
cargo build --profile simulate -q -p signpost-bench --bin ingest-load
generator=target/simulate/ingest-load

hz=$(getconf CLK_TCK)
ingest() { push_to "http://$SP_CONTROL" "$@"; }
push_to() {
  local control=$1
  shift
  taskset -c 1 "$generator" --control "$control" --nodes "$NODES" --seconds "$SECONDS_" --state "$STATE" "$@"
}

# Pushes to CONTROL for SECONDS_ and prints the share of a core that PID
# used in steady state (the first and last 2 s not counted); the
# generator's summary goes to OUT and to stderr.
steady_core() {
  local pid=$1 control=$2 out=$3 before after gen
  push_to "$control" >"$out" &
  gen=$!
  sleep 2
  before=$(cpu_ticks "$pid")
  sleep $((SECONDS_ - 4))
  after=$(cpu_ticks "$pid")
  wait "$gen"
  cat "$out" >&2
  awk -v t=$((after - before)) -v hz="$hz" -v s=$((SECONDS_ - 4)) 'BEGIN { printf "%.3f", t / hz / s }'
}

# A fresh dispatcher with the three backends wrk is redirected to.
fresh_dispatcher() {
  if [[ -n ${SP_PID:-} ]]; then
    kill "$SP_PID" 2>/dev/null || true
    wait "$SP_PID" 2>/dev/null || true
  fi
  start_signpost
  push_report "$SP_CONTROL" a http://127.0.0.1:18001 30
  push_report "$SP_CONTROL" b http://127.0.0.1:18002 30
  push_report "$SP_CONTROL" c http://127.0.0.1:18003 30
  url="http://$SP_PUBLIC/app/page?id=42"
}

# nginx is the anchor: it redirects like part 1's nginx and answers every
# push `return 200` (reading the body and keeping nothing), so its A → C
# loss is what the same pushes cost a server that does no work with them.
start_nginx "location / { return 302 http://backend\$request_uri; }
    location = /v1/report { default_type application/json; return 200 '{\"status\":\"accepted\"}'; }"
nginx_control="http://127.0.0.1:$NGINX_PORT"
nginx_url="http://127.0.0.1:$NGINX_PORT/app/page?id=42"

# wrk alone (A), then wrk beside the pushes (C), against one server:
# appends each phase's `measure` line to $work/TAG.a and TAG.c and the
# generator's share of CPU 1 during C to TAG.gen.
alone_then_ingest() {
  local tag=$1 pid=$2 url=$3 control=$4 gen before after
  echo "run $run $tag A: wrk alone" >&2
  measure "$pid" "$url" -c64 | tee -a "$work/$tag.a" >&2
  echo "run $run $tag C: ingest + wrk" >&2
  push_to "$control" >"$work/$tag.c.gen" &
  gen=$!
  pids+=("$gen")
  sleep $(((SECONDS_ - DURATION) / 2))
  before=$(cpu_ticks "$gen")
  measure "$pid" "$url" -c64 | tee -a "$work/$tag.c" >&2
  after=$(cpu_ticks "$gen")
  awk -v t=$((after - before)) -v hz="$hz" -v s="$DURATION" 'BEGIN { print t / hz / s }' >>"$work/$tag.gen"
  wait "$gen"
  cat "$work/$tag.c.gen" >&2
}

# Each run measures both servers, on a fresh dispatcher, in alternating
# order, so that the machine's drift (±10% over minutes here) moves both
# alike; every figure is the median of the runs' own ratios.
for run in $(seq "$RUNS"); do
  fresh_dispatcher
  if ((run % 2)); then
    alone_then_ingest signpost "$SP_PID" "$url" "http://$SP_CONTROL"
    alone_then_ingest nginx "$NGINX_PID" "$nginx_url" "$nginx_control"
  else
    alone_then_ingest nginx "$NGINX_PID" "$nginx_url" "$nginx_control"
    alone_then_ingest signpost "$SP_PID" "$url" "http://$SP_CONTROL"
  fi
done

fresh_dispatcher
echo "B: ingest alone (steady state: the first and last 2 s are not counted)" >&2
ingest_core=$(steady_core "$SP_PID" "http://$SP_CONTROL" "$work/b.gen")
echo "N: the same pushes to nginx alone" >&2
nginx_core=$(steady_core "$NGINX_PID" "$nginx_control" "$work/n.gen")
kill "$NGINX_PID" 2>/dev/null || true

fresh_dispatcher
echo "D: ingest + visibility probes" >&2
ingest --probe-ms 250 | tee "$work/d.gen" >&2

col() { awk -v c="$2" '{ print $c }' "$1" | median; }
# Median over runs of TAG's C column ÷ its A column in the same run.
ratio() { paste -d' ' "$work/$1.c" "$work/$1.a" | awk -v c="$2" '{ print $c / $(c + 6) }' | median; }
# "A → C (±x%)" of column COL for TAG, with FORMAT for A and C.
change() {
  awk -v a="$(col "$work/$1.a" "$2")" -v c="$(col "$work/$1.c" "$2")" -v r="$(ratio "$1" "$2")" -v f="$3" \
    'BEGIN { printf f " → " f " (%+.1f%%)", a, c, (r - 1) * 100 }'
}
# Each run's share of its redirect capacity TAG lost, in run order, one
# per line: 1 − A's ÷ C's CPU per redirect.
losses() { paste -d' ' "$work/$1.c" "$work/$1.a" | awk '{ printf "%.1f\n", (1 - $11 / $5) * 100 }'; }
# Their median.
capacity_lost() { printf '%s%%' "$(losses "$1" | median)"; }
share() { awk -v g="$1" 'BEGIN { printf "%.1f%%", g * 100 }'; }
field() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$1"; }

echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$NODES nodes (state $STATE) × 1 report/s for ${SECONDS_}s; wrk -t1 -c64 -d${DURATION}s; medians of $RUNS runs"
echo
echo "| figure | signpost | nginx, the anchor | goal |"
echo "|---|---|---|---|"
echo "| redirect req/s: no ingest (A) → with ingest (C) | $(change signpost 2 %.0f) | $(change nginx 2 %.0f) | ≥ −10% |"
echo "| server CPU µs per redirect: A → C | $(change signpost 5 %.2f) | $(change nginx 5 %.2f) | |"
echo "| redirect capacity lost under ingest (1 − A ÷ C CPU per redirect) | $(capacity_lost signpost) | $(capacity_lost nginx) | ≤ 10% |"
echo "| generator's share of CPU 1 (wrk's core) during C | $(share "$(median <"$work/signpost.gen")") | $(share "$(median <"$work/nginx.gen")") | |"
echo "| core used by the pushes alone (B, N) | $(share "$ingest_core") | $(share "$nginx_core") | |"
echo "| reports accepted/s alone, push p99 | $(field "$work/b.gen" rate), $(field "$work/b.gen" push_rtt_p99_ms) ms | $(field "$work/n.gen" rate), $(field "$work/n.gen" push_rtt_p99_ms) ms | $NODES/s |"
echo "| report → visible in the pool: p50 / p99 / max ($(field "$work/d.gen" probes) probes; includes one poll of the node's /v1/backends entry, p50 $(field "$work/d.gen" poll_rtt_p50_ms) ms) | $(field "$work/d.gen" visible_p50_ms) / $(field "$work/d.gen" visible_p99_ms) / $(field "$work/d.gen" visible_max_ms) ms | | p99 ≤ 50 ms |"
echo
# Single runs swing with the machine's speed between A and C; the runs
# and signpost's loss minus nginx's in the same run say how far to trust
# the medians above.
echo "capacity lost per run: signpost $(losses signpost | paste -sd' '); nginx $(losses nginx | paste -sd' ')"
echo "signpost minus nginx, same run: median $(paste -d' ' <(losses signpost) <(losses nginx) | awk '{ print $1 - $2 }' | median) points"
