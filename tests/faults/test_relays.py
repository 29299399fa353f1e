"""Relays that fail the way real ones do: they hang, trickle keep-alives, report errors in-band or lie
with a 200. One test per case, with real timings asserted as bounds."""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import re
import socket
import time

import aiohttp
import pytest
from aiohttp import web

from api_router import records
from api_router.gateway.checks import TICK_SECONDS
from api_router.gateway.proxy import ResponsesProxy
from api_router.records import steady_ms
from api_router.store.database import Metrics
from tests.support import fake_provider as fp
from tests.support.harness import Harness, simple_body

# Hedge delays of 1.5-2 s: a healthy provider's first event (a few ms) stays far ahead of them even when the
# test process stalls (a full GC pause, a busy machine), so no stray hedge asks the next provider.
QUICK = {"request_timeout_seconds": 5, "stream_idle_timeout_seconds": 1, "hedge_min_seconds": 1.5,
         "hedge_max_seconds": 2, "check_interval_seconds": 0.3, "failure_threshold": 3, "cooldown_seconds": 30,
         "preferred_stable_seconds": 0}
# For the tests about hedging: a hedge in tenths of a second (0.4 s without history). An original meant to win
# or lose the race answers a second or more from it, and the hedges' own delays bring in nobody (none is left).
QUICK_HEDGE = {**QUICK, "hedge_min_seconds": 0.3, "hedge_max_seconds": 0.4}


def attempts(gw: Harness) -> list[tuple[str, str]]:
    return [(a["provider"], a["outcome"]) for a in gw.services.store.request_log()[0]["attempts"]]


def health(gw: Harness, pid: str) -> dict:
    return gw.services.router.health_json(gw.services.config.current)[pid]


def client_requests(fake: fp.FakeProvider) -> int:
    """Requests ``fake`` got other than background checks (whose input is the bare "ping"): those run
    on their own clock and may land at any moment."""
    return sum(r.json["input"] != "ping" for r in fake.requests)


async def timed(coro):
    started = time.perf_counter()
    result = await coro
    return result, time.perf_counter() - started


async def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.05)


async def test_black_hole_costs_one_hedge_delay_once_with_default_settings(fakes, gateway):
    """A preferred provider that accepts nothing and answers nothing: the first streamed request is
    answered by the next provider after the hedge delay (10 s without history), every later one at once."""
    hole = fp.BlackHole()
    try:
        (p2,) = await fakes("p2")
        gw = await gateway({"p1": hole.base_url, "p2": p2},
                           routing={"request_timeout_seconds": 60, "stream_idle_timeout_seconds": 300})
        reply, first = await timed(gw.responses(stream=True))
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
        assert reply.event_types[-1] == "response.completed"
        assert 9.5 <= first <= 12, first
        assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
        assert gw.services.store.request_log()[0]["attempts"][1]["hedge"] is True
        assert health(gw, "p1")["status"] == "unresponsive"
        for stream in (True, False, True):
            reply, took = await timed(gw.responses(stream=stream))
            assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
            assert took < 2, took  # no client request waits on the dead provider (10 s, 60 s) any more
            assert attempts(gw) == [("p2", "ok")]
        kinds = [e.kind for e in gw.services.store.list_events()]
        assert "hedge" in kinds and "unresponsive" in kinds
    finally:
        hole.close()


@pytest.mark.parametrize("opened_first", [False, True])
async def test_a_hedge_failover_names_how_the_preferred_provider_failed(fakes, gateway, opened_first):
    """The route event and the serving provider's reason say how the provider left behind failed (it
    sent no first event), not "P1 unavailable"."""
    p1, p2 = await fakes("p1", "p2")
    p1.always(fp.hang())
    if opened_first:  # response.created alone first, then the rest of the answer in one piece
        events = [fp.sse_event(e) for e in fp.stream_events(fp.response_object("hello", provider="p2"))]
        p2.always(fp.raw_stream([events[0], b"".join(events[1:])], delay=0.2))
    gw = await gateway({"p1": p1, "p2": p2}, routing={"hedge_max_seconds": 1, "hedge_min_seconds": 1, "request_timeout_seconds": 4})
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    routes = [e.message for e in gw.services.store.list_events() if e.kind == "route"]
    assert routes and "no first event within" in routes[0] and "unavailable" not in routes[0], routes
    status = await gw.api("get_status")
    assert "no first event within" in status["active_reason"], status["active_reason"]


async def test_a_hedge_whose_continuity_retry_fails_before_output_leaves_the_original_to_answer(fakes, gateway):
    """The hedge opens its stream, then cannot read the sealed reasoning (a retry on it), and the retry
    fails before any output: the original it beat with an opening only is asked again, not blamed."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "hedge_min_seconds": 0.5, "hedge_max_seconds": 0.5,
                                                      "failure_threshold": 2, "request_timeout_seconds": 20})
    resp = fp.response_object("x", provider="p2")
    created = {"type": "response.created", "response": {**resp, "status": "in_progress", "output": []}}
    failed = {"type": "response.failed", "response": {**resp, "status": "failed", "output": [], "error": {
        "code": "invalid_encrypted_content", "message": "The encrypted content could not be verified."}}}
    p1.queue(fp.hang(2), fp.stream_ok("answer from p1"))
    p2.queue(fp.raw_stream([fp.sse_event(created), fp.sse_event(failed)], delay=0.3), fp.status(500))
    body = {"model": "gpt-test", "input": [
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAABsealedstuff" * 4},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}
    reply = await gw.responses(body, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1", reply.body[-300:]
    assert health(gw, "p1")["consecutive_failures"] == 0


UNVERIFIABLE = json.dumps({"error": {"message": "The encrypted content could not be verified.",
                                     "type": "invalid_request_error", "code": "invalid_encrypted_content"}}).encode()
SEALED_BODY = {"model": "gpt-test", "input": [
    {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAABsealedstuff" * 4},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}


async def test_a_continuity_retry_that_goes_silent_is_hedged_like_any_ask(fakes, gateway):
    """The provider asks to be asked again without the sealed reasoning (a 400), then hangs on that retry:
    the next provider is raced after the hedge delay, not after the whole request timeout (20 s here)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK_HEDGE, "request_timeout_seconds": 20})
    p1.queue(fp.status(400, body=UNVERIFIABLE), fp.hang(30))
    p2.always(fp.stream_ok("answer from p2"))
    reply, took = await timed(gw.responses(SEALED_BODY, stream=True))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "answer from p2"
    assert took < 5, took
    chain = [(a["provider"], a["outcome"], a["hedge"]) for a in gw.services.store.request_log()[0]["attempts"]]
    assert chain == [("p1", "retry", False), ("p1", "provider_failure", False), ("p2", "ok", True)], chain


async def test_a_hedge_asking_for_a_retry_does_not_beat_a_slow_original(fakes, gateway):
    """The hedge's provider cannot read the sealed reasoning and asks to be asked again while the original
    is still on its way: the original's answer is taken; the hedge's retry is not needed."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "hedge_min_seconds": 1.5, "hedge_max_seconds": 1.5})
    # Hedged at 1.5 s, p2 asks for its retry at once; p1 answers at 2.25 s, well before p2's own hedge delay has
    # passed since (at 3 s), when the retry would be sent all the same.
    p1.always(fp.stream_ok("slow but there", first_delay=2.25))
    p2.always(fp.status(400, body=UNVERIFIABLE))
    reply = await gw.responses(SEALED_BODY, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1" and reply.text == "slow but there"
    assert attempts(gw) == [("p1", "ok"), ("p2", "hedge_lost")]
    assert health(gw, "p1")["status"] == "healthy" and len(p2.requests) == 1


async def test_a_hedge_asking_for_a_retry_does_not_wait_for_a_silent_originals_timeout(fakes, gateway):
    """p1 asks for a retry without the sealed reasoning and goes silent on it; the hedge to p2 cannot read it
    either and asks for its own retry: that retry is sent after p2's hedge delay (no one answered by then),
    not held until p1's retry times out (20 s here)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK_HEDGE, "request_timeout_seconds": 20})
    p1.queue(fp.status(400, body=UNVERIFIABLE), fp.hang(30))
    p2.always(fp.stream_ok("answer from p2")).queue(fp.status(400, body=UNVERIFIABLE))
    reply, took = await timed(gw.responses(SEALED_BODY, stream=True))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "answer from p2"
    assert took < 6, took
    chain = [(a["provider"], a["outcome"], a["retry"], a["hedge"])
             for a in gw.services.store.request_log()[0]["attempts"]]
    assert chain == [("p1", "retry", "strip_sealed", False), ("p1", "provider_failure", None, False),
                     ("p2", "retry", "strip_sealed", True), ("p2", "ok", None, True)], chain
    assert "gAAAAABsealedstuff" not in json.dumps(p2.requests[-1].json["input"])  # the retry went without it


async def test_a_retry_sent_during_a_race_leaves_the_newest_hedge_its_own_delay(fakes, gateway):
    """p2 (hedged at p1's 2.5 s delay) asks for a retry; p3 is asked at once beside it (p1 is late). p2's
    retry goes out after p2's own 2.5 s delay (at 5 s), while p3 is still within its 3.5 s: p4 is brought in
    when p3's delay ends (at 6 s), not at the retry's (it would be 7.5 s). (The timers a second apart: a busy
    machine's stall does not swap them.)"""
    p1, p2, p3, p4 = await fakes("p1", "p2", "p3", "p4")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3, "p4": p4},
                       routing={**QUICK, "request_timeout_seconds": 30, "hedge_min_seconds": 2.5,
                                "hedge_max_seconds": 3.5})
    for pid in ("p1", "p2"):  # a fast history: the 2.5 s minimum; p3 has none: the 3 s maximum
        for _ in range(5):
            gw.services.router.first_events.record(pid, 0.01)
    p1.always(fp.hang(60))
    p2.always(fp.hang(60)).queue(fp.status(400, body=UNVERIFIABLE))
    p3.always(fp.hang(60))
    p4.always(fp.stream_ok("answer from p4"))
    reply, took = await timed(gw.responses(SEALED_BODY, stream=True))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p4"
    assert 5.8 < took < 7.2, took
    assert [(a["provider"], a["retry"]) for a in gw.services.store.request_log()[0]["attempts"]] == [
        ("p1", None), ("p2", "strip_sealed"), ("p3", None), ("p2", None), ("p4", None)]


async def test_a_retry_that_lost_a_race_is_asked_again_with_its_own_body(fakes, gateway):
    """As above, but p4 only opens its stream and then breaks: p2's retry, beaten by that opening while
    still within its delay, is asked again as it was (without the sealed reasoning p2 refused), not with
    the first body."""
    p1, p2, p3, p4 = await fakes("p1", "p2", "p3", "p4")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3, "p4": p4},
                       routing={**QUICK, "request_timeout_seconds": 30, "hedge_min_seconds": 2.5, "hedge_max_seconds": 3})
    for pid in ("p1", "p2"):
        for _ in range(5):
            gw.services.router.first_events.record(pid, 0.01)
    p1.always(fp.hang(60))
    p2.always(fp.stream_ok("answer from p2")).queue(fp.status(400, body=UNVERIFIABLE), fp.hang(60))
    p3.always(fp.hang(60))
    p4.always(fp.status(500)).queue(fp.stream_ok("x", stall_after=1, stall=60))
    reply = await gw.responses(SEALED_BODY, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    asked = [r.json for r in p2.requests if r.json.get("input") != "ping"]
    assert ["gAAAAABsealedstuff" in json.dumps(body["input"]) for body in asked] == [True, False, False]


@pytest.mark.parametrize("locked", [False, True])
async def test_a_provider_not_answering_is_not_waited_on_even_when_nothing_else_can_serve(fakes, gateway, locked):
    """The only provider (or the one routing is locked to) stops answering: the request that finds out
    waits its request timeout once; the next ones get a 502 at once that says why and what brings it
    back, until a background check gets an answer again."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={**QUICK, "request_timeout_seconds": 1.5, "check_interval_seconds": 60})
    if locked:
        await gw.api("set_manual_override", provider="p1")
    p1.always(fp.hang())
    reply, took = await timed(gw.responses(stream=True))
    assert reply.status == 502 and 1.3 <= took < 4, took
    assert health(gw, "p1")["status"] == "unresponsive"
    for stream in (True, False):
        reply, took = await timed(gw.responses(stream=stream))
        assert reply.status == 502 and took < 1, took  # at once: waiting on p1 again takes its 1.5 s
        message = reply.json["error"]["message"]
        assert "P1" in message and "not answering" in message and "background check" in message, message
        if locked:
            assert "routing is locked to P1" in message
        passed = reply.json["error"]["providers"]
        assert [(p["provider"], p["skipped"].startswith("not answering")) for p in passed] == [("p1", True)]
    assert client_requests(p1) == 1
    row = gw.services.store.request_log()[0]
    assert row["status"] == 502 and row["attempts"] == []
    models = await gw.request("GET", "/v1/models")
    assert models.status == 502 and "not answering" in models.json["error"]["message"]
    p1.always(fp.json_ok("back"))
    await gw.api("test_provider", provider="p1")  # a test that passes counts like a check
    reply = await gw.responses()
    assert reply.status == 200 and reply.text == "back"


def hangs_once() -> fp.Behaviour:
    """A relay whose first request hangs (5 s) and which answers "fine again" from then on."""
    hung = asyncio.Event()

    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        if not hung.is_set():
            hung.set()
            return await fp.hang(5)(request, fake)
        return await fp.json_ok("fine again")(request, fake)
    return run


async def test_a_lone_provider_that_hung_once_is_checked_at_once_when_a_request_finds_nobody_to_ask(
        fakes, gateway):
    """One request hung (the relay is fine otherwise): the next request gets its 502 at once, and the
    provider is checked right then rather than a whole check interval (60 s here) later, so the
    client's retry a moment later is served."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={**QUICK, "request_timeout_seconds": 2, "check_interval_seconds": 60})
    p1.always(hangs_once())
    assert (await gw.responses()).status == 502
    reply, took = await timed(gw.responses())
    assert reply.status == 502 and took < 1, took  # at once, not after a request timeout (2 s)
    await wait_until(lambda: health(gw, "p1")["status"] != "unresponsive", 3, "a check of p1")
    reply = await gw.responses()
    assert reply.status == 200 and reply.text == "fine again"
    checks = [r for r in p1.requests if r.json["input"] == "ping"]
    assert len(checks) == 1


async def test_checks_of_a_hung_provider_keep_their_interval_when_it_is_short(fakes, gateway):
    """Checks every second of a provider that hangs: three hung checks (the most at once) must not hold up
    the next for a whole check timeout (10 s): each gets at most three intervals (2 s at least)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "check_interval_seconds": 1,
                                                      "request_timeout_seconds": 30})
    p1.always(fp.hang())
    assert (await gw.responses(stream=True)).headers["X-API-Router-Provider"] == "p2"  # p1 left rotation
    await asyncio.sleep(6.5)
    checks = sorted(r.at for r in p1.requests if r.json["input"] == "ping")
    assert len(checks) >= 6, checks
    gaps = [b - a for a, b in itertools.pairwise(checks)]
    assert max(gaps) < 2.5, gaps


async def test_a_retry_after_a_background_check_meets_is_honoured_as_a_requests_is(fakes, gateway):
    """p1 cools down for 2 s after a 500; the check asking it meanwhile gets a 429 with Retry-After: 30.
    That rests it (no more checks) and cools it down 30 s: the client's next request, after the 2 s, goes to
    p2 without asking p1 — a relay that asked for 30 s is not sent requests after 2."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "check_interval_seconds": 0.5, "failure_threshold": 1,
                                                      "cooldown_seconds": 2})
    p1.always(fp.status(429, "slow down", headers={"Retry-After": "30"}))
    p1.queue(fp.status(500, "boom"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    await wait_until(lambda: len(p1.requests) == 2, 5.0, "p1's first check")
    await asyncio.sleep(2.5)  # p1's first cooldown (2 s) is over, its Retry-After (30 s) is not
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    assert len(p1.requests) == 2 and p1.requests[1].json["input"] == "ping", [r.json["input"] for r in p1.requests]
    assert health(gw, "p1")["status"] == "cooldown"


async def test_a_provider_that_hung_once_is_checked_at_once_when_the_others_fail_too(fakes, gateway):
    """p1 hung once and left rotation; p2 then fails as well: the client's 502s said "p2 failed, p1 not
    answering" for a whole check interval (60 s here) although p1 answered again at once."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2},
                       routing={**QUICK, "request_timeout_seconds": 1, "check_interval_seconds": 60, "hedge": False})
    p1.always(hangs_once())
    p2.always(fp.status(500, "p2 is down"))
    assert (await gw.responses()).status == 502  # p1 hung, p2 failed
    assert health(gw, "p1")["status"] == "unresponsive"
    await wait_until(lambda: health(gw, "p1")["status"] != "unresponsive", 3, "a check of p1")
    reply = await gw.responses()
    assert reply.status == 200 and reply.text == "fine again" and reply.headers["X-API-Router-Provider"] == "p1"


async def test_a_model_list_from_a_black_hole_costs_10_s_not_a_minute(fakes, gateway):
    """Codex asks GET /v1/models as it starts: with default settings a provider that accepts nothing
    holds it for 10 s at most (not the 60 s request timeout) before the next one answers."""
    hole = fp.BlackHole()
    try:
        (p2,) = await fakes("p2")
        gw = await gateway({"p1": hole.base_url, "p2": p2}, routing={"request_timeout_seconds": 60})
        reply, took = await timed(gw.request("GET", "/v1/models"))
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
        assert 9 < took < 11, took
    finally:
        hole.close()


async def test_a_model_list_waiting_on_a_provider_found_not_answering_moves_on_at_once(fakes, gateway):
    hole = fp.BlackHole()
    try:
        (p2,) = await fakes("p2")
        gw = await gateway({"p1": hole.base_url, "p2": p2}, routing={"request_timeout_seconds": 60})
        listeners = list(gw.services.router.unresponsive_listeners)
        asking = asyncio.create_task(timed(gw.request("GET", "/v1/models")))
        await asyncio.sleep(1.0)
        await found_not_answering(gw, "p1")
        reply, took = await asking
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
        assert took < 2.5, took
        assert gw.services.router.unresponsive_listeners == listeners  # the model list's own is gone
    finally:
        hole.close()

async def test_a_model_list_passes_by_a_provider_found_not_answering_before_its_turn(fakes, gateway):
    """While the model list waits on p1, another request finds p2 not answering: when p2's turn comes it
    is passed by (as a request passes it by), not asked and waited on for its own timeout."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={**QUICK, "request_timeout_seconds": 2})
    p1.models_behaviour = fp.hang(30)
    p2.models_behaviour = fp.hang(30)
    p2.always(fp.hang(30))  # a background check does not bring it back meanwhile
    asking = asyncio.create_task(timed(gw.request("GET", "/v1/models")))
    await wait_until(lambda: len(p1.model_requests) == 1, 5, "the model list asking p1")
    await found_not_answering(gw, "p2")
    reply, took = await asking
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p3"
    assert took < 3.5, took  # p1's 2 s, not p2's 2 s on top
    assert p2.model_requests == []



def slow_json(seconds: float, text: str = "slow but fine") -> fp.Behaviour:
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response(fp.response_object(text, provider=fake.name))
    return run


async def test_a_model_list_that_hangs_leaves_a_provider_working_on_a_request_alone(fakes, gateway):
    """p1's /models hangs while it takes 11 s (within its 30 s request timeout) to answer a request: the
    model list gives up on it after 10 s, and that is no verdict on p1 — the request gets p1's answer."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={**QUICK, "request_timeout_seconds": 30, "check_interval_seconds": 60})
    p1.always(slow_json(11))
    p1.models_behaviour = fp.hang(60)
    asking = asyncio.create_task(timed(gw.responses(stream=False)))
    await wait_until(lambda: client_requests(p1) == 1, 5, "the request to p1")
    assert (await gw.request("GET", "/v1/models")).status == 502
    reply, _ = await asking
    assert reply.status == 200 and reply.text == "slow but fine", reply.body[:300]
    assert health(gw, "p1")["status"] != "unresponsive"


async def test_everyone_rate_limited_counts_a_provider_passed_by_as_cooling_for_the_soonest_retry_after(
        fakes, gateway):
    """p2 cools down for 5 s; p1, asked, wants an hour: the client is told to come back when p2 may serve."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "failure_threshold": 3, "cooldown_seconds": 1,
                                                      "check_interval_seconds": 60})
    p1.queue(fp.status(500))  # one failure of three: p1 stays in rotation
    p2.queue(fp.status(429, "slow down", headers={"Retry-After": "5"}))  # p2 cools down for 5 s
    assert (await gw.responses()).status == 502
    p1.always(fp.status(429, "slow down", headers={"Retry-After": "99999"}))
    reply = await gw.responses()
    assert reply.status == 429 and 1 <= int(reply.headers["Retry-After"]) <= 5, (reply.status, reply.headers)


