#!/usr/bin/env bash
# Checks deploy/ without Docker or a cluster. CI runs the same checks as
# tests/scenarios/deploy.rs (flags and variables against --help, YAML,
# check-config, systemd-analyze verify, REFERENCE.md); this script runs that
# test and adds the systemd sandbox scores, which are for reading, not
# gating.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "--- deploy/ against the binaries (tests/scenarios/deploy.rs)"
cargo test -p signpost-e2e --test scenarios deploy::

if command -v systemd-analyze >/dev/null; then
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd"
    cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
    cp deploy/systemd/*.service "$root/etc/systemd/system/"
    for unit in signpost-dispatcher signpost-agent; do
        echo "--- systemd-analyze security $unit (lower is better)"
        systemd-analyze security --offline=yes --root="$root" "$unit.service" | tail -n 1
    done
else
    echo "systemd-analyze not installed: sandbox scores skipped"
fi
