"""Analytics over a seeded request log."""

import dataclasses
import tempfile
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from api_router import analytics
from api_router.records import Attempt, Outcome, RequestOutcome, RequestRecord, Usage
from api_router.store import Store

T = TypeVar("T")

NOW = 1_800_000_000_000
MIN = 60_000


def seeded(tmp_path) -> Store:
    store = Store(tmp_path / "s.sqlite3")
    store.open()
    rows = [
        # (minutes ago, session, served by, status, latency, ttfb, tokens, attempts)
        (50, "s1", "p1", 200, 100.0, 20.0, Usage(100, 10, 50, 5, 110), [("p1", "ok", 100.0, 20.0)]),
        (40, "s1", "p2", 200, 300.0, 60.0, Usage(200, 20, 0, 0, 220), [("p1", "provider_failure", 50.0), ("p2", "ok", 250.0, 12.0)]),
        (30, "s1", "p2", 200, 200.0, 40.0, Usage(300, 30, 100, 10, 330), [("p2", "ok", 200.0, 40.0)]),
        (20, "s2", None, 502, 80.0, None, Usage(), [("p1", "provider_failure", 40.0), ("p2", "provider_failure", 40.0)]),
        (26 * 60, "s3", "p1", 200, 999.0, 99.0, Usage(1, 1, 0, 0, 2), [("p1", "ok", 999.0, 99.0)]),  # outside "day"
    ]
    for ago, session, provider, status, latency, ttfb, usage, attempts in rows:
        store.log_request(RequestRecord(
            unix_ms=NOW - ago * MIN, path="/v1/responses", stream=True, session_id=session, provider=provider,
            status=status, latency_ms=latency, ttfb_ms=ttfb, usage=usage,
            error="" if status < 400 else "all providers failed",
            attempts=[Attempt(p, Outcome(o), 200 if o == "ok" else 503, lat, ttfb_ms=(rest or [None])[0])
                      for p, o, lat, *rest in attempts]))
    store.flush()
    return store


def test_percentiles_nearest_rank():
    assert analytics.percentiles([]) == {"p50": None, "p90": None, "p99": None}
    assert analytics.percentiles([5.0]) == {"p50": 5.0, "p90": 5.0, "p99": 5.0}
    values = [float(v) for v in range(1, 101)]
    assert analytics.percentiles(values) == {"p50": 50.0, "p90": 90.0, "p99": 99.0}


def test_hour_window_overall_and_per_provider(tmp_path):
    store = seeded(tmp_path)
    s = analytics.summary(store, "hour", now=NOW)
    o = s["overall"]
    assert (o["requests"], o["errors"], o["total_tokens"], o["input_tokens"], o["cached_tokens"],
            o["reasoning_tokens"], o["output_tokens"]) == (4, 1, 660, 600, 150, 15, 60)
    assert o["latency_ms"] == {"p50": 100.0, "p90": 300.0, "p99": 300.0}
    assert o["ttfb_ms"]["p50"] == 40.0
    p1, p2 = s["providers"]["p1"], s["providers"]["p2"]
    assert (p1["requests"], p1["errors"], p1["total_tokens"]) == (3, 2, 110)
    assert (p2["requests"], p2["errors"], p2["total_tokens"]) == (3, 1, 550)
    # Its own times: 12 ms on the failover (the request's 60 ms include p1's failed attempt), 40 ms solo.
    assert p2["latency_ms"]["p50"] == 200.0 and p2["ttfb_ms"] == {"p50": 12.0, "p90": 40.0, "p99": 40.0}
    assert len(s["series"]) == 12 and s["bucket_ms"] == 5 * MIN
    assert sum(pt["providers"].get("p2", {}).get("tokens", 0) for pt in s["series"]) == 550
    assert sum(pt["providers"].get("p1", {}).get("errors", 0) for pt in s["series"]) == 2
    store.close()


