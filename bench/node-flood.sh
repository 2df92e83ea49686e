#!/usr/bin/env bash
# Memory under a flood of node ids (issue #15): a release dispatcher on
# loopback takes pushes from NODES distinct node ids (default 10 000, the
# default --max-nodes) for SECONDS_ (default 5) from bench/src/bin/ingest-load.rs,
# then they all fall silent. Prints the dispatcher's RSS (VmRSS) at start,
# right after the flood, and 2 x --forget-after (FORGET, default 10s) later,
# when every node has been forgotten; then the same with twice as many ids
# as --max-nodes allows, to show the cap holding. A /dashboard is fetched
# during the flood, as an operator's browser would.
# Not run in CI; loopback only; every process started is killed on exit.
#
# Usage: bench/node-flood.sh        (NODES=10000 SECONDS_=5 FORGET=10 RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-10000}
SECONDS_=${SECONDS_:-5}
FORGET=${FORGET:-10}
RUNS=${RUNS:-3}
# shellcheck source=bench/lib.sh
source bench/lib.sh

echo "building signpost-dispatcher (release) and ingest-load..." >&2
cargo build --release -q -p signpost-dispatcher --bin signpost-dispatcher
cargo build --profile simulate -q -p signpost-bench --bin ingest-load
generator=target/simulate/ingest-load

rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
backends() {
  curl -fsS "http://$1/dashboard" | tr ',' '\n' | grep -c '"id":' || true
}

# One run with NODES ids against --max-nodes CAP: prints
# "start flooded forgotten" RSS in KiB, the nodes known after the flood,
# and the nodes known at the end.
run() {
  local cap=$1 out="$work/sp.$RANDOM" pid control
  target/release/signpost-dispatcher --workers 1 --listen 127.0.0.1:0 \
    --control-listen 127.0.0.1:0 --poll-interval 1s --stale-after 2s \
    --forget-after "${FORGET}s" --max-nodes "$cap" >"$out.out" 2>"$out.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    grep -q '^listening control ' "$out.out" 2>/dev/null && break
    sleep 0.05
  done
  control=$(awk '/^listening control /{print $3}' "$out.out")
  sleep 1
  local start flooded forgotten known after
  start=$(rss_kb "$pid")
  "$generator" --control "http://$control" --nodes "$NODES" --seconds "$SECONDS_" \
    --interval-ms 1000 >"$out.gen" 2>&1 &
  local gen=$!
  sleep $((SECONDS_ / 2))
  backends "$control" >/dev/null
  wait "$gen"
  known=$(backends "$control")
  flooded=$(rss_kb "$pid")
  sleep $((2 * FORGET))
  after=$(backends "$control")
  forgotten=$(rss_kb "$pid")
  kill "$pid"
  echo "$start $flooded $forgotten $known $after"
}

printf '%-28s %9s %9s %9s %7s %7s\n' case start_kb flooded_kb forgot_kb nodes after
for i in $(seq "$RUNS"); do
  read -r s f g k a < <(run "$NODES")
  printf '%-28s %9s %9s %9s %7s %7s\n' "run $i: $NODES ids, cap $NODES" "$s" "$f" "$g" "$k" "$a"
  read -r s f g k a < <(NODES=$((2 * NODES)) run "$NODES")
  printf '%-28s %9s %9s %9s %7s %7s\n' "run $i: $((2 * NODES)) ids, cap $NODES" "$s" "$f" "$g" "$k" "$a"
done
