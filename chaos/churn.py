#!/usr/bin/env python3
"""Churn: a hundred agents joining, draining, falling sick, leaving and
rejoining at random while clients are redirected, every answer judged.

    chaos/churn.py [--minutes 3] [--agents 100] [--polled 5] [--seed N]   # exit 0: all held

`chaos/soak.py --churn` runs it beside its load (`--pin`, `--clients`,
`--config`, `--ports`: see `--help`).

On loopback, no root needed: the real dispatcher (push mode, active health
checks on, passive ejection on) and one Python process holding the
agents, their backends (each its own listener, answering the dispatcher's
health probe) and the clients. The agents are lightweight pushers speaking
the agent's wire format (POST /v1/report, bearer token, one keep-alive
connection each), not 100 `signpost-agent` processes: a pusher records
every report it sent, its seq, when it was sent and what the dispatcher
answered, which is what the "no report is lost" check needs, and 100
sampling agents would take the CPU this 2-core machine is measuring with.
`chaos/faults.py` and `chaos/soak.py` churn the real agent binary.
Besides them, a few steady polled nodes (`--agent` URLs of listeners in
this process, answering `GET /load`), each recording every poll it
answered, so that polled reports are accounted for too.

Each agent, at random: joins within the first 10 s; then, every 3-12 s,
drains (2-5 s, then ready again or gone), leaves without a word (2-8 s
away, then rejoins, usually restarted with seq from 1), reports
`healthy: false` (2-4 s), reports a 90 % error rate (passive ejection), or
has its backend fail the active probe (3-6 s).

What is checked, from the reports' own timings (sent before, answered
after the dispatcher received them) and `/dashboard` sampled every 0.1 s:
every 302/307 names a node that could have been eligible when it was
answered (a ready, healthy report received less than stale_after before,
give or take SLACK for the pool's rebuild), and none in a window where its
probe had failed or the dashboard showed it ejected; a 503 carries
Retry-After and comes only while no node was certainly eligible; a node
that leaves is out of the dashboard's pool within stale_after + one
interval + SLACK; one that rejoins or leaves draining shows a ramp below 1
(slow start); every report the dispatcher acknowledged is counted in its
metrics, and every dashboard sample shows, for each node, the newest report
acknowledged before the sample was asked for, or a newer one. For the
polled nodes (`judge.judge_polled`): every poll answered within the poll
timeout is counted accepted, the count exact to within the polls written
near the two moments the counters were read, short by no more than the
polls the dispatcher counted failed; and every dashboard sample shows the
newest poll answered SLACK before it was asked for, or a newer one.
"""

import argparse
import asyncio
import gc
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

import judge
import oracle
from judge import (EJECT_TIME, HEALTH_INTERVAL, HEALTH_TIMEOUT, INTERVAL, SLACK, SLOW_START, STALE, STALLS,
                   judge_answers, judge_health, judge_membership, judge_polled, judge_reports)
from oracle import binary, exchange, snapshot_lags

TOKEN, ADMIN = "churn-push-token-0123456789", "churn-admin-token-0123456789"
CLIENTS = 4
# What is kept of a dashboard row (the histories would take gigabytes).
KEPT = ("state", "eligible", "report_age_ms", "connections", "ramp", "ejections_total")
# The dispatcher gives up on a poll after 0.75 x --poll-interval.
POLL_TIMEOUT = 0.75 * INTERVAL
# A pause of the harness itself this long (its event loop did not run)
# leaves the dispatcher's probes of its backends unanswered.
STALL = 0.2


def now():
    return time.monotonic()