def test_per_provider_requests_count_every_attempt(tmp_path):
    """A hedge that lost, an attempt the client cut short and a 400 passed back are attempts too (none an
    error); only served attempts give latency."""
    store = Store(tmp_path / "s.sqlite3")
    store.open()
    store.log_request(RequestRecord(unix_ms=NOW - MIN, path="/v1/responses", stream=True, provider="p2", status=200,
                                    latency_ms=30.0, attempts=[Attempt("p1", Outcome.HEDGE_LOST, None, 25.0),
                                                               Attempt("p2", Outcome.OK, 200, 20.0, ttfb_ms=5.0)]))
    store.log_request(RequestRecord(unix_ms=NOW - MIN, path="/v1/responses", stream=True, provider="p1", status=499,
                                    latency_ms=70.0, attempts=[Attempt("p1", Outcome.CLIENT_CLOSED, 200, 70.0)]))
    store.log_request(RequestRecord(unix_ms=NOW - MIN, path="/v1/responses", stream=False, provider="p1", status=400,
                                    latency_ms=9.0, attempts=[Attempt("p1", Outcome.CLIENT_ERROR, 400, 9.0)]))
    store.flush()
    per = analytics.summary(store, "hour", now=NOW)["providers"]
    assert (per["p1"]["requests"], per["p1"]["errors"], per["p2"]["requests"]) == (3, 0, 1)
    assert per["p1"]["latency_ms"]["p50"] is None and per["p2"]["ttfb_ms"]["p50"] == 5.0
    store.close()


def test_overall_errors_are_the_requests_the_error_filter_shows(tmp_path):
    """A client's own error (a 400 passed back) and a turn it cancelled (499) are not errors; a stream
    that broke after output (200 with an error) is."""
    store = Store(tmp_path / "s.sqlite3")
    store.open()
    cases = [(200, "", "ok"), (400, "HTTP 400: context_length_exceeded", "client_error"),
             (499, "client disconnected", "ok"), (200, "upstream stream broke after output started", "ok"),
             (502, "all providers failed", "provider_failure")]
    for status, error, attempt in cases:
        outcome = Outcome.CLIENT_ERROR if attempt == "client_error" else Outcome(attempt)
        store.log_request(RequestRecord(unix_ms=NOW - MIN, path="/v1/responses", stream=True, provider="p1",
                                        status=status, latency_ms=10.0, error=error,
                                        attempts=[Attempt("p1", outcome, status, 10.0)]))
    store.flush()
    overall = analytics.summary(store, "hour", now=NOW)["overall"]
    assert (overall["requests"], overall["errors"]) == (5, 2)
    assert [row["status"] for row in store.request_log() if row["outcome"] == "error"] == [502, 200]
    store.close()


def test_rows_logged_before_outcomes_were_kept_are_errors_by_their_status_or_error(tmp_path):
    import sqlite3

    store = Store(tmp_path / "s.sqlite3")
    store.open()
    for status, error in ((200, ""), (200, "upstream stream broke after output started"), (502, ""), (400, "")):
        store.log_request(RequestRecord(unix_ms=NOW - MIN, path="/v1/responses", stream=True, provider="p1",
                                        status=status, latency_ms=10.0, error=error))
    store.flush()
    with sqlite3.connect(tmp_path / "s.sqlite3") as conn:  # as an older version left them
        conn.execute("UPDATE request_log SET outcome = NULL")
    overall = analytics.summary(store, "hour", now=NOW)["overall"]
    assert (overall["requests"], overall["errors"]) == (4, 3)
    store.close()


def test_windows_include_older_requests(tmp_path):
    store = seeded(tmp_path)
    assert analytics.summary(store, "day", now=NOW)["overall"]["requests"] == 4
    month = analytics.summary(store, "month", now=NOW)
    assert month["overall"]["requests"] == 5 and len(month["series"]) == 30
    store.close()


def test_sessions_and_timeline_mark_failovers(tmp_path):
    store = seeded(tmp_path)
    listed = {s["session_id"]: s for s in analytics.sessions(store)}
    assert listed["s1"]["requests"] == 3 and listed["s1"]["providers"] == ["p1", "p2"]
    assert listed["s1"]["failovers"] == 1 and listed["s1"]["total_tokens"] == 660
    timeline = analytics.session_timeline(store, "s1")["requests"]
    assert [t["provider"] for t in timeline] == ["p1", "p2", "p2"]
    assert [t["failover"] for t in timeline] == [False, True, False]
    assert [t["switched"] for t in timeline] == [False, True, False]
    assert [a["outcome"] for a in timeline[1]["attempts"]] == ["provider_failure", "ok"]
    failed = analytics.session_timeline(store, "s2")["requests"][0]
    assert failed["provider"] is None and failed["status"] == 502 and not failed["failover"]
    store.close()


