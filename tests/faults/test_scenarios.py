"""Fault scenarios: one provider misbehaviour each, and the exact outcome it must produce.

For every scenario the client gets either a complete success or one clear error (never a
truncated answer presented as complete), the request log and the per-provider metrics agree with
what happened, and no provider receives the request more often than the rules allow.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from dataclasses import dataclass

import pytest

from tests.support import fake_provider as fp
from tests.support.harness import Harness, Reply

# Timeouts long enough that a healthy provider meets them even after a stall of a busy machine; the tests
# about a timeout set a shorter one (TIMEOUT_1S), still far shorter than what their hung provider does.
FAST = {"request_timeout_seconds": 2, "stream_idle_timeout_seconds": 2, "failure_threshold": 2,
        "cooldown_seconds": 30, "preferred_stable_seconds": 30}
TIMEOUT_1S = {"request_timeout_seconds": 1, "stream_idle_timeout_seconds": 1}


@dataclass
class Expect:
    status: int
    served_by: str | None
    attempts: list[tuple[str, str]]  # (provider, outcome) in order
    complete: bool = True  # a success carries a full answer (JSON, or a stream ending in response.completed)


@dataclass
class Before:
    calls: dict[str, int]
    metrics: dict


def before(gw: Harness, fakes: dict[str, fp.FakeProvider]) -> Before:
    """Counters now, so a later check can look at one request only."""
    return Before({n: f.calls for n, f in fakes.items()}, gw.services.store.metrics())


def check(gw: Harness, reply: Reply, expect: Expect, fakes: dict[str, fp.FakeProvider], *, stream: bool,
          since: Before | None = None) -> dict:
    assert reply.status == expect.status, reply.body[:500]
    if expect.status == 200 and stream:
        types = reply.event_types
        if expect.complete:
            assert types[-1] == "response.completed" and "response.failed" not in types
        else:
            assert types[-1] == "response.failed" and "response.completed" not in types
    elif expect.status == 200:
        assert reply.json["status"] == "completed" and reply.text
    else:
        assert set(reply.json) == {"error"} or reply.json.get("error"), reply.body
    row = gw.services.store.request_log()[0]
    assert row["status"] == expect.status and row["provider"] == expect.served_by
    assert [(a["provider"], a["outcome"]) for a in row["attempts"]] == expect.attempts
    assert bool(row["error"]) == (not expect.complete or expect.status >= 400)
    for name, fake in fakes.items():
        sent = sum(1 for p, _ in expect.attempts if p == name)
        got = fake.calls - (since.calls[name] if since else 0)
        assert got == sent, f"{name} got {got} requests, rules allow {sent}"
    previous = since.metrics if since else {}
    metrics = gw.services.store.metrics()
    for name in fakes:
        ok = sum(1 for p, o in expect.attempts if p == name and o == "ok")
        err = sum(1 for p, o in expect.attempts if p == name and o == "provider_failure")
        m, b = metrics.get(name), previous.get(name)
        got = (m.ok_requests - (b.ok_requests if b else 0), m.error_requests - (b.error_requests if b else 0)) if m else (0, 0)
        assert got == (ok, err), f"metrics for {name}: {got} != {(ok, err)}"
    return row


@pytest.fixture
async def pair(fakes, gateway):
    async def make(**routing):
        p1, p2 = await fakes("p1", "p2")
        gw = await gateway({"p1": p1, "p2": p2}, routing={**FAST, **routing})
        return gw, p1, p2
    return make


OK_VIA_P2 = Expect(200, "p2", [("p1", "provider_failure"), ("p2", "ok")])


@pytest.mark.parametrize("stream", [False, True])
async def test_429_with_retry_after_seconds(pair, stream):
    gw, p1, p2 = await pair()
    p1.always(fp.status(429, "rate limited", headers={"Retry-After": "90"}))
    start = time.time()
    reply = await gw.responses(stream=stream)
    check(gw, reply, OK_VIA_P2, {"p1": p1, "p2": p2}, stream=stream)
    until = gw.services.router.health_json(gw.services.config.current)["p1"]["cooldown_until_unix_ms"] / 1000
    assert 89 <= until - start <= 92
    await gw.responses(stream=stream)
    assert p1.calls == 1  # cooling down: not asked again


async def test_429_with_retry_after_http_date(pair):
    gw, p1, p2 = await pair()
    p1.always(fp.status(429, headers={"Retry-After": email.utils.formatdate(time.time() + 120, usegmt=True)}))
    start = time.time()
    check(gw, await gw.responses(), OK_VIA_P2, {"p1": p1, "p2": p2}, stream=False)
    until = gw.services.router.health_json(gw.services.config.current)["p1"]["cooldown_until_unix_ms"] / 1000
    assert 115 <= until - start <= 122


async def test_429_without_retry_after(pair):
    gw, p1, p2 = await pair(preferred_stable_seconds=0)
    p1.always(fp.status(429))
    check(gw, await gw.responses(), OK_VIA_P2, {"p1": p1, "p2": p2}, stream=False)
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["status"] == "unhealthy"


async def test_500_once_then_healthy(pair):
    gw, p1, p2 = await pair(preferred_stable_seconds=0)
    p1.queue(fp.status(500, "hiccup"))
    check(gw, await gw.responses(stream=True), OK_VIA_P2, {"p1": p1, "p2": p2}, stream=True)
    mark = before(gw, {"p1": p1, "p2": p2})
    reply = await gw.responses(stream=True)
    check(gw, reply, Expect(200, "p1", [("p1", "ok")]), {"p1": p1, "p2": p2}, stream=True, since=mark)
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["status"] == "healthy"


async def test_persistent_503_cools_down_and_stops_being_asked(pair):
    gw, p1, p2 = await pair(preferred_stable_seconds=0)
    p1.always(fp.status(503, "down for maintenance"))
    for _ in range(5):
        reply = await gw.responses()
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert p1.calls == 2  # the threshold, then cooldown
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["status"] == "cooldown"
    assert gw.services.store.metrics()["p1"].error_requests == 2 and gw.services.store.metrics()["p2"].ok_requests == 5


@pytest.mark.parametrize("stream", [False, True])
async def test_tcp_reset_before_headers(pair, stream):
    gw, p1, p2 = await pair()
    p1.always(fp.reset())
    check(gw, await gw.responses(stream=stream), OK_VIA_P2, {"p1": p1, "p2": p2}, stream=stream)


async def test_connection_that_never_answers(pair):
    gw, p1, p2 = await pair(**TIMEOUT_1S)
    p1.always(fp.hang())
    started = time.perf_counter()
    check(gw, await gw.responses(stream=True), OK_VIA_P2, {"p1": p1, "p2": p2}, stream=True)
    assert time.perf_counter() - started < 3
    assert "no response within 1 s" in gw.services.store.request_log()[0]["attempts"][0]["error"]


async def test_slow_first_byte_beyond_the_timeout(pair):
    gw, p1, p2 = await pair(**TIMEOUT_1S)
    p1.always(fp.stream_ok("late", first_delay=3))
    check(gw, await gw.responses(stream=True), OK_VIA_P2, {"p1": p1, "p2": p2}, stream=True)


async def test_stream_cut_after_output(pair):
    gw, p1, p2 = await pair()
    p1.always(fp.stream_ok("partial answer", deltas=6, cut_after=5))
    reply = await gw.responses(stream=True)
    check(gw, reply, Expect(200, "p1", [("p1", "provider_failure")], complete=False), {"p1": p1, "p2": p2}, stream=True)
    assert reply.text  # the output that arrived was passed on, then clearly marked failed


async def test_stream_stall_beyond_idle_timeout(pair):
    gw, p1, p2 = await pair(**TIMEOUT_1S)
    p1.always(fp.stream_ok("stalls", deltas=6, stall_after=5))
    reply = await gw.responses(stream=True)
    check(gw, reply, Expect(200, "p1", [("p1", "provider_failure")], complete=False), {"p1": p1, "p2": p2}, stream=True)
    assert "no stream event within 1 s" in reply.events[-1]["response"]["error"]["message"]


async def test_malformed_sse_chunk_is_passed_on_and_the_stream_still_judged_by_its_end(pair):
    gw, p1, p2 = await pair()
    events = [fp.sse_event(e) for e in fp.stream_events(fp.response_object("fine", provider="p1"))]
    events.insert(3, b"data: {\"type\": \"response.output_text.delta\", \"delta\": \n\n")  # truncated JSON
    events.insert(4, b"\xff\xfe garbage without a field name\n\n")
    p1.always(fp.raw_stream(events))
    reply = await gw.responses(stream=True)
    check(gw, reply, Expect(200, "p1", [("p1", "ok")]), {"p1": p1, "p2": p2}, stream=True)
    # a malformed stream that never completes is a failure before output -> failover
    p1.always(fp.raw_stream([b"data: {not json\n\n", b"event: ???\n\n"]))
    mark = before(gw, {"p1": p1, "p2": p2})
    reply = await gw.responses(stream=True)
    check(gw, reply, OK_VIA_P2, {"p1": p1, "p2": p2}, stream=True, since=mark)
    assert b"not json" not in reply.body


async def test_stream_ending_without_completed(pair):
    gw, p1, p2 = await pair()
    p1.always(fp.stream_ok("no terminal event", drop_completed=True))
    reply = await gw.responses(stream=True)
    check(gw, reply, Expect(200, "p1", [("p1", "provider_failure")], complete=False), {"p1": p1, "p2": p2}, stream=True)


async def test_response_failed_in_a_200_before_output(pair):
    gw, p1, p2 = await pair()
    failed = {"type": "response.failed", "response": {"id": "r", "status": "failed",
                                                       "error": {"code": "server_error", "message": "model crashed"}}}
    p1.always(fp.raw_stream([fp.sse_event({"type": "response.created", "response": {"id": "r"}}),
                             fp.sse_event(failed)]))
    reply = await gw.responses(stream=True)
    check(gw, reply, OK_VIA_P2, {"p1": p1, "p2": p2}, stream=True)
    assert b"model crashed" not in reply.body


@pytest.mark.parametrize("stream", [False, True])
async def test_context_length_exceeded_is_not_failed_over(pair, stream):
    gw, p1, p2 = await pair()
    body = json.dumps({"error": {"message": "Your input exceeds the context window of this model.",
                                 "type": "invalid_request_error", "code": "context_length_exceeded"}}).encode()
    p1.always(fp.status(400, body=body))
    reply = await gw.responses(stream=stream)
    assert reply.status == 400 and reply.body == body
    row = gw.services.store.request_log()[0]
    assert [(a["provider"], a["outcome"]) for a in row["attempts"]] == [("p1", "client_error")]
    assert p1.calls == 1 and p2.calls == 0
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["consecutive_failures"] == 0
    assert "p1" not in gw.services.store.metrics()


async def test_flapping_primary_fails_over_cools_down_returns_once_without_ping_pong(pair):
    # Windows wide enough that phase 0 ends inside them even on a loaded machine.
    gw, p1, p2 = await pair(failure_threshold=1, cooldown_seconds=0.9, preferred_stable_seconds=1.8)
    served = []
    p1.always(fp.status(502))
    for phase in range(3):
        for _ in range(4):
            reply = await gw.responses()
            served.append(reply.headers["X-API-Router-Provider"])
            await asyncio.sleep(0.05)
        if phase == 0:
            p1.always(fp.json_ok("p1 ok"))  # recovered, but must be stable for 1.8 s first
            await asyncio.sleep(1.95)
    # first phase all on p2, then back to p1 once, and staying there
    assert served[:4] == ["p2"] * 4
    assert served[4:] == ["p1"] * 8
    assert p1.calls == 1 + 8
    routes = [e.message for e in gw.services.store.list_events() if e.kind == "route"]
    assert sum(m.startswith("Back to preferred") for m in routes) == 1
    assert sum(m.startswith("Failover") for m in routes) == 1


async def test_all_providers_down_is_one_clear_error(pair):
    gw, p1, p2 = await pair()
    p1.always(fp.status(503, "p1 down"))
    p2.always(fp.reset())
    reply = await gw.responses(stream=True)
    check(gw, reply, Expect(502, None, [("p1", "provider_failure"), ("p2", "provider_failure")]),
          {"p1": p1, "p2": p2}, stream=True)
    message = reply.json["error"]["message"]
    assert reply.json["error"]["type"] == "gateway_error" and "P1: HTTP 503: p1 down" in message and "P2:" in message


@pytest.mark.parametrize("stream", [False, True])
async def test_html_instead_of_json(pair, stream):
    gw, p1, p2 = await pair()
    p1.always(fp.html_page())
    check(gw, await gw.responses(stream=stream), OK_VIA_P2, {"p1": p1, "p2": p2}, stream=stream)
    assert "Welcome to nginx" in gw.services.store.request_log()[0]["attempts"][0]["error"]


@pytest.mark.parametrize("stream", [False, True])
async def test_gzip_encoded_upstream_body(pair, stream):
    gw, p1, p2 = await pair()
    p1.always(fp.gzip_json("unzipped fine"))
    reply = await gw.responses(stream=stream)
    check(gw, reply, Expect(200, "p1", [("p1", "ok")]), {"p1": p1, "p2": p2}, stream=stream)
    assert reply.text == "unzipped fine"
    assert "Content-Encoding" not in reply.headers
