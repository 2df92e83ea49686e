#!/usr/bin/env bash
# Footprint of signpost-agent beside prometheus-node-exporter: resident
# memory (VmRSS) and CPU time per sample after DURATION seconds (default 60)
# at a 1 s interval, each scraped once a second over loopback.
# Goal: agent <= 5 MB RSS and <= 1 ms CPU per sample. Not run in CI.
#
# Usage: bench/agent-footprint.sh            (DURATION=20 for a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-60}
# shellcheck source=bench/lib.sh
source bench/lib.sh

echo "building the agent (release)..." >&2
cargo build --release -q -p signpost-agent --bin signpost-agent
agent_bin=target/release/signpost-agent

need prometheus-node-exporter prometheus-node-exporter

"$agent_bin" --listen 127.0.0.1:0 --interval 1s >"$work/agent.out" 2>"$work/agent.err" &
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

echo "measuring for ${DURATION}s..." >&2
scrapes=0
end=$((SECONDS + DURATION))
while ((SECONDS < end)); do
  curl -fs -o /dev/null "$agent_url"
  curl -fs -o /dev/null "$exporter_url"
  scrapes=$((scrapes + 1))
  sleep 1
done

# The agent's own count of samples taken, from the report's seq.
agent_samples=$(curl -fs "$agent_url" | sed -E 's/.*"seq":([0-9]+).*/\1/')
ticks_per_second=$(getconf CLK_TCK)

# Prints: name, VmRSS and its anonymous (private, not file-backed) part in
# MB, total CPU ms, samples, CPU ms per sample. Most of a Rust binary's RSS
# is its mapped text and libc, shared page cache; RssAnon is what each
# agent adds.
row() {
  local name=$1 pid=$2 samples=$3 rss_kb anon_kb cpu_ticks
  rss_kb=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
  anon_kb=$(awk '/^RssAnon:/{print $2}' "/proc/$pid/status")
  # Fields after the ")" closing the command name: utime and stime are 12th and 13th.
  cpu_ticks=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
  awk -v n="$name" -v kb="$rss_kb" -v anon="$anon_kb" -v t="$cpu_ticks" \
    -v hz="$ticks_per_second" -v s="$samples" 'BEGIN { ms = t * 1000 / hz
      printf "%-26s %8.1f %8.1f %10.0f %8d %14.3f\n", n, kb / 1024, anon / 1024, ms, s, ms / s }'
}

printf "%-26s %8s %8s %10s %8s %14s\n" process "RSS MB" "anon MB" "CPU ms" samples "CPU ms/sample"
row signpost-agent "$agent_pid" "$agent_samples"
row prometheus-node-exporter "$exporter_pid" "$scrapes"
