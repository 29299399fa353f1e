"""The status document's round-2 fields: the serving summary, requests today, quota left."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator

import pytest

from tests.support import fake_provider as fp
from tests.support.usage import new_api


async def summary(gw):
    return (await gw.request("GET", "/status")).json["summary"]


async def test_summary_follows_serving_fallback_lock_and_down(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 60})
    assert await summary(gw) == {"state": "serving", "line": "P1 · serving", "provider": "p1", "reason": "",
                                 "advice": ""}

    p1.always(fp.status(503, "relay overloaded"))
    assert (await gw.responses()).status == 200
    s = await summary(gw)
    assert (s["state"], s["line"], s["provider"]) == ("fallback", "failover to P2", "p2")
    assert "relay overloaded" in s["reason"]

    await gw.api("set_manual_override", provider="p2")
    s = await summary(gw)
    assert (s["state"], s["line"]) == ("serving", "P2 · locked")

    await gw.api("set_manual_override", provider=None)
    p2.always(fp.status(500, "broken too"))
    assert (await gw.responses()).status == 502
    s = await summary(gw)
    assert (s["state"], s["line"], s["provider"]) == ("down", "all providers down", None)
    assert "P2: HTTP 500: broken too" in s["reason"] and s["advice"]
    # The failures started cooldowns: how long until one may serve again is part of what to do.
    assert re.match(r"P\d may serve again in \d+ s \(its cooldown ends\)\. Check the providers", s["advice"])
    kinds = [e["kind"] for e in (await gw.api("list_events"))["events"]]
    assert kinds.count("all_down") == 1


async def test_unlocking_resumes_automatic_routing_at_once_in_the_summary(fakes, gateway):
    """Back to automatic: the card shows what automatic routing does now, not a failover to the provider
    that was locked, nor an "all down" that only the lock caused."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 60})
    await gw.api("set_manual_override", provider="p2")
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    await gw.api("set_manual_override", provider=None)
    assert await summary(gw) == {"state": "serving", "line": "P1 · serving", "provider": "p1", "reason": "",
                                 "advice": ""}
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    routes = [e.message for e in gw.services.store.list_events() if e.kind == "route"]
    assert routes[0].startswith("Back to preferred provider P1 from P2"), routes

    p2.always(fp.status(500, "broken"))
    await gw.api("set_manual_override", provider="p2")
    assert (await gw.responses()).status == 502
    assert (await summary(gw))["state"] == "down"
    await gw.api("set_manual_override", provider=None)
    s = await summary(gw)
    assert (s["state"], s["provider"]) == ("serving", "p1")
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"


async def test_all_down_names_every_provider_not_only_the_last_one_tried(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 60})
    p1.always(fp.status(500, "p1 broken"))
    p2.always(fp.status(503, "p2 broken"))
    assert (await gw.responses()).status == 502
    assert (await gw.responses()).status == 502  # both cool down: only one of them is tried again
    reason = (await summary(gw))["reason"]
    assert "P1" in reason and "P2" in reason, reason


