#!/usr/bin/env bash
# Overload shedding at ρ > 1, end to end (issue #19): the balance testbed
# (src/bin/testbed.rs, logic in src/testbed/) drives the release dispatcher
# at offered loads ρ ∈ {0.9 (control), 1.1, 1.3, 1.5}, once with
# `--overload redirect` (fail-open, the default) and once with
# `--overload shed`, RUNS runs each (default 3, same seeds for both
# policies), SECONDS seconds of arrivals a run (default 20). Agents report
# what a CPU-sampling agent would (`--signal busy`) every second at
# independent phases; 8 equal nodes, S = 40 ms. A client answered 503 is
# refused, not a job. The last table ("Overload") is the result: refused
# share against 1 − 1/ρ, the admitted jobs' mean and p99 response times,
# and the mean jobs per node in each fifth of the run (flat: bounded;
# rising: growing). About 8 × RUNS × (SECONDS + 3) s, ~9 min by default.
# Extra arguments go to the testbed and override these, e.g.
#   bench/shed-e2e.sh --load 1.5 --runs 1
#   SECONDS_A_RUN=40 bench/shed-e2e.sh --periods 0.1
# Loopback only; the testbed kills each dispatcher it started. Check the Rig
# table (late p99 of a few ms, rate ≈ 1) before reading the others.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SECONDS_A_RUN=${SECONDS_A_RUN:-20}
if [[ -z ${SIGNPOST_BIN:-} ]]; then
  cargo build --release -q -p signpost-dispatcher
fi
cargo build --release -q -p signpost-bench --bin testbed

target/release/testbed --strategies least-load --overload redirect,shed \
  --load 0.9,1.1,1.3,1.5 --periods 1 --phases independent --signal busy \
  --speeds equal --runs "$RUNS" --seconds "$SECONDS_A_RUN" "$@" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT INT TERM
wait "$pid"