def test_a_session_longer_than_its_timeline_says_how_long_it_is(tmp_path):
    """The timeline holds a session's newest 1,000 requests; the session list counts them all. The timeline
    says how many there are, so its view can say it shows the newest part (it read "1,000 requests")."""
    store = Store(tmp_path / "s.sqlite3")
    store.open()
    for i in range(analytics.TIMELINE_LIMIT + 100):  # p2 served request 100, the last before the window
        store.log_request(RequestRecord(unix_ms=NOW - 10_000_000 + i, path="/v1/responses", stream=True,
                                        session_id="long", provider="p2" if i == 99 else "p1", status=200,
                                        latency_ms=1.0))
    store.log_request(RequestRecord(unix_ms=NOW, path="/v1/responses", stream=True, session_id="short",
                                    provider="p1", status=200, latency_ms=1.0))
    store.flush()
    timeline = analytics.session_timeline(store, "long")
    (listed,) = [s for s in analytics.sessions(store) if s["session_id"] == "long"]
    assert len(timeline["requests"]) == 1000 and timeline["total"] == listed["requests"] == 1100
    assert timeline["requests"][0]["unix_ms"] == NOW - 10_000_000 + 100  # the newest thousand, oldest first
    assert [entry["switched"] for entry in timeline["requests"][:2]] == [True, False]  # from p2, before the window
    assert analytics.session_timeline(store, "short")["total"] == 1
    store.close()


def test_the_session_list_and_timeline_name_the_same_last_provider(tmp_path):
    """A long turn begun on p1 is logged after a short one begun later on p2: both views take the turn
    that began last (the order the timeline and the Requests page list them in)."""
    store = Store(tmp_path / "s.sqlite3")
    store.open()
    for began, provider in ((NOW - 1000, "p2"), (NOW - 5000, "p1")):  # logged in the order they ended
        store.log_request(RequestRecord(unix_ms=began, path="/v1/responses", stream=True, session_id="s",
                                        provider=provider, status=200, latency_ms=1.0))
    store.flush()
    (listed,) = analytics.sessions(store)
    timeline = analytics.session_timeline(store, "s")
    assert listed["provider"] == timeline["provider"] == "p2", (listed, timeline["provider"])
    store.close()


def in_zone(monkeypatch, zone: str):
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def kolkata(monkeypatch):
    """The local clock at UTC+5:30: hours and days begin on the half hour of UTC."""
    yield from in_zone(monkeypatch, "Asia/Kolkata")


def test_chart_buckets_begin_on_the_local_clocks_marks(tmp_path, kolkata):
    """A bar labelled with a day holds that local day (the last one, today so far); an hour's, that hour."""
    store = Store(tmp_path / "s.sqlite3")
    store.open()
    # NOW is 13:30 on 15 Jan in Kolkata: 12 h 40 min before it is 00:50 that day, 13 h 40 min is the day before.
    for ago in (760, 820):
        store.log_request(RequestRecord(unix_ms=NOW - ago * MIN, path="/v1/responses", stream=False,
                                        provider="p1", status=200, latency_ms=1.0, usage=Usage(1, 1, 0, 0, 2)))
    store.flush()
    month = analytics.summary(store, "month", now=NOW)
    starts = [point["t_unix_ms"] for point in month["series"]]
    assert len(starts) == 30 and starts[-1] == NOW - 810 * MIN  # local midnight, 13 h 30 min before
    assert starts[-2] == starts[-1] - 1440 * MIN and month["since_unix_ms"] == starts[0]
    tokens = [point["providers"].get("p1", {}).get("tokens", 0) for point in month["series"]]
    assert tokens[-2:] == [2, 2]
    day = analytics.summary(store, "day", now=NOW)
    assert day["series"][-1]["t_unix_ms"] == NOW - 30 * MIN and len(day["series"]) == 24
    assert day["since_unix_ms"] == NOW - 30 * MIN - 23 * 60 * MIN
    hour = analytics.summary(store, "hour", now=NOW + 7 * MIN)
    assert hour["series"][-1]["t_unix_ms"] == NOW + 5 * MIN and len(hour["series"]) == 12
    store.close()


@pytest.fixture
def lord_howe(monkeypatch):
    """A clock that goes back half an hour (02:00 → 01:30 on 5 April 2026)."""
    yield from in_zone(monkeypatch, "Australia/Lord_Howe")