async def test_all_down_says_what_each_provider_failed_with_in_the_event_and_the_banner(fakes, gateway):
    """The providers passed by (cooling down) are named with the failure that put them there, and a
    404 from a base URL without a path carries the /v1 hint — in the all_down event and the summary."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1.base_url.removesuffix("/v1"), "p2": p2},
                       routing={"failure_threshold": 1, "cooldown_seconds": 60})
    p1.always(fp.status(404, "Not Found"))
    p2.always(fp.status(503, "p2 broken"))
    assert (await gw.responses()).status == 502
    event = [e.message for e in gw.services.store.recent_events() if e.kind == "all_down"][-1]
    assert event.startswith("All providers failed — P1: HTTP 404") and "its base URL" in event and "has no path" in event
    assert "P2: HTTP 503: p2 broken" in event
    await gw.responses()  # both cool down: one is asked as a last resort, the other is passed by
    reason = (await summary(gw))["reason"]
    assert "cooling down for" in reason and " after HTTP " in reason, reason
    assert reason.count("has no path") == 1 and "P2" in reason, reason


async def test_a_provider_rows_last_error_carries_the_v1_hint(fakes, gateway):
    """The provider row's last error says what to do about a 404 from a base URL without a path, as the
    502 does (and only there: p2's 503 gets none); once it answers again the row has no error, hint
    included."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1.base_url.removesuffix("/v1"), "p2": p2},
                       routing={"failure_threshold": 3, "cooldown_seconds": 60})
    p1.always(fp.status(404, "Not Found"))  # (the fake answers 404 to any path but /v1/… anyway)
    assert (await gw.responses()).status == 200  # p2 served
    row = (await gw.api("get_status"))["providers"]["p1"]
    assert row["last_error"].startswith("HTTP 404") and "has no path" in row["last_error"], row
    assert "ending in /v1" in row["last_error"] and row["last_error"].count("has no path") == 1
    p2.always(fp.status(503, "p2 broken"))
    assert (await gw.responses()).status == 502
    rows = (await gw.api("get_status"))["providers"]
    assert "p2 broken" in rows["p2"]["last_error"] and "has no path" not in rows["p2"]["last_error"]
    assert rows["p1"]["last_status"] == 404 and rows["p2"]["last_status"] == 503
    # The base URL mended and p1 asked: it answers, and its row has no error, hint included.
    await gw.api("upsert_provider", provider="p1", base_url=p1.base_url)
    await gw.api("set_manual_override", provider="p1")
    p1.always(fp.json_ok())
    assert (await gw.responses()).status == 200
    row = (await gw.api("get_status"))["providers"]["p1"]
    assert row["last_error"] == "" and row["last_status"] is None, row


async def test_a_provider_that_answers_a_check_ends_all_down(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 60})
    for fake in (p1, p2):
        fake.always(fp.status(500, "broken"))
    assert (await gw.responses()).status == 502
    assert (await summary(gw))["state"] == "down"
    p1.always(fp.stream_ok("back"))
    result = await gw.api("test_provider", provider="p1")
    assert result["ok"], result
    s = await summary(gw)
    assert (s["state"], s["provider"]) == ("serving", "p1")


async def test_summary_without_providers(gateway):
    gw = await gateway({})
    s = await summary(gw)
    assert (s["state"], s["line"], s["provider"]) == ("no_providers", "no provider configured", None)
    # The Gateway card shows "line · reason": the reason says what to do, not the line again.
    assert s["reason"] == "add one with its base URL and key"


