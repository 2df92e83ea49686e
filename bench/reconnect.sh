#!/usr/bin/env bash
# How soon pushing agents are back in a restarted dispatcher's pool.
#
#   bench/reconnect.sh [BIN_DIR] [OUTAGE_SECONDS] [AGENTS] [RUNS]
#
# Starts a dispatcher on a loopback control port and AGENTS agents pushing to
# it (interval 1s), waits until all are eligible, stops the dispatcher for
# OUTAGE_SECONDS, starts it again on the same port and prints the seconds
# from that start until every agent is eligible again (GET /dashboard), once
# per run, then the median. Loopback only. Defaults: target/debug, 20, 3, 5.
# Run it with the binaries of two commits to compare them; on a shared
# machine, quote medians (a starved agent or dispatcher makes long tails).
set -euo pipefail
BIN=${1:-target/debug}; OUTAGE=${2:-20}; N=${3:-3}; RUNS=${4:-5}
LOGS=$(mktemp -d)
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
eligible() {
  curl -s "http://$1/dashboard?limit=1" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["eligible"])' 2>/dev/null || echo 0
}
one_run() {
  local ctl="127.0.0.1:$(free_port)" disp agents=() t0 t1
  "$BIN/signpost-dispatcher" --listen 127.0.0.1:0 --control-listen "$ctl" >/dev/null 2>>"$LOGS/disp.err" &
  disp=$!
  for i in $(seq "$N"); do
    "$BIN/signpost-agent" --listen 127.0.0.1:0 --node-id "rc-$i" \
      --advertise "http://127.0.0.1:$((20000 + i))" --dispatcher "http://$ctl" \
      >/dev/null 2>>"$LOGS/agent.err" &
    agents+=($!)
  done
  until [ "$(eligible "$ctl")" = "$N" ]; do sleep 0.1; done
  kill "$disp"; wait "$disp" 2>/dev/null || true
  sleep "$OUTAGE"
  t0=$(date +%s.%N)
  "$BIN/signpost-dispatcher" --listen 127.0.0.1:0 --control-listen "$ctl" >/dev/null 2>>"$LOGS/disp.err" &
  disp=$!
  until [ "$(eligible "$ctl")" = "$N" ]; do sleep 0.05; done
  t1=$(date +%s.%N)
  kill "$disp" "${agents[@]}"; wait 2>/dev/null || true
  python3 -c "print(round($t1 - $t0, 2))"
}
results=()
for run in $(seq "$RUNS"); do
  seconds=$(one_run)
  echo "run $run: all $N agents eligible ${seconds} s after the restart (outage ${OUTAGE}s)"
  results+=("$seconds")
done
python3 -c "import statistics,sys;print('median', statistics.median(map(float,sys.argv[1:])), 's')" "${results[@]}"
echo "logs: $LOGS"
