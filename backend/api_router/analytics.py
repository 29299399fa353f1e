"""Questions answered from the request log: what each provider served, failed and cost, how fast,
and which provider served each turn of a Codex session.

Per provider, counts come from the attempts (a failover is one failed attempt for one provider and
one served attempt for another); tokens and time to first byte belong to the provider that served
the request; latency is that provider's own attempt time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from api_router import days
from api_router.records import Outcome, RequestOutcome, now_ms
from api_router.store import Store

WINDOWS = {  # name -> (buckets, chart bucket in ms): 12 five-minute steps, 24 clock hours, 30 calendar days
    "hour": (12, 300_000),
    "day": (24, 3_600_000),
    "month": (30, 86_400_000),
}
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "total_tokens")


PERCENTILES = (50, 90, 99)
_NAMES = tuple(f"p{p}" for p in PERCENTILES)


def _rank(p: int, n: int) -> int:
    """The nearest rank (from 1) of the ``p``-th percentile among ``n`` ordered values."""
    return -(-p * n // 100)


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p90/p99 by nearest rank; None when there is nothing to measure."""
    ordered = sorted(values)
    return {f"p{p}": round(ordered[_rank(p, len(ordered)) - 1], 3) if ordered else None for p in PERCENTILES}


def bucket_starts(count: int, bucket_ms: int, now: int) -> list[int]:
    """Where each of the chart's ``count`` buckets begins, the last one holding ``now``: on the local
    clock's steps (a five-minute mark, the hour, midnight), so that a bar labelled "Nov 24" or "14:00"
    holds that day or hour — its first ones only, for the bar of now."""
    if bucket_ms >= 86_400_000:  # calendar days: 23 or 25 hours long where the clock changes
        today = days.day_of(now / 1000)
        return [int(days.midnight(today - timedelta(days=back)) * 1000) for back in range(count - 1, -1, -1)]
    step = bucket_ms // 60_000

    def mark(t: int) -> int:  # the step's mark on the local clock at or before t
        local = datetime.fromtimestamp(t / 1000)
        start = local.replace(minute=local.minute - local.minute % step, second=0, microsecond=0)
        at = int(start.timestamp() * 1000)
        # A mark the clock jumped over (03:00 where it went from 02:45 to 03:45) reads as after t: its
        # other reading is before it.
        return at if at <= t else int(start.replace(fold=1).timestamp() * 1000)

    # Each one a step before the next, on its mark again: where the clock moved by half an hour (Lord
    # Howe), the hours before the change are not the hours after it shifted by a whole number of steps.
    starts = [mark(now)]
    while len(starts) < count:
        starts.append(mark(starts[-1] - bucket_ms))
    return starts[::-1]


def _bucket_sql(starts: list[int], first: int = 0, end: int | None = None) -> str:
    """SQL for the chart bucket a row's ``unix_ms`` falls in, among ``starts[first:end]``: a binary search
    (five comparisons a row for a month, not thirty). The window's rows are at or after ``starts[0]``."""
    end = len(starts) if end is None else end
    if end - first == 1:
        return str(first)
    middle = (first + end) // 2
    return (f"CASE WHEN unix_ms < {int(starts[middle])} THEN {_bucket_sql(starts, first, middle)} "
            f"ELSE {_bucket_sql(starts, middle, end)} END")


# An error as the Requests page's filter counts one: not the request's own (a 400 passed back) nor a
# turn the client cancelled. Rows from before outcomes were stored go by their status.
_IS_ERROR = ("CASE WHEN outcome IS NOT NULL THEN outcome = ? "
             "ELSE status >= 400 OR coalesce(error, '') <> '' END")
# Every attempt of the window's requests: (provider, outcome, latency_ms, ttfb_ms, unix_ms). A request whose
# one attempt simply succeeded has no attempts row (store: "solo"); its own row stands for it, with the
# attempt's times kept in it (rows logged before they were kept: the request's).
_ATTEMPTS = ("SELECT a.provider AS provider, a.outcome AS outcome, a.latency_ms AS latency_ms, a.ttfb_ms AS ttfb_ms, "
             "r.unix_ms AS unix_ms FROM attempts a JOIN request_log r ON r.id = a.request_id "
             "WHERE r.unix_ms >= ? AND a.summary = 0 "
             "UNION ALL SELECT provider, ?, coalesce(attempt_latency_ms, latency_ms), "
             "CASE WHEN attempt_latency_ms IS NULL THEN ttfb_ms ELSE attempt_ttfb_ms END, unix_ms FROM request_log "
             "WHERE unix_ms >= ? AND solo = 1")


def _at_ranks(count: str) -> str:
    return ", ".join(f"({p} * {count} + 99) / 100" for p in PERCENTILES)