async def test_summary_when_every_provider_is_disabled_says_so(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    for pid in ("p1", "p2"):
        await gw.api("set_provider_disabled", provider=pid, disabled=True)
    s = await summary(gw)
    assert (s["state"], s["line"], s["provider"]) == ("no_providers", "every provider is disabled", None)
    assert s["reason"] == "every provider is switched off: P1, P2"
    assert s["advice"].startswith("Enable a provider")


async def test_requests_today_counts_client_requests_and_survives_a_restart(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    assert (await gw.request("GET", "/status")).json["requests_today"] == 0
    for _ in range(3):
        await gw.responses()
    p1.always(fp.status(400, "bad"))
    await gw.responses()
    assert (await gw.request("GET", "/status")).json["requests_today"] == 4
    user_data = gw.services.paths.user_data
    await gw.close()
    from tests.support.harness import start_harness

    again = await start_harness(user_data)
    try:
        assert (await again.request("GET", "/status")).json["requests_today"] == 4
    finally:
        await again.close()


async def test_a_provider_test_after_a_restart_asks_for_the_model_last_sent_to_it(fakes, gateway):
    """The README: a test asks for the model last sent to that provider — known from the request log
    after a restart, not only from the run that sent it."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    from tests.support.harness import simple_body

    await gw.responses({**simple_body(), "model": "gpt-5-codex"})
    user_data = gw.services.paths.user_data
    await gw.close()
    from tests.support.harness import start_harness

    again = await start_harness(user_data)
    try:
        asked = len(p1.requests)
        await again.api("test_provider", provider="p1")
        assert {r.json.get("model") for r in p1.requests[asked:] if r.path.endswith("/responses")} == {"gpt-5-codex"}
    finally:
        await again.close()


async def test_a_provider_test_asks_for_what_requests_send_after_its_model_map_changed(fakes, gateway):
    """The README: a test asks for what requests will send — the model last served there, through the
    model_map as it is now. A map entry fixed (or broken) since is what the test tries, not the old name."""
    from tests.support.harness import simple_body

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})

    async def tested_with() -> set[str]:
        asked = len(p1.requests)
        await gw.api("test_provider", provider="p1")
        return {r.json.get("model") for r in p1.requests[asked:] if r.path.endswith("/responses")}

    await gw.responses({**simple_body(), "model": "gpt-5.5"})
    assert await tested_with() == {"gpt-5.5"}
    await gw.api("upsert_provider", provider="p1", model_map={"gpt-5.5": "openai/gpt-5.5"})  # the relay renamed it
    assert await tested_with() == {"openai/gpt-5.5"}
    await gw.responses({**simple_body(), "model": "gpt-5.5"})
    await gw.api("upsert_provider", provider="p1", model_map={"gpt-5.5": "openai/gpt-5.5-typo"})
    assert await tested_with() == {"openai/gpt-5.5-typo"}


async def test_after_a_restart_a_provider_asks_for_no_model_of_the_one_deleted_under_its_id_or_its_old_address(
        fakes, gateway):
    """The request log keeps a deleted provider's rows under its id, and an old address's: a provider added
    later under that id, or the same one at a new address, does not take their model for its own. A rename
    takes its own along."""
    from tests.support.harness import simple_body, start_harness

    p1, p2, other = await fakes("p1", "p2", "other")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.responses({**simple_body(), "model": "p1-own-model"})
    await gw.api("set_manual_override", provider="p2")
    await gw.responses({**simple_body(), "model": "old-relay-model"})
    await gw.api("set_manual_override", provider=None)
    await gw.api("delete_provider", provider="p2")
    await gw.api("upsert_provider", provider="p2", base_url=other.base_url, create=True)
    await gw.api("rename_provider", provider="p1", new_id="renamed")
    user_data = gw.services.paths.user_data
    await gw.close()

    again = await start_harness(user_data)
    try:
        for fake, pid, wanted in ((other, "p2", "other-model-a"), (p1, "renamed", "p1-own-model")):
            asked = len(fake.requests)
            await again.api("test_provider", provider=pid)
            assert {r.json.get("model") for r in fake.requests[asked:] if r.path.endswith("/responses")} == {wanted}
    finally:
        await again.close()


async def test_quota_left_percent_comes_from_the_last_usage_reading(fakes, gateway):
    (p1,) = await fakes("p1")
    p1.usage = new_api(300, used=100)
    gw = await gateway({"p1": p1})
    status = (await gw.request("GET", "/status")).json
    assert status["providers"]["p1"]["quota_left_percent"] is None
    await gw.api("refresh_usage", provider="p1")
    status = (await gw.request("GET", "/status")).json
    assert status["providers"]["p1"]["quota_left_percent"] == 75.0


async def test_the_down_advice_waits_for_a_cooldown_only_where_time_brings_a_provider_back(fakes, gateway):
    (p1,) = await fakes("p1")
    # 1 s: long enough for an instant 503 even after a stall, far shorter than the hang below
    gw = await gateway({"p1": p1}, routing={"failure_threshold": 1, "request_timeout_seconds": 1})
    p1.always(fp.status(503, "overloaded"))  # a cooldown of 30 s...
    assert (await gw.responses()).status == 502
    assert "P1 may serve again in" in (await summary(gw))["advice"]
    p1.always(fp.hang(5))
    assert (await gw.responses()).status == 502  # ...asked all the same (the last resort): no answer
    s = await summary(gw)
    assert s["state"] == "down" and "may serve again" not in s["advice"]  # it waits for a check to answer


async def test_an_outage_stays_named_whole_after_the_cooldowns_end(fakes, gateway):
    """P2 was passed by (cooling down) in the outage's last request; once its cooldown is over it is
    still down with the failure that put it there, and the banner still names it."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 0.5,
                                                      "check_interval_seconds": 3600})
    p1.always(fp.status(503, "p1 broken"))
    p2.always(fp.status(429, "p2 limited", headers={"Retry-After": "2"}))
    assert (await gw.responses()).status == 502
    await asyncio.sleep(0.7)  # P1 is back in rotation, P2 cools down for 1.3 s more
    assert (await gw.responses()).status == 502
    assert [a["provider"] for a in gw.services.store.request_log()[0]["attempts"]] == ["p1"]
    await asyncio.sleep(1.6)  # P2's cooldown is over too
    s = await summary(gw)
    assert s["state"] == "down"
    assert "P1: HTTP 503: p1 broken" in s["reason"] and "P2: HTTP 429: p2 limited" in s["reason"], s["reason"]


