# Shared helpers of the bench scripts (redirect.sh, ingest.sh, tls.sh, ...; sourced, not run).
# Everything listens on 127.0.0.1 and every process started is killed on exit.

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Installs the Debian packages named, if their commands are missing.
# Usage: need COMMAND PACKAGE...
need() {
  local cmd=$1
  shift
  command -v "$cmd" >/dev/null && return
  echo "installing $*..." >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

# A free loopback port, for servers that cannot bind port 0 and report it.
# Any socket on the port counts, not only listeners: after a Connection:
# close run, client ports in TIME_WAIT make a bind fail too.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! ss -Htan "sport = :$port" | grep -q .; then echo "$port"; return; fi
  done
}

# Waits until SCHEME://127.0.0.1:PORT/ answers at all: wait_http PORT
# [SCHEME] (default http; https accepts any certificate).
wait_http() {
  local scheme=${2:-http}
  for _ in $(seq 100); do
    curl -sk -o /dev/null "$scheme://127.0.0.1:$1/" && return
    sleep 0.05
  done
  echo "nothing answers $scheme on port $1" >&2
  return 1
}

# Starts HAProxy — one thread pinned to CPU 0, answering every request
# with a 302 — on a free loopback port: start_haproxy SCHEME [BIND
# OPTIONS...] (e.g. https ssl crt FILE); sets HAPROXY_PID and HAPROXY_PORT.
start_haproxy() {
  local scheme=$1
  shift
  HAPROXY_PORT=$(free_port)
  cat >"$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout client 30s
  timeout connect 5s
  timeout server 30s
frontend redirect
  bind 127.0.0.1:$HAPROXY_PORT $*
  http-request redirect prefix http://backend code 302
CONF
  taskset -c 0 haproxy -db -f "$work/haproxy.cfg" &
  HAPROXY_PID=$!
  pids+=("$HAPROXY_PID")
  wait_http "$HAPROXY_PORT" "$scheme"
}

# Starts nginx — one worker pinned to CPU 0, no access log, keep-alive
# without a request limit — with the server block's locations given (e.g.
# 'location / { return 302 http://backend$request_uri; }'); sets NGINX_PID
# and NGINX_PORT.
start_nginx() {
  NGINX_PORT=$(free_port)
  cat >"$work/nginx.$NGINX_PORT.conf" <<CONF
worker_processes 1;
pid $work/nginx.$NGINX_PORT.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    $1
  }
}
CONF
  taskset -c 0 nginx -c "$work/nginx.$NGINX_PORT.conf" -p "$work" -g 'daemon off;' &
  NGINX_PID=$!
  pids+=("$NGINX_PID")
  wait_http "$NGINX_PORT"
}

# Starts the release dispatcher (or $SIGNPOST_BIN, to compare two builds)
# pinned to CPU 0 with one worker and the extra flags given; sets SP_PID,
# SP_PUBLIC and SP_CONTROL (host:port).
start_signpost() {
  local out="$work/signpost.$RANDOM"
  taskset -c 0 "${SIGNPOST_BIN:-target/release/signpost-dispatcher}" --workers 1 \
    --listen 127.0.0.1:0 --control-listen 127.0.0.1:0 \
    --poll-interval 1s --stale-after 600s --forget-after 900s "$@" \
    >"$out.out" 2>"$out.err" &
  SP_PID=$!
  pids+=("$SP_PID")
  for _ in $(seq 100); do
    grep -q '^listening control ' "$out.out" 2>/dev/null && break
    kill -0 "$SP_PID" 2>/dev/null || break
    sleep 0.05
  done
  if ! grep -q '^listening control ' "$out.out" 2>/dev/null; then
    echo "signpost-dispatcher $* did not start: $(head -c 300 "$out.err")" >&2
    return 1
  fi
  SP_PUBLIC=$(awk '/^listening public /{print $3}' "$out.out")
  SP_CONTROL=$(awk '/^listening control /{print $3}' "$out.out")
}

# Pushes one ready report for node ID (served at URL) to the control listener.
push_report() {
  curl -fsS -o /dev/null -H 'content-type: application/json' \
    -d "{\"node_id\":\"$2\",\"url\":\"$3\",\"cpu_percent\":$4,\"mem_percent\":30,\"seq\":1,\"sampled_at_ms\":1}" \
    "http://$1/v1/report"
}

# Three backends of the signpost under test (at $SP_CONTROL), reported once
# with a long --stale-after: least-load then has a real choice on every
# request.
seed_backends() {
  push_report "$SP_CONTROL" a http://127.0.0.1:18001 20
  push_report "$SP_CONTROL" b http://127.0.0.1:18002 40
  push_report "$SP_CONTROL" c http://127.0.0.1:18003 60
  sleep 0.1
}

# utime + stime (or utime alone with a second argument "user"), in clock
# ticks, of PID and its children.
cpu_ticks() {
  local total=0 pid fields='$12 + $13'
  [[ ${2:-} == user ]] && fields='$12'
  for pid in "$1" $(pgrep -P "$1"); do
    total=$((total + $(sed 's/.*) //' "/proc/$pid/stat" | awk "{print $fields}")))
  done
  echo "$total"
}

# Runs wrk pinned to CPU 1 against URL with the extra wrk flags given, and
# prints "requests req_per_s p50_ms p90_ms cpu_us_per_request
# user_cpu_us_per_request" where CPU is that of PID (and children) over the
# run; the rest of it is kernel time, mostly loopback TCP.
measure() {
  local pid=$1 url=$2
  shift 2
  local before after user_before user_after out
  before=$(cpu_ticks "$pid")
  user_before=$(cpu_ticks "$pid" user)
  out=$(taskset -c 1 wrk -t1 -d"${DURATION}s" --latency "$@" "$url")
  after=$(cpu_ticks "$pid")
  user_after=$(cpu_ticks "$pid" user)
  echo "$out" | awk -v ticks=$((after - before)) -v user=$((user_after - user_before)) -v hz="$(getconf CLK_TCK)" '
    function ms(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /s$/) return v * 1000
      return v
    }
    / requests in / { n = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +90%/ { p90 = ms($2) }
    END { printf "%d %.0f %.3f %.3f %.2f %.2f\n", n, rps, p50, p90, (n ? ticks / hz * 1e6 / n : 0), (n ? user / hz * 1e6 / n : 0) }'
}

# Median of the numbers on stdin.
median() {
  sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The results table both redirect.sh and tls.sh keep in the file $raw, one
# line a measurement: run|mode|target|space-separated figures.

# Median of figure COL (1 = the first) for MODE and TARGET: med MODE TARGET COL.
med() { awk -F'|' -v m="$1" -v t="$2" '$2 == m && $3 == t { print $4 }' "$raw" | awk -v c="$3" '{ print $c }' | median; }

# Median over runs of TARGET's figure COL ÷ the ANCHOR's in the same run
# (ratio MODE TARGET ANCHOR COL): the machine's noise moves both alike
# within a run, much less across runs.
ratio() {
  awk -F'|' -v m="$1" -v t="$2" -v a="$3" -v c="$4" '
    $2 == m { split($4, f, " "); if ($3 == t) x[$1] = f[c]; if ($3 == a) y[$1] = f[c] }
    END { for (r in x) if (r in y && y[r] > 0) print x[r] / y[r] }' "$raw" | median
}
