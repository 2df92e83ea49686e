#!/usr/bin/env python3
"""Fault suite: a real dispatcher and three agents in network namespaces, a
client hammering the dispatcher, and faults injected one phase at a time.

    sudo chaos/faults.py            # exit 0 all promises held, 1 one broke, 77 skipped

Topology (all made and removed here): namespace `spc-d` runs the dispatcher,
the client and a fault-injecting TCP proxy; `spc-n1..3` each run a tiny
backend and an agent, joined to `spc-d` by a veth pair (10.77.N.1 <-> .2).
n1 and n2 are polled (n2 through the proxy, for delay), n3 pushes.

Every answer the client gets must be a 302/307 whose Location is on a
backend that was eligible then (a node under a fault counts as eligible only
until stale_after + one poll + SLACK after the fault began), or a 503 with
Retry-After. Faults: partition (nftables drop), 30 % random loss (nftables
numgen), 0 -> 500 ms delay (the proxy), kill -9 of a polled and of a pushing
agent and their restart (seq starts over), SIGHUP alternating a good and a
broken config under load, SIGTERM under load. A node that leaves must rejoin
through slow start (its dashboard `ramp` below 1).

Binaries: $SIGNPOST_BIN, else target/release, else target/debug (said which).
Needs root (CAP_NET_ADMIN) and nft; without them it prints SKIP, exits 77.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from netns import NODES, Client, InFlight, Net, Proxy, Watcher, enter, sh
from oracle import binary, cover, inside, out_windows, snapshot_lags

POLL, STALE, SLOW_START = 0.5, 1.5, 3.0
HEALTH_INTERVAL, HEALTH_TIMEOUT = 1.0, 0.5
# Scheduling noise on a shared 2-core machine: the maintenance loop's
# rebuild gap and a poll that is due but not yet run.
SLACK = 0.5
TOKEN, ADMIN = "chaos-push-token-0123456789", "chaos-admin-token-0123456789"
SKIP = 77
FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
# Requests in flight when SIGTERM comes: connections with half a request
# head sent or nothing yet, finished once the signal is out.
IN_FLIGHT = 8


class Suite:
    def __init__(self, net):
        self.net, self.procs, self.failures, self.rows = net, {}, [], []
        self.work = tempfile.mkdtemp(prefix="spc-")
        self.base = {n: f"http://10.77.{n}.2:8000" for n in NODES}
        # Per node: intervals (start, end) during which answers naming it are wrong.
        self.forbidden = {n: [] for n in NODES}

    def spawn(self, key, cmd, ns):
        log = open(f"{self.work}/{key}.log", "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        self.procs[key] = p
        return p

    def agent(self, n, clock=None):
        """Starts node n's agent; with `clock`, under libfaketime reading
        its offset (such as `+1h`) from the file `clock` on every call."""
        env = []
        if clock:
            env = ["env", f"LD_PRELOAD={FAKETIME}", f"FAKETIME_TIMESTAMP_FILE={clock}", "FAKETIME_NO_CACHE=1",
                   "FAKETIME_DONT_FAKE_MONOTONIC=1"]
        # n1's agent also listens on loopback, where its application posts
        # its error rate (passive ejection).
        listen = "0.0.0.0:9101" if n == 1 else f"10.77.{n}.2:9101"
        cmd = env + [binary("signpost-agent"), "--listen", listen, "--advertise", self.base[n],
               "--node-id", f"n{n}", "--interval", "250ms"]
        if n == 3:
            cmd += ["--dispatcher", f"http://10.77.3.1:{self.control}", "--token", TOKEN]
        self.spawn(f"agent{n}", cmd, f"spc-n{n}")

    def config(self, good):
        text = "redirect_code = 302\n" if good else "redirect_code = 299\nstrategy = \"nonsense\"\n"
        with open(f"{self.work}/d.toml", "w") as f:
            f.write(text)

    def start(self):
        with open(f"{self.work}/health", "w") as f:
            f.write("ok\n")
        for n in NODES:
            self.spawn(f"backend{n}", ["python3", "-m", "http.server", "--bind", f"10.77.{n}.2", "--directory", self.work,
                                       "8000"], f"spc-n{n}")
        self.proxy = Proxy(("10.77.2.2", 9101))
        self.proxy.start()
        self.proxy.ready.wait()
        self.config(True)
        d = self.spawn("dispatcher", [binary("signpost-dispatcher"), "--config", f"{self.work}/d.toml",
                                      "--listen", "127.0.0.1:0", "--control-listen", "0.0.0.0:0",
                                      "--token", TOKEN, "--admin-token", ADMIN,
                                      "--agent", "http://10.77.1.2:9101", "--agent", f"http://127.0.0.1:{self.proxy.port}",
                                      "--poll-interval", f"{int(POLL * 1000)}ms", "--stale-after", f"{int(STALE * 1000)}ms",
                                      "--slow-start", f"{int(SLOW_START * 1000)}ms",
                                      "--health-path", "/health", "--health-interval", f"{int(HEALTH_INTERVAL * 1000)}ms",
                                      "--health-timeout", f"{int(HEALTH_TIMEOUT * 1000)}ms", "--health-rise", "1",
                                      "--health-fall", "1", "--eject-time", "2s"], "spc-d")
        addrs = {}
        while len(addrs) < 2:
            words = d.stdout.readline().split()
            if not words:
                sys.exit(f"dispatcher did not start; see {self.work}/dispatcher.log")
            addrs[words[1]] = int(words[2].rsplit(":", 1)[1])
        self.public, self.control = addrs["public"], addrs["control"]
        for n in NODES:
            self.agent(n)
        self.client = Client(self.public)
        self.client.start()
        self.watcher = Watcher(self.control, ADMIN)
        self.watcher.start()

    def control_get(self, path):
        out = sh(["curl", "-sf", "-H", f"Authorization: Bearer {ADMIN}", f"http://127.0.0.1:{self.control}{path}"], ns="spc-d", check=False)
        return out.stdout

    def rows_now(self):
        try:
            return {b["id"]: b for b in json.loads(self.control_get("/dashboard")).get("backends", [])}
        except ValueError:
            return {}

    def wait_for(self, what, cond, timeout):
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if cond():
                return time.monotonic() - start
            time.sleep(0.05)
        self.fail(f"{what}: not within {timeout:.1f}s")
        return None

    def fail(self, msg):
        print(f"  FAIL {msg}", flush=True)
        self.failures.append(msg)

    def answered(self, n, since):
        return any(loc and loc.startswith(self.base[n]) for s, _, _, loc, _ in self.client.log if s >= since)

    def fault(self, name, n, inject, heal, hold, leaves=True, stays=False, rejoin_within=10, forbid=True):
        """Injects a fault on node n for `hold` seconds; checks that it leaves
        rotation within the bound (if `leaves`) or never leaves it (if
        `stays`), then rejoins through slow start. With `forbid`, answers
        naming it from the bound until the heal are wrong; without, only
        the dispatcher's own view judges them (an ejection ends after
        --eject-time, fault or not, and the node is judged again)."""
        t0 = time.monotonic()
        print(f"- {name} (n{n}) at t={t0 - self.t_start:.2f}", flush=True)
        inject()
        bound = STALE + POLL + SLACK
        if leaves and forbid:
            self.forbidden[n].append([t0 + bound, None])
        if leaves:
            took = self.wait_for(f"{name}: n{n} leaves the dashboard's eligible set",
                                 lambda: not self.rows_now().get(f"n{n}", {}).get("eligible", False), bound + 1)
        while time.monotonic() < t0 + hold:
            if stays and not self.rows_now().get(f"n{n}", {}).get("eligible", False):
                self.fail(f"{name}: n{n} left rotation")
                stays = False
            time.sleep(0.1)
        healed = time.monotonic()
        heal()
        if leaves and forbid:
            self.forbidden[n][-1][1] = healed
        saw_ramp = []

        def back():
            row = self.rows_now().get(f"n{n}", {})
            if row.get("ramp") is not None and row["ramp"] < 1:
                saw_ramp.append(row["ramp"])
            return row.get("eligible") and self.answered(n, healed)
        rejoin = self.wait_for(f"{name}: n{n} answered again after healing", back, rejoin_within)
        if rejoin is None:
            print(f"  n{n} now: {json.dumps(self.rows_now().get(f'n{n}'))[:600]}")
        if leaves and rejoin is not None and not saw_ramp:
            self.fail(f"{name}: n{n} rejoined without slow start (no ramp < 1 seen)")
        self.rows.append((name, f"n{n}", f"{took:.2f}s" if leaves and took is not None else "-",
                          f"{rejoin:.2f}s" if rejoin is not None else "never",
                          f"{min(saw_ramp):.2f}" if saw_ramp else "-"))

    def clock_jumps(self):
        """The pushing agent's wall clock jumps an hour ahead, then back;
        then it restarts with its clock an hour behind what it last sent."""
        clock = f"{self.work}/clock"

        def offset(text):
            with open(clock, "w") as f:
                f.write(text)
        offset("+0")
        self.kill("agent3")
        self.agent(3, clock)
        self.wait_for("n3 under faketime in rotation", lambda: self.rows_now().get("n3", {}).get("eligible"), 10)
        time.sleep(SLOW_START)
        self.fault("clock +1 h", 3, lambda: offset("+1h"), lambda: None, 4, leaves=False, stays=True)
        self.fault("clock back to now (-1 h)", 3, lambda: offset("+0"), lambda: None, 8, leaves=False, stays=True)

        def restart_behind():
            self.kill("agent3")
            offset("-1h")
            self.agent(3, clock)
        # Held past stale_after, so only reports of the restarted agent can
        # keep n3 in rotation afterwards.
        # Its first pushes arrive within the hold, so it must be answered
        # again at once, not when its seq catches up with the old agent's.
        self.fault("restart with the clock 1 h behind", 3, restart_behind, lambda: None, STALE + POLL + SLACK + 1,
                   leaves=False, rejoin_within=SLOW_START)
        offset("+0")
        self.kill("agent3")
        self.agent(3)

    def app_errors(self):
        """n1's application tells its agent (loopback POST /v1/app-report)
        that 90 % of its requests fail, every 0.2 s until the returned
        function is called."""
        stop = threading.Event()

        def post():
            enter("spc-n1")
            while not stop.is_set():
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", 9101, timeout=2)
                    conn.request("POST", "/v1/app-report", body=json.dumps({"rps": 200.0, "eps": 180.0}),
                                 headers={"Content-Type": "application/json"})
                    if conn.getresponse().status != 200:
                        self.fail("app-report refused by the agent")
                        return
                    conn.close()
                except (OSError, http.client.HTTPException) as e:
                    self.fail(f"app-report: {e!r}")
                    return
                time.sleep(0.2)
        threading.Thread(target=post, daemon=True).start()
        return stop.set

    def kill(self, key):
        self.procs[key].kill()
        self.procs[key].wait()

    def hangups(self, seconds):
        print(f"- SIGHUP every 0.5 s for {seconds} s, good and broken config alternating, at t={time.monotonic() - self.t_start:.2f}", flush=True)
        d = self.procs["dispatcher"]
        for i in range(int(seconds * 2)):
            self.config(i % 2 == 1)
            d.send_signal(signal.SIGHUP)  # `ip netns exec` execs: this is the dispatcher
            time.sleep(0.5)
        self.config(True)
        metrics = self.control_get("/metrics")
        reloads = [line for line in metrics.splitlines() if line.startswith("signpost_config_reloads_total")]
        print("  " + "; ".join(reloads))
        ok = sum(float(line.split()[-1]) for line in reloads if 'success' in line)
        bad = sum(float(line.split()[-1]) for line in reloads if 'failure' in line)
        if ok < 1 or bad < 1:
            self.fail(f"SIGHUP: expected successful and refused reloads, got {reloads}")
        self.rows.append(("SIGHUP good/broken", "dispatcher", "-", f"{ok:.0f} ok, {bad:.0f} refused", "-"))

    def sigterm(self):
        """SIGTERM with requests in flight: IN_FLIGHT connections, half of
        them with half a request head sent, the other half connected and
        silent, none waited for (accepted or not, read or not: finding 6);
        they finish their request once the signal is out, and each must be
        answered. The client keeps going throughout."""
        print(f"- SIGTERM under load, {IN_FLIGHT} requests in flight (half of them silent so far), "
              f"at t={time.monotonic() - self.t_start:.2f}", flush=True)
        go, finish = threading.Event(), threading.Event()
        flying = [InFlight(self.public, go, finish, silent=i % 2 == 1) for i in range(IN_FLIGHT)]
        for h in flying:
            h.start()
            h.connected.wait()
        go.set()
        for h in flying:
            h.sent.wait()
        d = self.procs["dispatcher"]
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        finish.set()
        try:
            code = d.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
            self.fail("SIGTERM: dispatcher still running after 10 s")
        took = time.monotonic() - t0
        self.client.stop = self.watcher.stop = True
        for h in flying:
            h.join(5)
        unanswered = [h.answer for h in flying if not (h.answer or "").startswith("HTTP/1.1 30")]
        if code != 0:
            self.fail(f"SIGTERM: exit status {code}")
        if unanswered:
            self.fail(f"SIGTERM: {len(unanswered)} of {IN_FLIGHT} requests in flight not answered: {unanswered[:3]}")
        self.rows.append(("SIGTERM under load", "dispatcher", "-",
                          f"exit {code} in {took:.2f}s, {IN_FLIGHT - len(unanswered)}/{IN_FLIGHT} in flight answered", "-"))
        return t0

    def judge(self, stopped_at):
        """Every answer before SIGTERM: a redirect to an eligible backend, or 503 + Retry-After."""
        log = [r for r in self.client.log if r[0] < stopped_at]
        bad = []
        # The dispatcher's own view: windows in which /dashboard showed a
        # node out both before and after, with no report in between.
        samples = [x for x in self.watcher.samples if x[1] < stopped_at]
        own = {n: out_windows(samples, f"n{n}", SLACK, STALE) for n in NODES}
        covered = {n: cover(own[n]) for n in NODES}
        for sent, recv, status, loc, retry in log:
            if status == 503:
                if not retry:
                    bad.append(f"503 without Retry-After at {sent:.2f}")
                continue
            if status not in (302, 307) or not loc:
                bad.append(f"status {status} at {sent:.2f}")
                continue
            node = next((n for n in NODES if loc.startswith(self.base[n] + "/")), None)
            if node is None:
                bad.append(f"Location {loc} names no backend")
            elif any(a <= sent and (b is None or recv <= b) for a, b in self.forbidden[node]):
                bad.append(f"sent to n{node} at t={sent - self.t_start:.2f} while it was out")
            elif inside(covered[node], sent, recv):
                bad.append(f"sent to n{node} at t={sent - self.t_start:.2f} while the dashboard had it out")
        lags = snapshot_lags(samples, STALE)
        worst = max(lags, default=(0, "-", 0))
        if worst[0] > SLACK:
            bad.append(f"{worst[1]} in the pool {worst[0]:.3f}s after going stale")
        spans = [b - a for n in NODES for a, b in own[n]]
        print(f"dashboard samples: {len(samples)}; out windows by the dispatcher's own view: {len(spans)}, "
              f"{sum(spans):.1f}s in all; the pool held a stale node at most {worst[0] * 1000:+.0f} ms past stale_after")
        # A listener takes its whole accept queue before it closes (finding
        # 6): no connection made before SIGTERM may meet a reset.
        errors = [e for e in self.client.errors if e[0] < stopped_at]
        codes = {}
        for r in log:
            codes[r[2]] = codes.get(r[2], 0) + 1
        print(f"answers: {len(log)} {codes}; connection errors before SIGTERM: {len(errors)}; unexpected: {len(bad)}")
        unavailable = [r[0] - self.t_start for r in log if r[2] == 503]
        if unavailable:
            print(f"503s from t={min(unavailable):.2f} to t={max(unavailable):.2f}")
        for b in bad[:10]:
            self.fail(b)
        for e in errors[:10]:
            self.fail(f"connection error at t={e[0] - self.t_start:.2f}: {e[1]}")

    def run(self):
        self.t_start = time.monotonic()
        self.start()
        for n in NODES:
            self.wait_for(f"n{n} in rotation at start", lambda n=n: self.answered(n, 0), 15)
        time.sleep(SLOW_START)
        self.fault("partition", 1, lambda: self.net.drop(1), lambda: self.net.heal(1), 5)
        self.fault("30% loss", 1, lambda: self.net.drop(1, 30), lambda: self.net.heal(1), 6, leaves=False)

        def delay(s):
            self.proxy.delay = s
        self.fault("delay 0->500ms", 2, lambda: delay(0.5), lambda: delay(0.0), 6, leaves=False)
        self.fault("kill -9 polled agent", 1, lambda: self.kill("agent1"), lambda: self.agent(1), 4)
        self.fault("kill -9 pushing agent, seq starts over", 3, lambda: self.kill("agent3"), lambda: self.agent(3), 4)
        self.fault("partition of the pusher", 3, lambda: self.net.drop(3), lambda: self.net.heal(3), 5)
        self.fault("backend fails its active probe", 1, lambda: self.net.drop(1, port=8000), lambda: self.net.heal(1), 5)
        stop = []
        self.fault("passive ejection (app reports 90% errors)", 1, lambda: stop.append(self.app_errors()),
                   lambda: stop.pop()(), 5, rejoin_within=30, forbid=False)
        if os.path.exists(FAKETIME):
            self.clock_jumps()
        else:
            print("- clock jumps: SKIPPED, libfaketime is not installed (apt-get install faketime)")
            self.rows.append(("clock jumps", "n3", "skipped", "-", "-"))
        self.hangups(6)
        stopped = self.sigterm()
        self.judge(stopped)

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


def main():
    if os.geteuid() != 0 or subprocess.run(["which", "nft"], capture_output=True).returncode:
        print("SKIP: needs root (CAP_NET_ADMIN) and nft to make namespaces; nothing was tested")
        return SKIP
    probe = subprocess.run(["ip", "netns", "add", "spc-probe"], capture_output=True, text=True)
    if probe.returncode:
        print(f"SKIP: cannot create a network namespace ({probe.stderr.strip()}); nothing was tested")
        return SKIP
    subprocess.run(["ip", "netns", "delete", "spc-probe"])
    print(f"dispatcher {binary('signpost-dispatcher')}; poll {POLL}s, stale_after {STALE}s, slow start {SLOW_START}s, slack {SLACK}s")
    net = Net()
    suite = Suite(net)
    try:
        net.up()
        suite.run()
    finally:
        suite.close()
        net.close()
    print("\n| fault | node | left rotation after | back after heal | lowest ramp seen |\n|---|---|---|---|---|")
    for row in suite.rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{'FAILED: ' + str(len(suite.failures)) + ' broken promises' if suite.failures else 'all promises held'} (logs in {suite.work})")
    return 1 if suite.failures else 0


if __name__ == "__main__":
    sys.exit(main())