async def test_a_model_list_every_provider_rate_limits_is_a_429_with_the_soonest_retry_after(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.models_behaviour = fp.status(429, "slow down", headers={"Retry-After": "30"})
    p2.models_behaviour = fp.status(429, "slow down", headers={"retry-after-ms": "7000"})  # read as a request's
    reply = await gw.request("GET", "/v1/models")
    assert reply.status == 429 and reply.headers["Retry-After"] == "7", (reply.status, reply.headers)
    assert [p["provider"] for p in reply.json["error"]["providers"]] == ["p1", "p2"]


async def test_a_models_request_after_a_quiet_spell_gets_the_checks_it_wants(fakes, gateway):
    """Codex asks GET /v1/models as it starts, often after the gateway sat unused for a while: a model
    list that finds nobody to ask has the providers not answering checked at once too, though the
    background checks rest while the gateway is not in use."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={**QUICK, "check_interval_seconds": 60})
    p1.always(fp.json_ok("fine"))
    gw.services.router.record_failure(gw.services.config.current, "p1", "no response within 60 s", unresponsive=True)
    gw.services.activity.last_ms = steady_ms() - 11 * 60 * 1000  # unused for 11 minutes
    reply = await gw.request("GET", "/v1/models")
    assert reply.status == 502
    await wait_until(lambda: health(gw, "p1")["status"] != "unresponsive", 3, "a check of p1")
    assert (await gw.request("GET", "/v1/models")).status == 200


@pytest.mark.parametrize("stream", [True, False])
async def test_a_provider_back_in_rotation_takes_a_request_waiting_on_a_silent_one(fakes, gateway, stream):
    """p2 was cooling down when the request began, so the request went to p1 alone, which says nothing;
    p2's cooldown ends a second later. A stream past its hedge delay asks p2 once it is back, and a
    JSON request whose p1 timed out asks it then: not a 502 saying every provider failed, nor an
    "all providers down" event, while p2 is up."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2},
                       routing={**QUICK_HEDGE, "request_timeout_seconds": 3, "cooldown_seconds": 1})
    p1.always(fp.hang(30))
    p2.always(fp.stream_ok("from p2") if stream else fp.json_ok("from p2"))
    gw.services.router.record_failure(gw.services.config.current, "p2", "HTTP 429", retry_after=1)
    reply, took = await timed(gw.responses(stream=stream))
    assert reply.status == 200 and reply.text == "from p2", reply.body[:300]
    assert took < (2.5 if stream else 4.5), took
    assert client_requests(p2) == 1
    assert "all_down" not in [e.kind for e in gw.services.store.recent_events()]


def headers_only(content_type: str = "application/json", *, status: int = 200, length: int | None = None,
                 hold: float = 30) -> fp.Behaviour:
    """Headers at once (``length``: a Content-Length announced), then not one byte of body."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        headers = {"Content-Type": content_type, **({"Content-Length": str(length)} if length is not None else {})}
        resp = web.StreamResponse(status=status, headers=headers)
        await resp.prepare(request)
        await asyncio.sleep(hold)
        return resp
    return run


async def found_not_answering(gw: Harness, pid: str) -> None:
    """What another request does when it finds ``pid`` silent past its deadline."""
    cfg = gw.services.config.current
    gw.services.router.record_failure(cfg, pid, "no response within 60 s", unresponsive=True)


async def test_a_provider_found_not_answering_after_the_request_began_is_not_asked_by_it(fakes, gateway):
    """The request planned p1, p2, p3; while p1 takes its time to fail, another request finds p2 not
    answering: this one goes from p1 straight to p3, not into p2's request timeout."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={**QUICK, "request_timeout_seconds": 10})

    async def slow_failure(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        await asyncio.sleep(0.6)
        return await fp.status(500, "internal error")(request, fake)

    p1.always(slow_failure)
    p2.always(fp.hang())
    asking = asyncio.create_task(timed(gw.responses()))
    await wait_until(lambda: client_requests(p1) == 1, 5, "p1 asked")
    await found_not_answering(gw, "p2")
    reply, took = await asking
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p3" and took < 2.5, took
    assert client_requests(p2) == 0
    assert attempts(gw) == [("p1", "provider_failure"), ("p3", "ok")]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_provider_found_not_answering_while_its_body_is_built_is_not_asked(fakes, gateway, monkeypatch,
                                                                                   stream):
    """Building a provider's body may wait (a Codex session file read for a failover): another request
    finding the provider not answering meanwhile means it is passed by, not waited on."""
    from api_router.gateway.bodies import Bodies

    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={**QUICK, "request_timeout_seconds": 4, "hedge_min_seconds": 3,
                                "hedge_max_seconds": 3})
    p1.always(fp.status(500, "internal error"))
    p2.always(fp.hang())
    mapped = Bodies.mapped

    def found_while_built(body, client, provider):
        if provider.id == "p2":
            gw.services.router.record_failure(gw.services.config.current, "p2", "no response within 60 s",
                                              unresponsive=True)
        return mapped(body, client, provider)

    monkeypatch.setattr(Bodies, "mapped", staticmethod(found_while_built))
    reply, took = await timed(gw.responses(stream=stream))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p3" and took < 1.5, took
    assert client_requests(p2) == 0
    assert attempts(gw) == [("p1", "provider_failure"), ("p3", "ok")]


async def p3_answers_when_found_during_a_hedge_to_p2(fakes, gateway, p2_answer: fp.Behaviour, *, found: str):
    """p1 silent, so p2 is asked too at p1's hedge delay (1.5 s); 0.2 s later another request finds ``found``
    not answering, and p3 (which answers at once) wins. The gateway, and how long the request took."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={**QUICK, "hedge_min_seconds": 1.5, "hedge_max_seconds": 1.5})
    p1.always(fp.hang())
    p2.always(p2_answer)
    asking = asyncio.create_task(timed(gw.responses(stream=True)))
    await wait_until(lambda: client_requests(p2) == 1, 5, "the hedge to p2")
    await asyncio.sleep(0.2)
    await found_not_answering(gw, found)
    reply, took = await asking
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p3", reply.status
    return gw, took


async def test_a_hedge_whose_provider_another_request_finds_not_answering_brings_in_the_next_at_once(
        fakes, gateway):
    """p1 is silent, so p2 is asked too after p1's hedge delay (1.5 s); p2 is silent as well, and another
    request finds it not answering: the next candidate starts then, not after p2's own hedge delay."""
    gw, took = await p3_answers_when_found_during_a_hedge_to_p2(fakes, gateway, fp.hang(), found="p2")
    assert took < 2.6, took  # p2's own delay would have brought p3 in at 3.0 s
    hedges = [e.message for e in gw.services.store.list_events() if e.kind == "hedge"]
    assert any("P2 is not answering (found by another request); asking P3 too" in m for m in hedges), hedges
    # Judged once, by the request that found it: not a second failure with a made-up wait.
    assert health(gw, "p2")["consecutive_failures"] == 1
    dropped = gw.services.store.request_log()[0]["attempts"][1]
    assert dropped["provider"] == "p2" and dropped["error"].startswith("not answering (found by another request)")


@pytest.mark.parametrize("hedge", [True, False])
async def test_a_json_request_waiting_on_a_provider_another_request_finds_not_answering_moves_on(
        fakes, gateway, hedge):
    """A JSON answer comes whole, so a request for one waits on its provider for the request timeout
    (10 s here); when another request finds that provider not answering meanwhile, it stops waiting and
    the next provider answers it (so does a stream with hedging off). The provider's failure is counted
    once, by the request that found it."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 10, "hedge": hedge})
    p1.always(fp.hang())
    p2.always(fp.json_ok("from p2"))
    asking = asyncio.create_task(timed(gw.responses(stream=not hedge)))
    await wait_until(lambda: client_requests(p1) == 1, 5, "the request to p1")
    await asyncio.sleep(0.2)
    await found_not_answering(gw, "p1")
    reply, took = await asking
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.status
    assert took < 2.0, took
    assert health(gw, "p1")["consecutive_failures"] == 1
    dropped = gw.services.store.request_log()[0]["attempts"][0]
    assert dropped["provider"] == "p1" and dropped["error"].startswith("not answering (found by another request)")


def complete_then_held_open(hold: float) -> fp.Behaviour:
    """A JSON request answered as an event stream: whole (response.completed), its body then kept open."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in fp.stream_events(fp.response_object("complete answer", provider=fake.name)):
            await resp.write(fp.sse_event(event))
        await asyncio.sleep(hold)
        await resp.write_eof()
        return resp
    return run


async def test_a_json_answer_already_begun_is_kept_when_its_provider_is_found_not_answering(fakes, gateway):
    """The answer is whole and the gateway drains the rest of its body when another request finds p1 not
    answering: p1 answered this one, and its answer is what the client gets (not p2's, asked anew)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 10, "hedge": False})
    p1.always(complete_then_held_open(5))
    p2.always(fp.json_ok("from p2"))
    asking = asyncio.create_task(timed(gw.responses(stream=False)))
    await wait_until(lambda: client_requests(p1) == 1, 5, "the request to p1")
    await asyncio.sleep(0.25)  # the whole answer is in; its body is drained (at most 0.5 s)
    await found_not_answering(gw, "p1")
    reply, _ = await asking
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1", reply.body[:300]
    assert client_requests(p2) == 0


def whole_json_after(seconds: float) -> fp.Behaviour:
    """A stream answered as one JSON body (a relay that does not stream): headers at once, the body later."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b" ")
        await asyncio.sleep(seconds)
        await resp.write(json.dumps(fp.response_object("whole from p1", provider=fake.name)).encode())
        await resp.write_eof()
        return resp
    return run


@pytest.mark.parametrize("hedge", [False, True])
@pytest.mark.parametrize("alone", [False, True])
async def test_a_stream_whose_answer_has_begun_is_kept_when_its_provider_is_found_not_answering(
        fakes, gateway, hedge, alone):
    """p1 answers the stream with a whole JSON body, its headers already in, when another request finds p1
    not answering: p1 is answering this one, so the client gets p1's answer (not p2's, nor a 502)."""
    p1, p2 = await fakes("p1", "p2")
    providers = {"p1": p1} if alone else {"p1": p1, "p2": p2}
    gw = await gateway(providers, routing={**QUICK, "request_timeout_seconds": 10, "stream_idle_timeout_seconds": 5,
                                           "hedge": hedge, "hedge_min_seconds": 5, "hedge_max_seconds": 5})
    p1.always(whole_json_after(1.5))
    p2.always(fp.stream_ok("from p2"))
    asking = asyncio.create_task(timed(gw.responses(stream=True)))
    await wait_until(lambda: client_requests(p1) == 1, 5, "the request to p1")
    await asyncio.sleep(0.3)
    await found_not_answering(gw, "p1")
    reply, took = await asking
    assert reply.status == 200 and reply.text == "whole from p1", reply.body[:300]
    assert attempts(gw) == [("p1", "ok")] and client_requests(p2) == 0


@pytest.mark.parametrize("silence", ["no_headers", "event_stream_headers"])
@pytest.mark.parametrize("hedge", [False, True])
async def test_streams_timing_out_together_on_a_silent_provider_count_one_failure(fakes, gateway, hedge, silence):
    """Three streams wait on p1, which says nothing (not even headers, or headers and then nothing);
    their deadlines come in the same moment. The first finds p1 not answering; the others' timeouts are
    that same silence: one failure counted, not three."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={**QUICK, "request_timeout_seconds": 2, "hedge": hedge,
                                           "check_interval_seconds": 60})
    p1.always(fp.hang() if silence == "no_headers" else headers_only("text/event-stream"))
    replies = await asyncio.gather(*(gw.responses(stream=True) for _ in range(3)))
    assert [r.status for r in replies] == [502] * 3
    assert health(gw, "p1")["consecutive_failures"] == 1
    failed = [e for e in gw.services.store.list_events() if e.kind == "provider_failure"]
    assert len(failed) == 1, [e.message for e in failed]


async def test_a_hedge_within_its_delay_is_not_late_when_the_original_is_found_not_answering(fakes, gateway):
    """p1 is silent, so p2 is asked too at p1's hedge delay; p2 is well within its own delay when another
    request finds p1 not answering, and p3 starts at once and answers first. p2 merely lost the race: it
    is asked again if needed, never judged late with p1's silence (out of rotation, blamed in the status)."""
    gw, _ = await p3_answers_when_found_during_a_hedge_to_p2(fakes, gateway, fp.stream_ok("from p2", first_delay=3),
                                                             found="p1")
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "hedge_lost"), ("p3", "ok")]
    assert gw.services.router.answering("p2") and health(gw, "p2")["consecutive_failures"] == 0


