"""How `churn.py` judges a run: every answer against the windows in which
its node could have been eligible, departures and returns against the
dashboard, the health faults' effect, and the reports acknowledged
against what the dispatcher counted and shows. The timings are the ones
churn.py gives the dispatcher."""

import bisect

from oracle import cover, inside, out_windows

INTERVAL, STALE, SLOW_START = 0.5, 1.5, 3.0
HEALTH_INTERVAL, HEALTH_TIMEOUT = 1.0, 0.5
EJECT_TIME = 2.0
# The pool snapshot trails the registry by a rebuild gap (<= 10 ms), plus
# scheduling on a shared 2-core machine: the default is faults.py's; the
# measured worst is printed whatever it is.
SLACK = 0.5
# Stalls of the harness, (start, end): see `churn.watchdog`.
STALLS = []


def eligible_windows(agent):
    """(start, end) per accepted ready report: from when it was sent until
    stale_after after it was answered, cut short by the next accepted
    report that is not ready. A report whose answer never came may have
    arrived: it opens a window but closes none."""
    filed = [r for r in agent.reports if r[2] == "accepted" or r[2].startswith("error")]
    out = []
    for i, (sent, answered, _, good, _) in enumerate(filed):
        if good:
            end = answered + STALE
            later = next((r for r in filed[i + 1:] if r[2] == "accepted"), None)
            if later and not later[3]:
                end = min(end, later[1])
            out.append((sent, end))
    return out


def phases(agent, start_kind, end_kind):
    """(start, end) of each phase opened by event `start_kind`."""
    out, opened = [], None
    for kind, t in agent.events:
        if kind == start_kind:
            opened = t
        elif kind == end_kind and opened is not None:
            out.append((opened, t))
            opened = None
    return out + ([(opened, float("inf"))] if opened is not None else [])


def judge_answers(agents, log, samples):
    """Every answer against the node's windows; (problems, worst lateness)."""
    by_url = {a.url: a for a in agents}
    plan = {}
    for a in agents:
        wins = sorted(eligible_windows(a))
        ends, best = [], float("-inf")
        for _, end in wins:
            best = max(best, end)
            ends.append(best)
        probe = [(f + HEALTH_INTERVAL + HEALTH_TIMEOUT + SLACK, g) for f, g in phases(a, "probe", "probe ok")]
        plan[a.id] = ([w[0] for w in wins], ends, cover(probe + out_windows(samples, a.id, SLACK, STALE)))
    bad, worst = [], float("-inf")
    for sent, recv, status, loc, retry in log:
        if status == 503:
            if not retry:
                bad.append(f"503 without Retry-After at {sent:.2f}")
            elif any(certainly_eligible(a, sent - SLACK, recv) for a in agents):
                bad.append(f"503 at {sent:.2f} while a node was certainly eligible")
            continue
        node = by_url.get((loc or "").split("/c/")[0]) if status in (302, 307) else None
        if node is None:
            bad.append(f"status {status} Location {loc} at {sent:.2f}")
            continue
        starts, ends, forbidden = plan[node.id]
        i = bisect.bisect_right(starts, recv)
        late = sent - ends[i - 1] if i else float("inf")
        worst = max(worst, late)
        if late > SLACK:
            bad.append(f"sent to {node.id} at {sent:.2f}, {late:.3f}s after it was last eligible")
        elif inside(forbidden, sent, recv):
            bad.append(f"sent to {node.id} at {sent:.2f} while its probe failed or the dashboard had it out")
    return bad, worst


def certainly_eligible(agent, start, end):
    """A ready, healthy report answered before `start` and fresh until
    past `end`, every later report sent by `end` ready and healthy too, and
    no failing probe or sickness that could have taken the node out."""
    for i, (sent, answered, outcome, good, _) in reversed(list(enumerate(agent.reports))):
        if outcome == "accepted" and good and answered <= start and end + SLACK < sent + STALE:
            later = [r for r in agent.reports[i + 1:] if r[0] <= end]
            return all(r[3] for r in later) and not troubled(agent, start, end)
    return False