# The values at the percentiles' ranks of ``latency_ms`` and ``ttfb_ms`` per ``grp`` of a source: SQLite
# sorts, and only these few rows come back.
_RANKED = ("SELECT grp, n_latency, at_latency, latency_ms, n_ttfb, at_ttfb, ttfb_ms FROM ("
           "SELECT grp, latency_ms, ttfb_ms, "
           "row_number() OVER (PARTITION BY grp ORDER BY latency_ms) AS at_latency, "
           "count(*) OVER (PARTITION BY grp) AS n_latency, "
           "row_number() OVER (PARTITION BY grp ORDER BY ttfb_ms IS NULL, ttfb_ms) AS at_ttfb, "
           "count(ttfb_ms) OVER (PARTITION BY grp) AS n_ttfb FROM ({source})) "
           f"WHERE at_latency IN ({_at_ranks('n_latency')}) OR at_ttfb IN ({_at_ranks('n_ttfb')})")

Read = Callable[[str, tuple[Any, ...]], list[Any]]
Times = dict[str, dict[str, float | None]]


def _ranked(read: Read, source: str, args: tuple[Any, ...]) -> dict[str, Times]:
    """Latency and TTFB percentiles per ``grp`` of ``source`` (columns grp, latency_ms, ttfb_ms)."""
    found: dict[str, Times] = defaultdict(
        lambda: {"latency_ms": dict.fromkeys(_NAMES), "ttfb_ms": dict.fromkeys(_NAMES)})
    for grp, n_latency, at_latency, latency, n_ttfb, at_ttfb, ttfb in read(_RANKED.format(source=source), args):
        for p, name in zip(PERCENTILES, _NAMES, strict=True):
            if at_latency == _rank(p, n_latency):
                found[grp]["latency_ms"][name] = round(latency, 3)
            if ttfb is not None and at_ttfb == _rank(p, n_ttfb):
                found[grp]["ttfb_ms"][name] = round(ttfb, 3)
    return found


def _empty() -> dict[str, Any]:
    return {"requests": 0, "errors": 0, **dict.fromkeys(TOKEN_FIELDS, 0)}


def summary(store: Store, window: str = "day", now: int | None = None) -> dict[str, Any]:
    """The window's numbers, worked out by SQLite: only totals and the rows at the percentiles come back, so
    a month of a full log keeps this thread off the interpreter the gateway's requests share."""
    if window not in WINDOWS:
        raise ValueError(f"window must be one of: {', '.join(WINDOWS)}")
    count, bucket = WINDOWS[window]
    now = now_ms() if now is None else now
    starts = bucket_starts(count, bucket, now)
    since = starts[0]
    in_bucket = _bucket_sql(starts)
    with store.snapshot() as read:  # one view of the log for every number (and no wait for other reads)
        requests = read(
            f"SELECT {in_bucket} AS bucket, provider, count(*), sum({_IS_ERROR}), "
            f"{', '.join(f'sum({name})' for name in TOKEN_FIELDS)} "
            "FROM request_log WHERE unix_ms >= ? GROUP BY bucket, provider", (RequestOutcome.ERROR, since))
        attempts = read(f"SELECT {in_bucket} AS bucket, provider, count(*), sum(outcome = ?) FROM ({_ATTEMPTS}) "
                        "GROUP BY bucket, provider", (Outcome.PROVIDER_FAILURE, since, Outcome.OK, since))
        overall_times = _ranked(read, "SELECT '' AS grp, latency_ms, ttfb_ms FROM request_log WHERE unix_ms >= ?",
                                (since,))
        # Latency and TTFB are a provider's own times on the attempts it served, not the request's (which
        # include the providers asked before it).
        provider_times = _ranked(
            read, f"SELECT provider AS grp, latency_ms, ttfb_ms FROM ({_ATTEMPTS}) WHERE outcome = ?",
            (since, Outcome.OK, since, Outcome.OK))

    overall = _empty()
    per: dict[str, dict[str, Any]] = defaultdict(_empty)
    series: dict[int, dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: {"requests": 0, "errors": 0, "tokens": 0}))
    for index, provider, logged, errors, *tokens in requests:
        overall["requests"] += logged
        overall["errors"] += errors
        for name, value in zip(TOKEN_FIELDS, tokens, strict=True):
            overall[name] += value
            if provider:
                per[provider][name] += value
        if provider:
            series[index][provider]["tokens"] += tokens[-1]
    # Every attempt counts (a hedge that lost, one the client cut short, a 400 passed back); errors are
    # the provider's own failures.
    for index, provider, asked, failures in attempts:
        for totals in (per[provider], series[index][provider]):
            totals["requests"] += asked
            totals["errors"] += failures

    return {
        "window": window,
        "since_unix_ms": since,
        "now_unix_ms": now,
        "bucket_ms": bucket,
        "overall": {**overall, **overall_times[""]},
        "providers": {pid: {**stats, **provider_times[pid]} for pid, stats in sorted(per.items())},
        "series": [
            {"t_unix_ms": start, "providers": {pid: dict(v) for pid, v in series[index].items()}}
            for index, start in enumerate(starts)
        ],
    }


