#!/usr/bin/env bash
# Footprint of signpost-agent beside prometheus-node-exporter: CPU time per
# sample and resident memory at a 1 s interval, each process scraped once a
# second over loopback, with the agent counting connections to an
# advertised loopback port: first with none established, then with CONNS
# (default 20000) held open by bench/loopback-conns.py. RUNS rounds
# (default 3) of DURATION seconds per phase (default 30); medians last.
# Goal: agent <= 5 MB RSS and <= 1 ms CPU per sample. Not run in CI.
#
# CPU is on-CPU time from /proc/<pid>/task/*/schedstat (nanoseconds; the
# 10 ms ticks of /proc/<pid>/stat are too coarse for 30 s windows), per
# sample the agent took (the report's seq) or per node_exporter scrape.
#
# Usage: bench/agent-footprint.sh
#        AGENT_BIN=/tmp/old-agent bench/agent-footprint.sh   (another build)
#        DURATION=10 RUNS=1 CONNS=5000 bench/agent-footprint.sh   (quick look)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30}
RUNS=${RUNS:-3}
CONNS=${CONNS:-20000}
# shellcheck source=bench/lib.sh
source bench/lib.sh

if [[ -z ${AGENT_BIN:-} ]]; then
  echo "building the agent (release)..." >&2
  cargo build --release -q -p signpost-agent --bin signpost-agent
  AGENT_BIN=target/release/signpost-agent
fi
need prometheus-node-exporter prometheus-node-exporter
need python3 python3

# The host: the established hash every /proc/net/tcp read walks.
ehash=$(cat /proc/sys/net/ipv4/tcp_ehash_entries 2>/dev/null ||
  dmesg 2>/dev/null | sed -n 's/.*TCP established hash table entries: \([0-9]*\).*/\1/p' | tail -1)
echo "host: $(nproc) CPUs, $(awk '/^MemTotal:/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)," \
  "kernel $(uname -r), TCP established hash entries: ${ehash:-unknown}"
echo "agent: $AGENT_BIN; phases of ${DURATION}s, $RUNS runs, $CONNS connections in the loaded phase"

port=$(free_port)
lifetime=$((RUNS * (2 * DURATION + 120)))
conns_py=bench/loopback-conns.py
# Processes sharing the load so that none needs more than ~8000 descriptors.
procs=$(((CONNS + 7999) / 8000))

"$AGENT_BIN" --listen 127.0.0.1:0 --interval 1s --advertise "http://127.0.0.1:$port" \
  >"$work/agent.out" 2>"$work/agent.err" &
agent_pid=$!
pids+=("$agent_pid")
for _ in $(seq 100); do
  grep -qs '^listening agent ' "$work/agent.out" && break
  sleep 0.1
done
agent_url="http://$(awk '/^listening agent /{print $3}' "$work/agent.out")/load"

exporter_port=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$exporter_port" >/dev/null 2>&1 &
exporter_pid=$!
pids+=("$exporter_pid")
exporter_url="http://127.0.0.1:$exporter_port/metrics"
for _ in $(seq 100); do
  curl -fs -o /dev/null "$exporter_url" && break
  sleep 0.1
done

# On-CPU nanoseconds of every thread of PID.
# (%.0f: mawk's %d stops at 2^31 ns, about two seconds.)
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
rss_mb() { awk -v f="$2:" '$1 == f { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status"; }
report_field() { curl -fs "$agent_url" | sed -E "s/.*\"$1\":([0-9]+).*/\\1/"; }

# Measures one phase; appends "phase agent_ms_per_sample agent_rss agent_anon
# exporter_ms_per_scrape exporter_rss connections" to $work/rows.
measure_phase() {
  local phase=$1 a0 e0 s0 a1 e1 s1 scrapes=0 end
  a0=$(cpu_ns "$agent_pid") e0=$(cpu_ns "$exporter_pid") s0=$(report_field seq)
  end=$((SECONDS + DURATION))
  while ((SECONDS < end)); do
    curl -fs -o /dev/null "$agent_url"
    curl -fs -o /dev/null "$exporter_url"
    scrapes=$((scrapes + 1))
    sleep 1
  done
  a1=$(cpu_ns "$agent_pid") e1=$(cpu_ns "$exporter_pid") s1=$(report_field seq)
  echo "$phase $(((a1 - a0) / (s1 - s0))) $(rss_mb "$agent_pid" VmRSS) $(rss_mb "$agent_pid" RssAnon)" \
    "$(((e1 - e0) / scrapes)) $(rss_mb "$exporter_pid" VmRSS) $(report_field connections)" |
    awk '{ printf "%-7s %16.3f %8s %8s %16.3f %8s %11s\n", $1, $2 / 1e6, $3, $4, $5 / 1e6, $6, $7 }' | tee -a "$work/rows"
}

printf "%-7s %16s %8s %8s %16s %8s %11s\n" phase "agent ms/sample" "RSS MB" "anon MB" \
  "exporter ms/scr" "RSS MB" connections
for run in $(seq "$RUNS"); do
  servers=() clients=()
  for _ in $(seq "$procs"); do
    python3 "$conns_py" serve "$port" "$lifetime" &
    servers+=($!)
  done
  pids+=("${servers[@]}")
  sleep 1
  measure_phase idle
  for i in $(seq "$procs"); do
    share=$((CONNS / procs + (i <= CONNS % procs ? 1 : 0)))
    python3 "$conns_py" connect "$port" "$share" "$lifetime" >"$work/client.$i" &
    clients+=($!)
  done
  pids+=("${clients[@]}")
  for i in $(seq "$procs"); do
    until grep -qs ready "$work/client.$i"; do sleep 0.2; done
  done
  # Two samples later the agent has counted them all.
  sleep 2.5
  measure_phase loaded
  kill "${clients[@]}" "${servers[@]}" 2>/dev/null || true
  wait "${clients[@]}" "${servers[@]}" 2>/dev/null || true
done

if grep -qs 'sock_diag' "$work/agent.err"; then
  echo "the agent counted from /proc/net/tcp: $(grep -m1 sock_diag "$work/agent.err")"
fi
echo "medians over $RUNS runs:"
for phase in idle loaded; do
  for column in 2 3 4 5 6 7; do
    awk -v p="$phase" -v c="$column" '$1 == p { print $c }' "$work/rows" | median
  done | paste -sd' ' | awk -v p="$phase" '{ printf "%-7s %16.3f %8.1f %8.1f %16.3f %8.1f %11d\n", p, $1, $2, $3, $4, $5, $6 }'
done
