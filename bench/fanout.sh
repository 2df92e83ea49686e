#!/usr/bin/env bash
# Push fan-out cost (issue #21): what a dispatcher replica costs per 1 000
# agents, and what each extra replica costs an agent.
#
#   D  one dispatcher (one worker) while NODES (default 1 000) distinct
#      nodes push once a second (bench/src/bin/ingest-load.rs); anchor: the
#      same dispatcher idle over the same window. Printed in millicores.
#   G  one agent (--interval 200ms: five reports a second) pushing to a
#      name that dnsmasq resolves to K dispatcher replicas (127.0.0.2...,
#      one shared port), K = 1 and 3; anchor: the same agent pushing
#      nowhere. Printed as the agent's CPU, in millicores, and the extra
#      per replica.
# Each phase runs WINDOW seconds (default 20) after a 2 s settle; RUNS
# rounds (default 3) alternate the order; figures are medians. Binaries
# from the `simulate` profile (optimised, thin LTO). Loopback only; every
# process started is killed on exit.
#
# Usage: bench/fanout.sh            (NODES=1000 WINDOW=20 RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-1000}
WINDOW=${WINDOW:-20}
RUNS=${RUNS:-3}
# shellcheck source=bench/lib.sh
source bench/lib.sh

need dnsmasq dnsmasq
echo "building (simulate profile)..." >&2
cargo build --profile simulate -q -p signpost-dispatcher --bin signpost-dispatcher \
  -p signpost-agent --bin signpost-agent -p signpost-bench --bin ingest-load
bin=target/simulate
hz=$(getconf CLK_TCK)

# Millicores PID used over WINDOW seconds, from now.
millicores() {
  local before after
  before=$(cpu_ticks "$1")
  sleep "$WINDOW"
  after=$(cpu_ticks "$1")
  awk -v t=$((after - before)) -v hz="$hz" -v s="$WINDOW" 'BEGIN { printf "%.1f\n", t / hz / s * 1000 }'
}

# A dispatcher on ADDR's IP: sets DISP_PID and DISP_CONTROL.
start_dispatcher() {
  local out="$work/disp.$RANDOM"
  "$bin/signpost-dispatcher" --workers 1 --listen "${1%:*}:0" --control-listen "$1" \
    --stale-after 600s --forget-after 900s >"$out.out" 2>"$out.err" &
  DISP_PID=$!
  pids+=("$DISP_PID")
  for _ in $(seq 100); do
    DISP_CONTROL=$(awk '/^listening control /{print $3}' "$out.out")
    [[ -n $DISP_CONTROL ]] && return
    sleep 0.05
  done
  echo "dispatcher on $1 did not start: $(cat "$out.err")" >&2
  return 1
}

# --- D: a dispatcher's cost per NODES pushing agents --------------------
start_dispatcher 127.0.0.1:0
for run in $(seq "$RUNS"); do
  for phase in $( ((run % 2)) && echo "idle push" || echo "push idle"); do
    if [[ $phase == push ]]; then
      "$bin/ingest-load" --control "http://$DISP_CONTROL" --nodes "$NODES" \
        --seconds $((WINDOW + 4)) --state maintenance >"$work/gen.out" 2>&1 &
      gen=$!
      pids+=("$gen")
      sleep 2
      millicores "$DISP_PID" >>"$work/d.$phase"
      wait "$gen"
    else
      sleep 2
      millicores "$DISP_PID" >>"$work/d.$phase"
    fi
    echo "run $run D $phase: $(tail -1 "$work/d.$phase") millicores" >&2
  done
done
kill "$DISP_PID"

# --- G: an agent's cost per replica it pushes to ------------------------
port=$(free_port)
dns_port=$(free_port)
for ip in 127.0.0.2 127.0.0.3 127.0.0.4; do start_dispatcher "$ip:$port"; done
# Names with one and with three addresses, served by a private dnsmasq.
printf '127.0.0.2 one.test\n127.0.0.2 three.test\n127.0.0.3 three.test\n127.0.0.4 three.test\n' >"$work/hosts"
chmod 755 "$work" && chmod 644 "$work/hosts"
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address=127.0.0.1 --port="$dns_port" --addn-hosts="$work/hosts" \
  --pid-file="$work/dnsmasq.pid" --log-facility=- 2>/dev/null &
pids+=($!)
sleep 0.5

agent_cost() {
  local args=(--listen 127.0.0.1:0 --interval 200ms --node-id bench --advertise http://127.0.0.1:8000)
  [[ -n $1 ]] && args+=(--dispatcher "http://$1:$port" --resolver "127.0.0.1:$dns_port")
  "$bin/signpost-agent" "${args[@]}" >/dev/null 2>"$work/agent.err" &
  local agent=$!
  pids+=("$agent")
  sleep 2
  millicores "$agent"
  kill "$agent"
}
for run in $(seq "$RUNS"); do
  for k in $( ((run % 2)) && echo "0 1 3" || echo "3 1 0"); do
    case $k in 0) name= ;; 1) name=one.test ;; 3) name=three.test ;; esac
    agent_cost "$name" >>"$work/g.$k"
    echo "run $run G $k replicas: $(tail -1 "$work/g.$k") millicores" >&2
  done
done

d_idle=$(median <"$work/d.idle")
d_push=$(median <"$work/d.push")
g0=$(median <"$work/g.0")
g1=$(median <"$work/g.1")
g3=$(median <"$work/g.3")
echo
echo "| what | median millicores ($RUNS runs × ${WINDOW}s) |"
echo "|---|---|"
echo "| dispatcher idle (anchor) | $d_idle |"
echo "| dispatcher, $NODES agents × 1 report/s | $d_push |"
echo "| agent, pushing nowhere (anchor), 5 reports/s | $g0 |"
echo "| agent pushing to 1 replica | $g1 |"
echo "| agent pushing to 3 replicas | $g3 |"
awk -v i="$d_idle" -v p="$d_push" -v n="$NODES" -v a="$g0" -v b="$g1" -v c="$g3" 'BEGIN {
  printf "per 1 000 agents, one replica pays %.1f millicores over idle (%.2f x idle)\n", (p - i) * 1000 / n, (i > 0 ? p / i : 0)
  printf "an agent pays %.2f millicores per extra replica at 5 reports/s (3 vs 1: %.2f x)\n", (c - b) / 2, (b > 0 ? c / b : 0)
}'