def test_hour_bars_stay_on_the_hour_across_a_half_hour_clock_change(lord_howe):
    """Every bar of the last day begins on a local hour, those before the change too (they began on the
    half hour: each held half of one hour and half of the next). The hour of the change holds 90 minutes."""
    now = int(datetime(2026, 4, 5, 3, 10).timestamp() * 1000)
    starts = analytics.bucket_starts(24, 3_600_000, now)
    local = [datetime.fromtimestamp(t / 1000) for t in starts]
    assert all((t.minute, t.second) == (0, 0) for t in local), [t.strftime("%d %H:%M") for t in local]
    assert [t.hour for t in local] == [*range(4, 24), 0, 1, 2, 3]
    assert starts == sorted(set(starts)) and starts[-2] - starts[-3] == 90 * MIN


@pytest.fixture
def chatham(monkeypatch):
    """A clock that jumps from 02:45 to 03:45 (27 September 2026): 03:00 never shows."""
    yield from in_zone(monkeypatch, "Pacific/Chatham")


def test_the_bar_of_now_never_begins_after_now_where_the_clock_skipped_its_mark(chatham):
    now = int(datetime(2026, 9, 27, 3, 50).timestamp() * 1000)  # 5 minutes after the jump
    starts = analytics.bucket_starts(24, 3_600_000, now)
    assert starts == sorted(set(starts)) and starts[-1] <= now, [datetime.fromtimestamp(t / 1000) for t in starts]
    assert now - starts[-1] <= 2 * 3_600_000


def test_a_solo_requests_provider_times_are_its_attempts_own(tmp_path):
    """A 1 MB body uploaded over 1.6 s to a provider that answers at once: the request took 1617 ms, the
    provider 2 ms — its latency and TTFB are the same whether it served alone or after another failed."""
    store = Store(tmp_path / "s.sqlite3")
    store.open()
    for before in ([], [Attempt("b", Outcome.PROVIDER_FAILURE, 503, 5.0, "HTTP 503")]):
        store.log_request(RequestRecord(unix_ms=NOW - MIN, path="/v1/responses", stream=False, provider="a",
                                        status=200, latency_ms=1617.0, ttfb_ms=1616.0,
                                        attempts=[*before, Attempt("a", Outcome.OK, 200, 2.0, ttfb_ms=1.0)]))
    store.flush()
    s = analytics.summary(store, "hour", now=NOW)
    assert s["overall"]["latency_ms"]["p50"] == 1617.0
    a = s["providers"]["a"]
    assert a["requests"] == 2
    assert a["latency_ms"] == {"p50": 2.0, "p90": 2.0, "p99": 2.0}
    assert a["ttfb_ms"] == {"p50": 1.0, "p90": 1.0, "p99": 1.0}
    served = [row["attempts"][-1] for row in store.request_log()]
    assert [(x["latency_ms"], x["ttfb_ms"]) for x in served] == [(2.0, 1.0), (2.0, 1.0)]
    store.close()


# --- the numbers SQLite works out are the ones the records say --------------------------------------------

HOUR_STARTS = analytics.bucket_starts(12, 5 * MIN, NOW)
times = st.one_of(st.sampled_from([HOUR_STARTS[0] - 1, *HOUR_STARTS, NOW]),
                  st.integers(HOUR_STARTS[0] - 10 * MIN, NOW))
millis = st.sampled_from([0.5, 2.0, 2.0, 17.25, 300.0, 1234.567])  # ties, and values SQLite and Python order alike
providers = st.sampled_from(["p1", "p2", "p3"])


@st.composite
def records(draw: st.DrawFn) -> RequestRecord:
    served = draw(st.one_of(st.none(), providers))
    status = draw(st.sampled_from([200, 200, 400, 429, 499, 502]))
    if served is not None and draw(st.booleans()):  # one attempt that simply succeeded: stored "solo"
        attempts = [Attempt(served, Outcome.OK, status, draw(millis), ttfb_ms=draw(st.one_of(st.none(), millis)))]
    else:
        attempts = draw(st.lists(st.builds(
            Attempt, providers, st.sampled_from(list(Outcome)), st.sampled_from([None, 200, 503]), millis,
            ttfb_ms=st.one_of(st.none(), millis), summary=st.booleans()), max_size=3))
    return RequestRecord(unix_ms=draw(times), path="/v1/responses", stream=True, provider=served, status=status,
                         latency_ms=draw(millis), ttfb_ms=draw(st.one_of(st.none(), millis)),
                         usage=Usage(*(draw(st.integers(0, 9)) for _ in range(5))),
                         error=draw(st.sampled_from(["", "all providers failed"])), attempts=attempts)