def troubled(agent, start, end):
    """A failing probe near [start, end] (its own, or a stall of this
    harness), or sickness the outlier window (10 s) and an ejection may
    still remember."""
    probe = any(f < end and g > start - HEALTH_INTERVAL - HEALTH_TIMEOUT
                for f, g in phases(agent, "probe", "probe ok") + STALLS)
    return probe or any(f < end and g > start - 10 - 4 * EJECT_TIME for f, g in phases(agent, "sick", "well"))


def judge_membership(agents, samples):
    """Leaving within the bound and rejoining through slow start; (problems, leave times, ramps seen, rejoins)."""
    bad, left, ramps, rejoins = [], [], 0, 0
    for a in agents:
        rows = [(q0, q1, rows.get(a.id)) for q0, q1, rows in samples]
        drained = {t for (kind, _), (_, t) in zip(a.events, a.events[1:]) if kind == "drain"}
        for t, back in phases(a, "leave", "rejoin"):
            last = max((r[1] for r in a.reports if r[0] < t), default=t)
            if t in drained:  # out since it drained: nothing left to leave
                continue
            bound = last + STALE + INTERVAL + SLACK
            out = next((q1 for q0, q1, row in rows if q0 >= last and row and not row["eligible"]), None)
            if out is not None and out < back:
                left.append(out - last)
            for q0, q1, row in rows:
                if bound <= q0 and q1 < back and row and row["eligible"]:
                    bad.append(f"{a.id} still eligible {q0 - last:.2f}s after its last report")
                    break
        for kind, t in a.events:
            if kind not in ("rejoin", "undrain"):
                continue
            first = next((r[1] for r in a.reports if r[0] >= t and r[2] == "accepted"), None)
            seen = [row for q0, _, row in rows if first and first <= q0 <= first + SLOW_START / 2 and row and row["eligible"]]
            if seen:
                rejoins += 1
                if any(row.get("ramp") is not None and row["ramp"] < 1 for row in seen):
                    ramps += 1
                else:
                    bad.append(f"{a.id} back ({kind}) at {first:.2f} without slow start")
    return bad, left, ramps, rejoins


def judge_health(agents, samples):
    """How long a failing probe took to show `down`, and a sick node
    `ejected`, on the dashboard; (problems, probe delays, ejection delays,
    sick phases)."""
    bad, downs, ejections, sick = [], [], [], 0
    for a in agents:
        rows = [(q0, q1, rows.get(a.id)) for q0, q1, rows in samples]
        for f, g in phases(a, "probe", "probe ok"):
            seen = next((q1 for q0, q1, row in rows if f <= q0 < g and row and row["state"] == "down"), None)
            if seen is not None:
                downs.append(seen - f)
            elif g - f > HEALTH_INTERVAL + HEALTH_TIMEOUT + SLACK + 0.5:
                bad.append(f"{a.id}'s probe failed from {f:.2f} to {g:.2f}, never shown down")
        for f, g in phases(a, "sick", "well"):
            sick += 1
            seen = next((q1 for q0, q1, row in rows if q0 >= f and row and row["state"] == "ejected"), None)
            if seen is not None and seen < g + 10:
                ejections.append(seen - f)
    return bad, downs, ejections, sick


def judge_reports(agents, before, after, samples, final, polled=False):
    """No report that arrived is lost: counters match, and the dashboard
    always holds the newest acknowledged report or a newer one. With
    `polled` nodes too, the accepted count is theirs as well, and
    `judge_polled` checks it."""
    records = [r for a in agents for r in a.reports]
    outcomes = {}
    for r in records:
        key = "error" if r[2].startswith("error") else r[2]
        outcomes[key] = outcomes.get(key, 0) + 1
    bad = []
    accepted = after[0] - before[0]
    rejected = {k: v - before[1].get(k, 0) for k, v in after[1].items() if v - before[1].get(k, 0)}
    if not polled and accepted != outcomes.get("accepted", 0):
        bad.append(f"{outcomes.get('accepted', 0)} reports acknowledged, the dispatcher counted {accepted:.0f} accepted")
    if rejected.get("replay", 0) != outcomes.get("replay", 0) or set(rejected) - {"replay"}:
        bad.append(f"rejections {rejected}, agents were told {outcomes}")
    for a in agents:
        acked = [(r[1], r[4]) for r in a.reports if r[2] == "accepted"]  # in order: one push at a time
        sent = {r[4]: r[0] for r in a.reports if r[2] == "accepted" or r[2].startswith("error")}
        for q0, q1, row, newest, seen in dashboard_views(a.id, acked, samples, final):
            if row is None:
                if seen:
                    bad.append(f"{a.id} missing from the dashboard at {q0:.2f} after an acknowledged report")
                continue
            shown = row["connections"]
            if shown not in sent or sent[shown] > q1 or shown < newest:
                bad.append(f"{a.id} at {q0:.2f} shows report {shown}, newest acknowledged {newest}")
    return bad, outcomes, accepted, rejected


