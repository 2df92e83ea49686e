#!/usr/bin/env bash
# Balance under stale reports, end to end (issue #13 part 3; the experiment
# of BALANCE.md). Builds the release dispatcher (unless SIGNPOST_BIN names
# another build) and the `testbed` binary (src/bin/testbed.rs, logic in
# src/testbed/), then runs the grid: T ∈ {0.1, 1, 3} s × {refresh together,
# independent phases} × {equal speeds, 2:1 mix} × {least-load, round-robin},
# JOBS jobs a run (default 4 000, 15–25 s a run, ~8 min in all; 20 000 is the
# reference and takes ~2 min a run). Extra arguments go to the testbed, e.g.
#   bench/balance-e2e.sh --periods 1 --phases together --speeds equal
#   JOBS=20000 bench/balance-e2e.sh --strategies least-load
#   bench/balance-e2e.sh --help
# Loopback only; the testbed kills the dispatcher it started after each run,
# and on Ctrl-C or SIGTERM. Run it on a quiet machine: arrivals are real
# time, so check the Rig table (answer latency ≪ S = 40 ms, late p99 of a
# few ms) before reading the others.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-4000}
if [[ -z ${SIGNPOST_BIN:-} ]]; then
  cargo build --release -q -p signpost-dispatcher
fi
cargo build --profile simulate -q -p signpost-bench --bin testbed

target/simulate/testbed --jobs "$JOBS" "$@" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT INT TERM
wait "$pid"