async def an_outage(fakes, gateway, *, lasting: bool, **routing):
    """Two providers, both failing the first request (``lasting``: every one): the gateway is down."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, **routing})
    for fake in (p1, p2):
        broken = fp.status(503, f"{fake.name} broken")
        (fake.always if lasting else fake.queue)(broken)
    assert (await gw.responses()).status == 502
    return gw, p1, p2


async def test_a_background_check_ends_an_outage_whose_cooldowns_are_over(fakes, gateway):
    """Every provider failed, their cooldowns ran out while they still failed, then one was fixed: a
    background check finds it, so the banner and tray stop saying "all providers down" without
    waiting for the next client request."""
    gw, p1, p2 = await an_outage(fakes, gateway, lasting=True, cooldown_seconds=0.5, check_interval_seconds=0.3)
    await asyncio.sleep(0.8)  # both cooldowns over, the checks meanwhile failed
    assert (await summary(gw))["state"] == "down"
    p1.always(fp.stream_ok("pong"))
    deadline = time.monotonic() + 5
    while (await summary(gw))["state"] == "down":
        assert time.monotonic() < deadline, "still down: no background check found P1 answering"
        await asyncio.sleep(0.1)
    assert (await summary(gw))["provider"] == "p1"
    assert any(e.message == "P1 answers again (background check)" for e in gw.services.store.list_events())


async def test_a_provider_that_failed_before_the_outage_is_checked_during_it(fakes, gateway):
    """p1 failed first (p2 served), then p2 failed too: "all providers down", p1 passed by as cooling
    down. p1 is fixed and its cooldown runs out: a background check finds it, though it failed before the
    outage's last request — not "all providers down" until the next client request."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 1,
                                                      "check_interval_seconds": 0.3})
    p1.always(fp.status(500, "p1 broken"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    p2.always(fp.status(500, "p2 broken"))
    assert (await gw.responses()).status == 502
    assert [a["provider"] for a in gw.services.store.request_log()[0]["attempts"]] == ["p2"]
    assert (await summary(gw))["state"] == "down"
    await asyncio.sleep(1.3)  # p1's cooldown is over, its checks meanwhile failed
    assert (await summary(gw))["state"] == "down"
    p1.always(fp.stream_ok("pong"))
    deadline = time.monotonic() + 5
    while (await summary(gw))["state"] == "down":
        assert time.monotonic() < deadline, "still down: no background check asked P1"
        await asyncio.sleep(0.1)
    assert any(e.message.startswith("P1 answers again") for e in gw.services.store.list_events())
    # p1 ended the outage: it serves next — not p2, the one served last, which still fails.
    s = await summary(gw)
    assert (s["state"], s["provider"]) == ("serving", "p1"), s


async def test_a_provider_switched_off_during_an_outage_is_no_longer_named(fakes, gateway):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1, "cooldown_seconds": 0.3,
                                                                "check_interval_seconds": 3600})
    for fake in (p1, p2, p3):
        fake.always(fp.status(503, f"{fake.name} broken"))
    assert (await gw.responses()).status == 502
    await gw.api("upsert_provider", provider="p2", disabled=True)
    await asyncio.sleep(0.5)  # the cooldowns are over
    assert (await gw.responses()).status == 502
    reason = (await summary(gw))["reason"]
    assert "P1: HTTP 503: p1 broken" in reason and "P3: HTTP 503: p3 broken" in reason and "P2" not in reason, reason