@pytest.mark.parametrize("fallback", ["none", "cooling"])
async def test_a_stream_past_its_hedge_delay_stops_waiting_on_a_provider_found_not_answering(fakes, gateway, fallback):
    """The stream's hedge delay (0.4 s) passed with no one to bring in — p1 is the only provider, or p2
    cools down for a while — and it kept waiting on p1; another request then finds p1 not answering:
    the stream stops waiting at once (a 502 naming p1), not at its own request timeout (10 s)."""
    fakes_made = await fakes("p1", "p2")
    providers = {"p1": fakes_made[0]} if fallback == "none" else {"p1": fakes_made[0], "p2": fakes_made[1]}
    p1 = fakes_made[0]
    gw = await gateway(providers, routing={**QUICK_HEDGE, "request_timeout_seconds": 10,
                                           "check_interval_seconds": 60})
    p1.always(fp.hang())
    if fallback == "cooling":
        gw.services.router.record_failure(gw.services.config.current, "p2", "HTTP 429", retry_after=600)
    asking = asyncio.create_task(timed(gw.responses(stream=True)))
    await wait_until(lambda: client_requests(p1) == 1, 5, "the request to p1")
    await asyncio.sleep(1.0)  # past its hedge delay: nobody to bring in
    await found_not_answering(gw, "p1")
    reply, took = await asking
    assert reply.status == 502 and reply.json["error"]["type"] == "gateway_error", reply.body[:300]
    assert took < 2.5, took
    assert health(gw, "p1")["consecutive_failures"] == 1  # judged once, by the request that found it
    attempt = gw.services.store.request_log()[0]["attempts"][0]
    assert attempt["provider"] == "p1" and attempt["error"].startswith("not answering (found by another request)")


@pytest.mark.parametrize("stream", [True, False])
async def test_a_request_whose_only_provider_is_found_not_answering_gets_a_502_not_a_refusal(fakes, gateway, stream):
    """Given up on because another request found its provider not answering, with no other provider to
    go to: a gateway error the client retries (and the next request a 502 at once), never a 400 that
    would read as its own fault."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={**QUICK, "request_timeout_seconds": 10, "check_interval_seconds": 60})
    p1.always(fp.keepalive_only(before=1, seconds=10) if stream else fp.hang())  # stream: response.created, then comments
    asking = asyncio.create_task(timed(gw.responses(stream=stream)))
    await wait_until(lambda: client_requests(p1) == 1, 5, "the request to p1")
    await asyncio.sleep(0.2)
    await found_not_answering(gw, "p1")
    reply, took = await asking
    assert reply.status == 502 and reply.json["error"]["type"] == "gateway_error", reply.body[:300]
    assert took < 2.0, took


async def test_a_provider_not_answering_does_not_turn_everyone_rate_limited_into_a_wait(fakes, gateway):
    """p1 does not answer; p2 and p3 rate-limit: the client hears 429 with Retry-After at once, also
    while p2 and p3 cool down — never a minute on p1 and a 502."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={**QUICK, "request_timeout_seconds": 1.5, "check_interval_seconds": 60,
                                "failure_threshold": 1})
    p1.always(fp.hang())
    p2.always(fp.status(429, "slow down", headers={"Retry-After": "9"}))
    p3.always(fp.status(429, "slow down", headers={"Retry-After": "25"}))
    await gw.responses(stream=True)  # p1 found not answering
    assert health(gw, "p1")["status"] == "unresponsive"
    for stream in (False, True):
        reply, took = await timed(gw.responses(stream=stream))
        assert reply.status == 429 and took < 1, took  # at once: waiting on p1 takes its 1.5 s
        assert 1 <= int(reply.headers["Retry-After"]) <= 30
    assert client_requests(p1) == 1


@pytest.mark.parametrize("beat", sorted(fp.HEARTBEATS))
async def test_keepalive_only_before_output_fails_over_within_the_hedge_delay(fakes, gateway, beat):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK_HEDGE)
    p1.always(fp.keepalive_only(beat=fp.HEARTBEATS[beat]))
    reply, took = await timed(gw.responses(stream=True))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "hello"
    assert took < 1.5, took
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    assert health(gw, "p1")["status"] == "unresponsive"


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize(("size", "pieces", "pause"), [(200_000, 10, 0.3), (300, 12, 0.17)], ids=["long", "short"])
async def test_an_event_arriving_over_reads_slower_than_the_idle_limit_in_all_is_progress(fakes, gateway, crlf, size,
                                                                                         pieces, pause):
    """A delta sent in pieces (3 s or 2 s in all, the idle limit 1 s): its bytes keep coming, so the stream
    is not idle — as a relay's long answer event arrives on a slow link (200 KB in 10 pieces), or a relay
    trickles a short one in a few bytes at a time (one whose data says it is a Responses event counts from
    its first bytes, not only once a kilobyte of it has come)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    text = "x" * size
    chunks = [fp.sse_event(e, crlf=crlf) for e in fp.stream_events(fp.response_object(text, provider="p1"), deltas=1)]
    delta = next(i for i, c in enumerate(chunks) if b"response.output_text.delta" in c[:60])
    event = chunks[delta]
    step = len(event) // pieces + 1
    parts = [event[i:i + step] for i in range(0, len(event), step)]

    async def slow_link(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in chunks[:delta]:
            await resp.write(chunk)
        for part in parts:
            await resp.write(part)
            await asyncio.sleep(pause)
        for chunk in chunks[delta + 1:]:
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    p1.always(slow_link)
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.event_types[-1] == "response.completed" and reply.text == text
    assert p2.calls == 0


@pytest.mark.parametrize("beat", sorted(fp.HEARTBEATS))
async def test_keepalive_only_after_output_ends_with_response_failed_within_the_idle_timeout(fakes, gateway, beat):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.keepalive_only(before=4, beat=fp.HEARTBEATS[beat]))  # created, in_progress, the item, a delta
    reply, took = await timed(gw.responses(stream=True))
    assert reply.status == 200 and reply.event_types[-1] == "response.failed"
    assert "no stream event within 1 s" in reply.events[-1]["response"]["error"]["message"]
    assert 0.9 <= took < 2.5, took
    assert p2.calls == 0
    # It did not answer in time: out of rotation at once, so Codex's retry of the turn does not wait the
    # idle limit out a second time (whatever the failure threshold, here 3).
    assert health(gw, "p1")["status"] == "unresponsive"
    again, took = await timed(gw.responses(stream=True))
    assert again.headers["X-API-Router-Provider"] == "p2" and took < 0.9, took  # not the idle limit (1 s) again


@pytest.mark.parametrize(("silence", "stalled"), [(1.6, True), (0.05, False)])
async def test_a_client_that_gives_up_on_a_silent_stream_takes_its_provider_out_of_rotation(
        fakes, gateway, monkeypatch, silence, stalled):
    """Codex's idle limit (300 s) is the gateway's default one, and fires first: a client that leaves a
    stream after a silence of its provider (keep-alives only) near the idle limit gave up on a stall,
    which counts as the gateway's own cut would — else each retry of the turn goes back to it and waits
    again. (The share is made a tenth of 10 s here; a client leaving after a short pause blames nobody.)"""
    from api_router.gateway import streaming

    monkeypatch.setattr(streaming, "CLIENT_GAVE_UP_SHARE", 0.1)
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "stream_idle_timeout_seconds": 10})
    p1.always(fp.keepalive_only(before=4))  # created, in_progress, the item, a delta; then comments only
    async with gw.client.post(gw.base + "/v1/responses", json={**simple_body(), "stream": True},
                              headers=gw.auth()) as resp:
        async for line in resp.content:
            if b"output_text.delta" in line:
                break
        await asyncio.sleep(silence)
        resp.close()
    await wait_until(lambda: bool(gw.services.store.request_log()), 5, "the request's row")
    (row,) = gw.services.store.request_log()
    assert row["status"] == 499 and row["attempts"][0]["outcome"] == "client_closed", row
    assert ("without a stream event" in row["attempts"][0]["error"]) is stalled, row["attempts"][0]
    assert health(gw, "p1")["status"] == ("unresponsive" if stalled else "healthy")
    p1.always(fp.stream_ok())
    again = await gw.responses(stream=True)
    assert again.headers["X-API-Router-Provider"] == ("p2" if stalled else "p1")


async def test_clients_giving_up_on_one_stall_count_it_once(fakes, gateway, monkeypatch):
    """Two streams on one provider that went silent, both clients leaving: one silence, one failure — as
    the gateway's own idle cut of both counts it."""
    from api_router.gateway import streaming

    monkeypatch.setattr(streaming, "CLIENT_GAVE_UP_SHARE", 0.1)
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "stream_idle_timeout_seconds": 10})
    p1.always(fp.keepalive_only(before=4))

    async def gives_up() -> None:
        async with gw.client.post(gw.base + "/v1/responses", json={**simple_body(), "stream": True},
                                  headers=gw.auth()) as resp:
            async for line in resp.content:
                if b"output_text.delta" in line:
                    break
            await asyncio.sleep(1.6)
            resp.close()

    await asyncio.gather(gives_up(), gives_up())
    await wait_until(lambda: len(gw.services.store.request_log()) == 2, 5, "both rows")
    assert health(gw, "p1")["status"] == "unresponsive" and health(gw, "p1")["consecutive_failures"] == 1
    failed = [e.message for e in gw.services.store.recent_events() if "in a row" in e.message]
    assert len(failed) == 1, failed


async def test_keepalive_only_answer_to_a_json_request_is_cut_after_the_idle_timeout(fakes, gateway):
    """A JSON client whose provider answers with an event stream of comments only: the comments are
    not progress, so the idle timeout (1 s here) ends the wait and the next provider answers."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.keepalive_only(before=1, seconds=10))  # response.created, then comments only
    reply, took = await timed(gw.responses(stream=False))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert 0.9 <= took < 2.5, took
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize(("before", "beat"), [
    (1, fp.HEARTBEATS["comment"]), (2, fp.HEARTBEATS["comment"]), (1, b'data: {"type": "heartbeat"}\n\n'),
    # types the Responses API does not stream, however "response." they look: the relay's own too
    (1, b'data: {"type": "response.relay_status"}\n\n'),
    (1, b'event: response.output_error\ndata: {"type":"response.output_error","message":"wait"}\n\n')],
    ids=["created-comments", "created-in_progress-comments", "created-heartbeat-events", "made-up-response-type",
         "made-up-output-type"])
async def test_a_relay_that_only_opens_the_stream_is_no_answer_within_the_request_timeout(
        fakes, gateway, stream, before, beat):
    """response.created (and in_progress) at once, then only keep-alives or heartbeat events of the relay's
    own — a relay whose model is stuck: nothing reached the client, so the next provider answers once the
    request timeout (2 s here) is up, not the idle timeout (30 s), and the stuck one is out of rotation at
    once; for a JSON request answered with an event stream as for a stream."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 2,
                                                      "stream_idle_timeout_seconds": 30})
    p1.always(fp.keepalive_only(before=before, seconds=40, interval=0.3, beat=beat))
    reply, took = await timed(gw.responses(stream=stream))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.text
    assert reply.text == "hello"
    assert 1.8 <= took < 5, took
    failed = gw.services.store.request_log()[0]["attempts"][0]
    assert (failed["provider"], failed["outcome"]) == ("p1", "provider_failure")
    assert failed["error"] == "no answer within 2 s (only response.created / in_progress, then nothing)"
    assert health(gw, "p1")["status"] == "unresponsive"
    calls = client_requests(p1)
    reply, took = await timed(gw.responses(stream=stream))
    assert reply.headers["X-API-Router-Provider"] == "p2" and took < 1.5 and client_requests(p1) == calls


async def test_a_long_answer_streamed_to_a_json_request_is_not_cut_at_the_request_timeout(fakes, gateway):
    """Once its first generated event came in time, an event stream to a JSON request is limited only by
    its silences: a long answer takes longer than the request timeout."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 1,
                                                      "stream_idle_timeout_seconds": 5})
    p1.always(fp.stream_ok("slow but steady", delay=0.25))
    reply, took = await timed(gw.responses(stream=False))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1", reply.text
    assert took > 1.2, took
    assert health(gw, "p1")["status"] == "healthy"


@pytest.mark.parametrize("idle", [20, 1])
async def test_keepalive_only_from_the_start_to_a_json_request_is_no_answer_within_the_request_timeout(
        fakes, gateway, idle):
    """Comments only, from the first byte: no progress, so as silent as headers with no body — cut by the
    request timeout or, when shorter, the idle one, and a provider that did not answer in time is out of
    rotation at once."""
    p1, p2 = await fakes("p1", "p2")
    # A timeout long enough that the second request's bound below stays far from it on a loaded machine.
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 3,
                                                      "stream_idle_timeout_seconds": idle})
    p1.always(fp.keepalive_only(seconds=30))
    reply, took = await timed(gw.responses(stream=False))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert (2.9 <= took < 5) if idle == 20 else (0.9 <= took < 2.5), took
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    within = 3 if idle == 20 else 1
    assert gw.services.store.request_log()[0]["attempts"][0]["error"] == \
        f"no response within {within} s (only keep-alive comments)"
    assert health(gw, "p1")["status"] == "unresponsive"
    reply, took = await timed(gw.responses(stream=False))
    assert reply.headers["X-API-Router-Provider"] == "p2" and took < 1.5, took
    assert attempts(gw) == [("p2", "ok")]


async def test_a_comment_split_across_reads_is_no_answer_to_a_json_request(fakes, gateway):
    """Each ``: keep-alive`` arrives in two reads: neither half is an event."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 2,
                                                      "stream_idle_timeout_seconds": 20})

    async def halves(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for _ in range(100):
            for half in (b": keep-", b"alive\n\n"):
                await resp.write(half)
                await asyncio.sleep(0.1)
        return resp

    p1.always(halves)
    reply, took = await timed(gw.responses(stream=False))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert 1.9 <= took < 4, took
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]


def _events(text: str = "answer") -> list[dict]:
    return fp.stream_events(fp.response_object(text, provider="p1"))


def _written(events: list[dict], *, end: bytes = b"\n", name=lambda event: event["type"]) -> bytes:
    return b"".join(b"event: " + name(e).encode() + end + b"data: " + json.dumps(e).encode() + end + end
                    for e in events)


async def test_a_stream_with_lone_cr_line_ends_is_complete_when_its_last_event_is(fakes, gateway):
    """Every line ended by a CR alone, the connection dropped right after response.completed: the
    answer is whole (a CR that ends a blank line ends the event; no next byte is needed to tell)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    body = _written(_events(), end=b"\r")

    async def dropped(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(body)
        await asyncio.sleep(0.05)
        request.transport.close()  # no end of the chunked body
        return resp

    p1.always(dropped)
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.event_types[-1] == "response.completed" and reply.text == "answer"
    assert attempts(gw) == [("p1", "ok")] and p2.calls == 0
    row = gw.services.store.request_log()[0]
    assert row["outcome"] == "ok" and row["total_tokens"] > 0


async def test_events_named_otherwise_are_read_by_their_data_type(fakes, gateway):
    """A relay that names every event ``chunk`` (or leaves a space after a name): Codex goes by the
    data's type, and so does the gateway."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.raw_stream([_written(_events(), name=lambda e: "chunk")]))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.event_types[-1] == "response.completed" and reply.text == "answer"
    assert attempts(gw) == [("p1", "ok")]
    p1.always(fp.raw_stream([_written(_events(), name=lambda e: e["type"] + " ")]))
    reply = await gw.responses(stream=True)
    assert reply.event_types[-1] == "response.completed" and attempts(gw) == [("p1", "ok")]


