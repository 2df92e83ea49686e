#!/usr/bin/env bash
# TLS cost of a new connection (issue #22 part 2): nginx, HAProxy and
# signpost-dispatcher with the same ECDSA P-256 certificate (made here with
# openssl), TLS 1.3, each pinned to CPU 0 with one worker, loaded by
# bench/src/bin/tls-load.rs pinned to CPU 1: every connection is a
# handshake, one GET answered 302, and a close, over HTTP/1.1 or HTTP/2
# (ALPN). "full": no session cache in the client, every handshake is full.
# "resumed": the client keeps the tickets servers send and offers one on
# each new connection, as a returning browser does; tls-load counts full
# and resumed handshakes as rustls saw them, and the table prints the
# resumed share so the figure is honest. The primary figure is the
# server's CPU time per connection (utime + stime from /proc over the run ÷
# connections). Every server runs with its default TLS session settings;
# signpost twice: default (rustls's per-process session cache) and with
# --tls-ticket-key-file. Prints one Markdown table per mode, medians of
# RUNS runs, with ratios against nginx. Not run in CI.
#
# Usage: bench/tls.sh            (DURATION=8 RUNS=3 CONCURRENCY=32 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
RUNS=${RUNS:-3}
CONCURRENCY=${CONCURRENCY:-32}
PATH_QUERY=/app/page?id=42
# shellcheck source=bench/lib.sh
source bench/lib.sh

need nginx nginx-light
need haproxy haproxy
# SIGNPOST_BIN and TLS_LOAD_BIN name other builds (and skip these).
echo "building signpost-dispatcher and tls-load (release)..." >&2
[[ -n ${SIGNPOST_BIN:-} ]] || cargo build --release -q -p signpost-dispatcher --bin signpost-dispatcher
[[ -n ${TLS_LOAD_BIN:-} ]] || cargo build --release -q -p signpost-bench --bin tls-load
tls_load=${TLS_LOAD_BIN:-target/release/tls-load}

# One ECDSA P-256 certificate for all, an end-entity one (CA:FALSE) so
# rustls accepts it as its own trust anchor.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -addext basicConstraints=critical,CA:FALSE 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/haproxy.pem"
openssl rand -hex 32 >"$work/ticket.keys"

targets=() # name|pid|port

nginx_port=$(free_port)
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$nginx_port ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.3;
    location / { return 302 http://backend\$request_uri; }
  }
}
CONF
taskset -c 0 nginx -c "$work/nginx.conf" -p "$work" -g 'daemon off;' &
pids+=($!)
wait_http "$nginx_port" https
targets+=("nginx|$!|$nginx_port")

start_haproxy https ssl crt "$work/haproxy.pem" alpn h2,http/1.1 ssl-min-ver TLSv1.3
targets+=("haproxy|$HAPROXY_PID|$HAPROXY_PORT")

tls_flags=(--tls-cert "$work/cert.pem" --tls-key "$work/key.pem")
start_signpost "${tls_flags[@]}"
seed_backends
targets+=("signpost|$SP_PID|${SP_PUBLIC##*:}")
start_signpost "${tls_flags[@]}" --tls-ticket-key-file "$work/ticket.keys"
seed_backends
targets+=("signpost --tls-ticket-key-file|$SP_PID|${SP_PUBLIC##*:}")

# Runs tls-load pinned to CPU 1 against PORT with the extra flags given,
# and prints "connections per_s full resumed errors cpu_us_per_connection
# user_cpu_us_per_connection" where CPU is that of PID over the run.
measure_tls() {
  local pid=$1 port=$2
  shift 2
  local before after user_before user_after out
  before=$(cpu_ticks "$pid")
  user_before=$(cpu_ticks "$pid" user)
  out=$(taskset -c 1 "$tls_load" --connect "127.0.0.1:$port" --ca "$work/cert.pem" \
    --path "$PATH_QUERY" --concurrency "$CONCURRENCY" --seconds "$DURATION" "$@" 2>>"$work/tls-load.err")
  after=$(cpu_ticks "$pid")
  user_after=$(cpu_ticks "$pid" user)
  echo "$out" | awk -v ticks=$((after - before)) -v user=$((user_after - user_before)) -v hz="$(getconf CLK_TCK)" '
    { for (i = 1; i < NF; i += 2) v[$i] = $(i + 1) }
    END { n = v["connections"]; printf "%d %.0f %d %d %d %.2f %.2f\n", n, v["per_s"], v["full"], v["resumed"], v["errors"], (n ? ticks / hz * 1e6 / n : 0), (n ? user / hz * 1e6 / n : 0) }'
}

modes=("HTTP/1.1, full handshakes|--http h1" "HTTP/1.1, resumed sessions|--http h1 --resume"
  "HTTP/2, full handshakes|--http h2" "HTTP/2, resumed sessions|--http h2 --resume")
raw="$work/raw"
for run in $(seq "$RUNS"); do
  for mode in "${modes[@]}"; do
    IFS='|' read -r mode_name flags <<<"$mode"
    for target in "${targets[@]}"; do
      IFS='|' read -r name pid port <<<"$target"
      # shellcheck disable=SC2086 # flags are words
      result=$(measure_tls "$pid" "$port" $flags)
      echo "run $run | $mode_name | $name | $result" >&2
      echo "$run|$mode_name|$name|$result" >>"$raw"
    done
  done
done


# Resumed share of all handshakes for mode and target, over every run.
resumed_share() {
  awk -F'|' -v m="$1" -v t="$2" '$2 == m && $3 == t { split($4, f, " "); full += f[3]; res += f[4]; err += f[5] }
    END { printf "%.1f%% (%d errors)", (full + res ? 100 * res / (full + res) : 0), err }' "$raw"
}

echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average before the table: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tls-load -c$CONCURRENCY for ${DURATION}s pinned to CPU 1 (TLS 1.3, X25519, one GET per connection); servers pinned to CPU 0; medians of $RUNS runs"
echo "$(nginx -v 2>&1 | sed 's/.*: //'), $(haproxy -v | head -1 | cut -d' ' -f1-3), $(openssl version | cut -d' ' -f1-2); ratios: the median over runs of the ratio within each run"
for mode in "${modes[@]}"; do
  IFS='|' read -r mode_name _ <<<"$mode"
  echo
  echo "#### $mode_name"
  echo
  echo "| server | CPU µs/conn | ÷ nginx | ÷ HAProxy | of which user µs | conn/s | resumed (all runs) |"
  echo "|---|---|---|---|---|---|---|"
  for target in "${targets[@]}"; do
    IFS='|' read -r name _ _ <<<"$target"
    awk -v n="$name" -v cpu="$(med "$mode_name" "$name" 6)" -v cn="$(ratio "$mode_name" "$name" nginx 6)" \
      -v ch="$(ratio "$mode_name" "$name" haproxy 6)" -v user="$(med "$mode_name" "$name" 7)" \
      -v rate="$(med "$mode_name" "$name" 2)" -v share="$(resumed_share "$mode_name" "$name")" \
      'BEGIN { printf "| %s | %.1f | %.2f | %.2f | %.1f | %.0f | %s |\n", n, cpu, cn, ch, user, rate, share }'
  done
done
if [[ -s $work/tls-load.err ]]; then
  echo
  echo "tls-load errors (first lines):"
  sort "$work/tls-load.err" | uniq -c | sort -rn | head -5
fi
[[ -n ${RAW_OUT:-} ]] && cp "$raw" "$RAW_OUT"
true