def sessions(store: Store, limit: int = 50,
             bound_to: Callable[[str], str | None] = lambda session: None) -> list[dict[str, Any]]:
    """The most recent Codex sessions with how many requests each made, who served them, and the
    provider each is on now (``bound_to``: session affinity)."""
    # The sessions are found first on the session index alone (its last time each), and only their own rows
    # are read then: a full log's 200,000 rows in one GROUP BY took ~0.3 s of the shared reader at every poll.
    rows = store.query(
        "WITH recent AS (SELECT session_id, max(unix_ms) AS last FROM request_log WHERE session_id IS NOT NULL "
        "GROUP BY session_id ORDER BY last DESC LIMIT ?) "
        "SELECT recent.session_id, count(*), min(l.unix_ms), recent.last, group_concat(DISTINCT l.provider), "
        "sum(l.failover), sum(l.total_tokens), "
        "(SELECT provider FROM request_log r2 WHERE r2.session_id = recent.session_id AND r2.provider IS NOT NULL "
        "ORDER BY r2.unix_ms DESC, r2.id DESC LIMIT 1) "  # the turn begun last, as the timeline says
        "FROM recent JOIN request_log l ON l.session_id = recent.session_id GROUP BY recent.session_id "
        "ORDER BY recent.last DESC",
        (limit,))
    return [{"session_id": sid, "requests": n, "first_unix_ms": first, "last_unix_ms": last,
             "providers": sorted(p for p in (providers or "").split(",") if p), "failovers": failovers,
             "total_tokens": tokens, **_on_provider(bound_to(sid), last_served)}
            for sid, n, first, last, providers, failovers, tokens, last_served in rows]


def _on_provider(bound: str | None, last_served: str | None) -> dict[str, Any]:
    """The session's provider: the one it is bound to (its next request goes there while it is in use),
    else the last that served it — ``bound`` says which."""
    return {"provider": bound or last_served, "bound": bound is not None}


TIMELINE_LIMIT = 1000  # a session's newest requests in its timeline


def _made_by(store: Store, session_id: str, newest: dict[str, Any]) -> int:
    """How many requests a session made up to and with ``newest`` (in the timeline's order): one logged
    since the timeline was read is not counted, so the numbers the view gives its rows stay right."""
    return int(store.query(
        "SELECT count(*) FROM request_log WHERE session_id = ? AND (unix_ms < ? OR (unix_ms = ? AND id <= ?))",
        (session_id, newest["unix_ms"], newest["unix_ms"], newest["id"]))[0][0])


def _served_before(store: Store, session_id: str, first: dict[str, Any]) -> str | None:
    """Who served the session's last request before ``first`` that someone served (the timeline's first
    entry is then marked as a switch as any other is)."""
    rows = store.query(
        "SELECT provider FROM request_log WHERE session_id = ? AND provider IS NOT NULL "
        "AND (unix_ms < ? OR (unix_ms = ? AND id < ?)) ORDER BY unix_ms DESC, id DESC LIMIT 1",
        (session_id, first["unix_ms"], first["unix_ms"], first["id"]))
    return rows[0][0] if rows else None


def session_timeline(store: Store, session_id: str,
                     bound_to: Callable[[str], str | None] = lambda session: None) -> dict[str, Any]:
    """The newest ``TIMELINE_LIMIT`` requests of one session, oldest first, with their attempts;
    failovers and provider switches between turns are marked. ``total``: how many the session made."""
    log = list(reversed(store.request_log(limit=TIMELINE_LIMIT, session_id=session_id)))
    total = len(log) if len(log) < TIMELINE_LIMIT else _made_by(store, session_id, log[-1])
    previous = _served_before(store, session_id, log[0]) if total > len(log) else None
    entries = []
    for item in log:
        served = item["provider"]
        entries.append({
            "id": item["id"], "unix_ms": item["unix_ms"], "provider": served, "status": item["status"],
            "latency_ms": item["latency_ms"], "ttfb_ms": item["ttfb_ms"], "total_tokens": item["total_tokens"],
            "error": item["error"], "attempts": item["attempts"], "request_id": item["request_id"],
            "model": item["model"], "sent_model": item["sent_model"] or item["model"], "hedged": bool(item["hedged"]),
            "failover": bool(item["failover"]),
            "switched": previous is not None and served is not None and served != previous,
        })
        if served is not None:
            previous = served
    return {"session_id": session_id, "requests": entries, "total": total,
            **_on_provider(bound_to(session_id), previous)}