def dashboard_views(node, acked, samples, final):
    """Each dashboard sample `(q0, q1, rows)` (and the final one) of
    `node`, beside its reports acknowledged by then: yields `(q0, q1, row,
    newest, seen)` — its row (None when not listed), the newest seq in
    `acked` ((time, seq) in time order) at or before q0 (0 when none), and
    whether any was."""
    times = [t for t, _ in acked]
    for q0, q1, rows in samples + [final]:
        i = bisect.bisect_right(times, q0)
        yield q0, q1, rows.get(node), acked[i - 1][1] if i else 0, i > 0


def judge_polled(polled, pushed, before, after, samples, final):
    """No report that arrived is lost, for polled nodes: every poll a node
    answered in time (`Polled`) must be filed by the dispatcher, counted
    in `signpost_reports_accepted_total` beside the `pushed` reports it
    acknowledged, and shown on the dashboard once filed. The dispatcher
    reads its counters at moments known to within the metrics request
    ([b0, b1] before, [m0, m1] after); a poll written within SLACK of one
    of them may fall on either side, so the count is checked within those
    bounds, exactly when none does. A poll the dispatcher gave up on
    (`signpost_agent_polls_failed_total`) is lost by design (finding 2):
    the count may fall short by as many, and the dashboard check is then
    printed but not judged. (problems, summary)."""
    (b0, b1), (m0, m1) = before[3], after[3]
    polls = [r for p in polled for r in p.reports]
    in_time = [r for r in polls if r[2] == "accepted"]
    certain = sum(1 for r in in_time if b1 < r[1] and r[1] + SLACK < m0)
    possible = sum(1 for r in polls if b0 < r[1] + SLACK and r[1] < m1)
    failed = after[2] - before[2]
    accepted = after[0] - before[0]
    filed = accepted - pushed
    bad, behind = [], []
    if not certain - failed <= filed <= possible:
        bad.append(f"polled nodes answered {certain} polls certainly within the counters' span "
                   f"({possible} possibly), {failed:.0f} polls failed, the dispatcher filed {filed:.0f}")
    for p in polled:
        read = {r[4]: r[0] for r in p.reports}
        acked = sorted((r[1] + SLACK, r[4]) for r in p.reports if r[2] == "accepted")
        for q0, q1, row, newest, seen in dashboard_views(p.id, acked, samples, final):
            if row is None:
                if seen:
                    bad.append(f"{p.id} missing from the dashboard at {q0:.2f} after an answered poll")
                continue
            shown = row["connections"]
            if shown is None and not newest:
                continue  # listed by its --agent, not polled yet
            if shown not in read or read[shown] > q1:
                bad.append(f"{p.id} at {q0:.2f} shows report {shown}, never answered by then")
            elif shown < newest:
                behind.append(f"{p.id} at {q0:.2f} shows report {shown}, newest answered {newest}")
    if not failed:
        bad += behind
    summary = (f"polled: {len(polled)} nodes answered {len(polls)} polls ({len(polls) - len(in_time)} late), "
               f"{certain}..{possible} within the counters' span, the dispatcher filed {filed:.0f} and "
               f"counted {failed:.0f} failed polls; dashboard samples behind an answered poll: {len(behind)}")
    return bad, summary