class Served:
    """The connections the harness's listeners are serving, so that a run
    can end them while its event loop still runs. Otherwise the dispatcher
    (polling, probing: it is killed only afterwards) keeps connecting
    while `asyncio.run` winds down: a handler cancelled there is reported
    as an exception, and one started after the cancellation was still
    pending when the loop closed, its `finally` running at interpreter
    exit: "RuntimeError: Event loop is closed"."""

    def __init__(self):
        self.open, self.servers = {}, []

    async def start(self, handler, **where):
        async def served(reader, writer):
            task = asyncio.current_task()
            self.open[task] = writer
            try:
                await handler(reader, writer)
            except (OSError, asyncio.IncompleteReadError):
                pass  # the dispatcher hung up, or close() below did
            finally:
                writer.close()
                self.open.pop(task, None)
        server = await asyncio.start_server(served, **where)
        self.servers.append(server)
        return server

    async def close(self):
        """Stops every listener, ends every connection, waits for their handlers."""
        for server in self.servers:
            server.close()
        for writer in self.open.values():
            writer.close()
        await asyncio.gather(*self.open, return_exceptions=True)


SERVED = Served()


class Agent:
    """One node: a backend listener and a pusher; every report it sent is
    a record [sent, answered, outcome, good, k] (k: a number that never
    resets, sent as `connections` so the dashboard shows which report it
    holds)."""

    def __init__(self, index, control):
        self.id, self.control = f"c{index:03d}", control
        self.seq = self.k = 0
        self.reports, self.events = [], []
        self.probe_ok = True
        self.conn = None

    async def serve(self):
        async def answer(reader, writer):
            while await reader.readline() not in (b"\r\n", b"\n", b""):
                pass
            status = "200 OK" if self.probe_ok else "500 Internal Server Error"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())
            await writer.drain()
        self.server = await SERVED.start(answer, host="127.0.0.1", port=0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def push(self, state="ready", healthy=True, sick=False):
        self.seq += 1
        self.k += 1
        body = json.dumps({"node_id": self.id, "url": self.url, "cpu_percent": 20.0, "mem_percent": 30.0,
                           "load1": 0.5, "cores": 2, "connections": self.k, "weight": 1.0, "state": state,
                           "healthy": healthy, "seq": self.seq, "sampled_at_ms": int(time.time() * 1000),
                           "agent_version": "churn", "rps": 100.0, "error_rate": 0.9 if sick else 0.0}).encode()
        head = (f"POST /v1/report HTTP/1.1\r\nHost: dispatcher\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        # A sick node stays eligible until the dispatcher ejects it (at most
        # 10 % of the pool are): only the dashboard says when.
        record = [now(), None, "error", state == "ready" and healthy, self.k]
        self.reports.append(record)
        try:
            if self.conn is None:
                self.conn = await asyncio.open_connection("127.0.0.1", self.control)
            status, _, data = await asyncio.wait_for(exchange(*self.conn, head, body), 5)
            record[1] = now()
            record[2] = json.loads(data).get("reason", "accepted") if status == 200 else f"http {status}"
        except (OSError, asyncio.TimeoutError, ValueError) as err:
            record[1], record[2] = now(), f"error {err!r}"
            self.disconnect()

    def disconnect(self):
        if self.conn:
            self.conn[1].close()
        self.conn = None

    async def pushing(self, seconds, **report):
        until = min(now() + seconds, self.end)
        while now() < until:
            await self.push(**report)
            await asyncio.sleep(INTERVAL)

    async def life(self, rng, end):
        self.end = end
        await asyncio.sleep(rng.uniform(0, 10))
        self.events.append(("join", now()))
        while now() < end:
            await self.pushing(rng.uniform(3, 12))
            kind = rng.choices(["drain", "leave", "unhealthy", "sick", "probe"], [3, 3, 1, 1, 1])[0]
            self.events.append((kind, now()))
            if kind == "drain":
                await self.pushing(rng.uniform(2, 5), state="draining")
                if rng.random() < 0.5:
                    self.events.append(("undrain", now()))
                    continue
                kind = "leave"
                self.events.append((kind, now()))
            if kind == "leave":
                self.disconnect()
                await asyncio.sleep(rng.uniform(2, 8))
                if rng.random() < 0.7:
                    self.seq = 0
                self.events.append(("rejoin", now()))
            elif kind == "unhealthy":
                await self.pushing(rng.uniform(2, 4), healthy=False)
                self.events.append(("healthy", now()))
            elif kind == "sick":
                await self.pushing(rng.uniform(3, 6), sick=True)
                self.events.append(("well", now()))
            else:
                self.probe_ok = False
                await self.pushing(rng.uniform(3, 6))
                self.probe_ok = True
                self.events.append(("probe ok", now()))
        self.disconnect()


class Polled:
    """One polled node: a listener that answers the dispatcher's poll
    (`GET /load`) with a report and anything else (its health probe) with
    200. It is always ready and healthy and never goes away, so every poll
    it answered must arrive: each answer is a record like a pusher's,
    [request read, answer written, outcome, True, k], its outcome
    "accepted" when it was written within the poll timeout of its request
    being read and "error" (may or may not have arrived) otherwise."""

    def __init__(self, index, sock):
        self.id, self.sock = f"p{index:03d}", sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.seq = self.k = 0
        self.reports, self.events = [], []

    async def serve(self):
        self.server = await SERVED.start(self.answer, sock=self.sock)

    async def answer(self, reader, writer):
        while line := await reader.readline():
            while await reader.readline() not in (b"\r\n", b"\n", b""):
                pass
            read = now()
            if line.split(b" ")[1:2] != [b"/load"]:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
                continue
            self.seq += 1
            self.k += 1
            body = json.dumps({"node_id": self.id, "url": self.url, "cpu_percent": 20.0, "mem_percent": 30.0,
                               "load1": 0.5, "cores": 2, "connections": self.k, "weight": 1.0, "state": "ready",
                               "healthy": True, "seq": self.seq, "sampled_at_ms": int(time.time() * 1000),
                               "agent_version": "churn-polled"}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
            written = now()
            in_time = written - read < POLL_TIMEOUT
            self.reports.append([read, written, "accepted" if in_time else "error", True, self.k])


async def client(port, log, errors, end):
    """Requests back to back, every other one on a fresh connection, a third POSTs."""
    conn, i = None, 0
    while now() < end:
        i += 1
        method = "POST" if i % 3 == 0 else "GET"
        head = (f"{method} /c/{i}?q=1 HTTP/1.1\r\nHost: signpost\r\nContent-Length: {int(method == 'POST')}\r\n"
                + ("Connection: close\r\n" if i % 2 else "") + "\r\n").encode()
        sent = now()
        try:
            if conn is None:
                conn = await asyncio.open_connection("127.0.0.1", port)
            status, headers, _ = await asyncio.wait_for(exchange(*conn, head, b"x" if method == "POST" else b""), 5)
            log.append((sent, now(), status, headers.get("location"), headers.get("retry-after")))
        except (OSError, asyncio.TimeoutError, ValueError) as err:
            errors.append((sent, repr(err)))
        if i % 2 and conn:
            conn[1].close()
            conn = None
    if conn:
        conn[1].close()


async def watchdog(stalls, end):
    """Records when this process's own event loop stalled: every backend
    (and pusher) lives in it, so the dispatcher then sees failing probes
    everywhere, rightly."""
    while now() < end:
        t = now()
        await asyncio.sleep(0.05)
        if now() - t - 0.05 > STALL:
            stalls.append((t, now()))


async def get(port, path):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"GET {path} HTTP/1.1\r\nHost: d\r\nAuthorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n"
        return (await exchange(reader, writer, head.encode()))[2].decode()
    finally:
        writer.close()


async def sampler(port, samples, pools, end):
    """/dashboard every 0.1 s: the rows into `samples`, (q0, q1, eligible
    count, no_backend_total) into `pools`."""
    while now() < end:
        q0 = now()
        view = json.loads(await get(port, "/dashboard"))
        samples.append((q0, now(), {b["id"]: {k: b.get(k) for k in KEPT} for b in view["backends"]}))
        pools.append((q0, now(), view["eligible"], view["no_backend_total"]))
        await asyncio.sleep(0.1)


def counters(text):
    """(accepted, {reason: rejected}, failed polls) from /metrics."""
    accepted, rejected, failed = 0, {}, 0
    for line in text.splitlines():
        if line.startswith("signpost_reports_accepted_total"):
            accepted = float(line.split()[-1])
        elif line.startswith("signpost_reports_rejected_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            rejected[reason] = float(line.split()[-1])
        elif line.startswith("signpost_agent_polls_failed_total"):
            failed = float(line.split()[-1])
    return accepted, rejected, failed


async def drive(args, public, control, polled):
    agents = [Agent(i, control) for i in range(args.agents)]
    for a in agents + polled:
        await a.serve()
    rng = random.Random(args.seed)
    before = await timed_counters(control)
    start = now()
    end = start + args.minutes * 60
    log, errors, samples, pools = [], [], [], []
    lives = [asyncio.create_task(a.life(random.Random(rng.random()), end)) for a in agents]
    side = [asyncio.create_task(client(public, log, errors, end + 1)) for _ in range(args.clients)]
    side.append(asyncio.create_task(sampler(control, samples, pools, end + 1)))
    side.append(asyncio.create_task(watchdog(STALLS, end + 1)))
    await asyncio.gather(*lives)
    await asyncio.gather(*side)
    q0 = now()
    final = (q0, now(), {b["id"]: b for b in json.loads(await get(control, "/dashboard"))["backends"]})
    after = await timed_counters(control)
    await SERVED.close()
    return agents, start, log, errors, samples, pools, final, before, after


async def timed_counters(control):
    """`counters`, and (asked, answered): when the dispatcher read them."""
    asked = now()
    accepted, rejected, failed = counters(await get(control, "/metrics"))
    return accepted, rejected, failed, (asked, now())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the churn lasts (default 3)")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--polled", type=int, default=5, help="steady polled nodes besides (default 5)")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--slack", type=float, default=SLACK, help=f"seconds the pool may trail (default {SLACK})")
    parser.add_argument("--clients", type=int, default=CLIENTS, help=f"judged clients, back to back (default {CLIENTS})")
    parser.add_argument("--pin", action="store_true", help="the dispatcher on the first half of the CPUs, this on the rest")
    parser.add_argument("--config", help="the dispatcher's --config (for a caller that reloads it with SIGHUP)")
    parser.add_argument("--ports", help="write the dispatcher's pid and ports to this JSON file once it listens; "
                        "when the churn is over, print 'churn over' and keep the dispatcher until a line on stdin")
    args = parser.parse_args()
    judge.SLACK = args.slack
    work = tempfile.mkdtemp(prefix="churn-")
    ms = lambda s: f"{int(s * 1000)}ms"  # noqa: E731
    # Bound before the dispatcher starts: it polls the --agent URLs from
    # the first moment, and they answer once the event loop serves them.
    polled = [Polled(i, socket.create_server(("127.0.0.1", 0))) for i in range(args.polled)]
    prefix = oracle.pin() if args.pin else []
    config = ["--config", args.config] if args.config else []
    d = subprocess.Popen([*prefix, binary("signpost-dispatcher"), *config, "--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0",
                          *[arg for p in polled for arg in ("--agent", p.url)],
                          "--token", TOKEN, "--admin-token", ADMIN, "--stale-after", ms(STALE), "--poll-interval", ms(INTERVAL),
                          "--slow-start", ms(SLOW_START), "--health-path", "/health",
                          "--health-interval", ms(HEALTH_INTERVAL), "--health-timeout", ms(HEALTH_TIMEOUT),
                          "--health-rise", "1", "--health-fall", "1", "--eject-error-rate", "15",
                          "--eject-time", ms(EJECT_TIME)],
                         stdout=subprocess.PIPE, stderr=open(f"{work}/dispatcher.log", "w"), text=True)
    addrs = dict(d.stdout.readline().split()[1:3] for _ in range(2))
    public, control = (int(addrs[k].rsplit(":", 1)[1]) for k in ("public", "control"))
    if args.ports:
        with open(f"{args.ports}.tmp", "w") as f:
            json.dump({"pid": d.pid, "public": public, "control": control}, f)
        os.rename(f"{args.ports}.tmp", args.ports)
    print(f"dispatcher {binary('signpost-dispatcher')}; {args.agents} agents for {args.minutes:g} min, seed {args.seed}; "
          f"interval {INTERVAL}s, stale_after {STALE}s, slow start {SLOW_START}s, slack {judge.SLACK}s", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Millions of records and no cycles among them: a full collection would
    # stall the backends' listeners for longer than the probe timeout.
    gc.disable()
    try:
        agents, start, log, errors, samples, pools, final, before, after = asyncio.run(drive(args, public, control, polled))
        if args.ports:
            print("churn over", flush=True)
            sys.stdin.readline()
    finally:
        d.kill()
        d.wait()
    events = {}
    for a in agents:
        for kind, _ in a.events:
            events[kind] = events.get(kind, 0) + 1
    codes = {}
    for r in log:
        codes[r[2]] = codes.get(r[2], 0) + 1
    answers_bad, worst = judge_answers(agents + polled, log, samples)
    member_bad, left, ramps, rejoins = judge_membership(agents, samples)
    health_bad, downs, ejections, sick = judge_health(agents, samples)
    report_bad, outcomes, accepted, rejected = judge_reports(agents, before, after, samples, final, bool(polled))
    polled_bad, polled_summary = judge_polled(polled, outcomes.get("accepted", 0), before, after, samples, final)
    lags = snapshot_lags(samples, STALE)
    lag_bad = [f"{n} in the pool {late:.3f}s after going stale (t={t - start:.1f})" for late, n, t in lags if late > judge.SLACK]
    left.sort()
    unavailable = [r[0] - start for r in log if r[2] == 503]
    with open(f"{work}/503.txt", "w") as f:
        first = min(t for a in agents for k, t in a.events if k == "join")
        for sent, recv, status, *_ in log:
            if status == 503 and sent > first:
                around = [p for p in pools if sent - 0.3 <= p[0] and p[1] <= recv + 0.3]
                f.write(f"{sent - start:.3f} {recv - start:.3f} pool sizes around: {[p[2] for p in around]}\n")
    print(f"events: {events}")
    print(f"harness stalls over {STALL}s: {len(STALLS)}, longest "
          f"{max((b - a for a, b in STALLS), default=0):.2f}s (every probe may fail meanwhile)")
    if unavailable:
        print(f"503s from t={min(unavailable):.2f} to t={max(unavailable):.2f} (first join at "
              f"t={min(t for a in agents for k, t in a.events if k == 'join') - start:.2f})")
    print(f"answers: {len(log)} {codes}; client errors: {len(errors)}; unexpected: {len(answers_bad)}; "
          f"latest redirect past a node's last possible eligibility: {worst * 1000:+.0f} ms (allowed {judge.SLACK * 1000:.0f})")
    print(f"reports: {sum(len(a.reports) for a in agents)} pushed {outcomes}; dispatcher counted {accepted:.0f} accepted, "
          f"rejected {rejected or 'none'}; dashboard samples: {len(samples)}; problems: {len(report_bad)}")
    if polled:
        print(f"{polled_summary}; problems: {len(polled_bad)}")
    if left:
        print(f"left the pool after the last report: median {left[len(left) // 2]:.2f}s, max {left[-1]:.2f}s "
              f"over {len(left)} departures (bound {STALE + INTERVAL + judge.SLACK:.2f}s)")
    print(f"slow start: a ramp below 1 seen on {ramps} of {rejoins} returns; pool trailing a stale node at most "
          f"{max((x[0] for x in lags), default=0) * 1000:+.0f} ms past stale_after")
    downs.sort()
    ejections.sort()
    print(f"health: {len(downs)} failing probes shown down after median "
          f"{downs[len(downs) // 2] if downs else 0:.2f}s, max {max(downs, default=0):.2f}s; {len(ejections)} of {sick} "
          f"sick phases ejected (at most 10 % of the pool at once) after median "
          f"{ejections[len(ejections) // 2] if ejections else 0:.2f}s")
    problems = health_bad + answers_bad + member_bad + report_bad + polled_bad + lag_bad + [f"client error at {t - start:.2f}: {e}" for t, e in errors]
    for p in problems[:20]:
        print(f"  FAIL {p}")
    print(f"{'FAILED: ' + str(len(problems)) + ' broken promises' if problems else 'all promises held'} (logs in {work})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