async def test_an_error_event_named_without_a_space_after_output_is_masked_and_ends_the_stream(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    key = gw.services.secrets.current.provider_keys["p1"]
    flat = json.dumps({"code": "server_error", "message": f"upstream overloaded {key}"}).encode()
    p1.always(fp.raw_stream([_written(_events()[:4]), b"event:error\ndata: " + flat + b"\n\n"], delay=0.05))
    reply = await gw.responses(stream=True)
    assert key.encode() not in reply.body and b"upstream overloaded" in reply.body
    row = gw.services.store.request_log()[0]
    assert row["error"].startswith("stream failed after output started: upstream overloaded"), row["error"]
    assert key not in row["error"]


async def test_a_crlf_stream_split_before_its_last_lf_reaches_the_client_whole(fakes, gateway):
    """The last read ends between the CR and the LF of response.completed's blank line: the client
    gets the LF too (Codex's reader waits for it, and would drop the event at the end of the body)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    body = _written(_events(), end=b"\r\n")
    p1.always(fp.raw_stream([body[:-1], body[-1:]], delay=0.05))
    reply = await gw.responses(stream=True)
    assert reply.body.endswith(b"\r\n\r\n") and reply.event_types[-1] == "response.completed"
    assert attempts(gw) == [("p1", "ok")]


async def test_an_error_event_whose_data_has_a_type_of_its_own_ends_the_stream_masked(fakes, gateway):
    """``event: error`` with ``{"type": "server_error", …}``: the name says what it is."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    key = gw.services.secrets.current.provider_keys["p1"]
    typed = json.dumps({"type": "server_error", "code": "server_error", "message": f"upstream overloaded {key}"})
    p1.always(fp.raw_stream([_written(_events()[:4]), b"event: error\ndata: " + typed.encode() + b"\n\n"],
                            delay=0.05))
    reply = await gw.responses(stream=True)
    assert key.encode() not in reply.body and b"upstream overloaded" in reply.body
    row = gw.services.store.request_log()[0]
    assert row["error"].startswith("stream failed after output started: upstream overloaded"), row["error"]


async def test_a_byte_order_mark_before_the_first_event_hides_nothing(fakes, gateway):
    """A stream that opens with a UTF-8 BOM and an unnamed error event: the error is read (the client's
    fault, relayed; no failover), not lost behind the mark."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    error = {"type": "error", "code": "context_length_exceeded", "param": "input",
             "message": "Your input exceeds the context window of this model."}
    p1.always(fp.raw_stream([b"\xef\xbb\xbfdata: " + json.dumps(error).encode() + b"\n\n"]))
    reply = await gw.responses(stream=True)
    assert b"context_length_exceeded" in reply.body and p2.calls == 0
    assert attempts(gw) == [("p1", "client_error")]


@pytest.mark.parametrize("data", [
    {"type": "invalid_request_error", "code": "context_length_exceeded",
     "message": "Your input exceeds the context window of this model."},
    {"code": "context_length_exceeded", "message": "Your input exceeds the context window of this model."},
])
@pytest.mark.parametrize("stream", [True, False])
async def test_an_error_event_whose_data_is_the_error_itself_is_read_by_its_kind(fakes, gateway, data, stream):
    """``event: error`` whose data is the error object itself, typed by its kind or untyped: the
    request's own fault is relayed (a JSON client gets a 400 with it), with no failover and nobody blamed."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.raw_stream([b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"]))
    reply = await gw.responses(stream=stream)
    assert p2.calls == 0 and attempts(gw) == [("p1", "client_error")], reply.body[:300]
    if stream:
        assert b"context_length_exceeded" in reply.body
    else:
        assert reply.status == 400 and reply.json["error"]["code"] == "context_length_exceeded", reply.body[:300]
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["consecutive_failures"] == 0


async def test_an_error_event_typed_as_a_rate_limit_from_everyone_is_a_429(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    data = {"type": "rate_limit_error", "code": "rate_limit_exceeded", "message": "slow down"}
    for fake in (p1, p2):
        fake.always(fp.raw_stream([b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"]))
    reply = await gw.responses(stream=True)
    assert reply.status == 429 and "Retry-After" in reply.headers, (reply.status, reply.body[:300])


# Long timeouts: a broken body must be noticed when its connection closes, not when one of them fires.
PATIENT = {**QUICK, "request_timeout_seconds": 30, "stream_idle_timeout_seconds": 30, "hedge_min_seconds": 20,
           "hedge_max_seconds": 20}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_malformed_chunk_before_any_event_fails_over_at_once(fakes, gateway, stream):
    """The body breaks after the headers (a chunk size that is no number, then the connection closed):
    a cut body, the next provider's answer at once — not a wait for a timeout that then blames a
    provider that answered for not answering."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=PATIENT)
    p1.always(fp.malformed_chunk("text/event-stream" if stream else "application/json"))
    reply, took = await timed(gw.responses(stream=stream))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert took < 3, took
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    assert gw.services.store.request_log()[0]["attempts"][0]["error"] == "the response body was cut off"
    assert health(gw, "p1")["status"] != "unresponsive"


async def test_a_whole_answer_whose_gzip_data_is_corrupt_is_said_to_be_so_not_cut_off(fakes, gateway):
    """Every byte came, but they are no gzip: a relay's bug, not a network cut — the record says which."""
    import gzip

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=PATIENT)
    good = gzip.compress(json.dumps(fp.response_object("garbled", provider="p1")).encode() * 20)
    garbled = good[:10] + bytes(b ^ 0x5A for b in good[10:-8]) + good[-8:]

    async def corrupt(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.Response(body=garbled, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    p1.always(corrupt)
    reply = await gw.responses()
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    error = gw.services.store.request_log()[0]["attempts"][0]["error"]
    assert error == "the provider's body could not be decoded: it is not valid gzip data", error


async def test_a_malformed_chunk_after_output_ends_the_stream_with_response_failed_at_once(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=PATIENT)
    events = fp.stream_events(fp.response_object("never finished", provider="p1"))[:4]  # through a delta
    p1.always(fp.malformed_chunk("text/event-stream", [fp.sse_event(e) for e in events]))
    reply, took = await timed(gw.responses(stream=True))
    assert reply.status == 200 and reply.event_types[:4] == [e["type"] for e in events]
    assert reply.event_types[-1] == "response.failed"
    assert "the response body was cut off" in reply.events[-1]["response"]["error"]["message"]
    assert took < 3, took
    assert p2.calls == 0


async def test_a_json_answer_that_trickles_in_is_cut_at_the_request_timeout(fakes, gateway):
    """One byte every 0.2 s never trips the 1 s idle limit, but the answer is due whole within the
    request timeout (2 s): then the next provider answers, and the slow one counts a failure."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 2})
    p1.always(fp.trickle(every=0.2))
    reply, took = await timed(gw.responses(stream=False))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert 1.9 <= took < 3.5, took
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    assert gw.services.store.request_log()[0]["attempts"][0]["error"] == "the answer was not complete within 2 s"
    assert health(gw, "p1")["status"] == "unhealthy"  # it answered, too slowly: a failure, still in rotation




@pytest.mark.parametrize("code", [400, 503])
async def test_an_error_whose_body_trickles_past_the_request_timeout_is_that_providers_failure(fakes, gateway, code):
    """A 400's body still arriving at the request timeout: half an error is no answer to pass on (the
    client heard an empty 400 before, the log said "(empty body)") — the next provider answers."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 1})

    async def trickling_error(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        body = json.dumps({"error": {"message": "Your input exceeds the context window of this model",
                                     "type": "invalid_request_error", "code": "context_length_exceeded"}}).encode()
        resp = web.StreamResponse(status=code, headers={"Content-Type": "application/json"})
        resp.content_length = len(body)
        await resp.prepare(request)
        for i in range(0, len(body), 8):
            await resp.write(body[i:i + 8])
            await asyncio.sleep(0.2)
        await resp.write_eof()
        return resp

    p1.always(trickling_error)
    reply, took = await timed(gw.responses(stream=False))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.text
    assert 0.9 <= took < 2.5, took
    (first, _) = gw.services.store.request_log()[0]["attempts"]
    assert (first["outcome"], first["status"]) == ("provider_failure", code)
    assert first["error"] == f"HTTP {code}: the error body was not complete within 1 s", first


@pytest.mark.parametrize("cut_by", ["request_timeout", "idle_timeout"])
async def test_a_json_answer_of_headers_only_is_no_answer(fakes, gateway, cut_by):
    """Headers at once, then nothing: the provider did not answer in time — out of rotation like a
    black hole, so the next JSON requests do not wait on it again (the wait repeated after every
    cooldown). One that sends part of its body is only slow (see the trickle above)."""
    p1, p2 = await fakes("p1", "p2")
    routing = {"request_timeout_seconds": 2, "stream_idle_timeout_seconds": 30} if cut_by == "request_timeout" \
        else {"request_timeout_seconds": 30, "stream_idle_timeout_seconds": 2}
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, **routing, "check_interval_seconds": 60})
    p1.always(headers_only())
    reply, took = await timed(gw.responses(stream=False))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert 1.9 <= took < 3.5, took
    error = gw.services.store.request_log()[0]["attempts"][0]["error"]
    assert error == "no response within 2 s (headers only, no body)", error
    assert health(gw, "p1")["status"] == "unresponsive"
    reply, took = await timed(gw.responses(stream=False))
    assert reply.headers["X-API-Router-Provider"] == "p2" and took < 1 and client_requests(p1) == 1




@pytest.mark.parametrize("stream", [False, True])
async def test_an_error_status_whose_body_never_comes_costs_the_request_timeout_at_most(fakes, gateway, stream):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 2})
    p1.always(headers_only(status=500, length=100))  # 100 bytes announced, none sent
    reply, took = await timed(gw.responses(stream=stream))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert took < 3.5, took
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    assert gw.services.store.request_log()[0]["attempts"][0]["status"] == 500


@pytest.mark.parametrize("hedge", [False, True])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_request_on_headers_only_is_given_up_when_its_provider_is_found_not_answering(
        fakes, gateway, stream, hedge):
    """Headers and then nothing is no answer begun: another request finding p1 not answering ends the
    wait at once (p2 answers), and the silence is counted once."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={
        **QUICK, "request_timeout_seconds": 6, "stream_idle_timeout_seconds": 30, "hedge": hedge,
        "hedge_min_seconds": 5, "hedge_max_seconds": 5, "check_interval_seconds": 60})
    p1.always(headers_only())
    asking = asyncio.create_task(timed(gw.responses(stream=stream)))
    await wait_until(lambda: client_requests(p1) == 1, 5, "the request to p1")
    await asyncio.sleep(0.3)
    await found_not_answering(gw, "p1")
    reply, took = await asking
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.body[:300]
    assert took < 2, took
    assert health(gw, "p1")["consecutive_failures"] == 1


async def test_client_error_in_a_stream_answering_a_json_request_is_that_error_without_failover(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "failure_threshold": 1})
    p1.always(fp.in_band_failure("context_length_exceeded", "Your input exceeds the context window of this model."))
    reply = await gw.responses(stream=False)
    assert reply.status == 400 and reply.headers["X-API-Router-Provider"] == "p1"
    assert reply.json["error"]["code"] == "context_length_exceeded"
    assert attempts(gw) == [("p1", "client_error")] and p2.calls == 0
    assert health(gw, "p1")["consecutive_failures"] == 0


@pytest.mark.parametrize("stream", [False, True])
async def test_a_200_whose_response_failed_on_the_server_side_fails_over(fakes, gateway, stream):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)

    async def failed(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.json_response({**fp.response_object("", provider=fake.name), "status": "failed",
                                  "error": {"code": "server_error", "message": "The server had an error"}})

    p1.always(failed)
    reply = await gw.responses(stream=stream)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "hello"
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    assert "The server had an error" in gw.services.store.request_log()[0]["attempts"][0]["error"]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_200_whose_response_failed_by_the_requests_own_fault_is_that_error_without_failover(
        fakes, gateway, stream):
    """Told as the same failure in a stream would be: a JSON request gets a 400 with the error object, a
    stream the failed response's events; a client_error row either way, health untouched."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "failure_threshold": 1})

    async def failed(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.json_response({**fp.response_object("", provider=fake.name), "status": "failed", "output": [],
                                  "error": {"code": "context_length_exceeded", "type": "invalid_request_error",
                                            "message": "Your input exceeds the context window of this model."}})

    p1.always(failed)
    reply = await gw.responses(stream=stream)
    assert reply.headers["X-API-Router-Provider"] == "p1" and p2.calls == 0
    if stream:
        assert reply.status == 200 and reply.event_types[-1] == "response.failed"
        assert reply.events[-1]["response"]["error"]["code"] == "context_length_exceeded"
    else:
        assert reply.status == 400 and reply.json["error"]["code"] == "context_length_exceeded"
    assert attempts(gw) == [("p1", "client_error")]
    assert health(gw, "p1")["consecutive_failures"] == 0
    row = gw.services.store.request_log()[0]
    assert row["outcome"] == "client_error" and "context window" in row["error"]
    # Its usage (the fake reports some) is not counted, as none of a failed stream's is: the row, the
    # provider's metrics and its ledger agree whatever the transport.
    assert row["total_tokens"] == 0 and gw.services.store.metrics().get("p1", Metrics()).total_tokens == 0
    assert "p1" not in (await gw.api("get_status"))["ledgers"]


@pytest.mark.parametrize("event", ["response.failed", "error", "error_flat"])
async def test_client_error_in_band_is_relayed_without_failover_or_blame(fakes, gateway, event):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "failure_threshold": 1})
    p1.always(fp.in_band_failure("context_length_exceeded", "Your input exceeds the context window of this model.",
                                 event=event))
    for _ in range(2):
        reply = await gw.responses(stream=True)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"
        assert reply.event_types == ["response.created", "response.in_progress", event.removesuffix("_flat")]
        last = reply.events[-1]
        error = last["response"]["error"] if event == "response.failed" else last.get("error", last)
        assert error["code"] == "context_length_exceeded"
        assert attempts(gw) == [("p1", "client_error")]
    assert p2.calls == 0
    assert health(gw, "p1")["status"] == "unknown" and health(gw, "p1")["consecutive_failures"] == 0
    row = gw.services.store.request_log()[0]
    assert row["outcome"] == "client_error" and "context window" in row["error"]


async def test_an_untyped_error_line_in_a_stream_is_classified_like_an_error_event(fakes, gateway):
    """A relay writes its error as a bare ``data: {"error": {...}}`` line (no event name, no type), as Chat
    Completions relays do: the request's own error is relayed without failover or blame, and the
    provider's message is what the row says — not "stream ended before response.completed" with every
    provider cooling down."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "failure_threshold": 1})
    p1.always(fp.in_band_failure("context_length_exceeded", "Your input exceeds the context window of this model.",
                                 event="error_untyped"))
    for _ in range(2):
        reply = await gw.responses(stream=True)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"
        assert reply.events[-1]["error"]["code"] == "context_length_exceeded"
        assert attempts(gw) == [("p1", "client_error")]
    assert p2.calls == 0 and health(gw, "p1")["consecutive_failures"] == 0
    assert "context window" in gw.services.store.request_log()[0]["error"]
    p1.always(fp.in_band_failure("server_error", "The server had an error", error_type="server_error",
                                 event="error_untyped"))
    reply = await gw.responses(stream=True)
    assert reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "hello"
    assert "The server had an error" in gw.services.store.request_log()[0]["attempts"][0]["error"]


async def test_server_error_in_band_fails_over(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.in_band_failure("server_error", "The server had an error", error_type="server_error", event="error"))
    reply = await gw.responses(stream=True)
    assert reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "hello"
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]


@pytest.mark.parametrize("code", ["invalid_api_key", "incorrect_api_key", "invalid_authentication"])
async def test_a_rejected_key_in_band_fails_over_like_a_401(fakes, gateway, code):
    """OpenAI types a wrong key "invalid_request_error"; its code says what it is: the provider's key,
    not the request — as an HTTP 401 would say."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.in_band_failure(code, "Incorrect API key provided: sk-te****"))
    for stream in (True, False):
        reply = await gw.responses(stream=stream)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "hello"
        assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    assert health(gw, "p1")["consecutive_failures"] == 2


@pytest.mark.parametrize(("code", "error_type"), [
    ("invalid_api_key", "invalid_request_error"), ("server_error", "server_error"),
    ("insufficient_quota", "insufficient_quota")])
@pytest.mark.parametrize("http_status", [400, 422])
@pytest.mark.parametrize("shape", ["json", "bare", "event stream"])
async def test_a_client_error_status_whose_code_is_the_providers_trouble_fails_over(
        fakes, gateway, code, error_type, http_status, shape):
    """Relays answer a refused key, a spent quota or their own failure with a 400 too: the code says whose
    fault it is, as it does in-band — the next provider answers, not the client hearing a 400. However the
    body says it: a JSON error, the error object alone, or an event stream's error event."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    error = {"message": "Incorrect API key provided: sk-te****", "type": error_type, "code": code}
    body = {"json": json.dumps({"error": error}).encode(), "bare": json.dumps(error).encode(),
            "event stream": fp.sse_event({"type": "error", "error": error})}[shape]
    p1.always(fp.status(http_status, body=body,
                        content_type="text/event-stream" if shape == "event stream" else "application/json"))
    for stream in (True, False):
        reply = await gw.responses(stream=stream)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.text
        assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    # The request's own 400 (an invalid parameter) still goes back to the client as it came.
    p1.always(fp.status(400, body=json.dumps({"error": {"message": "Unknown parameter: 'foo'",
                                                        "type": "invalid_request_error",
                                                        "code": "unknown_parameter"}}).encode()))
    assert (await gw.responses()).status == 400


async def test_a_rate_limit_said_with_a_400_keeps_its_retry_after(fakes, gateway):
    """A relay's 400 "rate_limit_exceeded" with a Retry-After: the provider rests as long as it asked, as
    after a 429 (at least cooldown_seconds, 30 s here)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    body = json.dumps({"error": {"message": "Rate limit reached", "type": "rate_limit_error",
                                 "code": "rate_limit_exceeded"}}).encode()
    p1.always(fp.status(400, body=body, headers={"Retry-After": "120"}))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    until = health(gw, "p1")["cooldown_until_unix_ms"]
    assert until is not None and until - time.time() * 1000 > 100_000, until


async def test_a_spent_quota_said_with_a_400_by_every_provider_is_the_quota_429(fakes, gateway):
    """Said with a 400 or a 429, a spent quota is the same news: Codex hears "quota exceeded"."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing=QUICK)
    p1.always(fp.status(400, body=json.dumps({"error": {"message": "You exceeded your current quota",
                                                        "type": "insufficient_quota",
                                                        "code": "insufficient_quota"}}).encode()))
    reply = await gw.responses()
    assert reply.status == 429 and reply.json["error"]["code"] == "insufficient_quota", reply.text


async def test_a_200_carrying_an_error_is_a_provider_failure(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.error_with_200("upstream quota exhausted"))
    for stream in (False, True):
        reply = await gw.responses(stream=stream)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
        assert reply.text == "hello"  # a real answer, not an empty "completed" one
        assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
        assert "upstream quota exhausted" in gw.services.store.request_log()[0]["attempts"][0]["error"]


@pytest.mark.parametrize("status", ["in_progress", "queued"])
async def test_a_200_whose_response_is_not_finished_is_a_provider_failure(fakes, gateway, status):
    """A relay that answers with a response still under way (a background response's first answer) has
    given nothing: Codex would show an empty turn as done. The next provider answers."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    unfinished = {**fp.response_object("", provider="p1"), "status": status, "output": []}
    p1.always(fp.status(200, body=json.dumps(unfinished).encode()))
    for stream in (False, True):
        reply = await gw.responses(stream=stream)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "hello"
        assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
        assert f"not finished (status {status})" in gw.services.store.request_log()[0]["attempts"][0]["error"]


@pytest.mark.parametrize("body", [{"output": []}, {"object": "response", "status": "completed", "output": []},
                                  {"id": 7, "status": "completed", "output": []}])
async def test_a_200_whose_response_has_no_id_is_a_provider_failure(fakes, gateway, body):
    """Codex takes no response without its id as an answer ("missing field `id`"), and a stream made of
    it would be an empty "completed" one: the next provider answers, as for an id-less stream ending."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.status(200, body=json.dumps(body).encode()))
    for stream in (False, True):
        reply = await gw.responses(stream=stream)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "hello"
        assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
        assert "without its id" in gw.services.store.request_log()[0]["attempts"][0]["error"]


async def test_a_compact_answer_is_an_output_list_without_an_id(fakes, gateway):
    """Codex reads /responses/compact's answer for its output alone: no id is asked of it."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing=QUICK)
    compacted = {"output": [{"type": "compaction", "encrypted_content": "sealed-by-p1"}]}
    p1.always(fp.status(200, body=json.dumps(compacted).encode()))
    reply = await gw.responses(path="/v1/responses/compact")
    assert reply.status == 200 and reply.json == compacted
    assert attempts(gw) == [("p1", "ok")]


@pytest.mark.parametrize("end", [{"type": "response.completed"}, {"type": "response.completed", "response": None},
                                 {"type": "response.completed", "response": "ok"},
                                 {"type": "response.completed", "response": {"status": "completed"}},
                                 {"type": "response.incomplete"}])
async def test_an_end_event_without_its_response_object_is_no_end(fakes, gateway, end):
    """Codex takes a stream's end only with its response object and that object's id: without one the
    stream has not ended (Codex: "stream closed before response.completed") — before any output the
    next provider answers, for a stream as for a JSON client; after output the client gets response.failed."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    opening = fp.stream_events(fp.response_object("partial", provider="p1"))[:2]  # created, in_progress
    p1.always(fp.raw_stream([fp.sse_event(e) for e in opening] + [fp.sse_event(end)]))
    for stream in (True, False):
        reply = await gw.responses(stream=stream)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "hello"
        assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    events = fp.stream_events(fp.response_object("partial", provider="p1"))
    p1.always(fp.raw_stream([fp.sse_event(e) for e in events[:-1]] + [fp.sse_event(end)]))
    reply = await gw.responses(stream=True)
    assert reply.headers["X-API-Router-Provider"] == "p1" and reply.event_types[-1] == "response.failed"
    assert "carries no response object" in gw.services.store.request_log()[0]["attempts"][0]["error"]


QUOTA = {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                  "type": "insufficient_quota", "code": "insufficient_quota"}}


async def answered_200_with(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
    return web.json_response(QUOTA)  # a relay's error body under a 200


@pytest.mark.parametrize("how", ["http 429", "in-band", "200 json"])
async def test_every_provider_out_of_quota_is_said_as_a_quota_not_a_rate_limit(fakes, gateway, how):
    """Codex stops at once on insufficient_quota ("Quota exceeded") and retries a rate limit's 429 (or a
    502): a used-up quota everywhere is said as one, naming each provider, with no wait that would help."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    for fake in (p1, p2):
        fake.always(fp.status(429, body=json.dumps(QUOTA).encode()) if how == "http 429" else answered_200_with
                    if how == "200 json" else fp.in_band_failure("insufficient_quota", "You exceeded your current quota",
                                                                 error_type="insufficient_quota"))
    reply = await gw.responses(stream=True)
    assert reply.status == 429 and "Retry-After" not in reply.headers, (reply.status, reply.headers)
    err = reply.json["error"]
    assert err["type"] == err["code"] == "insufficient_quota", err
    assert err["message"].startswith("every provider has used up its quota — P1: ") and "P2: " in err["message"]
    assert [p["provider"] for p in err["providers"]] == ["p1", "p2"]
    p2.always(fp.status(429, "slow down", headers={"Retry-After": "7"}))  # one only rate-limited: worth a retry
    gw2 = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    reply = await gw2.responses(stream=True)
    assert reply.status in (429, 502) and reply.json["error"]["type"] != "insufficient_quota"


async def test_everyone_rate_limited_is_a_429_with_the_soonest_retry_after(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.status(429, "slow down (p1)", headers={"Retry-After": "40"}))
    p2.always(fp.status(429, "slow down (p2)", headers={"Retry-After": "20"}))
    reply = await gw.responses()
    assert reply.status == 429 and reply.headers["Retry-After"] == "20"
    err = reply.json["error"]
    assert err["type"] == "rate_limit_exceeded"
    assert "P1: HTTP 429: slow down (p1)" in err["message"] and "P2: HTTP 429: slow down (p2)" in err["message"]
    assert [(p["provider"], p["retry_after_seconds"]) for p in err["providers"]] == [("p1", 40.0), ("p2", 20.0)]
    assert gw.services.store.request_log()[0]["status"] == 429
    # Asked again while both cool down: only the soonest is tried, and the other is still named.
    reply = await gw.responses()
    assert reply.status == 429
    message = reply.json["error"]["message"]
    assert "P2: HTTP 429: slow down (p2)" in message and "not asked: P1 (cooling down for" in message


async def test_a_used_up_quota_beside_rate_limits_sets_no_wait_and_is_no_verdict_while_others_cool_down(
        fakes, gateway):
    """One provider out of quota, two rate-limited: the wait is the soonest rate limit's (a quota comes back
    with none), and asked again while those two cool down, the one asked being out of quota does not make
    it "every quota used up" — a rate limit still, with the wait until one of them is back."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing=QUICK)
    p1.always(fp.status(429, body=json.dumps(QUOTA).encode()))
    p2.always(fp.status(429, "slow down (p2)", headers={"Retry-After": "7"}))
    p3.always(fp.status(429, "slow down (p3)", headers={"Retry-After": "30"}))
    reply = await gw.responses(stream=True)
    assert reply.status == 429 and reply.headers["Retry-After"] == "7", (reply.status, reply.headers)
    err = reply.json["error"]
    assert err["type"] == "rate_limit_exceeded", err
    assert err["message"].startswith("every provider is rate-limiting this request or has used up its quota — P1: ")
    assert [(p["provider"], p.get("retry_after_seconds")) for p in err["providers"]] == [
        ("p1", None), ("p2", 7.0), ("p3", 30.0)]
    reply = await gw.responses(stream=True)  # p2 and p3 cool down: only p1 is asked
    assert [a for a, _ in attempts(gw)] == ["p1"]
    assert reply.status == 429 and reply.json["error"]["type"] == "rate_limit_exceeded", reply.json
    assert 25 <= int(reply.headers["Retry-After"]) <= 30  # p2's cooldown (cooldown_seconds, past its 7 s)
    assert "not asked: P2 (cooling down for" in reply.json["error"]["message"]


async def test_every_quota_used_up_stays_said_so_while_those_providers_cool_down(fakes, gateway):
    """Out of quota everywhere, each cooling down after it said so (threshold 1): the next requests — one
    asked, or none — are still told the quota is used up, not a rate limit to retry after the cooldown
    (a cooldown's end brings no quota back)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "failure_threshold": 1})
    for fake in (p1, p2):
        fake.always(fp.status(429, body=json.dumps(QUOTA).encode()))
    for _ in range(3):
        reply = await gw.responses(stream=True)
        assert reply.status == 429 and reply.json["error"]["type"] == "insufficient_quota", reply.json
        assert "Retry-After" not in reply.headers
    status = await gw.api("get_status")
    assert "may serve again in" not in json.dumps(status)  # nor does /status promise one back with time


async def test_a_provider_that_named_no_wait_makes_the_soonest_retry_now(fakes, gateway):
    """429 without Retry-After and not cooling down (below the failure threshold): it may be asked again
    at once, so the soonest is 1 s, not the other provider's 40 s."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.status(429, "slow down (p1)", headers={"Retry-After": "40"}))
    p2.always(fp.status(429, "slow down (p2)"))
    reply = await gw.responses()
    assert reply.status == 429 and reply.headers["Retry-After"] == "1"
    assert [(p["provider"], p["retry_after_seconds"]) for p in reply.json["error"]["providers"]] == [
        ("p1", 40.0), ("p2", 0.0)]


@pytest.mark.parametrize("retry_after", ["0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"])
async def test_a_wait_of_nothing_from_a_provider_that_cools_down_is_its_cooldown(fakes, gateway, retry_after):
    """A Retry-After of 0, below 0 or a date gone by names no wait, yet the provider cools down (the
    failure threshold reached): the client is told that cooldown, not to come back in 1 s for nothing."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "failure_threshold": 1, "cooldown_seconds": 45})
    p1.always(fp.status(429, "slow down (p1)", headers={"Retry-After": "40"}))
    p2.always(fp.status(429, "slow down (p2)", headers={"Retry-After": retry_after}))
    reply = await gw.responses()
    assert reply.status == 429 and reply.headers["Retry-After"] == "40", reply.headers
    waits = {p["provider"]: p["retry_after_seconds"] for p in reply.json["error"]["providers"]}
    assert waits["p1"] == 40.0 and 44 <= waits["p2"] <= 45, waits


async def test_a_wait_taken_from_a_cooldown_is_given_to_a_tenth_of_a_second(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "failure_threshold": 1, "cooldown_seconds": 30})
    p1.always(fp.status(429, "slow down (p1)", headers={"Retry-After": "40"}))
    p2.always(fp.status(429, "slow down (p2)"))  # no Retry-After: it cools down for cooldown_seconds
    reply = await gw.responses()
    assert reply.status == 429 and reply.headers["Retry-After"] == "30"
    assert [p["retry_after_seconds"] for p in reply.json["error"]["providers"]] == [40.0, 30.0]


async def test_a_429_names_the_lock_or_the_disabled_providers_as_the_502_does(fakes, gateway):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing=QUICK)
    p3.always(fp.status(429, "slow down (p3)", headers={"Retry-After": "7"}))
    await gw.api("set_manual_override", provider="p3")
    reply = await gw.responses()
    message = reply.json["error"]["message"]
    assert reply.status == 429 and reply.headers["Retry-After"] == "7"
    # Not "every provider": the others were never asked, and unlocking lets them serve.
    assert message.startswith("routing is locked to P3, which is rate-limiting this request: HTTP 429: slow down")
    assert "Back to automatic" in message and "every provider" not in message
    await gw.api("set_manual_override", provider=None)
    await gw.api("set_provider_disabled", provider="p1", disabled=True)
    p2.always(fp.status(429, "slow down (p2)", headers={"Retry-After": "5"}))
    reply = await gw.responses()
    assert reply.status == 429 and reply.json["error"]["message"].endswith("Disabled (switched off): P1 — enable one in API Router to let it serve")
    assert [(d["provider"], (d.get("skipped") or "")[:12]) for d in reply.json["error"]["providers"]] == [
        ("p2", ""), ("p3", "cooling down"), ("p1", "disabled")]