async def test_a_provider_id_written_by_hand_that_the_app_refuses_breaks_nothing(fakes, gateway):
    """An empty id reached the router as a provider and /status, get_status and every request answered 500:
    the hand edit is refused like any other invalid value, and the last good settings stay in use."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    gw.services.watcher.stop()  # looked at by hand below, at once
    cfg = gw.services.paths.config
    cfg.write_text(cfg.read_text() + f'\n[providers.""]\nbase_url = "{p1.base_url}"\n')
    gw.services.config.reload(), gw.services.config.reload()  # used once it held still between two looks
    assert list(gw.services.config.current.providers) == ["p1"]
    assert (await gw.request("GET", "/status")).status == 200
    assert (await gw.responses()).status == 200
    events = (await gw.api("list_events", level="error"))["events"]
    assert any("'' is not a valid provider id" in e["message"] for e in events)


async def test_the_down_advice_names_the_providers_switched_off(fakes, gateway):
    """The 502 names them; the banner's advice does too — enabling one may be the way out."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1})
    await gw.api("set_provider_disabled", provider="p2", disabled=True)
    await gw.api("set_provider_disabled", provider="p3", disabled=True)
    p1.always(fp.status(503, "overloaded"))
    assert (await gw.responses()).status == 502
    s = await summary(gw)
    assert s["state"] == "down" and s["advice"].endswith("Switched off: P2, P3 — enable one to let it serve."), s


async def test_the_summary_holds_when_the_last_provider_stops_answering_while_it_is_written(fakes, gateway):
    """Status is read on a control thread while the gateway's loop records outcomes: the last available
    provider may be found not answering between two of its reads."""
    from api_router.status import serving_summary

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    router, cfg = gw.services.router, gw.services.config.current
    router.record_failure(cfg, "p1", "no response within 60 s", unresponsive=True)
    read = router.available

    def available_then_p2_times_out(c):
        out = read(c)
        router.record_failure(c, "p2", "no response within 60 s", unresponsive=True)
        return out

    router.available = available_then_p2_times_out
    summary = serving_summary(gw.services)
    assert summary["provider"] == "p2"


@contextlib.asynccontextmanager
async def stream_begun(gw) -> AsyncIterator[tuple]:
    """A streamed request read up to its first output delta: (its response, what was read of it)."""
    import aiohttp

    from tests.support.harness import simple_body

    body = b""
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.base + "/v1/responses", json={**simple_body(), "stream": True}, headers=gw.auth()) as r:
            async for chunk in r.content.iter_any():
                body += chunk
                if b"response.output_text.delta" in body:
                    break
            yield r, body


async def status_mid_stream(gw) -> dict:
    """``get_status`` while a stream is under way: read to its first output delta, asked, then read to its end
    (checked to have been still under way when asked)."""
    async with stream_begun(gw) as (r, body):
        status = await gw.api("get_status")
        rest = await r.read()
    assert b"response.completed" not in body and b"response.completed" in rest  # it was still under way
    return status


@pytest.mark.parametrize("threshold", [1, 2])
async def test_a_failover_is_told_while_the_fallbacks_long_stream_is_under_way(fakes, gateway, threshold):
    """The preferred provider fails; the fallback's stream takes seconds (a Codex turn takes minutes). As
    soon as its output reaches the client, the status says it answers (healthy, ``last_output_at_unix_ms``)
    and serves, and the tray's failover notice goes out — not when the answer ends; also when one failure
    leaves the preferred provider in rotation (the default threshold is 2)."""
    from api_router.desktop.notices import NoticeKind, Notices

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": threshold, "cooldown_seconds": 60})
    notices = Notices()
    assert notices.update(await gw.api("get_status"), {}) == []  # the baseline
    p1.always(fp.status(500, "boom"))
    p2.always(fp.stream_ok("a long answer", deltas=12, delay=0.25))
    status = await status_mid_stream(gw)
    told = notices.update(status, {})
    p2_row, p1_row = status["providers"]["p2"], status["providers"]["p1"]
    assert status["summary"]["state"] == "fallback" and status["summary"]["provider"] == "p2"
    assert p2_row["status"] == "healthy" and p2_row["last_ok_at_unix_ms"] is None
    assert p2_row["last_output_at_unix_ms"] >= p1_row["failing_since_unix_ms"]
    assert [(n.kind, n.provider) for n in told] == [(NoticeKind.FAILOVER, "p2")]
    routes = [e.message for e in gw.services.store.recent_events() if e.kind == "route"]
    assert len(routes) == 1 and "P2" in routes[0], routes  # told as the output began, not again at its end


