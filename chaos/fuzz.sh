#!/usr/bin/env bash
# Coverage-guided fuzzing of every signpost-fuzz target with AFL++ (cargo afl),
# on the stable toolchain. Prints each target's executions, crashes and hangs
# (AFL++'s fuzzer_stats) and their total; exits 1 if anything crashed.
#
# Usage: chaos/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 120, all)
#
# Seeds are chaos/fuzz/seeds/<target>/; the corpus and any crash land in
# target/afl/out/<target>/default/ (a rerun resumes). A crash is replayed
# with `target/afl/debug/afl-target <target> < FILE` and becomes a regression
# test beside the code it broke.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-120}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(report base-url location cookie forwarded config head)

command -v afl-fuzz >/dev/null || { apt-get update -q && apt-get install -y -q afl++; }
command -v cargo-afl >/dev/null || cargo install cargo-afl --locked
# Optimised but with debug assertions (overflow checks stay on); in a target
# directory of its own, since instrumented code must not mix with the rest.
export CARGO_TARGET_DIR=target/afl CARGO_PROFILE_DEV_OPT_LEVEL=2 CARGO_PROFILE_DEV_DEBUG=0
cargo afl build -p signpost-fuzz --features afl

export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_AUTORESUME=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
mkdir -p target/afl/out
total=0
crashed=0
printf '| target | seconds | executions | exec/s | corpus | crashes | hangs |\n|---|---|---|---|---|---|---|\n' >target/afl/summary.md
for t in "${targets[@]}"; do
  out=target/afl/out/$t
  cargo afl fuzz -V "$seconds" -i chaos/fuzz/seeds/"$t" -o "$out" -- target/afl/debug/afl-target "$t" >"$out.log" 2>&1 || {
    echo "afl-fuzz failed on $t; see $out.log" >&2
    exit 1
  }
  stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$out/default/fuzzer_stats"; }
  execs=$(stat execs_done)
  crashes=$(stat saved_crashes)
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$(stat run_time)" "$execs" "$(stat execs_per_sec)" \
    "$(stat corpus_count)" "$crashes" "$(stat saved_hangs)" | tee -a target/afl/summary.md
  total=$((total + execs))
  crashed=$((crashed + crashes))
done
echo "total executions: $total; crashes: $crashed" | tee -a target/afl/summary.md
[ "$crashed" -eq 0 ]