async def test_the_429_and_502_errors_list_the_providers_passed_by(fakes, gateway):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={**QUICK, "failure_threshold": 1})
    p3.always(fp.status(500, "p3 broke"))
    p3_alone = {"model": "gpt-5.5", "input": "hi"}
    await gw.api("set_manual_override", provider="p3")
    assert (await gw.responses(p3_alone)).status == 502  # p3 now cools down
    await gw.api("set_manual_override", provider=None)
    p1.always(fp.status(429, "slow down (p1)", headers={"Retry-After": "40"}))
    p2.always(fp.status(429, "slow down (p2)", headers={"Retry-After": "20"}))
    reply = await gw.responses()
    err = reply.json["error"]
    assert reply.status == 429 and err["message"].startswith("every provider asked is rate-limiting this request")
    assert "not asked: P3 (cooling down for" in err["message"]
    assert [(p["provider"], p.get("skipped", "")[:12]) for p in err["providers"]] == [
        ("p1", ""), ("p2", ""), ("p3", "cooling down")]
    reply = await gw.responses()  # all three cool down now: one is asked as a last resort, the others listed
    listed = reply.json["error"]["providers"]
    assert reply.status == 502 and {p["provider"] for p in listed} == {"p1", "p2", "p3"}
    assert sum("skipped" in p for p in listed) == 2 and "Skipped: " in reply.json["error"]["message"]


@pytest.mark.parametrize("event", ["response.failed", "error"])
async def test_everyone_rate_limited_in_band_is_a_429_too(fakes, gateway, event):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    for p in (p1, p2):
        p.always(fp.in_band_failure("rate_limit_exceeded", "Rate limit reached", error_type="requests", event=event))
    reply = await gw.responses(stream=True)
    assert reply.status == 429 and reply.headers["Retry-After"] == "1"
    assert reply.json["error"]["type"] == "rate_limit_exceeded" and "Rate limit reached" in reply.json["error"]["message"]
    assert [a["status"] for a in gw.services.store.request_log()[0]["attempts"]] == [200, 200]  # as the HTTP said


async def test_reasoning_summary_reaches_the_client_while_the_model_thinks(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={**QUICK, "stream_idle_timeout_seconds": 5})
    p1.always(fp.reasoning_then_answer(summary_at=0.3, answer_at=3.0))
    started = time.perf_counter()
    seen: dict[str, float] = {}
    async with gw.client.post(gw.base + "/v1/responses", json={**simple_body(), "stream": True},
                              headers=gw.auth()) as resp:
        async for line in resp.content:
            if line.startswith(b"data:"):
                kind = json.loads(line[5:])["type"]
                seen.setdefault(kind, time.perf_counter() - started)
    assert seen["response.reasoning_summary_text.delta"] < 2.0, seen  # a second before the answer at the latest
    assert seen["response.output_text.delta"] >= 2.9, seen
    assert "response.completed" in seen


async def p1_timed_out(fakes, gateway) -> tuple[Harness, fp.FakeProvider, fp.FakeProvider]:
    """p1 hangs and a request timed out on it (1.5 s: p2, asked next, has a second to answer even after a
    stall of the test process): it is out of rotation, checks are due."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 1.5})
    p1.always(fp.hang())
    await gw.responses()
    return gw, p1, p2


async def test_a_timeout_takes_a_provider_out_of_rotation_at_once_and_a_check_brings_it_back(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 1.5})
    p1.always(fp.hang())
    reply = await gw.responses(body=simple_body(model="gpt-5.5"))  # not a stream: no hedge, the timeout applies
    assert reply.headers["X-API-Router-Provider"] == "p2"
    h = health(gw, "p1")
    assert h["status"] == "unresponsive" and h["consecutive_failures"] == 1  # below the threshold of 3
    calls = client_requests(p1)
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    assert client_requests(p1) == calls  # out of rotation: the client request did not go there
    p1.always(fp.stream_ok("back"))
    await wait_until(lambda: health(gw, "p1")["status"] == "healthy", 5, "a background check to bring p1 back")
    check = p1.requests[-1].json
    assert check == {"model": "gpt-5.5", "input": "ping", "max_output_tokens": 16, "stream": True, "store": False}
    assert any("answers again (background check)" in e.message for e in gw.services.store.list_events())
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"


async def test_a_background_check_asks_for_the_model_in_the_providers_own_naming(fakes, gateway):
    """The model last served there goes through the model_map as it is at the check (once: a "*" entry
    does not map it a second time)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 1.5})
    await gw.api("upsert_provider", provider="p1", model_map={"gpt-5.5": "openai/gpt-5.5", "*": "openai/fallback"})
    p1.always(fp.hang())
    reply = await gw.responses(body=simple_body(model="gpt-5.5"))
    assert reply.headers["X-API-Router-Provider"] == "p2" and p1.requests[0].json["model"] == "openai/gpt-5.5"
    await gw.api("upsert_provider", provider="p1", model_map={"gpt-5.5": "relay/gpt-5.5"})  # fixed meanwhile
    p1.always(fp.stream_ok("back"))
    await wait_until(lambda: health(gw, "p1")["status"] == "healthy", 5, "a background check to bring p1 back")
    assert p1.requests[-1].json["model"] == "relay/gpt-5.5"  # what requests send now


