#!/usr/bin/env python3
"""Soak: the dispatcher under steady load, agent churn and reloads.

    chaos/soak.py [MINUTES] [--churn]   # default 10; exit 0 when every goal held

On loopback: a dispatcher, three pushing agents. Steps: an idle run (paced
wrk, nothing else happening) gives the reference p99; a flat-out run gives
the maximum rate; then MINUTES at 50 % of it (wrk paced with its Lua
`delay`, every fourth request on a new connection) while one agent at a
time is killed (-9) and restarted every 5 s and the config is reloaded
(SIGHUP) every 30 s. Sampled every 10 s: RSS and open fds of the dispatcher.
Goals: no answer but 302/307/503 (wrk counts others as non-2xx/3xx), RSS
growth < 10 % from minute 2 to the end, fds back to the baseline once the
load stops, p99 within 2x the idle run's — both taken by a light probe
client at real-time priority (see `Probe`), three times during the soak. The
dispatcher runs on the first half of the CPUs, everything else on the second
(`oracle.pin`, printed; CHAOS_PIN=0 turns it off).

With --churn, the dispatcher is `chaos/churn.py`'s, and its hundred
pushers join, drain, fall sick, leave and rejoin for the whole soak,
beside its five polled nodes and one client of its own whose every answer
it judges (see churn.py), in place of the three real agents (churn.py
accounts for every report the dispatcher counts, so no other node may
report; its agents leave without a word and restart with seq from 1 as a
killed agent does). Its verdict is part of the soak's.
The "idle" probe then runs with the churn going, but no load; the one
after the soak, with both over.

Binaries: $SIGNPOST_BIN, else target/release, else target/debug.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from oracle import binary, pin

HERE = os.path.dirname(os.path.abspath(__file__))

PACED_CONNECTIONS = 16
# The soak's pacing: each connection waits this long between requests, and
# there are as many connections as the target rate needs at that pace
# (wrk's delay is whole milliseconds; at 1 ms and 16 connections the
# release build's target was out of reach).
SOAK_DELAY_MS = 2
# What one request costs a paced connection on top of its delay, in ms.
ROUND_TRIP_MS = 0.4
# The idle run: the same connections, 50 ms between requests (~300 req/s).
IDLE_DELAY_MS = 50
# The probe: this many connections at IDLE_DELAY_MS (~320 req/s), for
# windows this long.
PROBE_CONNECTIONS = 16
PROBE_SECONDS = 20
# How close to the target rate the load's calibration gets before the soak.
CALIBRATION = 0.02


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wrk(port, seconds, script, connections, prefix=(), threads=2):
    """Runs wrk (behind the command prefix `prefix`); (requests/s, p99 in ms)."""
    out = subprocess.run([*prefix, "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
                          "-s", script, f"http://127.0.0.1:{port}/soak"], capture_output=True, text=True, check=True).stdout
    return figures(out)


def realtime():
    """The prefix that runs the probe at real-time priority (`chrt -f`), or
    none (said so) where that is not allowed. The load generator shares its
    CPU with three agents restarted every 5 s, and a client's p99 includes
    its own wait for a CPU: a probe beside the dispatcher read 2.1-2.5x its
    idle run where the same probe at real-time priority read 1.5x, and
    1.0-1.6x on the load's CPU (RELIABILITY.md). At
    real-time priority the probe runs as soon as its answer arrives, as a
    client on its own machine would: what it measures is the dispatcher."""
    prefix = ["chrt", "-f", "50"]
    if shutil.which("chrt") and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
        print("probe: at real-time priority (chrt -f 50), on the load's CPUs", flush=True)
        return prefix
    print("probe: NOT at real-time priority (chrt -f refused): its p99 includes its own wait for a CPU", flush=True)
    return []


class Probe(threading.Thread):
    """The p99 the goal is about, taken by a light client (PROBE_CONNECTIONS
    paced IDLE_DELAY_MS apart, one wrk thread, behind `realtime`'s prefix),
    not by the load generator, whose p99 includes its own scheduling. Runs
    PROBE_SECONDS windows at a quarter, half and three quarters of the
    soak; `worst` is the highest p99 of the three."""

    def __init__(self, port, script, prefix, minutes):
        super().__init__(daemon=True)
        self.args, self.minutes, self.p99s = (port, PROBE_SECONDS, script, PROBE_CONNECTIONS, prefix, 1), minutes, []

    def run(self):
        start = time.monotonic()
        for quarter in (1, 2, 3):
            time.sleep(max(0.0, start + self.minutes * 60 * quarter / 4 - time.monotonic()))
            self.p99s.append(wrk(*self.args)[1])

    def worst(self):
        self.join()
        return max(self.p99s)


def figures(out):
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    return rate, float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]


def script(work, delay_ms):
    """A wrk script: GET, every fourth request with Connection: close, each
    connection waiting `delay_ms` between requests (0: flat out); an answer
    other than 302/307 or 503 with Retry-After is written to stderr."""
    path = f"{work}/soak-{delay_ms}.lua"
    with open(path, "w") as f:
        f.write(f"""
local n, unexpected = 0, 0
request = function()
  n = n + 1
  if n % 4 == 0 then return wrk.format("GET", nil, {{["Connection"] = "close"}}) end
  return wrk.format("GET")
end
response = function(status, headers, body)
  if status ~= 302 and status ~= 307 and not (status == 503 and headers["Retry-After"]) then
    unexpected = unexpected + 1
    io.stderr:write("unexpected " .. status .. "\\n")
  end
end
{"delay = function() return " + str(delay_ms) + " end" if delay_ms else ""}
""")
    return path


def own_dispatcher(conf, work):
    """A dispatcher of the soak's own, pinned: (process, public, control)."""
    d = subprocess.Popen([*pin(), binary("signpost-dispatcher"), "--config", conf, "--listen", "127.0.0.1:0",
                          "--control-listen", "127.0.0.1:0", "--stale-after", "2s", "--poll-interval", "1s",
                          "--slow-start", "2s"], stdout=subprocess.PIPE, stderr=open(f"{work}/d.log", "w"), text=True)
    addrs = dict(line.split()[1:3] for line in (d.stdout.readline(), d.stdout.readline()))
    public, control = (int(addrs[k].rsplit(":", 1)[1]) for k in ("public", "control"))
    return d, public, control


def churn_dispatcher(conf, work, minutes):
    """`chaos/churn.py` for `minutes`, its dispatcher pinned and reloadable:
    (the churn's process, its log, the dispatcher's pid, public and
    control ports). This process is pinned only once churn.py has pinned
    the dispatcher: pinned first, churn.py would inherit one CPU only."""
    ports, log = f"{work}/ports.json", f"{work}/churn.log"
    churn = subprocess.Popen([sys.executable, f"{HERE}/churn.py", "--minutes", f"{minutes:g}", "--pin", "--clients", "1",
                              "--config", conf, "--ports", ports], stdin=subprocess.PIPE, stdout=open(log, "w"),
                             stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(ports):
        if churn.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"churn.py did not start its dispatcher: see {log}")
        time.sleep(0.1)
    with open(ports) as f:
        info = json.load(f)
    pin()
    return churn, log, info["pid"], info["public"], info["control"]


def wait_for_line(path, line, process, seconds):
    """Waits until `process` has written `line` to its log at `path`."""
    deadline = time.monotonic() + seconds
    while True:
        with open(path) as f:
            if any(l.strip() == line for l in f):
                return
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"{path}: no {line!r} (exit {process.poll()})")
        time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("minutes", nargs="?", type=float, default=10.0, help="how long the load lasts (default 10)")
    parser.add_argument("--churn", action="store_true", help="with chaos/churn.py's hundred pushers churning throughout")
    args = parser.parse_args()
    minutes = args.minutes
    work = tempfile.mkdtemp(prefix="soak-")
    conf = f"{work}/d.toml"
    with open(conf, "w") as f:
        f.write("redirect_code = 302\n")
    churn = None
    if args.churn:
        # The churn outlasts the load: the idle, maximum and calibration
        # runs before it take about a minute.
        churn, churn_log, pid, public, control = churn_dispatcher(conf, work, minutes + 1.5)
        procs, real_agents = [churn], 0
    else:
        d, public, control = own_dispatcher(conf, work)
        pid, procs, real_agents = d.pid, [d], 3
    base_fds = fds(pid)
    agents = {}
    # The agents advertise a port bound here and never listened on (none
    # is probed): it stays this script's, not a fixed port of the host.
    nowhere = socket.socket()
    nowhere.bind(("127.0.0.1", 0))
    advertised = f"http://127.0.0.1:{nowhere.getsockname()[1]}"

    def agent(n):
        agents[n] = subprocess.Popen([binary("signpost-agent"), "--listen", "127.0.0.1:0", "--node-id", f"s{n}",
                                      "--advertise", f"{advertised}/s{n}", "--interval", "250ms",
                                      "--dispatcher", f"http://127.0.0.1:{control}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for n in range(real_agents):
            agent(n)
        time.sleep(4)
        if not args.churn:
            base_fds = fds(pid)
        flat = script(work, 0)
        probe_script = script(work, IDLE_DELAY_MS)
        probing = realtime()
        idle_rate, idle_p99 = wrk(public, PROBE_SECONDS, probe_script, PROBE_CONNECTIONS, probing, 1)
        max_rate, _ = wrk(public, 10, flat, 64)
        # Paced: each connection waits `delay` ms between requests.
        target = max_rate / 2
        delay = max(SOAK_DELAY_MS, int(PACED_CONNECTIONS * 1000 / target))
        connections = max(PACED_CONNECTIONS, round(target * (delay + ROUND_TRIP_MS) / 1000))
        # The round trip grows with the load: calibrate on short runs until
        # the rate is within CALIBRATION of the target.
        for _ in range(3):
            paced, _ = wrk(public, 5, script(work, delay), connections)
            if abs(paced / target - 1) <= CALIBRATION:
                break
            connections = max(PACED_CONNECTIONS, round(connections * target / paced))
        print(f"idle paced run: {idle_rate:.0f} req/s, p99 {idle_p99:.2f} ms; max rate {max_rate:.0f} req/s; "
              f"soak target {target:.0f} req/s ({connections} connections, {delay} ms apart)", flush=True)
        load = subprocess.Popen(["wrk", "-t", "2", "-c", str(connections), "-d", f"{int(minutes * 60)}s", "--latency",
                                 "-s", script(work, delay), f"http://127.0.0.1:{public}/soak"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        probe = Probe(public, probe_script, probing, minutes)
        probe.start()
        start, samples, churned, reloads = time.monotonic(), [], 0, 0
        next_sample = next_churn = next_reload = start
        while load.poll() is None:
            now = time.monotonic()
            if now >= next_sample:
                samples.append((now - start, rss_kb(pid), fds(pid)))
                print(f"  t={now - start:5.0f}s rss={samples[-1][1]} kB fds={samples[-1][2]}", flush=True)
                next_sample += 10
            if real_agents and now >= next_churn:
                n = churned % real_agents
                agents[n].kill()
                agents[n].wait()
                agent(n)
                churned += 1
                next_churn += 5
            if now >= next_reload and now > start:
                os.kill(pid, signal.SIGHUP)
                reloads += 1
                next_reload += 30
            elif now >= next_reload:
                next_reload += 30
            time.sleep(0.2)
        out, err = load.communicate()
        rate, load_p99 = figures(out)
        p99_ms = probe.worst()
        unexpected = err.count("unexpected")
        errors = re.search(r"Socket errors: (.*)", out)
        churned_ok = True
        if churn:
            # The churn's own pushers and client stop at its end; the
            # dispatcher is kept for the fds and the idle run after.
            wait_for_line(churn_log, "churn over", churn, minutes * 60 + 600)
        time.sleep(3)
        end_fds = fds(pid)
        # The idle run again, as a check on the machine's noise (not judged).
        _, after_p99 = wrk(public, PROBE_SECONDS, probe_script, PROBE_CONNECTIONS, probing, 1)
        if churn:
            churn.communicate("\n", timeout=600)
            with open(churn_log) as f:
                verdict = [l.rstrip() for l in f if l.startswith(("events:", "answers:", "reports:", "all promises", "FAILED", "  FAIL"))]
            churned_ok = churn.returncode == 0
        rss2 = next(r for t, r, _ in samples if t >= min(120, minutes * 12))
        rss_end = samples[-1][1]
        growth = (rss_end - rss2) / rss2 * 100
        print(out)
        print(f"soak: {minutes:g} min at {rate:.0f} req/s ({rate / max_rate * 100:.0f} % of the maximum; target {target:.0f}), "
              f"{f'{churned} agent restarts' if real_agents else 'churn.py churning'}, {reloads} reloads")
        print(f"unexpected answers: {unexpected}; socket errors: {errors.group(1) if errors else 'none'}")
        if churn:
            print("churn.py (its log: " + churn_log + "):\n  " + "\n  ".join(verdict))
        print(f"RSS minute 2 {rss2} kB -> end {rss_end} kB: {growth:+.1f} % (goal < 10 %)")
        print(f"fds: baseline {base_fds}, after load {end_fds} (goal: back to baseline)")
        print(f"p99 (the probe): idle {idle_p99:.2f} ms (after the soak {after_p99:.2f}), soak {', '.join(f'{p:.2f}' for p in probe.p99s)} ms, "
              f"worst {p99_ms / idle_p99:.2f}x (goal <= 2x); the load generator's own p99 {load_p99:.2f} ms")
        ok = unexpected == 0 and growth < 10 and end_fds <= base_fds and p99_ms <= 2 * idle_p99 and churned_ok
        print("all goals held" if ok else "FAILED: a goal was missed")
        return 0 if ok else 1
    finally:
        for p in list(agents.values()) + procs:
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    sys.exit(main())