def _nearest_ranks(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {f"p{p}": ordered[max(0, -(-p * len(ordered) // 100) - 1)] if ordered else None for p in (50, 90, 99)}


def _expected(logged: list[RequestRecord]) -> dict:
    """The hour window's numbers, from the records as the gateway logged them."""
    inside = [r for r in logged if r.unix_ms >= HOUR_STARTS[0]]
    tokens = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "total_tokens")
    overall = {"requests": len(inside), "errors": sum(r.outcome() is RequestOutcome.ERROR for r in inside),
               **{name: sum(getattr(r.usage, name) for r in inside) for name in tokens},
               "latency_ms": _nearest_ranks([r.latency_ms for r in inside]),
               "ttfb_ms": _nearest_ranks([r.ttfb_ms for r in inside if r.ttfb_ms is not None])}
    per: dict = defaultdict(lambda: {"requests": 0, "errors": 0, **dict.fromkeys(tokens, 0)})
    served: dict = defaultdict(list)
    series: dict = defaultdict(lambda: defaultdict(lambda: {"requests": 0, "errors": 0, "tokens": 0}))
    for r in inside:
        bucket = bisect_right(HOUR_STARTS, r.unix_ms) - 1
        if r.provider:
            for name in tokens:
                per[r.provider][name] += getattr(r.usage, name)
            series[bucket][r.provider]["tokens"] += r.usage.total_tokens
        for a in r.attempts:
            if a.summary:
                continue
            failed = a.outcome is Outcome.PROVIDER_FAILURE
            for totals in (per[a.provider], series[bucket][a.provider]):
                totals["requests"] += 1
                totals["errors"] += failed
            if a.outcome is Outcome.OK:
                served[a.provider].append(a)
    return {
        "overall": overall,
        "providers": {pid: {**totals, "latency_ms": _nearest_ranks([a.latency_ms for a in served[pid]]),
                            "ttfb_ms": _nearest_ranks([a.ttfb_ms for a in served[pid] if a.ttfb_ms is not None])}
                      for pid, totals in per.items()},
        "series": [{pid: dict(point) for pid, point in series[i].items()} for i in range(len(HOUR_STARTS))],
    }


def _read_after_logging(logged: list[RequestRecord], read: Callable[[Store], T]) -> T:
    """``read(store)`` on a new store that logged ``logged`` (a hypothesis example cannot take tmp_path)."""
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "s.sqlite3")
        store.open()
        try:
            for record in logged:
                store.log_request(record)
            return read(store)
        finally:
            store.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(records(), max_size=25))
def test_the_summary_says_what_the_logged_records_say(logged):
    """Counts, errors, tokens, chart buckets (a request at a bucket's first millisecond is in it) and
    nearest-rank percentiles with ties and missing TTFBs — all worked out by SQLite — match the records."""
    s = _read_after_logging(logged, lambda store: analytics.summary(store, "hour", now=NOW))
    expected = _expected(logged)
    assert s["overall"] == expected["overall"]
    assert s["providers"] == expected["providers"]
    assert [point["providers"] for point in s["series"]] == expected["series"]


_SERVED = RequestRecord(unix_ms=NOW - 1000, path="/v1/responses", stream=True, provider="p1", status=200)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(records(), st.sampled_from(["s1", "s2", "s3", "s4", "s5", None]), st.booleans()), max_size=25),
       st.integers(1, 6))
@example([(_SERVED, "s2", False), (_SERVED, "s1", True), (_SERVED, "s1", True)], 1)  # failovers add up
def test_the_session_list_says_what_the_logged_records_say(logged, limit):
    """The most recent sessions (by their last request), each with its count, first and last time, providers,
    failovers, tokens and the provider of the turn begun last that someone served — as the records say."""
    rows = []
    for i, (record, session, failover) in enumerate(logged):
        attempts = record.attempts if not failover or record.provider is None else [
            Attempt("p9", Outcome.PROVIDER_FAILURE, 503, 5.0), Attempt(record.provider, Outcome.OK, 200, 9.0)]
        # Distinct times: which of two sessions ending in the same millisecond is listed first is not said.
        rows.append(dataclasses.replace(record, unix_ms=record.unix_ms * 100 + i, session_id=session,
                                        attempts=attempts))
    listed = _read_after_logging(rows, lambda store: analytics.sessions(store, limit))
    by: dict = defaultdict(list)
    for r in rows:
        if r.session_id is not None:
            by[r.session_id].append(r)
    newest = sorted(by, key=lambda sid: max(r.unix_ms for r in by[sid]), reverse=True)[:limit]

    def last_served(made: list[RequestRecord]) -> str | None:
        served = [r for r in sorted(made, key=lambda r: r.unix_ms) if r.provider]
        return served[-1].provider if served else None

    assert listed == [{"session_id": sid, "requests": len(made), "first_unix_ms": min(r.unix_ms for r in made),
                       "last_unix_ms": max(r.unix_ms for r in made),
                       "providers": sorted({r.provider for r in made if r.provider}),
                       "failovers": sum(r.failed_over() for r in made),
                       "total_tokens": sum(r.usage.total_tokens for r in made),
                       "provider": last_served(made), "bound": False}
                      for sid in newest for made in [by[sid]]]


