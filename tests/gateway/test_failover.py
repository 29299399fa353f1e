"""Failover order, outcome classes, cooldowns, Retry-After, return to preferred, lock (contract §5)."""

import asyncio
import email.utils
import json
import time

import pytest

from api_router.desktop.notices import NoticeKind, Notices
from tests.support import fake_provider as fp
from tests.support.harness import simple_body


async def test_failover_follows_preferred_then_provider_order(fakes, gateway):
    a, b, c = await fakes("a", "b", "c")
    gw = await gateway({"a": a, "b": b, "c": c}, order=["c", "a", "b"], routing={"preferred_provider": "b"})
    b.always(fp.status(503, "b down"))
    c.always(fp.status(500, "c down"))
    reply = await gw.responses()
    assert reply.status == 200
    assert reply.headers["X-API-Router-Provider"] == "a"
    assert [b.calls, c.calls, a.calls] == [1, 1, 1]
    log = gw.services.store.request_log()[0]
    assert log["providers_tried"] == ["b", "c", "a"]
    assert [x["outcome"] for x in log["attempts"]] == ["provider_failure", "provider_failure", "ok"]
    assert log["provider"] == "a" and log["status"] == 200


@pytest.mark.parametrize("behaviour, fragment", [
    (fp.status(500, "boom"), "HTTP 500: boom"),
    (fp.status(502), "HTTP 502"),
    (fp.status(503), "HTTP 503"),
    (fp.status(429, "slow down"), "HTTP 429"),
    (fp.status(401, "bad key"), "HTTP 401: bad key"),
    (fp.status(403), "HTTP 403"),
    (fp.status(404), "HTTP 404"),
    (fp.status(408), "HTTP 408"),
    (fp.html_page(), "not JSON"),
    (fp.reset(), ""),
])
async def test_provider_failures_fail_over(fakes, gateway, behaviour, fragment):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(behaviour)
    reply = await gw.responses()
    assert reply.status == 200 and reply.text == "hello"
    assert p1.calls == 1 and p2.calls == 1
    health = (await gw.request("GET", "/status")).json["providers"]["p1"]
    assert health["consecutive_failures"] == 1 and health["status"] == "unhealthy"
    assert fragment in health["last_error"]


async def test_an_item_another_provider_stores_is_no_failure_of_the_one_asked(fakes, gateway):
    """A client with ``store`` on (the AI SDK's default) refers to a stored item with item_reference; the
    provider asked first does not have it (404 "Item with id … not found"): the request fails over to the
    next, and the first stays healthy — not in cooldown, no failure counted."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    p1.always(fp.status(404, "Item with id 'rs_p2_1' not found."))
    body = simple_body(input=[{"type": "item_reference", "id": "rs_p2_1"}])
    for _ in range(2):
        reply = await gw.responses(body)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    health = (await gw.request("GET", "/status")).json["providers"]["p1"]
    assert health["consecutive_failures"] == 0 and health["status"] == "unknown", health  # never judged
    assert p1.calls == 2


@pytest.mark.parametrize("code", [400, 413, 415, 422])
async def test_client_errors_pass_through_without_failover(fakes, gateway, code):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    body = b'{"error": {"message": "context_length_exceeded: too long", "type": "invalid_request_error", "code": "context_length_exceeded"}}'
    p1.always(fp.status(code, body=body))
    reply = await gw.responses()
    assert reply.status == code
    assert reply.body == body
    assert p2.calls == 0
    status = (await gw.request("GET", "/status")).json
    assert status["providers"]["p1"]["consecutive_failures"] == 0
    assert gw.services.store.request_log()[0]["status"] == code


async def test_connection_refused_fails_over(fakes, gateway):
    (p2,) = await fakes("p2")
    dead = f"http://127.0.0.1:{fp.free_port()}/v1"
    gw = await gateway({"p1": dead, "p2": p2})
    reply = await gw.responses()
    assert reply.status == 200
    error = (await gw.request("GET", "/status")).json["providers"]["p1"]["last_error"]
    assert "cannot connect" in error


async def test_a_key_no_http_client_can_send_is_that_providers_failure_not_the_gateways(fakes, gateway):
    """Defence in depth: the control API and secrets.json refuse such keys, but one that reaches a request
    anyway (a control character aiohttp will not put in a header) fails that provider over, unquoted."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    bad = "sk-bad\x00key-0123456789"
    gw.services.secrets.edit(lambda s: s.with_changes(provider_keys={**s.provider_keys, "p1": bad}))
    reply = await gw.responses()
    assert reply.status == 200 and p2.calls == 1 and p1.calls == 0
    error = gw.services.router.health_json(gw.services.config.current)["p1"]["last_error"]
    assert "key cannot be used" in error and "sk-bad" not in error
    probe = await gw.api("probe_provider", provider="p1")
    assert probe["ok"] is False and "key cannot be used" in probe["error"]
    tested = await gw.api("test_provider", provider="p1")
    assert tested["ok"] is False and all("sk-bad" not in str(step) for step in tested["steps"])
    p2.always(fp.status(503))
    reply = await gw.responses()
    assert reply.status == 502 and b"key cannot be used" in reply.body and b"sk-bad" not in reply.body