async def test_streams_already_waiting_on_a_provider_found_dead_stop_waiting(fakes, gateway):
    """B started waiting on p1 a second after A; when A's hedge finds p1 not answering (at 3 s), B asks
    p2 at once instead of sitting out the rest of its own hedge delay."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "hedge_min_seconds": 3, "hedge_max_seconds": 3})
    p1.always(fp.hang())
    first = asyncio.ensure_future(timed(gw.responses(stream=True)))
    await asyncio.sleep(1.0)
    (second, took_second), (reply, took_first) = await asyncio.gather(timed(gw.responses(stream=True)), first)
    assert reply.headers["X-API-Router-Provider"] == "p2" and 2.9 <= took_first < 4, took_first
    assert second.headers["X-API-Router-Provider"] == "p2" and second.text == "hello"
    assert took_second < 2.6, took_second  # about 2 s; its own hedge delay would have ended at 3 s
    assert any("not answering (found by another request)" in e.message for e in gw.services.store.list_events())


async def test_a_check_still_waiting_does_not_hold_up_the_next(fakes, gateway):
    """Checks time out after 10 s; a provider that comes back meanwhile is seen at the next interval."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 30})
    p1.always(fp.keepalive_only())
    reply = await gw.responses(stream=True)  # the hedge wins: p1 said nothing in time
    assert reply.headers["X-API-Router-Provider"] == "p2" and health(gw, "p1")["status"] == "unresponsive"
    await wait_until(lambda: p1.calls >= 2, 3, "a first background check")
    p1.always(fp.stream_ok("back"))
    await wait_until(lambda: health(gw, "p1")["status"] == "healthy", 4, "the next check, the first still waiting")


async def test_only_a_real_answer_to_a_check_brings_a_provider_back(fakes, gateway):
    gw, p1, p2 = await p1_timed_out(fakes, gateway)
    opening = [fp.sse_event(e) for e in fp.stream_events(fp.response_object("x"))[:2]]  # created, in_progress
    for no_answer in (fp.status(400, "The model `gpt-5.5` does not exist or you do not have access to it."),
                      fp.in_band_failure("server_error", "The engine is currently overloaded", error_type="server_error"),
                      fp.status(400, body=b'{"error": {"message": "Incorrect API key provided", '  # its key refused
                                          b'"type": "invalid_request_error", "code": "invalid_api_key"}}'),
                      fp.raw_stream(opening[:1]),  # response.created, then the end of the stream
                      fp.raw_stream([*opening, b"event: ping\ndata: {}\n\n"])):
        p1.always(no_answer)
        calls = p1.calls
        await wait_until(lambda c=calls: p1.calls >= c + 2, 4, "two more checks")
        assert health(gw, "p1")["status"] == "unresponsive"
    p1.always(fp.status(400, "Unsupported parameter: 'max_output_tokens'"))  # up, and reading Responses requests
    await wait_until(lambda: health(gw, "p1")["status"] == "healthy", 3, "a check to bring p1 back")


class _WallClockSetBack:
    """The ``time`` module as API Router's records see it once the wall clock was set back an hour (NTP, a
    machine that also boots Windows): only ``time.time`` moved."""

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)

    @staticmethod
    def time() -> float:
        return time.time() - 3600


@pytest.mark.parametrize("set_back", [False, True], ids=["clock as is", "wall clock set back an hour"])
async def test_checks_run_only_while_the_gateway_is_in_use(fakes, gateway, monkeypatch, set_back):
    """Idle time is the steady clock's: a wall clock set back an hour would have the gateway "in use" (and
    paying for a check of a silent provider every few seconds) for that hour."""
    gw, p1, p2 = await p1_timed_out(fakes, gateway)
    if set_back:
        monkeypatch.setattr(records, "time", _WallClockSetBack())
    gw.services.activity.last_ms -= 11 * 60 * 1000  # as if the last request was 11 minutes ago
    # A check started by a tick while the request was still recent may reach p1 only now: let it land
    # (then it hangs there until its timeout, 1.5 s, asking nothing more) before counting. Every tick from here
    # on sees the gateway idle.
    await asyncio.sleep(TICK_SECONDS + 0.5)
    calls = p1.calls
    await asyncio.sleep(2 * TICK_SECONDS + 0.5)  # two ticks, each of which would check p1 if in use
    assert p1.calls == calls


async def test_a_long_stream_still_running_counts_as_use(fakes, gateway):
    gw, p1, p2 = await p1_timed_out(fakes, gateway)
    gw.services.activity.last_ms -= 11 * 60 * 1000  # no request has ended for 11 minutes...
    await asyncio.sleep(TICK_SECONDS + 0.5)  # (a check begun while p1's request was recent lands first)
    await gw.api("update_routing", request_timeout_seconds=5)  # its first generated event comes at 0.8 s
    calls = p1.calls
    p2.always(fp.stream_ok("a long answer", delay=0.4))  # ...but this one runs for about 3 s
    streaming = asyncio.ensure_future(gw.responses(stream=True))
    await wait_until(lambda: p1.calls > calls, 2.5, "a check while the stream runs")
    assert (await streaming).status == 200


async def test_the_first_check_of_a_provider_that_left_rotation_waits_a_whole_interval(fakes, gateway):
    """A relay whose streams stall after output still answers a ping at once: checked straight away, it
    would be back in rotation a moment after failing a real request, and fail the next one the same way."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2},
                       routing={**QUICK, "failure_threshold": 1, "check_interval_seconds": 4})
    p1.always(fp.keepalive_only(before=4))  # created, in_progress, the item, a delta; then only comments
    reply = await gw.responses(stream=True)
    failed_at = time.perf_counter()
    assert reply.event_types[-1] == "response.failed" and health(gw, "p1")["status"] == "unresponsive"
    # A check at once would come at the next tick; this one is due an interval (less one tick) from now.
    await asyncio.sleep(1.5)
    assert p1.calls == 1 and health(gw, "p1")["status"] == "unresponsive"  # no check yet
    await wait_until(lambda: p1.calls == 2, 6, "the first check, an interval later")
    assert time.perf_counter() - failed_at >= 4 - TICK_SECONDS - 0.1
    await wait_until(lambda: health(gw, "p1")["status"] == "healthy", 3, "the check's answer")


async def test_a_round_of_checks_that_fails_does_not_end_the_checks(fakes, gateway, monkeypatch):
    from api_router.routing.router import Router

    slipped = []
    real = Router.needing_check

    def once_broken(self, cfg, interval):
        if not slipped:
            slipped.append(True)
            raise RuntimeError("a slip in one round")
        return real(self, cfg, interval)

    monkeypatch.setattr(Router, "needing_check", once_broken)
    gw, p1, p2 = await p1_timed_out(fakes, gateway)
    p1.always(fp.stream_ok("back"))
    await wait_until(lambda: health(gw, "p1")["status"] == "healthy", 5, "a later round to bring p1 back")
    assert slipped


async def test_an_answer_too_large_to_hold_fails_over(fakes, gateway, monkeypatch):
    from api_router.gateway import attempt

    monkeypatch.setattr(attempt, "ANSWER_BODY_LIMIT", 2 * 1024 * 1024)  # 64 MB in use; smaller to run fast
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.huge_body("application/json", b'{"id": "resp_1", "output": [{"text": "', 3 * 1024 * 1024))
    reply = await gw.responses()
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    assert "larger than 2 MB" in gw.services.store.request_log()[0]["attempts"][0]["error"]


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
async def test_an_event_that_never_ends_is_cut_off_and_fails_over(fakes, gateway, monkeypatch, line_end):
    """Held without end it would take the gateway's memory (and, copied with every read, its CPU)."""
    from api_router.gateway import sse

    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", 4 * 1024 * 1024)  # 64 MB in use; smaller to run fast
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    created = b'data: {"type": "response.created"}' + line_end * 2
    p1.always(fp.huge_body("text/event-stream", created + b"data: ", 6 * 1024 * 1024))
    reply = await gw.responses(stream=True)
    assert reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "hello"
    assert "an event larger than 4 MB" in gw.services.store.request_log()[0]["attempts"][0]["error"]


async def test_a_long_event_below_the_limit_arrives_whole(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing=QUICK)
    text = "x" * (3 * 1024 * 1024)  # in the delta and again in response.completed: events of 3 MB
    p1.always(fp.stream_ok(text, deltas=1))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.event_types[-1] == "response.completed" and reply.text == text


async def test_a_hedge_that_is_not_needed_is_cancelled_and_not_blamed(fakes, gateway):
    """The original answers while the hedge is still within its own hedge delay (2 s here)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "hedge_min_seconds": 2, "hedge_max_seconds": 2})
    # Hedged at 2 s, p1 answers at 3 s, p2 would be late from 4 s and answer at 6 s: 1 s either side.
    p1.always(fp.stream_ok("slow but there", first_delay=3))
    p2.always(fp.stream_ok("too late", first_delay=4))
    reply, took = await timed(gw.responses(stream=True))
    assert reply.headers["X-API-Router-Provider"] == "p1" and reply.text == "slow but there"
    assert took < 5, took
    assert attempts(gw) == [("p1", "ok"), ("p2", "hedge_lost")]
    assert health(gw, "p2")["status"] == "unknown" and health(gw, "p1")["status"] == "healthy"


async def test_a_hedge_silent_past_its_own_delay_is_blamed_even_with_no_one_left_to_ask(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK_HEDGE)
    p1.always(fp.stream_ok("slow but there", first_delay=2.0))  # hedged at 0.4 s; p2 silent since, late at 0.8 s
    p2.always(fp.keepalive_only())
    reply = await gw.responses(stream=True)
    assert reply.headers["X-API-Router-Provider"] == "p1" and reply.text == "slow but there"
    assert attempts(gw) == [("p1", "ok"), ("p2", "provider_failure")]
    assert health(gw, "p2")["status"] == "unresponsive"


async def test_a_hedge_that_fails_at_once_brings_in_the_next_candidate_at_once(fakes, gateway):
    """The original hangs and its hedge answers 500: the third candidate starts right then, not
    after the original's whole request timeout (5 s here)."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing=QUICK_HEDGE)
    p1.always(fp.hang())
    p2.always(fp.status(500))
    reply, took = await timed(gw.responses(stream=True))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p3" and reply.text == "hello"
    assert took < 1.5, took
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "provider_failure"), ("p3", "ok")]


CONTEXT_400 = json.dumps({"error": {"message": "This model's maximum context length is 32768 tokens",
                                    "type": "invalid_request_error", "code": "context_length_exceeded"}}).encode()


@pytest.mark.parametrize("original", ["answers", "fails"])
async def test_a_hedge_refusing_the_request_does_not_beat_a_slow_original(fakes, gateway, original):
    """The hedge's provider refuses the request (its context window is smaller): no answer, while the
    original may still give one — it does, and nothing counts against it; or it fails, and the client
    gets the refusal (the request's own error) rather than a 502."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK_HEDGE)  # hedged at 0.4 s
    if original == "answers":
        p1.always(fp.stream_ok("slow but there", first_delay=2.0))
    else:
        async def late_500(request, fake):
            await asyncio.sleep(2.0)
            return await fp.status(500, "broke late")(request, fake)
        p1.always(late_500)
    p2.always(fp.status(400, body=CONTEXT_400))
    reply = await gw.responses(stream=True)
    if original == "answers":
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1" and reply.text == "slow but there"
        assert attempts(gw) == [("p1", "ok"), ("p2", "hedge_lost")]
        assert health(gw, "p1")["status"] == "healthy"
    else:
        assert reply.status == 400 and reply.headers["X-API-Router-Provider"] == "p2"
        assert reply.json["error"]["code"] == "context_length_exceeded"
        assert attempts(gw) == [("p1", "provider_failure"), ("p2", "client_error")]
        assert health(gw, "p1")["status"] != "unresponsive"  # it answered, late, with a 500


async def test_a_hedge_that_fails_while_the_first_provider_serves_is_no_failover(fakes, gateway):
    """The request log's failover mark: served by another provider than the one asked first, after one
    failed. The first provider serving its own request, its hedge failing meanwhile, is none."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK_HEDGE)  # hedged at 0.4 s
    p1.always(fp.stream_ok("slow but there", first_delay=2.0))
    p2.always(fp.status(429, "slow down"))
    reply = await gw.responses(stream=True)
    assert reply.headers["X-API-Router-Provider"] == "p1" and reply.text == "slow but there"
    assert attempts(gw) == [("p1", "ok"), ("p2", "provider_failure")]
    (row,) = (await gw.api("list_requests"))["requests"]
    assert row["failover"] is False and row["hedged"] is True
    assert (await gw.api("list_requests", outcome="failover"))["total"] == 0


async def test_an_original_that_fails_while_its_hedge_starts_brings_in_no_third_provider(fakes, gateway):
    """The hedge is still within its own hedge delay when the original fails: it is waited for."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={**QUICK, "hedge_min_seconds": 2.5, "hedge_max_seconds": 2.5})

    async def late_500(request, fake):
        await asyncio.sleep(3.2)  # after the hedge delay (2.5 s here), before the hedge's first event
        return await fp.status(500, "broke late")(request, fake)

    p1.always(late_500)
    p2.always(fp.stream_ok("the hedge", first_delay=1.5))  # at 4 s, within its own delay (until 5 s)
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "the hedge"
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")] and p3.calls == 0


async def test_a_hedge_cancelled_by_the_original_is_tried_again_when_the_original_fails(fakes, gateway):
    """The original wins the race with its first event, then fails in-band before any output: the
    hedge provider that was cancelled is asked again instead of the request failing."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "hedge_min_seconds": 1.5, "hedge_max_seconds": 1.5})
    shell = {"id": "resp_p1", "object": "response", "status": "in_progress", "output": []}
    failed = {"type": "response.failed", "response": {**shell, "status": "failed",
                                                      "error": {"code": "server_error", "message": "overloaded"}}}
    # Hedged at 1.5 s; p1's opening at 2.25 s comes well within the hedge's own delay (until 3 s) and well
    # before the hedge's first event (3.5 s); p1 fails at 3 s, and p2, asked again, answers at once.
    p1.always(fp.raw_stream([b": waking up\n\n"] * 3 + [fp.sse_event({"type": "response.created", "response": shell}),
                                                        fp.sse_event(failed)], delay=0.75))
    p2.always(fp.stream_ok("second time lucky"))
    p2.queue(fp.stream_ok("second time lucky", first_delay=2.0))
    reply, took = await timed(gw.responses(stream=True))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert reply.text == "second time lucky"
    assert took < 4, took
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "hedge_lost"), ("p2", "ok")]


@pytest.mark.parametrize("hedge_then", ["fails", "answers"])
async def test_a_hedge_that_only_opens_its_stream_beats_the_late_original_only_once_it_answers(
        fakes, gateway, hedge_then):
    """The original is late (no first event within its hedge delay); the hedge opens its stream
    (response.created) and then fails before any output. An opening is no answer: the original, slow
    but healthy, was cancelled and blamed, the client got a 502 and every provider was out of rotation.
    Now it is asked again and serves; when the hedge does answer, the original is judged late as before."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK_HEDGE)
    shell = {"id": "resp_p2", "object": "response", "status": "in_progress", "output": []}
    failed = {"type": "response.failed", "response": {**shell, "status": "failed",
                                                      "error": {"code": "server_error", "message": "overloaded"}}}
    p1.always(fp.stream_ok("slow but there", first_delay=2.0))  # hedged at 0.4 s; the hedge answers by 0.5 s
    if hedge_then == "fails":
        p2.always(fp.raw_stream([fp.sse_event({"type": "response.created", "response": shell}), fp.sse_event(failed)],
                                delay=0.05))
    else:
        p2.always(fp.stream_ok("the hedge", first_delay=0.05))
    reply = await gw.responses(stream=True)
    assert reply.status == 200, reply.body
    if hedge_then == "fails":
        assert reply.headers["X-API-Router-Provider"] == "p1" and reply.text == "slow but there"
        assert attempts(gw) == [("p1", "hedge_lost"), ("p2", "provider_failure"), ("p1", "ok")]
        assert health(gw, "p1")["status"] == "healthy" and health(gw, "p2")["status"] != "healthy"
        row = gw.services.store.request_log()[0]
        assert "then failed before its output" in row["attempts"][0]["error"]
    else:
        assert reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "the hedge"
        assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
        assert health(gw, "p1")["status"] == "unresponsive"


@pytest.mark.parametrize("client", ["stays", "leaves"])
async def test_a_late_original_is_judged_as_the_hedges_output_begins_not_when_it_ends(fakes, gateway, client):
    """The hedge's long answer: the original left rotation only once that whole stream had ended (other
    requests meanwhile waited on it), and a client leaving mid-answer (Codex's Esc) cleared it of blame."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK_HEDGE)
    p1.always(fp.hang(5))  # hedged at 0.4 s
    p2.always(fp.stream_ok("a long answer from the hedge", first_delay=0.05, delay=0.3, deltas=8))  # ~3 s
    pending = asyncio.ensure_future(gw.responses(stream=True))
    await wait_until(lambda: health(gw, "p1")["status"] == "unresponsive", 1.5, "p1 judged late")
    assert not pending.done()  # the hedge's answer is still streaming
    if client == "leaves":
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        serving = gw.services.require_serving()
        await wait_until(lambda: serving.state.inflight == 0, 5, "the request to end")
    else:
        assert (await pending).text == "a long answer from the hedge"
    gw.services.store.flush()
    outcomes = attempts(gw)
    assert outcomes[0] == ("p1", "provider_failure"), outcomes


async def test_a_success_that_began_before_a_429_does_not_end_its_cooldown(fakes, gateway):
    """A long stream on p1 outlives p1's 429 (Retry-After: 30) to another request: its success ended the
    cooldown ("is answering again") and new requests went to p1 at once, which was still asking to wait."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"cooldown_seconds": 1})
    p1.always(fp.stream_ok("from p1"))
    p1.queue(fp.stream_ok("a long answer", delay=0.25))  # about 1.5 s
    p1.queue(fp.status(429, "slow down", headers={"Retry-After": "30"}))
    long = asyncio.ensure_future(gw.responses(stream=True))
    await asyncio.sleep(0.3)
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"  # p1 said 429
    assert (await long).headers["X-API-Router-Provider"] == "p1"
    asked = p1.calls
    for _ in range(3):
        assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    assert p1.calls == asked
    assert health(gw, "p1")["status"] == "cooldown"
    assert not [e for e in gw.services.store.recent_events() if e.kind == "recovered"]


async def test_a_hedge_that_is_late_too_brings_in_the_next_candidate(fakes, gateway):
    """Two providers that never answer: the third is asked one hedge delay after the second, not after
    the request timeout, and both silent ones leave rotation."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    # Hedge delays of 2 s, so that the last request's bound stays well below one on a loaded machine.
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={**QUICK, "hedge_max_seconds": 2, "request_timeout_seconds": 10})
    p1.always(fp.hang())
    p2.always(fp.keepalive_only())
    reply, took = await timed(gw.responses(stream=True))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p3" and reply.text == "hello"
    assert took < 6, took  # two hedge delays (2 s each), far from the 10 s request timeout
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "provider_failure"), ("p3", "ok")]
    hedges = [e.message for e in gw.services.store.recent_events() if e.kind == "hedge"]
    assert any("P1 sent no first event" in m and "asking P3" not in m for m in hedges)
    assert any("P2 sent no first event" in m and "asking P3 too" in m for m in hedges)
    assert health(gw, "p1")["status"] == health(gw, "p2")["status"] == "unresponsive"
    # Both are out of rotation: the next request goes straight to p3.
    reply, took = await timed(gw.responses(stream=True))
    assert reply.headers["X-API-Router-Provider"] == "p3" and took < 1, took
    assert attempts(gw) == [("p3", "ok")]