async def test_a_failover_taken_as_the_stream_began_is_not_taken_again_when_it_ends(fakes, gateway):
    """The fallback's stream took the route as its output began; the preferred provider then serves
    again (stable at once here) while that stream goes on: its end, carrying the old failure, changes
    the route no more."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 2, "preferred_stable_seconds": 0})
    p1.always(fp.json_ok("from p1")).queue(fp.status(500, "boom"))
    p2.always(fp.stream_ok("a long answer", deltas=12, delay=0.25))
    async with stream_begun(gw) as (r, _):
        assert (await summary(gw))["provider"] == "p2"
        assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
        assert (await summary(gw))["provider"] == "p1"
        assert b"response.completed" in await r.read()
    routes = [e.message for e in gw.services.store.recent_events() if e.kind == "route"]
    assert len(routes) == 2 and "P2" in routes[0] and "P1" in routes[1], routes
    assert (await summary(gw))["provider"] == "p1"


async def test_a_provider_that_failed_reads_healthy_while_its_next_stream_answers(fakes, gateway):
    """A provider with a failure against it (below the threshold: no cooldown) is asked again and its output
    reaches the client: it answers, so it reads healthy for the whole of that long stream, not Unhealthy until
    the answer ends. A stream that then fails makes it unhealthy again."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"failure_threshold": 2})
    p1.queue(fp.status(500, "boom"))
    assert (await gw.responses()).status == 502
    assert (await gw.api("get_status"))["providers"]["p1"]["status"] == "unhealthy"
    p1.queue(fp.stream_ok("a long answer", deltas=12, delay=0.25))
    row = (await status_mid_stream(gw))["providers"]["p1"]
    assert row["status"] == "healthy" and row["consecutive_failures"] == 1 and row["last_ok_at_unix_ms"] is None
    p1.queue(fp.status(500, "boom again"))
    assert (await gw.responses()).status == 502
    assert (await gw.api("get_status"))["providers"]["p1"]["status"] == "unhealthy"
    # A stream whose client leaves after its output began: it answered while it ran, and no more.
    p1.queue(fp.stream_ok("another long answer", deltas=40, delay=0.25))
    async with stream_begun(gw):
        assert (await gw.api("get_status"))["providers"]["p1"]["status"] == "healthy"
    for _ in range(100):
        row = (await gw.api("get_status"))["providers"]["p1"]
        if row["status"] != "healthy":
            break
        await asyncio.sleep(0.05)
    assert row["status"] == "unhealthy" and row["consecutive_failures"] == 1, row  # the client left: no verdict


def test_output_of_a_request_asked_before_the_latest_failure_does_not_make_a_provider_healthy():
    """As with answers (``asked_before_failing``): a long stream asked before another request failed, whose
    output only begins after that failure, says nothing of the provider since — nor does it hide one asked
    after the failure that is answering at the same time; and an answer that ended answers no more."""
    from api_router.routing.router import Router

    clock = [11.0]
    router = Router(lambda *event: None, clock=lambda: clock[0])
    health = router._health("p1")
    health.consecutive_failures, health.last_fail_at, health.last_fail_asked_at = 1, 10.0, 6.0
    after = router.record_output("p1", took_s=4.0)  # asked at 7, after the request that failed
    assert health.answering_since_failing()
    clock[0] = 12.0
    router.record_output("p1", took_s=10.0)  # asked at 2: older news, and it does not undo the other
    assert health.answering_since_failing()
    router.output_ended("p1", after)  # the one asked after the failure ended (its client left, say)
    assert not health.answering_since_failing()