async def test_timeout_before_headers_fails_over(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    # 1 s: p1 hangs far longer, and p2 (under the same timeout) answers at once, even after a stall
    gw = await gateway({"p1": p1, "p2": p2}, routing={"request_timeout_seconds": 1})
    p1.always(fp.hang())
    started = time.perf_counter()
    reply = await gw.responses()
    assert reply.status == 200
    assert time.perf_counter() - started < 3
    assert "no response within 1 s" in gw.services.router.health_json(gw.services.config.current)["p1"]["last_error"]


async def test_the_502_names_the_lock_the_skipped_and_disabled_providers_and_suggests_v1(fakes, gateway):
    p1, p2, p3, p4 = await fakes("p1", "p2", "p3", "p4")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3, "p4": p4},
                       routing={"failure_threshold": 1, "cooldown_seconds": 60})
    await gw.api("upsert_provider", provider="p4", disabled=True)
    p1.queue(fp.status(500, "blip"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"  # p1 now cools down
    await gw.api("upsert_provider", provider="p2", base_url=p2.base_url.removesuffix("/v1"))  # answers 404
    p3.always(fp.status(503, "overloaded"))
    reply = await gw.responses()
    message = reply.json["error"]["message"]
    assert reply.status == 502, message
    assert "P2: HTTP 404" in message and f"{p2.base_url.removesuffix('/v1')}/v1" in message  # the /v1 hint
    assert "P3: HTTP 503: overloaded" in message
    assert "Skipped: P1 (" in message and "Disabled (switched off): P4 — enable one" in message
    disabled = {"provider": "p4", "name": "P4", "status": None, "error": None, "skipped": "disabled"}
    assert disabled in reply.json["error"]["providers"]
    await gw.api("set_manual_override", provider="p3")
    message = (await gw.responses()).json["error"]["message"]
    assert message.startswith("routing is locked to P3, which failed: HTTP 503: overloaded") and "Unlock" in message


async def test_all_providers_failing_gives_one_502_naming_each(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.status(500, "first broke"))
    p2.always(fp.status(503, "second broke"))
    reply = await gw.responses()
    assert reply.status == 502
    err = reply.json["error"]
    assert err["type"] == "gateway_error"
    assert "P1: HTTP 500: first broke" in err["message"] and "P2: HTTP 503: second broke" in err["message"]
    assert [(p["provider"], p["status"]) for p in err["providers"]] == [("p1", 500), ("p2", 503)]
    assert p1.calls == 1 and p2.calls == 1
    log = gw.services.store.request_log()[0]
    assert log["status"] == 502 and log["provider"] is None and log["providers_tried"] == ["p1", "p2"]


async def test_cooldown_after_threshold_then_skipped_then_tried_again(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    # A cooldown wide enough for the status read and the next request on a loaded machine.
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 2, "cooldown_seconds": 1.8,
                                                       "preferred_stable_seconds": 0})
    p1.always(fp.status(500))
    await gw.responses()
    await gw.responses()
    status = (await gw.request("GET", "/status")).json
    assert status["providers"]["p1"]["status"] == "cooldown"
    assert status["providers"]["p1"]["cooldown_until_unix_ms"] > status["now_unix_ms"]
    await gw.responses()
    assert p1.calls == 2  # skipped while cooling down
    p1.always(fp.json_ok("p1 is back"))
    await asyncio.sleep(1.9)
    reply = await gw.responses()
    assert reply.text == "p1 is back"
    kinds = [e.kind for e in gw.services.store.list_events()]
    assert "cooldown" in kinds and "route" in kinds


async def test_retry_after_seconds_cools_down_at_once_for_the_longer_time(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 5, "cooldown_seconds": 1})
    p1.always(fp.status(429, "rate limited", headers={"Retry-After": "120"}))
    before = time.time()
    await gw.responses()
    p1_status = (await gw.request("GET", "/status")).json["providers"]["p1"]
    assert p1_status["status"] == "cooldown"
    assert 119 <= p1_status["cooldown_until_unix_ms"] / 1000 - before <= 122