# --- sessions whose last turn failed; the window's first millisecond --------------------------------------

def _logged(tmp_path, rows):
    store = Store(tmp_path / "s.sqlite3")
    store.open()
    for r in rows:
        store.log_request(r)
    store.flush()
    return store


def test_the_attempts_of_a_request_begun_at_the_windows_first_millisecond_count(tmp_path):
    since = analytics.bucket_starts(12, 5 * MIN, NOW)[0]
    store = _logged(tmp_path, [RequestRecord(
        unix_ms=since, path="/v1/responses", stream=True, provider="p2", status=200, latency_ms=30.0,
        attempts=[Attempt("p1", Outcome.PROVIDER_FAILURE, 503, 5.0), Attempt("p2", Outcome.OK, 200, 20.0)])])
    s = analytics.summary(store, "hour", now=NOW)
    store.close()
    assert s["overall"]["requests"] == 1
    assert (s["providers"]["p1"]["requests"], s["providers"]["p1"]["errors"], s["providers"]["p2"]["requests"]) == (1, 1, 1)


def _session_rows():
    return [RequestRecord(unix_ms=NOW - 3000, path="/v1/responses", stream=True, session_id="s", provider="p1",
                          status=200, latency_ms=1.0),
            RequestRecord(unix_ms=NOW - 2000, path="/v1/responses", stream=True, session_id="s", provider=None,
                          status=502, latency_ms=1.0, error="all providers failed",
                          attempts=[Attempt("p1", Outcome.PROVIDER_FAILURE, 503, 1.0)]),
            RequestRecord(unix_ms=NOW - 1000, path="/v1/responses", stream=True, session_id="s", provider="p1",
                          status=200, latency_ms=1.0)]


def test_a_failed_turn_is_no_provider_switch(tmp_path):
    store = _logged(tmp_path, _session_rows())
    timeline = analytics.session_timeline(store, "s")["requests"]
    store.close()
    assert [t["switched"] for t in timeline] == [False, False, False]


def test_a_turn_after_a_failed_one_on_another_provider_is_a_switch_and_the_last_served_is_named(tmp_path):
    rows = _session_rows()[:2]  # served by p1, then a failed turn last
    store = _logged(tmp_path, [*rows, RequestRecord(unix_ms=NOW - 500, path="/v1/responses", stream=True,
                                                   session_id="t", provider="p1", status=200, latency_ms=1.0),
                                     RequestRecord(unix_ms=NOW - 400, path="/v1/responses", stream=True,
                                                   session_id="t", provider=None, status=502, latency_ms=1.0,
                                                   error="x"),
                                     RequestRecord(unix_ms=NOW - 300, path="/v1/responses", stream=True,
                                                   session_id="t", provider="p2", status=200, latency_ms=1.0)])
    s = analytics.session_timeline(store, "s")
    t = analytics.session_timeline(store, "t")["requests"]
    store.close()
    assert s["provider"] == "p1"  # the last that served it, not None for the failed last turn
    assert [x["switched"] for x in t] == [False, False, True]


def test_the_session_list_names_the_last_provider_that_served_it(tmp_path):
    store = _logged(tmp_path, _session_rows()[:2])  # last turn failed: provider None
    (listed,) = analytics.sessions(store)
    store.close()
    assert listed["provider"] == "p1"


def test_of_turns_begun_in_the_same_millisecond_the_later_logged_is_last(tmp_path):
    store = _logged(tmp_path, [RequestRecord(unix_ms=NOW, path="/v1/responses", stream=True, session_id="s",
                                            provider=p, status=200, latency_ms=1.0) for p in ("p1", "p2")])
    (listed,) = analytics.sessions(store)
    timeline = analytics.session_timeline(store, "s")
    store.close()
    assert listed["provider"] == timeline["provider"] == timeline["requests"][-1]["provider"]