@pytest.mark.parametrize("how", ["added", "switched on"])
async def test_a_provider_added_or_switched_on_during_an_outage_ends_all_down(fakes, gateway, how):
    """The outage was the verdict on the providers it asked: one that took no part (added since, or
    switched on) is the next request's pick, and nothing says every provider is down — until it fails too."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    providers = {"p1": p1, "p2": p2} if how == "added" else {"p1": p1, "p2": p2, "p3": p3}
    gw = await gateway(providers, routing={"failure_threshold": 1, "cooldown_seconds": 60})
    if how == "switched on":
        await gw.api("set_provider_disabled", provider="p3", disabled=True)
    for fake in (p1, p2, p3):
        fake.always(fp.status(500, "broken"))
    assert (await gw.responses()).status == 502
    assert (await summary(gw))["state"] == "down"
    if how == "added":
        await gw.api("upsert_provider", provider="p3", base_url=p3.base_url, create=True)
    else:
        await gw.api("set_provider_disabled", provider="p3", disabled=False)
    s = await summary(gw)
    assert (s["state"], s["provider"]) == ("fallback", "p3"), s
    assert (await gw.responses()).status == 502  # it fails as well: the outage, with it
    s = await summary(gw)
    assert s["state"] == "down" and "p3: http 500" in s["reason"].lower(), s


async def test_a_check_asked_before_a_later_answer_does_not_bring_the_old_error_back(fakes, gateway):
    """A hanging provider's checks overlap (one starts every interval, each waits its timeout). Fixed, it
    answers a check; one asked before the fix times out after that answer: older news, which neither
    brings its error back nor starts the stable window again."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"request_timeout_seconds": 1.5, "check_interval_seconds": 0.3,
                                                      "preferred_stable_seconds": 60})
    p1.always(fp.hang())
    assert (await gw.responses(stream=False)).headers["X-API-Router-Provider"] == "p2"
    await asyncio.sleep(0.7)  # checks of p1 under way, hanging
    p1.always(fp.json_ok("pong"))
    router, cfg = gw.services.router, gw.services.config.current
    deadline = time.monotonic() + 5
    while router.health_json(cfg)["p1"]["failing_since_unix_ms"] is not None:
        assert time.monotonic() < deadline, "no check found p1 answering"
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.7)  # every check asked before the fix has timed out by now
    health = router.health_json(cfg)["p1"]
    assert (health["failing_since_unix_ms"], health["last_error"]) == (None, ""), health
    assert "not yet stable after its last failure" in (await summary(gw))["reason"]


async def test_a_provider_added_during_an_outage_is_named_where_the_next_request_goes(fakes, gateway):
    """p1 served, then p1 and p2 failed ("all providers down"); p3 is added. Also once their cooldowns are
    over, the summary names p3 — where the next request goes — not p1, which has not answered since."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 1})
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    for fake in (p1, p2):
        fake.always(fp.status(500, "broken"))
    assert (await gw.responses()).status == 502
    await gw.api("upsert_provider", provider="p3", base_url=p3.base_url, create=True)
    assert (await summary(gw))["provider"] == "p3"
    await asyncio.sleep(1.5)  # p1's and p2's cooldowns are over
    s = await summary(gw)
    assert (s["state"], s["provider"]) == ("fallback", "p3"), s
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p3"


async def test_a_hanging_provider_renamed_while_checked_gets_no_more_checks_at_once(fakes, gateway):
    """At most MAX_CHECKS_AT_ONCE checks of one provider wait at a time; a rename while they hang is still that
    provider (its checks are counted by who it is, not by its id): no second set of checks starts."""
    from api_router.gateway.checks import MAX_CHECKS_AT_ONCE
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"request_timeout_seconds": 1.5, "check_interval_seconds": 0.2})
    p1.always(fp.hang())

    def checks_waiting():
        return sum(1 for t in asyncio.all_tasks() if t.get_name().startswith("check-") and not t.done())
    assert (await gw.responses(stream=False)).headers["X-API-Router-Provider"] == "p2"
    deadline = time.monotonic() + 5
    while checks_waiting() < MAX_CHECKS_AT_ONCE:
        assert time.monotonic() < deadline, f"only {checks_waiting()} checks of p1 waiting"
        await asyncio.sleep(0.02)
    await gw.api("rename_provider", provider="p1", new_id="relay")
    most, until = 0, time.monotonic() + 1.2
    while time.monotonic() < until:
        most = max(most, checks_waiting())
        await asyncio.sleep(0.02)
    assert most == MAX_CHECKS_AT_ONCE, f"{most} checks of the renamed provider waited at once"


async def test_a_success_after_an_outage_ends_the_all_down_state(fakes, gateway):
    """The gateway is down until a provider answers: a request served after an outage ends it (the banner, the
    tray), without waiting for a background check."""
    gw, _, _ = await an_outage(fakes, gateway, lasting=False, cooldown_seconds=0, check_interval_seconds=3600)
    assert (await summary(gw))["state"] == "down"
    assert (await gw.responses()).status == 200  # both answer again
    assert (await summary(gw))["state"] != "down"