@pytest.mark.parametrize(("headers", "wait"), [
    ({"retry-after-ms": "45000"}, 45), ({"retry-after-ms": "45000", "Retry-After": "200"}, 45),
    ({"retry-after-ms": "soon", "Retry-After": "70"}, 70), ({"retry-after-ms": "nan", "Retry-After": "70"}, 70),
    ({"retry-after-ms": "99999999999"}, 3600),
])
async def test_retry_after_ms_is_read_first_as_openais_sdks_read_it(fakes, gateway, headers, wait):
    """OpenAI sends ``retry-after-ms`` beside ``Retry-After`` (its SDKs read it first) and some relays send
    it alone: the wait it names cools the provider down, and every provider rate-limiting tells the client
    it; one that is no number leaves ``Retry-After`` to say it."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 5, "cooldown_seconds": 1})
    for fake in (p1, p2):
        fake.always(fp.status(429, "slow down", headers=headers))
    before = time.time()
    reply = await gw.responses()
    assert reply.status == 429 and reply.headers["Retry-After"] == str(wait), (reply.status, reply.headers)
    until = gw.services.router.health_json(gw.services.config.current)["p1"]["cooldown_until_unix_ms"] / 1000
    assert wait - 1 <= until - before <= wait + 2


async def test_retry_after_http_date_and_cap(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 5, "cooldown_seconds": 1})
    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    p1.queue(fp.status(429, headers={"Retry-After": when}), fp.status(429, headers={"Retry-After": "999999"}))
    before = time.time()
    await gw.responses()
    until = gw.services.router.health_json(gw.services.config.current)["p1"]["cooldown_until_unix_ms"] / 1000
    assert 85 <= until - before <= 92
    gw.services.router.reset_health("p1")
    await gw.responses()
    until = gw.services.router.health_json(gw.services.config.current)["p1"]["cooldown_until_unix_ms"] / 1000
    assert 3590 <= until - before <= 3602  # capped at one hour


@pytest.mark.parametrize("wait", ["inf", "1e400", "99999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_an_unbounded_retry_after_from_every_provider_is_a_429_with_an_hour_at_most(fakes, gateway, wait):
    """A relay asking to wait forever: the client is told to come back in at most an hour, like the
    cooldown the gateway itself keeps (not a 500 from a wait that has no number of seconds)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    for fake in (p1, p2):
        fake.always(fp.status(429, "slow down", headers={"Retry-After": wait}))
    reply = await gw.responses()
    assert reply.status == 429, reply.text
    assert reply.headers["Retry-After"] == "3600"
    assert "may serve again in 3600 s" in reply.json["error"]["message"]


