"""What counts as a failover in a request's record, and as a switch in a session's timeline."""
from api_router import analytics
from api_router.records import Attempt, Outcome, RequestRecord, Usage
from api_router.store import Store

NOW = 1_800_000_000_000
MIN = 60_000


def rec(provider, attempts, **kw):
    return RequestRecord(unix_ms=kw.pop("unix_ms", NOW), path="/v1/responses", stream=True, provider=provider,
                         status=kw.pop("status", 200), attempts=attempts, **kw)


def test_a_hedge_that_failed_while_the_first_provider_served_is_no_failover():
    r = rec("p1", [Attempt("p1", Outcome.OK, 200, 100.0), Attempt("p2", Outcome.PROVIDER_FAILURE, 503, 50.0, hedge=True)])
    assert not r.failed_over()


def test_only_another_providers_failure_makes_a_failover():
    # p1's hedge twin lost to p2; p2 failed once and served on its retry-free second try: no provider was left.
    r = rec("p2", [Attempt("p1", Outcome.HEDGE_LOST, None, 80.0), Attempt("p2", Outcome.PROVIDER_FAILURE, 503, 40.0, hedge=True),
                   Attempt("p2", Outcome.OK, 200, 60.0)])
    assert not r.failed_over()


def seeded(tmp_path, rows):
    store = Store(tmp_path / "s.sqlite3")
    store.open()
    for ago, provider, status, attempts in rows:
        store.log_request(rec(provider, attempts, unix_ms=NOW - ago * MIN, status=status, session_id="s",
                              error="" if status < 400 else "failed", usage=Usage(1, 1, 0, 0, 2)))
    store.flush()
    return store


def test_a_summary_request_is_not_a_served_attempt(tmp_path):
    store = seeded(tmp_path, [(10, "p1", 200, [Attempt("p2", Outcome.OK, 200, 30.0, summary=True),
                                               Attempt("p1", Outcome.OK, 200, 100.0)])])
    try:
        s = analytics.summary(store, "hour", now=NOW)
        assert "p2" not in s["providers"] or s["providers"]["p2"]["requests"] == 0, s["providers"]
    finally:
        store.close()


def test_the_timeline_marks_a_switch_between_served_turns_only(tmp_path):
    p1ok, p2ok = [Attempt("p1", Outcome.OK, 200, 10.0)], [Attempt("p2", Outcome.OK, 200, 10.0)]
    bad = [Attempt("p1", Outcome.PROVIDER_FAILURE, 503, 10.0), Attempt("p2", Outcome.PROVIDER_FAILURE, 503, 10.0)]
    store = seeded(tmp_path, [(30, "p1", 200, p1ok), (20, None, 502, bad), (10, "p2", 200, p2ok)])
    try:
        t = analytics.session_timeline(store, "s")
        assert [e["switched"] for e in t["requests"]] == [False, False, True]
    finally:
        store.close()
