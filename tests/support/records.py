"""Request-log rows as the store receives them, for tests that fill a log without traffic."""

from __future__ import annotations

from api_router.records import Attempt, Outcome, RequestRecord, Usage, now_ms


def record(provider: str = "p1", status: int = 200, tokens: int = 10, ts: int | None = None,
           session: str = "s1") -> RequestRecord:
    """A streamed request ``provider`` served after ``p0`` failed with a 503."""
    return RequestRecord(unix_ms=ts or now_ms(), path="/v1/responses", stream=True, session_id=session,
                         provider=provider, status=status, latency_ms=12.5, ttfb_ms=3.0,
                         usage=Usage(7, 3, 2, 1, tokens),
                         attempts=[Attempt("p0", Outcome.PROVIDER_FAILURE, 503, 1.0, "HTTP 503"),
                                   Attempt(provider, Outcome.OK, 200, 11.0)])