async def test_429_without_retry_after_counts_like_any_failure(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 2, "cooldown_seconds": 30,
                                                       "preferred_stable_seconds": 0})
    p1.always(fp.status(429))
    await gw.responses()
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["status"] == "unhealthy"
    await gw.responses()
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["status"] == "cooldown"


async def test_success_resets_failures(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 3, "preferred_stable_seconds": 0})
    p1.queue(fp.status(500))
    await gw.responses()
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["consecutive_failures"] == 1
    await gw.responses()
    h = gw.services.router.health_json(gw.services.config.current)["p1"]
    assert h["consecutive_failures"] == 0 and h["status"] == "healthy"


async def test_return_to_preferred_only_after_stable_window(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    # A window wide enough for the second request on a loaded machine.
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 3, "preferred_stable_seconds": 2.4})
    p1.queue(fp.status(500))
    first = await gw.responses()
    assert first.headers["X-API-Router-Provider"] == "p2"
    second = await gw.responses()
    assert second.headers["X-API-Router-Provider"] == "p2"  # p1 is not in cooldown but not stable yet
    assert p1.calls == 1
    await asyncio.sleep(2.5)
    third = await gw.responses()
    assert third.headers["X-API-Router-Provider"] == "p1"
    routes = [e.message for e in gw.services.store.list_events() if e.kind == "route"]
    assert any(m.startswith("Back to preferred provider P1") for m in routes)
    assert any(m.startswith("Failover from P1 to P2") for m in routes)


async def test_first_in_list_picked_again_brings_traffic_back_and_stays_first_in_list(fakes, gateway):
    """The Gateway card's "Back to …" sends the setting as it is: "first in list" picked again (null) brings
    traffic back with automatic return off, and config.toml still says "first in list"."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"auto_return_to_preferred": False, "preferred_stable_seconds": 0,
                                                       "failure_threshold": 5, "preferred_provider": ""})
    p1.queue(fp.status(500))
    await gw.responses()
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    await gw.api("set_preferred_provider", provider=None)
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    assert gw.services.config.current.routing.preferred_provider == ""
    routes = [e.message for e in gw.services.store.list_events() if e.kind == "route"]
    assert any(m.startswith("Preferred provider set to P1 (picked again)") for m in routes), routes


@pytest.mark.parametrize("preferred", ["", "p1"])
async def test_no_auto_return_stays_on_fallback_until_user_picks(fakes, gateway, preferred):
    """Picking the preferred provider brings traffic back — also when it is the one already chosen (the
    setting unchanged): with automatic return off there is no other way back."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"auto_return_to_preferred": False, "preferred_stable_seconds": 0,
                                                       "failure_threshold": 5, "preferred_provider": preferred})
    p1.queue(fp.status(500))
    await gw.responses()
    await asyncio.sleep(0.05)
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    await gw.api("set_preferred_provider", provider="p1")
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    routes = [e.message for e in gw.services.store.list_events() if e.kind == "route"]
    assert routes[0] == "Serving from preferred provider P1" and routes[1].startswith("Preferred provider set to P1")
    await gw.api("set_preferred_provider", provider="p1")  # picked again while it serves: nothing to say
    assert [e.message for e in gw.services.store.list_events() if e.kind == "route"] == routes


