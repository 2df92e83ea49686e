#!/usr/bin/env bash
# Ingest under load (issue #5 part 3): NODES distinct node ids (default
# 10 000) each push one report per second to /v1/report for SECONDS (default
# 20) while wrk loads the public listener. signpost-dispatcher is pinned to
# CPU 0 with one worker; wrk and the generator (bench/src/bin/ingest-load.rs)
# share CPU 1. Five phases, A and C alternating on a fresh dispatcher:
#   A  wrk alone                    redirect req/s and CPU per redirect
#   C  ingest + wrk                 req/s and CPU per redirect under ingest
#   B  ingest alone                 the dispatcher CPU that ingest costs
#   N  the same pushes to nginx     anchor: nginx on CPU 0 answering every
#                                   push `return 200` (body read, discarded)
#   D  ingest + visibility probes   report → pool latency (p50/p99/max)
# Goals: ≤ 10% loss of redirect throughput, report-to-visible p99 ≤ 50 ms.
#
# Both CPUs are saturated in A (the dispatcher on 0, wrk on 1), so C's
# req/s loss mixes two causes: the dispatcher's core spent on ingest, and
# wrk's core spent on the generator (printed as its share of CPU 1). The
# dispatcher's own loss of capacity is 1 − A's ÷ C's CPU per redirect.
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

# A and C alternate on a fresh dispatcher each run, so that the machine's
# drift (±10% over minutes here) moves both alike; the loss is the median
# of the runs' own ratios.
for run in $(seq "$RUNS"); do
  fresh_dispatcher
  echo "run $run A: wrk alone" >&2
  measure "$SP_PID" "$url" -c64 | tee -a "$work/a" >&2
  echo "run $run C: ingest + wrk" >&2
  ingest >"$work/c.gen.$run" &
  gen=$!
  pids+=("$gen")
  sleep $(((SECONDS_ - DURATION) / 2))
  gen_before=$(cpu_ticks "$gen")
  measure "$SP_PID" "$url" -c64 | tee -a "$work/c" >&2
  gen_after=$(cpu_ticks "$gen")
  awk -v t=$((gen_after - gen_before)) -v hz="$hz" -v s="$DURATION" 'BEGIN { print t / hz / s }' >>"$work/gen_share"
  wait "$gen"
  cat "$work/c.gen.$run" >&2
done

fresh_dispatcher
echo "B: ingest alone (steady state: the first and last 2 s are not counted)" >&2
ingest_core=$(steady_core "$SP_PID" "http://$SP_CONTROL" "$work/b.gen")
kill "$SP_PID" 2>/dev/null || true
wait "$SP_PID" 2>/dev/null || true
SP_PID=

echo "N: the same pushes to nginx (return 200), the anchor" >&2
start_nginx "default_type application/json; return 200 '{\"status\":\"accepted\"}';"
nginx_core=$(steady_core "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT" "$work/n.gen")
kill "$NGINX_PID" 2>/dev/null || true

fresh_dispatcher

echo "D: ingest + visibility probes" >&2
ingest --probe-ms 250 | tee "$work/d.gen" >&2

col() { awk -v c="$2" '{ print $c }' "$1" | median; }
# Median over runs of C's column ÷ A's in the same run.
ratio() { paste -d' ' "$work/c" "$work/a" | awk -v c="$1" '{ print $c / $(c + 6) }' | median; }
a_rps=$(col "$work/a" 2)
c_rps=$(col "$work/c" 2)
a_cpu=$(col "$work/a" 5)
c_cpu=$(col "$work/c" 5)
rps_ratio=$(ratio 2)
cpu_ratio=$(ratio 5)
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$NODES nodes (state $STATE) × 1 report/s for ${SECONDS_}s; wrk -t1 -c64 -d${DURATION}s; medians of $RUNS runs"
echo
echo "| figure | value | goal |"
echo "|---|---|---|"
awk -v a="$a_rps" -v c="$c_rps" -v r="$rps_ratio" 'BEGIN { printf "| redirect req/s: no ingest → with ingest (median of the runs'"'"' own ratios) | %.0f → %.0f (%+.1f%%) | ≥ −10%% |\n", a, c, (r - 1) * 100 }'
awk -v a="$a_cpu" -v c="$c_cpu" -v r="$cpu_ratio" 'BEGIN { printf "| dispatcher CPU µs per redirect: no ingest → with ingest | %.2f → %.2f (%+.1f%%) | |\n", a, c, (r - 1) * 100 }'
awk -v r="$cpu_ratio" 'BEGIN { printf "| dispatcher redirect capacity lost under ingest (1 − A ÷ C CPU per redirect) | %.1f%% | ≤ 10%% |\n", (1 - 1 / r) * 100 }'
awk -v g="$(median <"$work/gen_share")" 'BEGIN { printf "| generator'"'"'s share of CPU 1 (wrk'"'"'s core) during C | %.1f%% | |\n", g * 100 }'
awk -v x="$ingest_core" -v n="$nginx_core" 'BEGIN { printf "| core used by the pushes alone: dispatcher (B) vs nginx return 200 (N) | %.1f%% vs %.1f%% (%.2f ×) | ≤ 10%% |\n", x * 100, n * 100, x / n }'
awk '{ for (i = 1; i < NF; i++) v[$i] = $(i + 1) } END { printf "| reports accepted/s (phase B), push p99 | %.0f, %s ms | %d/s |\n", v["rate"], v["push_rtt_p99_ms"], n }' n="$NODES" "$work/b.gen"
awk '{ for (i = 1; i < NF; i++) v[$i] = $(i + 1) } END { printf "| report → visible in the pool: p50 / p99 / max (%s probes; includes one poll of the node'"'"'s /v1/backends entry, p50 %s ms) | %s / %s / %s ms | p99 ≤ 50 ms |\n", v["probes"], v["poll_rtt_p50_ms"], v["visible_p50_ms"], v["visible_p99_ms"], v["visible_max_ms"] }' "$work/d.gen"