async def test_a_failover_past_two_silent_providers_is_from_the_one_asked_first(fakes, gateway):
    """The preferred provider and its hedge both silent, the third answers: the route event says the
    failover is from the preferred provider (asked first), as a chain of refusals does, not from the hedge
    whose silence happened to be judged first."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"hedge_max_seconds": 3, "request_timeout_seconds": 30})
    p1.always(fp.hang())
    p2.always(fp.hang())
    events = [fp.sse_event(e) for e in fp.stream_events(fp.response_object("hello", provider="p3"))]
    p3.always(fp.raw_stream([b"".join(events)]))  # the whole answer in one piece, as many relays send it
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p3"
    routes = [e.message for e in gw.services.store.recent_events() if e.kind == "route"]
    assert routes and routes[0].startswith("Failover from P1 to P3: no first event within") \
        and "; P2: no first event within" in routes[0], routes


async def test_the_hedge_delay_adapts_to_the_providers_own_history(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"hedge_min_seconds": 3, "hedge_max_seconds": 10})
    assert health(gw, "p1")["hedge_delay_ms"] == 10_000  # no history: the maximum
    for _ in range(6):
        await gw.responses(stream=True)
    assert health(gw, "p1")["hedge_delay_ms"] == 3_000  # fast first events: the floor


async def test_hedging_can_be_turned_off(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "hedge": False, "request_timeout_seconds": 1.5})
    p1.always(fp.keepalive_only())
    reply, took = await timed(gw.responses(stream=True))
    assert reply.headers["X-API-Router-Provider"] == "p2"
    assert 1.4 <= took < 3, took  # the whole request timeout, since comments are no progress either
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]


async def test_the_client_leaving_as_a_race_is_won_leaves_no_upstream_open(fakes, gateway, monkeypatch):
    """The client leaves in the moment the race is decided (p1 answered late, after p2 was asked; its
    request task is cancelled as the loser is being dropped): the winner's answer, which nothing will
    read, is closed with the loser. No timeout would ever come for it: its connection and the provider's
    work would stay until the provider ended the stream."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "hedge_min_seconds": 0.3, "hedge_max_seconds": 0.3})
    # Well past its own hedge delay, so p2 is asked; p2 is past its own by then too, which changes nothing: the
    # client leaves as p2 is being dropped, and both end as client_closed. Then slow.
    p1.always(fp.stream_ok(first_delay=1.5, delay=0.5))
    p2.always(fp.keepalive_only(seconds=10))
    dropping = ResponsesProxy._drop_losers

    async def client_leaves_meanwhile(self, *args, **kwargs):
        asyncio.current_task().cancel()  # as aiohttp does when the client's connection closes
        return await dropping(self, *args, **kwargs)

    monkeypatch.setattr(ResponsesProxy, "_drop_losers", client_leaves_meanwhile)
    with pytest.raises(aiohttp.ClientError):
        await gw.responses(stream=True)
    serving = gw.services.require_serving()
    await wait_until(lambda: serving.state.inflight == 0, 5, "the request to end")
    await wait_until(lambda: not serving.upstream.open, 3, "every upstream answer to be closed")
    assert p1.calls == p2.calls == 1
    # The loser being dropped as the client left is recorded as what it was, not a silent failure.
    assert {(a["provider"], a["outcome"]) for a in gw.services.store.request_log()[0]["attempts"]} == {
        ("p1", "client_closed"), ("p2", "client_closed")}


async def test_the_client_leaving_during_a_hedge_race_cancels_both(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.keepalive_only())
    p2.always(fp.keepalive_only())
    # p2 is asked at 2 s (p1's hedge delay) and would be late at 4 s (its own): the client leaves a second
    # from either.
    timeout = aiohttp.ClientTimeout(total=3)
    try:
        async with gw.client.post(gw.base + "/v1/responses", json={**simple_body(), "stream": True},
                                  headers=gw.auth(), timeout=timeout) as resp:
            await resp.read()
    except TimeoutError:
        pass
    await wait_until(lambda: gw.services.require_serving().state.inflight == 0, 3, "the request to end")
    await wait_until(lambda: not gw.services.require_serving().upstream.open, 3, "both upstreams to be closed")
    row = gw.services.store.request_log()[0]
    assert row["status"] == 499 and {a["outcome"] for a in row["attempts"]} == {"client_closed"}
    assert [a["provider"] for a in row["attempts"]] == ["p1", "p2"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None, "application/json"])
async def test_an_event_stream_labelled_otherwise_is_relayed_as_one(fakes, gateway, content_type):
    """A relay that labels its event stream text/plain, octet-stream, JSON or not at all: Codex reads the
    bytes whatever the label, so the gateway does too — the answer, its tokens, no failover — and the
    client gets it labelled as what it is."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.raw_stream([_written(_events())], content_type=content_type))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.event_types[-1] == "response.completed" and reply.text == "answer"
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    assert attempts(gw) == [("p1", "ok")] and p2.calls == 0
    assert gw.services.store.request_log()[0]["total_tokens"] > 0


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
@pytest.mark.parametrize("path", ["/v1/responses", "/v1/responses/compact"])
async def test_an_event_stream_labelled_otherwise_reaches_a_json_request_as_json(fakes, gateway, content_type, path):
    """A JSON request answered with an event stream under another label — JSON included — gets the response
    object that stream carries, as JSON: the stream's own bytes under a JSON label are no JSON."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    response = fp.response_object("answer", provider="p1")
    if path.endswith("/compact"):
        response["output"] = [{"type": "compaction", "id": "cmp_1", "encrypted_content": "sealed-by-p1"}]
    p1.always(fp.raw_stream([fp.sse_event(e) for e in fp.stream_events(response)], content_type=content_type))
    reply = await gw.responses(stream=False, path=path)
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json"), reply.body[:200]
    assert reply.json["id"] == response["id"] and reply.json["output"] == response["output"]
    assert attempts(gw) == [("p1", "ok")] and p2.calls == 0


@pytest.mark.parametrize("event", ["response.failed", "error"])
async def test_a_json_request_answered_by_a_failing_stream_records_what_the_provider_said(fakes, gateway, event):
    """A server-side failure reported in an event stream to a JSON request fails over as it would in a
    stream, and the record says why, not only that the stream failed."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.in_band_failure("server_error", "upstream shard 7 overloaded", error_type="server_error",
                                 event=event))
    reply = await gw.responses(stream=False)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.body[:300]
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    error = gw.services.store.request_log()[0]["attempts"][0]["error"]
    assert "upstream shard 7 overloaded" in error, error


async def test_plain_text_that_is_no_event_stream_fails_over_saying_what_came(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.raw_stream([b"upstream busy, try later\n"], content_type="text/plain"))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert reply.event_types[-1] == "response.completed"
    assert attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]
    error = gw.services.store.request_log()[0]["attempts"][0]["error"]
    assert error == "answered text/plain that is not JSON: upstream busy, try later", error


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None])
async def test_a_whole_answer_labelled_otherwise_to_a_streamed_request_is_still_an_answer(fakes, gateway,
                                                                                           content_type):
    """Not every such body is a stream: a provider that ignores stream=true may send its whole answer
    under the same labels, and the client gets it as a stream, as with a JSON label."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    answer = json.dumps(fp.response_object("whole answer", provider="p1")).encode()
    p1.always(fp.raw_stream([answer[:40], answer[40:]], delay=0.05, content_type=content_type))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.event_types[-1] == "response.completed" and reply.text == "whole answer"
    assert attempts(gw) == [("p1", "ok")] and p2.calls == 0


def labelled(content_type: str | None, *, whole: bool) -> fp.Behaviour:
    """A relay that answers every stream under ``content_type``: its events, or (``whole``) the whole
    response object."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        response = fp.response_object("back", provider=fake.name)
        chunks = [json.dumps(response).encode()] if whole else [fp.sse_event(e) for e in fp.stream_events(response)]
        return await fp.raw_stream(chunks, content_type=content_type)(request, fake)
    return run


@pytest.mark.parametrize("whole", [False, True], ids=["events", "whole answer"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None, "application/json"])
async def test_a_check_and_a_test_read_a_stream_labelled_otherwise_as_requests_do(fakes, gateway, content_type,
                                                                                   whole):
    """Requests read such a stream (or whole answer) as the answer it is: a background check must too, or a
    provider that serves every request stays out of rotation, and its test fails."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 1.5})
    p1.always(fp.hang())
    await gw.responses(body=simple_body(model="gpt-5.5"))  # not a stream: no hedge, the timeout applies
    assert health(gw, "p1")["status"] == "unresponsive"
    p1.always(labelled(content_type, whole=whole))
    await wait_until(lambda: health(gw, "p1")["status"] == "healthy", 5, "a background check to bring p1 back")
    result = await gw.api("test_provider", provider="p1")
    assert result["ok"] is True, result


async def test_a_check_stops_holding_a_plain_text_stream_that_is_no_answer_past_4_mb(fakes, gateway):
    """A stream labelled text/plain is held in case it is a whole answer, but no answer is this long: past
    the error body limit the check lets it go and says why (it grew without bound)."""
    p1 = (await fakes("p1"))[0]
    gw = await gateway({"p1": p1}, routing=QUICK)
    line = b"still working on it " * 50 + b"\n"
    p1.always(fp.raw_stream([line * 200] * 30, content_type="text/plain"))  # about 6 MB, no event in it
    result = await gw.api("test_provider", provider="p1")
    assert not result["ok"] and "more than 4 MB of text/plain" in result["error"], result["error"][:300]


@pytest.mark.parametrize("only", [b"data: [DONE]\n\n",
                                  b'data: {"error": {"type": "server_error", "message": "overloaded"}}\n\n',
                                  b'data: {"type": "response.created", "response": {"id": "r"}}\n\n'
                                  b'data: {"type": "response.output_error", "message": "overloaded"}\n\n'])
async def test_a_check_answered_by_no_responses_event_keeps_the_provider_out(fakes, gateway, only):
    """A relay whose every stream is a bare [DONE] (or an untyped error): requests find it failing, and a
    background check must not take the same stream for an answer and bring it back every few seconds."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "failure_threshold": 2, "check_interval_seconds": 0.3})
    p1.always(fp.raw_stream([only]))
    for _ in range(2):
        assert (await gw.responses(stream=True)).headers["X-API-Router-Provider"] == "p2"
    assert health(gw, "p1")["status"] == "cooldown"
    checked = len(p1.requests)
    await wait_until(lambda: len(p1.requests) > checked + 1, 5, "two background checks")
    assert health(gw, "p1")["status"] == "cooldown"
    assert not any("answers again" in e.message for e in gw.services.store.recent_events())


@pytest.mark.parametrize("last", ["answer", "client_error"])
async def test_a_json_request_answered_by_a_stream_left_open_after_its_end_is_not_kept_waiting(fakes, gateway, last):
    """The stream's end event decides, as it does for a streamed request: the answer (or the request's own
    error) at once — not a wait for the idle timeout that then blames the provider and asks another."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "stream_idle_timeout_seconds": 20})
    if last == "answer":
        events = [fp.sse_event(e) for e in _events()] + [b"data: [DONE]\n\n"]
    else:
        events = [b'event: error\ndata: {"type": "error", "code": "context_length_exceeded", "param": "input", '
                  b'"message": "Your input exceeds the context window of this model."}\n\n']
    p1.always(fp.raw_stream(events, hang=30))
    reply, took = await timed(gw.responses(stream=False))
    assert took < 2, took
    if last == "answer":
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"
        assert attempts(gw) == [("p1", "ok")]
    else:
        assert reply.status == 400 and b"context_length_exceeded" in reply.body
        assert attempts(gw) == [("p1", "client_error")]
    assert p2.calls == 0