async def test_the_serving_reason_follows_a_new_key_and_automatic_return_switched_in_the_app(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"auto_return_to_preferred": False, "preferred_stable_seconds": 0,
                                                       "failure_threshold": 5})
    p1.queue(fp.status(401, "Incorrect API key provided"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"

    async def reason() -> str:
        return (await gw.api("get_status"))["active_reason"]

    assert "Incorrect API key" in await reason()
    await gw.api("set_provider_key", provider="p1", key="sk-p1-fixed-0123456789")  # the failure was the old key's
    assert await reason() == "automatic return to the preferred provider is off: P1 serves once you pick it"
    await gw.api("update_routing", auto_return_to_preferred=True)
    assert await reason() == "P1 can serve again"
    services = gw.services  # switched off again, by hand in config.toml
    services.paths.config.write_text(services.paths.config.read_text().replace(
        "auto_return_to_preferred = true", "auto_return_to_preferred = false"))
    services.config.reload(), services.config.reload()
    assert services.config.current.routing.auto_return_to_preferred is False
    assert await reason() == "automatic return to the preferred provider is off: P1 serves once you pick it"


async def test_all_in_cooldown_tries_the_one_ending_first(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 60})
    p1.always(fp.status(429, headers={"Retry-After": "300"}))
    p2.always(fp.status(500))
    await gw.responses()  # p1 -> 300 s, p2 -> 60 s
    p2.always(fp.json_ok("p2 answers"))
    reply = await gw.responses()
    assert reply.status == 200 and reply.text == "p2 answers"
    assert p1.calls == 1 and p2.calls == 2


async def test_lock_routes_only_to_locked_provider_and_unlock_restores(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    status = await gw.api("set_manual_override", provider="p2")
    assert status["manual_override"] == "p2"
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    p2.always(fp.status(500))
    reply = await gw.responses()
    assert reply.status == 502 and p1.calls == 0  # a lock means this provider only
    await gw.api("set_manual_override", provider=None)
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    messages = [e.message for e in gw.services.store.list_events() if e.kind == "lock"]
    assert "Routing locked to P2 by user" in messages  # display names in events
    assert any("lock released" in m for m in messages)


async def test_disabled_and_urlless_providers_are_never_candidates(fakes, gateway):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": {"base_url": p1.base_url, "disabled": True}, "p2": {"base_url": ""}, "p3": p3})
    reply = await gw.responses()
    assert reply.headers["X-API-Router-Provider"] == "p3"
    assert p1.calls == 0 and p2.calls == 0
    assert (await gw.request("GET", "/status")).json["providers"]["p1"]["status"] == "disabled"


async def test_each_provider_gets_the_request_at_most_once(fakes, gateway):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3})
    for fake in (p1, p2, p3):
        fake.always(fp.status(503))
    await gw.responses()
    assert [p1.calls, p2.calls, p3.calls] == [1, 1, 1]


async def test_a_provider_with_a_url_no_client_can_use_is_left_out_at_start(fakes, gateway):
    """Port 99999 in config.toml: reported and replaced by "" (no address, not routed to), so requests go
    to the next provider instead of failing, every one, with an internal error."""
    (good,) = await fakes("good")
    gw = await gateway({"bad": "http://127.0.0.1:99999/v1", "good": good})
    reply = await gw.responses()
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "good"
    events = (await gw.api("list_events", level="error"))["events"]
    assert any("[providers.bad] base_url has port '99999'" in e["message"] for e in events)


