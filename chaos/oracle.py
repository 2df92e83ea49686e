"""What the chaos scripts share: finding the binaries, a small asyncio
HTTP/1.1 exchange, and reading the dispatcher's own view of a node out of
`/dashboard` samples.

A dashboard sample is `(q0, q1, rows)`: the monotonic times just before the
request was sent and just after the answer was read, and the backends by
id. The dispatcher computed it at some instant in [q0, q1].
"""

import bisect
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# States in which a node leaves the pool and can only come back through a
# new report (the suites use no admin override): two samples in such a
# state with the same last report mean the node was out the whole time
# between them.
OUT_UNTIL_REPORT = ("stale", "draining")


def pin():
    """Keeps the dispatcher and its load off each other's cores: this
    process (and so every child it starts: load generator, attacker,
    agents, backends) moves to the second half of the CPUs it may use, and
    the returned prefix starts the dispatcher on the first half, where its
    `--workers` default (the available parallelism) counts only those.
    Prints the pinning. CHAOS_PIN=0, fewer than 2 CPUs or no `taskset`:
    no pinning (said so), an empty prefix."""
    cpus = sorted(os.sched_getaffinity(0))
    if os.environ.get("CHAOS_PIN") == "0" or len(cpus) < 2 or not shutil.which("taskset"):
        why = "CHAOS_PIN=0" if os.environ.get("CHAOS_PIN") == "0" else f"{len(cpus)} CPU(s) or no taskset"
        print(f"pinning: none ({why}); the dispatcher and its load share CPUs {cpus}", flush=True)
        return []
    half = len(cpus) // 2
    mine, load = cpus[:half], cpus[half:]
    os.sched_setaffinity(0, load)
    print(f"pinning: dispatcher on CPU {','.join(map(str, mine))}; load, attackers, agents and this script "
          f"on CPU {','.join(map(str, load))} (CHAOS_PIN=0 to turn off)", flush=True)
    return ["taskset", "-c", ",".join(map(str, mine))]


def binary(name):
    """$SIGNPOST_BIN, else target/release, else target/debug."""
    for path in (os.environ.get("SIGNPOST_BIN", ""), f"{ROOT}/target/release", f"{ROOT}/target/debug"):
        if path and os.access(f"{path}/{name}", os.X_OK):
            return f"{path}/{name}"
    sys.exit(f"no {name} binary: run cargo build --release --bins")


async def exchange(reader, writer, head, body=b""):
    """Sends one request on a keep-alive connection; (status, headers, body)."""
    writer.write(head + body)
    await writer.drain()
    line = await reader.readline()
    if not line:
        raise ConnectionError("connection closed before an answer")
    status = int(line.split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        data = b""
        while size := int((await reader.readline()).split(b";")[0], 16):
            data += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()
    else:
        length = int(headers.get("content-length", "0"))
        data = await reader.readexactly(length) if length else b""
    return status, headers, data


def receipt(sample, row):
    """When the row's last report arrived, as an interval of our clock."""
    q0, q1, _ = sample
    age = row.get("report_age_ms")
    if age is None:
        return None
    return (q0 - age / 1000 - 0.002, q1 - age / 1000 + 0.002)


def same_report(a, b):
    """Two receipt intervals that overlap are the same report: a newer one
    arrives after the older sample was taken, and the older sample already
    showed the node out, that is at least `stale_after` after its report,
    far more than the width of a sample."""
    return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]


def out_windows(samples, node, lag, stale_after):
    """Windows (start, end) during which the dispatcher's own view says node
    was certainly out of the pool: from `lag` after the first to the last of
    a run of samples that all show it out for a reason only a new report
    ends (stale by its report's age, draining, maintenance) with the same
    last report, or all ejected with the same ejection count. `lag` is how
    long the pool snapshot may trail the registry."""

    def key(sample):
        row = sample[2].get(node)
        if row is None:
            return None
        age = row.get("report_age_ms")
        if row["state"] == "ejected":
            return ("ejected", row.get("ejections_total", 0))
        if row["state"] in OUT_UNTIL_REPORT or (age is not None and age >= stale_after * 1000):
            return ("report", receipt(sample, row))
        return None

    windows, run = [], []
    for sample in samples + [None]:
        k = key(sample) if sample else None
        if run and k is not None and run[0][1][0] == k[0] and (
                k[0] == "ejected" and k == run[0][1] or k[0] == "report" and same_report(run[0][1][1], k[1])):
            run.append((sample, k))
            continue
        if len(run) > 1 and run[0][0][1] + lag < run[-1][0][0]:
            windows.append((run[0][0][1] + lag, run[-1][0][0]))
        run = [(sample, k)] if k is not None else []
    return windows


def cover(windows):
    """`windows` made quick to query with `inside`: their starts in order
    and, at each, the latest end of any window starting there or before."""
    starts, ends, latest = [], [], float("-inf")
    for a, b in sorted(windows):
        latest = max(latest, b)
        starts.append(a)
        ends.append(latest)
    return starts, ends


def inside(covered, start, end):
    """True if [start, end] lies wholly inside one window of `covered`
    (from `cover`): some window starts by `start` and ends after `end`."""
    starts, ends = covered
    i = bisect.bisect_right(starts, start)
    return i > 0 and ends[i - 1] >= end


def snapshot_lags(samples, stale_after):
    """Per sample and node shown eligible: how far its report age went past
    `stale_after` (positive: the pool snapshot still held a node that the
    registry, read in the same call, had seen go stale that long ago)."""
    worst = []
    for q0, _, rows in samples:
        for node, row in rows.items():
            age = row.get("report_age_ms")
            if row.get("eligible") and age is not None:
                worst.append((age / 1000 - stale_after, node, q0))
    return worst