async def test_streams_past_the_opening_events_stop_waiting_on_a_provider_found_not_answering(fakes, gateway):
    """A relay that sends response.created and then only keep-alives: the first stream finds it not
    answering at its request timeout; a second stream that opened later and waits on it the same way asks
    the next provider then, instead of sitting out its own timeout."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={
        **QUICK, "request_timeout_seconds": 4, "stream_idle_timeout_seconds": 8, "hedge_min_seconds": 20,
        "hedge_max_seconds": 20, "check_interval_seconds": 60})
    p1.always(fp.keepalive_only(before=1, seconds=30, interval=0.5))
    started = time.perf_counter()
    ended: dict[str, float] = {}

    async def stream(delay: float, name: str) -> None:
        await asyncio.sleep(delay)
        reply = await gw.responses(stream=True)
        assert reply.headers["X-API-Router-Provider"] == "p2" and reply.event_types[-1] == "response.completed"
        ended[name] = time.perf_counter() - started

    await asyncio.gather(stream(0, "first"), stream(2, "second"), stream(2.5, "third"), stream(3, "fourth"))
    assert 3.8 < ended["first"] < 5, ended
    assert ended["second"] < ended["first"] + 0.8, ended  # not at 2 + 4 s
    log = gw.services.store.request_log()
    given_up = [r for r in log if r["attempts"][0]["error"].startswith("no answer (only")]
    assert len(given_up) == 3
    assert [(a["provider"], a["outcome"]) for a in given_up[0]["attempts"]] == [("p1", "provider_failure"),
                                                                               ("p2", "ok")]
    # Judged once, by the request that found it not answering: no failure counted again, no cooldown.
    about_p1 = [e.message for e in gw.services.store.recent_events() if e.provider == "p1"]
    assert sum("in a row" in m for m in about_p1) == 1 and not any("cooling down" in m for m in about_p1), about_p1
    assert health(gw, "p1")["status"] == "unresponsive"


async def test_streams_cut_for_stalling_leave_nothing_behind(fakes, gateway):
    """aiohttp (3.14) makes a body the gateway closes fail with one exception object shared by every
    response, and each raise of it added to its traceback: every stream cut for stalling stayed in memory
    through it, with its response and frames (20-30 KB each, without end while a relay kept stalling)."""
    import gc

    p1, p2 = await fakes("p1", "p2")
    # Cut by the idle limit (0.2 s of keep-alives after response.created), not by a short request timeout: a stall
    # of the test process can only bring a cut sooner, never let p1's opening miss its (5 s) deadline.
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "stream_idle_timeout_seconds": 0.2,
                                                      "hedge_min_seconds": 20, "hedge_max_seconds": 20})
    await gw.api("set_manual_override", provider="p1")  # every stream goes to the stalling relay
    p1.always(fp.keepalive_only(before=1, seconds=30, interval=0.05))

    def responses_alive() -> int:
        gc.collect()
        return sum(isinstance(o, aiohttp.ClientResponse) for o in gc.get_objects())

    before = responses_alive()
    for _ in range(8):
        reply = await gw.responses(stream=True)
        assert reply.status >= 500 or b"response.failed" in reply.body
        # Each cut takes p1 out of rotation at once, and the next stream would get a 5xx without reaching it
        # (nothing cut): p1 is back, as a background check's answer would bring it.
        gw.services.router.record_check(gw.services.config.current, "p1", True, "background check")
    assert client_requests(p1) == 8, client_requests(p1)  # eight cut streams, one after another: the leak grew
    assert responses_alive() - before <= 2


async def test_a_pooled_connection_the_provider_resets_logs_no_error(fakes, gateway, caplog):
    """The connection's "closed" future the gateway watches got the reset as its exception after the
    connection went back to the pool; nobody read it, so asyncio logged an ERROR with a traceback each time."""
    import gc
    import socket

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "failure_threshold": 100})
    served = 0

    async def resetting(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        nonlocal served
        served += 1
        await request.read()
        if served % 2 == 0:  # the reused connection: reset, before any header
            sock = request.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            request.transport.close()
            await asyncio.sleep(0.05)
            return web.Response()
        return await fp.raw_stream([_written([e]) for e in _events()], delay=0.02)(request, fake)  # still coming

    p1.always(resetting)
    with caplog.at_level("ERROR", logger="asyncio"):
        for _ in range(4):
            reply = await gw.responses(stream=True)
            assert reply.status == 200 and reply.event_types[-1] == "response.completed"
        # Each answer after the first: reset on the connection the answer before left in the pool, then
        # sent again on a new one (a pooled connection hung up on is not the provider's failure).
        assert served == 7
        await gw.close()  # the pool's connections go: what nobody retrieved is told as they are collected
        for _ in range(3):
            gc.collect()
            await asyncio.sleep(0.05)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()], caplog.text[-2000:]


@pytest.mark.parametrize("status", [413, 503])
async def test_a_relay_that_answers_before_the_body_and_resets_logs_no_error(fakes, gateway, caplog, status):
    """A relay's front end answers a large body at once (nginx's 413 over its limit, a 503) without reading it,
    then hangs up while the gateway still sends: the connection is reset under the upload. The answer is
    right (the 413 passed on, the 503 failed over); nobody reads the reset the connection's "closed" future
    got, which asyncio logged as an ERROR with a traceback — the answer had come whole with its headers."""
    import gc
    import socket
    import struct

    (p2,) = await fakes("p2")

    async def answer_early(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = json.dumps({"error": {"message": "too large here", "type": "invalid_request_error"}}).encode()
        writer.write(b"HTTP/1.1 %d Refused\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (status, len(body), body))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    relay = await asyncio.start_server(answer_early, "127.0.0.1", 0)
    port = relay.sockets[0].getsockname()[1]
    try:
        gw = await gateway({"p1": f"http://127.0.0.1:{port}/v1", "p2": p2}, routing={**QUICK, "failure_threshold": 100})
        big = simple_body("x" * (16 * 1024 * 1024))
        with caplog.at_level("ERROR", logger="asyncio"):
            for _ in range(3):
                reply = await gw.responses(big)
                assert reply.status == (413 if status == 413 else 200), reply.body[:200]
            await gw.close()
            for _ in range(3):
                gc.collect()
                await asyncio.sleep(0.05)
        assert not [r for r in caplog.records if "never retrieved" in r.getMessage()], caplog.text[-2000:]
    finally:
        relay.close()


async def test_a_relay_with_a_response_header_longer_than_8_kb_is_read(fakes, gateway):
    """A 9 KB Set-Cookie or Content-Security-Policy from a relay's front end: Codex reads the answer,
    so the gateway does (aiohttp's client stops at 8190 bytes per header line by default)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(fp.stream_ok("long headers", headers={"Set-Cookie": "a=" + "x" * 9000,
                                                    "Content-Security-Policy": "default-src " + "y" * 9000}))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.text == "long headers"
    assert attempts(gw) == [("p1", "ok")] and p2.calls == 0


CODEX_UA = "codex_exec/0.169.0 (Debian 12; x86_64) xterm-256color (codex_exec; 0.169.0)"


def codex_only(behaviour: fp.Behaviour) -> fp.Behaviour:
    """A relay that serves the Codex CLI only (it looks at the User-Agent), as some do."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        if not request.headers.get("User-Agent", "").startswith("codex"):
            return web.json_response({"error": {"message": "this relay only serves the Codex CLI"}}, status=403)
        return await behaviour(request, fake)
    return run


async def test_the_gateways_own_requests_ask_as_its_client_does(fakes, gateway):
    """Background checks, provider tests and probes carry the User-Agent and originator of the latest
    client request: a relay that serves only Codex answers them, so a provider that answers Codex comes
    back into rotation. /v1/models passes on the client's own headers and query."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 1.5})
    codex = {"User-Agent": CODEX_UA, "originator": "codex_exec"}
    p1.always(fp.hang())
    await gw.responses(body=simple_body(model="gpt-5.5"), headers=codex)  # no hedge for JSON: it times out
    assert health(gw, "p1")["status"] == "unresponsive"
    # Another client since (a script with an SDK), and one sending the headers empty: the checks still ask
    # as Codex did.
    await gw.responses(headers={"User-Agent": "OpenAI/Python 1.99"})
    await gw.responses(headers={"User-Agent": "", "originator": ""})
    p1.always(codex_only(fp.stream_ok("back")))
    await wait_until(lambda: health(gw, "p1")["status"] == "healthy", 5, "a background check to bring p1 back")
    check = p1.requests[-1]
    assert check.headers["User-Agent"] == CODEX_UA and check.headers["originator"] == "codex_exec"
    p1.models_behaviour = codex_only(fp.status(200, body=b'{"data": [{"id": "m"}]}'))
    result = await gw.api("test_provider", provider="p1")
    assert result["ok"] is True, result
    models = await gw.request("GET", "/v1/models?client_version=0.169.0", headers=codex)
    assert models.status == 200 and models.headers["X-API-Router-Provider"] == "p1"
    asked = p1.model_requests[-1]
    assert asked.headers["User-Agent"] == CODEX_UA and asked.query == "client_version=0.169.0"


def redirecting(location: str) -> fp.Behaviour:
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": location})
    return run


async def test_a_redirect_is_not_followed_and_the_error_says_where_it_leads(fakes, gateway):
    """A base URL written http:// for a relay that moved to https://: the key is never sent on to another
    address, and the error says where the relay points, so the user can fix the base URL."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing=QUICK)
    p1.always(redirecting("https://relay.example/v1/responses"))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    error = gw.services.store.request_log()[0]["attempts"][0]["error"]
    assert error.startswith("HTTP 301") and "redirects to https://relay.example/v1/responses" in error, error
    result = await gw.api("test_provider", provider="p1")
    assert not result["ok"] and "redirects to https://relay.example/v1/responses" in result["error"], result
    # The model list too, wherever it is asked for.
    p1.models_behaviour = redirecting("https://relay.example/v1/models")
    probe = await gw.api("probe_provider", provider="p1")
    assert "redirects to https://relay.example/v1/models" in probe["error"], probe


async def test_a_check_judges_an_event_stream_labelled_json_as_it_judges_a_stream(fakes, gateway):
    """The request's own error in such a stream (the check's "ping" refused as invalid) proves the relay
    answers Responses requests, as it does in a stream labelled as one: the provider comes back."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "request_timeout_seconds": 1.5})
    p1.always(fp.hang())
    await gw.responses(body=simple_body(model="gpt-5.5"))
    assert health(gw, "p1")["status"] == "unresponsive"
    refusal = {"type": "error", "error": {"type": "invalid_request_error", "code": "invalid_value",
                                          "message": "max_output_tokens must be at least 32"}}
    p1.always(fp.raw_stream([b"event: error\ndata: " + json.dumps(refusal).encode() + b"\n\n"],
                            content_type="application/json"))
    await wait_until(lambda: health(gw, "p1")["status"] == "healthy", 5, "a background check to bring p1 back")


async def _relay_closing_pooled_connections(answer: bytes, served: list[int | None], *, hang_up_on: int):
    """A relay that answers the first ``hang_up_on - 1`` requests of each connection and hangs up on the next one
    without reading it — what a relay closing a keep-alive connection it found idle does to the request
    that was just being sent on it. ``served``: how many requests each connection answered (None: one that
    only asked for a usage panel — the usage checks look for one — which it does not have)."""
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mine = len(served)
        served.append(0)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"GET "):
                    served[mine] = None
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    await writer.drain()
                    break
                if served[mine] + 1 >= hang_up_on:
                    break
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(answer), answer))
                await writer.drain()
                served[mine] += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.transport.abort()

    return await asyncio.start_server(relay, "127.0.0.1", 0)


async def test_a_pooled_connection_the_relay_closes_as_it_is_reused_costs_no_failover(fakes, gateway):
    """The request goes out again on a new connection: no failure, no 502, the session stays."""
    (p2,) = await fakes("p2")
    served: list[int | None] = []
    answer = json.dumps(fp.response_object("from p1", provider="p1")).encode()
    relay = await _relay_closing_pooled_connections(answer, served, hang_up_on=2)
    try:
        port = relay.sockets[0].getsockname()[1]
        gw = await gateway({"p1": f"http://127.0.0.1:{port}/v1", "p2": p2}, routing={**QUICK, "hedge": False})
        body = {**simple_body(), "prompt_cache_key": "s-kept"}
        replies = [await gw.responses(body) for _ in range(4)]
    finally:
        relay.close()
    assert [r.status for r in replies] == [200] * 4, [r.body for r in replies]
    assert {r.headers["X-API-Router-Provider"] for r in replies} == {"p1"}
    assert health(gw, "p1")["consecutive_failures"] == 0 and not client_requests(p2)
    # each connection answered one request: every reuse was hung up on
    assert [n for n in served if n is not None][:4] == [1, 1, 1, 1]


async def test_a_pooled_connection_cut_after_the_relay_worked_on_the_request_is_not_sent_again(fakes, gateway):
    """A relay that read the request, worked on it, then dropped the connection may have done the work: the
    request goes to the next provider (as before), not to the same one again on another connection."""
    import socket

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={**QUICK, "hedge": False})

    async def works_then_drops(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        await request.read()
        if len(fake.requests) == 1:
            return await fp.json_ok("first")(request, fake)  # its connection goes back to the pool
        await asyncio.sleep(0.7)
        sock = request.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        request.transport.close()
        await asyncio.sleep(0.05)
        return web.Response()

    p1.always(works_then_drops)
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    reply = await gw.responses()
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert client_requests(p1) == 2, client_requests(p1)


async def test_a_relay_that_hangs_up_on_a_new_connection_is_not_asked_again_there(fakes, gateway):
    """Only a pooled connection is a reason to send again: one made for this request and hung up on is
    the provider's failure, and the next provider answers."""
    (p2,) = await fakes("p2")
    served: list[int | None] = []
    relay = await _relay_closing_pooled_connections(b"{}", served, hang_up_on=1)
    try:
        port = relay.sockets[0].getsockname()[1]
        gw = await gateway({"p1": f"http://127.0.0.1:{port}/v1", "p2": p2}, routing={**QUICK, "hedge": False})
        reply = await gw.responses()
    finally:
        relay.close()
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert [n for n in served if n is not None] == [0] and attempts(gw) == [("p1", "provider_failure"), ("p2", "ok")]


async def test_the_gateways_own_failure_event_carries_the_providers_whole_message(fakes, gateway):
    """An untyped failure after output, told as the gateway's response.failed: the provider's words whole
    (its request id at the end), not the 300 characters the dashboard shows."""
    said = ("The server had an error while processing your request. Sorry about that! You can retry your "
            "request, or contact us through our help center if the error persists. Upstream said: backend pool "
            "exhausted after 3 attempts (eu-west-1, eu-central-1, us-east-1), last error: connection reset by "
            "peer while reading the response headers. Please include the request ID req_7f3a9c2e1b.")
    assert len(said) > 300
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.in_band_failure("server_error", said, error_type="server_error", event="error_untyped",
                                 after_output=True))
    reply = await gw.responses(stream=True)
    failed = [e for e in reply.events if e.get("type") == "response.failed"]
    assert failed and failed[-1]["response"]["error"]["message"] == said, reply.events


async def test_a_status_line_no_parser_reads_is_recorded_as_one_short_line(gateway):
    """aiohttp's parser quotes the provider's bytes: a 2 KB status line with an escape sequence became a
    multi-line reason, events and request-log error."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 2\x1b[2J00 " + b"A" * 2000 + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        gw = await gateway({"p1": f"http://127.0.0.1:{port}/v1"})
        assert (await gw.responses()).status == 502
        status = await gw.api("get_status")
        gw.services.store.flush()
        row = gw.services.store.request_log()[0]
        shown = [status["summary"]["reason"], *(e["message"] for e in status["recent_events"]), row["error"] or "",
                 *((a["error"] or "") for a in row["attempts"])]
        for text in shown:
            assert len(text) < 700 and not re.search(r"[\x00-\x1f\x7f-\x9f]", text), repr(text[:300])
    finally:
        server.close()


def test_a_failure_message_of_only_controls_and_spaces_still_says_the_provider_failed():
    from api_router.gateway.classify import error_message_of_event

    said = error_message_of_event({"type": "response.failed", "response": {"error": {"message": "\x1b\x07 \u2028 "}}})
    assert said == "the provider reported an error"


async def test_a_provider_that_cannot_be_reached_is_named_in_a_persons_words(fakes, gateway):
    """What the event loop and OpenSSL say ("Connect call failed ('127.0.0.1', 9)", "[SSL:
    WRONG_VERSION_NUMBER] … (_ssl.c:1006)") is no cause one can act on: the OS's words, and for an https://
    address that speaks plain HTTP, what to check."""
    (p1,) = await fakes("p1")
    closed = fp.free_port()
    tls_on_plain = p1.base_url.replace("http://", "https://")
    gw = await gateway({"gone": f"http://127.0.0.1:{closed}/v1", "plain": tls_on_plain}, order=["gone", "plain"])
    reply = await gw.responses()
    errors = [a["error"] for a in gw.services.store.request_log()[0]["attempts"]]
    assert reply.status == 502 and errors == [
        f"cannot connect to 127.0.0.1:{closed} (Connection refused)",
        f"cannot connect to 127.0.0.1:{p1.port} (it does not speak TLS there: is the address http:// rather than "
        "https://?)"], errors


@pytest.mark.parametrize(("error", "said"), [
    (socket.gaierror(-2, "Name or service not known"), "Name or service not known"),  # Linux
    (socket.gaierror(8, "nodename nor servname provided, or not known"),  # macOS: a positive EAI code
     "nodename nor servname provided, or not known"),
    (socket.gaierror(11001, "getaddrinfo failed"), "getaddrinfo failed"),  # Windows
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 9)"), "Connection refused"),
    (OSError(10061, "No connection could be made because the target machine actively refused it"),  # Winsock
     "No connection could be made because the target machine actively refused it"),
])
def test_a_connection_error_keeps_the_words_that_name_its_cause(error, said):
    """The system's words for an errno, unless the error is a name lookup's (its code is no errno on macOS
    and Windows) or a code the C library cannot name: then the message it came with."""
    from aiohttp.client_reqrep import ConnectionKey

    from api_router.gateway.upstream import describe_exception

    key = ConnectionKey("relay.example", 443, True, True, None, None, None)
    exc = (aiohttp.ClientConnectorDNSError if isinstance(error, socket.gaierror) else aiohttp.ClientConnectorError)(
        key, error)
    assert describe_exception(exc, 30) == f"cannot connect to relay.example:443 ({said})"


def test_a_certificate_refused_says_why():
    """Self-signed, expired, another host's: OpenSSL's verify message, not only "verify failed"."""
    import ssl

    from aiohttp.client_reqrep import ConnectionKey

    from api_router.gateway.upstream import describe_exception

    refused = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                              "certificate has expired (_ssl.c:1006)")
    refused.reason, refused.verify_message = "CERTIFICATE_VERIFY_FAILED", "certificate has expired"
    key = ConnectionKey("relay.example", 443, True, True, None, None, None)
    exc = aiohttp.ClientConnectorCertificateError(key, refused)
    assert describe_exception(exc, 30) == ("cannot connect to relay.example:443 (its TLS certificate is not accepted: "
                                           "certificate has expired)")


@pytest.mark.parametrize(("status", "code", "kept"), [
    (429, "rate_limit_exceeded", 120.0), (400, "rate_limit_exceeded", 120.0),
    (503, "rate_limit_exceeded", None), (400, "invalid_request_error", None), (429, "ms", 2.5),
])
async def test_a_check_keeps_a_retry_after_where_a_request_would(fakes, gateway, status, code, kept):
    """A 429, or a client-error status whose body says rate limit: its Retry-After counts for a check as for a
    request. A 503 saying so is a plain failure for a request, and so for a check."""
    from api_router.gateway.checks import check_body, probe_responses

    (p1,) = await fakes("p1")
    body = json.dumps({"error": {"message": "slow down", "type": code, "code": code}}).encode()
    waits = {"retry-after-ms": "2500", "Retry-After": "120"} if code == "ms" else {"Retry-After": "120"}
    p1.always(fp.status(status, body=body, headers=waits))
    gw = await gateway({"p1": p1}, routing={"check_interval_seconds": 60})
    serving = gw.services.require_serving()
    probe = await probe_responses(serving.upstream, gw.services.config.current.providers["p1"], "k", check_body(None), 5)
    assert probe.retry_after == kept, probe