async def test_the_failover_reason_and_notification_name_the_provider_that_failed(fakes, gateway):
    """What /status says about a failover stands alone in the Active row, the tray and the notification:
    it names the provider that failed, not only its error."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    notices = Notices()
    assert (await gw.responses()).status == 200
    assert notices.update((await gw.request("GET", "/status")).json) == []  # the baseline
    p1.always(fp.status(500, "boom"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    status = (await gw.request("GET", "/status")).json
    assert status["active_provider"] == "p2" and status["active_reason"] == "P1: HTTP 500: boom"
    assert status["summary"]["reason"] == "P1: HTTP 500: boom"
    [note] = notices.update(status)
    assert note.kind is NoticeKind.FAILOVER and note.title == "Failover to P2"
    assert note.message == "P1: HTTP 500: boom. Codex keeps working through P2."


async def test_the_serving_reason_follows_a_new_display_name(fakes, gateway):
    """The reason is shown for as long as the fallback serves: a provider renamed meanwhile is shown
    under its new name there (the route event, history, keeps the name of its time)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.status(503, "down for maintenance"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    await gw.api("upsert_provider", provider="p1", display_name="Renamed Alpha")
    status = await gw.api("get_status")
    assert status["active_reason"] == "Renamed Alpha: HTTP 503: down for maintenance"
    assert status["summary"]["reason"] == status["active_reason"]
    assert any(e["message"] == "Failover from P1 to P2: HTTP 503: down for maintenance"
               for e in status["recent_events"])


async def test_the_serving_reason_never_names_a_deleted_provider(fakes, gateway):
    """p2 serves because p1 failed, and then p1 is deleted: the reason that named it goes too — the
    status says afresh who serves and why, naming no provider that no longer exists."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1})
    p1.always(fp.status(500, "p1 says 500"))
    p2.always(fp.status(500, "p2 says 500"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p3"
    assert "p2 says 500" in (await gw.api("get_status"))["active_reason"]
    await gw.api("delete_provider", provider="p2")
    status = await gw.api("get_status")
    shown = json.dumps([status["active_reason"], status["summary"]])
    assert "p2" not in shown.lower(), shown
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p3"
    assert "p2" not in (await gw.api("get_status"))["active_reason"].lower()


async def test_a_served_attempt_is_timed_the_same_whether_or_not_another_was_asked_first(fakes, gateway):
    """A relay sends response.created at once and the answer later: the provider's time to first byte is
    to its answer's start, whether the request was its alone (rebuilt from the row) or a failover's."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"hedge": False})
    p2.always(fp.reasoning_then_answer(summary_at=0.4, answer_at=0.5))
    await gw.api("set_manual_override", provider="p2")
    assert (await gw.responses(stream=True)).headers["X-API-Router-Provider"] == "p2"
    await gw.api("set_manual_override", provider=None)
    p1.always(fp.status(500, "boom"))
    assert (await gw.responses(stream=True)).headers["X-API-Router-Provider"] == "p2"
    served = [a["ttfb_ms"] for r in gw.services.store.request_log() for a in r["attempts"] if a["provider"] == "p2"]
    assert len(served) == 2 and all(350 < t < 1500 for t in served), served
    ttfb = (await gw.api("get_analytics", window="hour"))["providers"]["p2"]["ttfb_ms"]
    assert ttfb["p50"] > 350, ttfb


async def test_a_provider_serving_alone_is_timed_from_asking_it_not_from_the_clients_upload(fakes, gateway):
    """A big body the client uploads over 0.8 s, to a provider that answers at once: the request's
    latency holds the upload, the provider's own latency and TTFB (attempt chain, Usage page) do not."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    data = json.dumps(simple_body("x" * 400_000, stream=False)).encode()

    async def slowly():
        piece = len(data) // 8 + 1
        for start in range(0, len(data), piece):
            yield data[start:start + piece]
            await asyncio.sleep(0.1)

    headers = {**gw.auth(), "Content-Type": "application/json"}
    async with gw.client.post(gw.base + "/v1/responses", data=slowly(), headers=headers) as resp:
        assert resp.status == 200, await resp.text()
    (row,) = (await gw.api("list_requests"))["requests"]
    assert row["latency_ms"] > 700, row
    upload_excluded = row["latency_ms"] - 500  # the upload took 0.7 s at least, whatever the machine's load
    (attempt,) = (await gw.api("get_request", id=row["id"]))["attempt_chain"]
    assert attempt["latency_ms"] < upload_excluded and attempt["ttfb_ms"] < upload_excluded, attempt
    own = (await gw.api("get_analytics", window="hour"))["providers"]["p1"]
    assert own["latency_ms"]["p50"] < upload_excluded and own["ttfb_ms"]["p50"] < upload_excluded, own


@pytest.mark.parametrize(("answer", "stream"), [
    (fp.status(404, "The model `gpt-typo` does not exist or you do not have access to it."), False),
    (fp.in_band_failure("model_not_found", "The model `gpt-typo` does not exist"), True),
], ids=["404", "in-band"])
async def test_a_model_every_provider_refuses_counts_as_no_providers_error(fakes, gateway, answer, stream):
    """A typo every provider says does not exist is the request's own fault: its attempts are the
    client's errors too — none in a provider's error count (metrics, Usage page) nor blamed in the chain."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    for fake in (p1, p2):
        fake.always(answer)
    reply = await gw.responses({"model": "gpt-typo", "input": "hi"}, stream=stream)
    assert reply.status in (400, 404), reply.body
    (row,) = (await gw.api("list_requests"))["requests"]
    assert row["outcome"] == "client_error" and row["failover"] is False
    chain = (await gw.api("get_request", id=row["id"]))["attempt_chain"]
    assert [(a["provider"], a["outcome"]) for a in chain] == [("p1", "client_error"), ("p2", "client_error")]
    assert "does not exist" in chain[0]["error"]
    per = (await gw.api("get_analytics", window="hour"))["providers"]
    assert [(per[p]["requests"], per[p]["errors"]) for p in ("p1", "p2")] == [(1, 0), (1, 0)]
    assert sum(m.error_requests for m in gw.services.store.metrics().values()) == 0


async def test_the_hedge_delay_is_learnt_from_the_first_event_not_the_answers_start(fakes, gateway):
    """The hedge timer waits for a provider's first event of any kind; the delay is learnt from just
    that — a reasoning model that takes its time to answer after an instant response.created is no
    slow provider."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"hedge": True, "hedge_min_seconds": 0.1, "hedge_max_seconds": 10})
    p1.always(fp.reasoning_then_answer(summary_at=1.8, answer_at=2.0))
    # Twenty at once (they share any stall, so this costs 2 s, not 40). The first events come at once: the
    # delay is about 0.1 s, and under 3 s even if one stall of a busy machine held every one of them back
    # most of a second. Learnt from the answer's start the delay would be 3 × 1.8 s or more (5.4 s).
    answers = await asyncio.gather(*(gw.responses(stream=True) for _ in range(20)))
    assert [a.status for a in answers] == [200] * 20
    status = await gw.api("get_status")
    assert 100 <= status["providers"]["p1"]["hedge_delay_ms"] < 3000, status["providers"]["p1"]["hedge_delay_ms"]
    rows = gw.services.store.request_log()
    assert all(r["attempts"][0]["ttfb_ms"] > 1500 for r in rows)  # its time to first byte is the answer's start


async def test_control_characters_in_an_upstream_error_do_not_reach_the_reason(fakes, gateway):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3})
    p1.always(fp.status(500, "bad \u0000 thing\u001b[31m"))
    p2.always(fp.status(500, "boom"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p3"
    status = await gw.api("get_status")
    assert status["active_reason"] == "P1: HTTP 500: bad thing [31m; P2: HTTP 500: boom"
    assert any(e["message"] == "Failover from P1 to P3: HTTP 500: bad thing [31m; P2: HTTP 500: boom"
               for e in status["recent_events"])


async def test_the_serving_reason_follows_a_new_id(fakes, gateway):
    """Rename (a new id) keeps the provider (and its display name): the reason still names it so."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("upsert_provider", provider="p1", display_name="Relay Alpha")
    p1.always(fp.status(503, "down for maintenance"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    await gw.api("rename_provider", provider="p1", new_id="alpha")
    status = await gw.api("get_status")
    assert status["active_reason"] == "Relay Alpha: HTTP 503: down for maintenance"


async def test_a_503_with_retry_after_counts_one_failure_and_starts_no_cooldown(fakes, gateway):
    """Contract §5 / README failure table: a 429 with
    Retry-After cools down at once; a 5xx counts a failure (cooldown at failure_threshold)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 2, "cooldown_seconds": 30})
    p1.queue(fp.status(503, "busy", headers={"Retry-After": "600"}))
    assert (await gw.responses()).status == 200
    p1_status = (await gw.api("get_status"))["providers"]["p1"]
    assert p1_status["status"] != "cooldown" and p1_status["consecutive_failures"] == 1, p1_status
