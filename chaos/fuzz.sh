#!/usr/bin/env bash
# Coverage-guided fuzzing of every signpost-fuzz target with AFL++ (cargo afl),
# on the stable toolchain. Prints each target's executions (AFL++'s
# fuzzer_stats, summed over resumed sessions), the crashes saved and how many
# of them still crash today's binary, and the total; exits 1 if any does.
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

# Debian's afl++ brings the C toolchain (clang) cargo-afl builds its own AFL++ with.
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
printf '| target | seconds | executions | exec/s | corpus | crashes saved | still crashing | hangs |\n|---|---|---|---|---|---|---|---|\n' >target/afl/summary.md
for t in "${targets[@]}"; do
  out=target/afl/out/$t
  cargo afl fuzz -V "$seconds" -i chaos/fuzz/seeds/"$t" -o "$out" -- target/afl/debug/afl-target "$t" >"$out.log" 2>&1 || {
    echo "afl-fuzz failed on $t; see $out.log" >&2
    exit 1
  }
  stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$out/default/fuzzer_stats"; }
  execs=$(stat execs_done)
  # Every crash saved in any session (a resumed one keeps the old ones
  # aside), replayed against today's binary: a fixed one no longer crashes.
  saved=0
  still=0
  for input in "$out"/default/crashes*/id:*; do
    [ -e "$input" ] || continue
    saved=$((saved + 1))
    target/afl/debug/afl-target "$t" <"$input" >/dev/null 2>&1 || still=$((still + 1))
  done
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$(stat run_time)" "$execs" "$(stat execs_per_sec)" \
    "$(stat corpus_count)" "$saved" "$still" "$(stat saved_hangs)" | tee -a target/afl/summary.md
  total=$((total + execs))
  crashed=$((crashed + still))
done
echo "total executions: $total; crashes still crashing: $crashed" | tee -a target/afl/summary.md
[ "$crashed" -eq 0 ]
