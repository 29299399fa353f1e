"""What the user changes while a request is under way — a key, a provider's id, the provider itself,
the routing choice — applies to what that request leaves behind when it ends.

Each change is made while the request provably waits: on a provider that holds its answer until the
test lets it go, or on a body the test has sent only half of."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import tomlkit
from aiohttp import web

from api_router.paths import Paths
from tests.support import fake_provider as fp
from tests.support.harness import ApiError, Harness, Reply, simple_body, start_harness
from tests.support.usage import new_api

SID = "019a0000-0000-7000-8000-0000000000c1"


class Held:
    """A provider's answer held until ``go`` is set: the test acts while the request waits on it."""

    def __init__(self, then: fp.Behaviour) -> None:
        self.asked = asyncio.Event()
        self.go = asyncio.Event()
        self._then = then

    async def __call__(self, request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        self.asked.set()
        await asyncio.wait_for(self.go.wait(), 10)
        return await self._then(request, fake)


async def while_held(held: Held, request: Awaitable[Reply], change: Callable[[], Awaitable[object]]) -> Reply:
    """Send ``request``; once its provider holds it, make ``change``, then let the answer go."""
    pending = asyncio.ensure_future(request)
    await asyncio.wait_for(held.asked.wait(), 5)
    await change()
    assert not pending.done()  # the change was made while the request was under way
    held.go.set()
    return await pending


async def while_reading_body(gw: Harness, body: dict, headers: dict[str, str],
                             change: Callable[[], Awaitable[object]]) -> Reply:
    """Send ``body`` in two parts and make ``change`` between them, once the gateway has begun the request."""
    raw = json.dumps(body).encode()
    go = asyncio.Event()

    async def parts() -> AsyncIterator[bytes]:
        yield raw[:20]
        await asyncio.wait_for(go.wait(), 10)
        yield raw[20:]

    async def send() -> Reply:
        h = {**gw.auth(), **headers, "Content-Type": "application/json"}
        async with gw.client.post(gw.base + "/v1/responses", data=parts(), headers=h) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())

    pending = asyncio.ensure_future(send())
    deadline = time.monotonic() + 5
    while gw.services.require_serving().state.inflight == 0:  # the request is being read
        assert time.monotonic() < deadline, "the gateway did not begin the request"
        await asyncio.sleep(0.01)
    await change()
    assert not pending.done()
    go.set()
    return await pending


def echoing_key() -> fp.Behaviour:
    """A 400 whose message repeats the key the request came with."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        message = f"the key {request.headers.get('Authorization', '')} is not valid for this model"
        return web.json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=400)
    return run


def turn(text: str, **extra) -> tuple[dict, dict]:
    return simple_body(text, prompt_cache_key=SID, **extra), {"session-id": SID}


async def test_a_key_rotated_or_deleted_during_a_request_is_masked_in_its_answer(fakes, gateway):
    """The answer to a request sent with the old key may echo it after the change."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": "sk-old-key-p1-0123456789", "p2": "sk-key-p2-0123456789"})
    held = Held(echoing_key())
    p1.queue(held)
    rotated = await while_held(held, gw.responses(),
                               lambda: gw.api("set_provider_key", provider="p1", key="sk-new-key-p1-9876543210"))
    await gw.api("set_manual_override", provider="p2")
    held = Held(echoing_key())
    p2.queue(held)
    deleted = await while_held(held, gw.responses(stream=True), lambda: gw.api("delete_provider", provider="p2"))
    assert (rotated.status, deleted.status) == (400, 400)
    answers = [rotated.body.decode(), deleted.body.decode()]
    assert "sk-o…6789" in answers[0] and "sk-k…6789" in answers[1]
    gw.services.store.flush()
    seen = json.dumps([*answers, gw.services.store.request_log(),
                       [e.message for e in gw.services.store.recent_events()]])
    assert "sk-old-key-p1-0123456789" not in seen and "sk-key-p2-0123456789" not in seen


async def test_a_provider_renamed_then_deleted_during_a_request_is_named_in_its_row_by_its_last_id(fakes, gateway):
    """History names a deleted provider by the id it had when it went — its events and earlier rows
    say the new id after a rename, and so does the row of a request that ends after both."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})

    async def rename_then_delete() -> None:
        await gw.api("rename_provider", provider="p1", new_id="renamed")
        await gw.api("delete_provider", provider="renamed")

    held = Held(fp.stream_ok("late"))
    p1.queue(held)
    reply = await while_held(held, gw.responses(stream=True), rename_then_delete)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "renamed"  # as the row says
    gw.services.store.flush()
    (row,) = gw.services.store.request_log()
    assert row["provider"] == "renamed" and row["providers_tried"] == ["renamed"]
    assert [r["id"] for r in (await gw.api("list_requests", provider="renamed"))["requests"]] == [row["id"]]


async def recreate_c_on(gw: Harness, server: fp.FakeProvider) -> None:
    await gw.api("delete_provider", provider="c")
    await gw.api("upsert_provider", provider="c", base_url=server.base_url)


async def assert_c_starts_clean(gw: Harness) -> None:
    status = await gw.api("get_status")
    assert status["providers"]["c"]["status"] == "unknown"
    assert status["metrics"]["c"]["ok_requests"] == 0 and status["metrics"]["c"]["total_tokens"] == 0
    assert gw.services.router.session_binding(gw.services.config.current, SID) is None


async def test_a_provider_deleted_during_a_request_leaves_nothing_to_the_one_added_under_its_id(fakes, gateway):
    """The answer of the deleted provider lands nowhere: not in the new provider's health, metrics,
    quota ledger or session binding — and the reasoning it sealed is another provider's to the newcomer."""
    p1, c, d = await fakes("p1", "c", "d")
    gw = await gateway({"p1": p1, "c": c}, routing={"preferred_provider": "p1"})
    await gw.api("set_manual_override", provider="c")
    held = Held(fp.stream_ok("sealed", reasoning=True))
    c.queue(held)
    body, headers = turn("think")
    reply = await while_held(held, gw.responses(body, headers=headers, stream=True), lambda: recreate_c_on(gw, d))
    assert reply.status == 200
    item = reply.events[-1]["response"]["output"][0]
    assert item["type"] == "reasoning" and item["encrypted_content"] == "sealed-by-c"
    await assert_c_starts_clean(gw)
    await gw.api("set_manual_override", provider="c")
    body, headers = turn("next", input=[item, {"role": "user", "content": "next"}])
    assert (await gw.responses(body, headers=headers)).headers["X-API-Router-Provider"] == "c"
    assert d.foreign_sealed == []


async def test_a_provider_deleted_and_added_again_while_the_body_is_read_starts_clean(fakes, gateway):
    """The request was planned with the config of its first byte, for the provider since deleted: that one
    is not asked (its key is gone, and the new c's must not go to its address), nor the newcomer under
    its id, which the request could not tell apart from it; it goes where routing sends it now."""
    p1, c, d = await fakes("p1", "c", "d")
    gw = await gateway({"p1": p1, "c": c}, routing={"preferred_provider": "p1"})
    await gw.api("set_manual_override", provider="c")
    body, headers = turn("think")
    reply = await while_reading_body(gw, body, headers, lambda: recreate_c_on(gw, d))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"
    assert not c.requests and not d.requests
    await assert_c_starts_clean(gw)


async def test_a_provider_renamed_during_a_request_keeps_what_the_request_leaves(fakes, gateway):
    """Under its new id: the request-log row, the metrics, the session binding and the reasoning it
    sealed, which goes back to it (and only to it) in the session's next turn."""
    p1, c = await fakes("p1", "c")
    gw = await gateway({"p1": p1, "c": c}, routing={"preferred_provider": "p1"})
    await gw.api("set_manual_override", provider="c")
    held = Held(fp.stream_ok("sealed", reasoning=True))
    c.queue(held)
    body, headers = turn("think")
    reply = await while_held(held, gw.responses(body, headers=headers, stream=True),
                             lambda: gw.api("rename_provider", provider="c", new_id="relay"))
    item = reply.events[-1]["response"]["output"][0]
    gw.services.store.flush()
    row = gw.services.store.request_log()[0]
    assert (row["provider"], row["providers_tried"]) == ("relay", ["relay"])
    metrics = (await gw.api("get_status"))["metrics"]
    assert metrics["relay"]["ok_requests"] == 1 and "c" not in metrics
    assert gw.services.router.session_binding(gw.services.config.current, SID) == "relay"
    body, headers = turn("next", input=[item, {"role": "user", "content": "next"}])
    assert (await gw.responses(body, headers=headers)).headers["X-API-Router-Provider"] == "relay"
    assert c.requests[-1].json["input"][0].get("id") == item["id"]  # sent back, not stripped


async def test_ids_swapped_during_a_request_are_followed_once(fakes, gateway):
    """b renamed away, then a renamed to b, while a serves: the answer is the new b's (once a), not x's."""
    a, b = await fakes("a", "b")
    gw = await gateway({"a": a, "b": b})  # both candidates of the request
    held = Held(fp.json_ok())
    a.queue(held)

    async def swap() -> None:
        await gw.api("rename_provider", provider="b", new_id="x")
        await gw.api("rename_provider", provider="a", new_id="b")

    assert (await while_held(held, gw.responses(), swap)).status == 200
    gw.services.store.flush()
    row = gw.services.store.request_log()[0]
    assert (row["provider"], row["providers_tried"]) == ("b", ["b"])
    metrics = (await gw.api("get_status"))["metrics"]
    assert (metrics["b"]["ok_requests"], metrics["x"]["ok_requests"]) == (1, 0)


async def test_a_routing_choice_made_during_a_request_is_not_undone_when_it_ends(fakes, gateway):
    """A new preferred provider, or a lock, moves every session at once — the one whose request was
    under way too — and what serves is what the user chose."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"preferred_provider": "p1"})
    for before, choose, chosen in ((p1, lambda: gw.api("set_preferred_provider", provider="p2"), "p2"),
                                   (p2, lambda: gw.api("set_manual_override", provider="p3"), "p3")):
        body, headers = turn("slow")
        held = Held(fp.stream_ok("slow"))
        before.queue(held)
        seen = {e.id for e in gw.services.store.recent_events()}
        reply = await while_held(held, gw.responses(body, headers=headers, stream=True), choose)
        assert reply.headers["X-API-Router-Provider"] == before.name
        since = [e.message for e in gw.services.store.recent_events() if e.id not in seen]
        assert not any(f"preferred provider {before.name.upper()}" in m for m in since), since
        await assert_serving(gw, chosen)


async def assert_serving(gw: Harness, chosen: str) -> None:
    status = await gw.api("get_status")
    assert status["summary"]["state"] == "serving" and status["summary"]["provider"] == chosen, status["summary"]
    assert status["active_provider"] in (None, chosen)
    body, headers = turn("next")
    assert (await gw.responses(body, headers=headers)).headers["X-API-Router-Provider"] == chosen


async def test_a_routing_choice_made_while_the_body_is_read_is_not_undone(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_provider": "p1"})
    body, headers = turn("first")
    reply = await while_reading_body(gw, body, headers, lambda: gw.api("set_preferred_provider", provider="p2"))
    assert reply.headers["X-API-Router-Provider"] == "p1"  # planned with the config of its first byte
    await assert_serving(gw, "p2")


@pytest.mark.parametrize("known", ["session", "cooldown", "quota"])
async def test_what_routing_knows_of_a_provider_renamed_while_the_body_is_read_still_holds(fakes, gateway, known):
    """Planned with the settings of its first byte, but what routing learnt of the provider — the session
    bound to it, its cooldown, its empty quota — moved with its rename: the request finds it there (not
    a provider with no history, asked in spite of a cooldown, or a session moved off its provider)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "cooldown_seconds": 600,
                                                      "failure_threshold": 5 if known == "session" else 1})
    renamed, serves = ("p2", "relay") if known == "session" else ("p1", "p2")
    if known == "quota":
        p1.usage = new_api(0)
        await gw.api("refresh_usage", provider="p1")
    else:
        p1.queue(fp.status(503, "blip"))  # the session fails over to p2 and stays there; or p1 cools down
        body, headers = turn("first")
        assert (await gw.responses(body, headers=headers)).headers["X-API-Router-Provider"] == "p2"
    asked = p1.calls
    body, headers = turn("second") if known == "session" else (simple_body("another session"), {})
    reply = await while_reading_body(gw, body, headers,
                                     lambda: gw.api("rename_provider", provider=renamed, new_id="relay"))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == serves
    assert p1.calls == asked  # p1 (renamed or not) was not asked: the session is p2's, or p1 is out of rotation
    if known == "session":
        assert gw.services.router.session_binding(gw.services.config.current, SID) == "relay"


@pytest.mark.parametrize("change", ["rename", "display name"])
async def test_a_change_that_brings_no_one_in_asks_no_cooling_provider_as_a_last_resort(fakes, gateway, change):
    """The planned candidates failed and the settings changed meanwhile: what routing would choose now is
    asked only if it may serve — a provider renamed (or named anew) while cooling down is still cooling
    down, passed by as it was when the request was planned."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 600})
    await gw.api("set_manual_override", provider="p2")
    p2.queue(fp.status(503, "p2 down"))
    assert (await gw.responses()).status == 502  # p2 cools down
    await gw.api("set_manual_override", provider=None)
    held = Held(fp.status(500, "p1 fails too"))
    p1.queue(held)
    make = {"rename": lambda: gw.api("rename_provider", provider="p2", new_id="relay"),
            "display name": lambda: gw.api("upsert_provider", provider="p2", display_name="Relay Two")}[change]
    reply = await while_held(held, gw.responses(), make)
    assert reply.status == 502 and p2.calls == 1, reply.json
    assert "Skipped:" in reply.json["error"]["message"]


async def test_a_provider_renamed_while_a_stream_waits_is_raced_at_its_own_hedge_delay(fakes, gateway):
    """Its hedge delay comes from its own history, which moved with the rename: not the longest delay of
    a provider never seen."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"hedge_min_seconds": 1.0, "hedge_max_seconds": 8})
    router = gw.services.router
    for pid in ("p1", "p2"):  # a history of quick first events (seeded, not timed): a hedge delay of 1 s each
        for _ in range(5):
            router.first_events.record(pid, 0.01)
    assert router.hedge_delay(gw.services.config.current, "p2") == 1.0
    p1.queue(fp.hang(30))
    p2.queue(fp.hang(30))
    pending = asyncio.ensure_future(gw.responses(stream=True))
    deadline = time.monotonic() + 5
    while p1.calls < 1:  # the rename lands well inside p1's 1 s hedge delay, before p2 is asked
        assert time.monotonic() < deadline, "p1 was not asked"
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await gw.api("rename_provider", provider="p2", new_id="relay")
    reply = await asyncio.wait_for(pending, 15)
    took = time.monotonic() - started
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p3"
    # 2 s (two hedge delays of 1 s) when it works; given the longest delay (8 s), the renamed provider is
    # left to its 5 s request timeout and p3 is asked after about 6 s
    assert took < 4, f"p3 asked after {took:.1f} s: the renamed provider was given the longest hedge delay"


async def test_a_429_from_a_provider_renamed_meanwhile_says_its_cooldown(fakes, gateway):
    """Rate-limited with no wait named, it cools down (under its new id): Retry-After is that cooldown,
    and the answer names it as it is called now."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"failure_threshold": 1, "cooldown_seconds": 30})
    held = Held(fp.status(429, "slow down"))
    p1.queue(held)
    reply = await while_held(held, gw.responses(), lambda: gw.api("rename_provider", provider="p1", new_id="relay"))
    assert reply.status == 429 and reply.headers["Retry-After"] == "30", (reply.headers, reply.body)
    (entry,) = reply.json["error"]["providers"]
    assert entry["provider"] == "relay" and entry["retry_after_seconds"] == 30.0, entry


async def test_a_502_names_each_provider_as_it_is_called_now(fakes, gateway):
    """A name given while the request ran is the one its 502 (and the all-down event) says."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    held = Held(fp.status(500, "slow failure"))
    p1.queue(held)
    p2.queue(fp.status(503, "p2 down"))
    reply = await while_held(held, gw.responses(),
                             lambda: gw.api("upsert_provider", provider="p1", display_name="Relay Now"))
    assert reply.status == 502
    message = reply.json["error"]["message"]
    assert message.startswith("all providers failed — Relay Now: HTTP 500: slow failure"), message
    assert [e["name"] for e in reply.json["error"]["providers"]] == ["Relay Now", "P2"]


async def test_a_502_names_a_cooling_provider_renamed_while_the_request_ran_as_skipped(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 2, "cooldown_seconds": 600})
    await gw.api("set_manual_override", provider="p2")
    for _ in range(2):
        p2.queue(fp.status(503, "p2 down"))
        assert (await gw.responses()).status == 502  # p2 cools down
    await gw.api("set_manual_override", provider=None)
    held = Held(fp.status(500, "late boom"))
    p1.queue(held)
    reply = await while_held(held, gw.responses(), lambda: gw.api("rename_provider", provider="p2", new_id="relay"))
    assert reply.status == 502
    message = reply.json["error"]["message"]
    assert "late boom" in message and "Skipped: P2 (cooling down for" in message, message  # its name stays
    assert [(e["provider"], bool(e.get("skipped"))) for e in reply.json["error"]["providers"]] == [
        ("p1", False), ("relay", True)]
    assert p2.calls == 2


async def test_a_fallback_says_why_the_preferred_provider_is_passed_by(fakes, gateway):
    """The serving provider switched off: the summary names the next pick and the preferred provider's
    own reason, and the switched-off provider is not reported as active."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={"preferred_provider": "p1", "failure_threshold": 1, "cooldown_seconds": 600})
    p1.queue(fp.status(503, "p1 overloaded"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    assert (await gw.api("get_status"))["active_provider"] == "p2"
    await gw.api("set_provider_disabled", provider="p2", disabled=True)
    status = await gw.api("get_status")
    assert status["active_provider"] is None
    summary = status["summary"]
    assert (summary["state"], summary["provider"]) == ("fallback", "p3")
    assert summary["reason"].startswith("P1: cooling down") and "p1 overloaded" in summary["reason"], summary


async def test_a_lock_set_by_hand_on_a_provider_that_cannot_serve_locks_nothing(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    path = gw.services.paths.config
    path.write_text(path.read_text().replace("[routing]\n", '[routing]\nmanual_override = "nosuch"\n'))
    deadline = time.monotonic() + 5
    while not any("locks routing to nosuch" in e.message for e in gw.services.store.recent_events()):
        assert time.monotonic() < deadline, "the hand edit was not picked up"
        await asyncio.sleep(0.05)
    status = await gw.api("get_status")
    assert status["manual_override"] is None and status["summary"]["state"] == "serving"
    assert not any("locked to nosuch" in e.message for e in gw.services.store.recent_events())
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"


@pytest.mark.parametrize(("lock", "why"), [("nosuch", "no such provider"),
                                             ("p2", "it is switched off or has no base URL")])
async def test_a_lock_written_while_the_app_was_stopped_on_a_provider_that_cannot_serve_is_reported_at_start(
        fakes, gateway, lock, why):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    user_data = gw.services.paths.user_data
    await gw.close()
    path = Paths(user_data).config
    text = path.read_text().replace("[routing]\n", f'[routing]\nmanual_override = "{lock}"\n')
    path.write_text(text.replace("[providers.p2]\n", "[providers.p2]\ndisabled = true\n"))
    again = await start_harness(user_data)
    try:
        warnings = [e.message for e in again.services.store.recent_events() if "locks routing" in e.message]
        assert warnings == [f"config.toml locks routing to {lock}, which cannot serve ({why}): routing is not "
                            "locked"], warnings
        assert (await again.api("get_status"))["manual_override"] is None
    finally:
        await again.close()


def test_an_identity_taken_in_the_middle_of_a_rename_follows_what_comes_next():
    """A rename puts the new id in the config a moment before it moves the identity: a request planned in
    that moment holds a fresh identity for the new id, which must follow the provider all the same."""
    from types import SimpleNamespace

    from api_router.services import ProviderStates

    states = ProviderStates([])
    one = SimpleNamespace(base_url="http://one/v1", usage_adapter="", usage_base_url="")
    two = SimpleNamespace(base_url="http://two/v1", usage_adapter="", usage_base_url="")
    states.note_config(SimpleNamespace(providers={"a": one, "b": two}))  # type: ignore[arg-type]
    states.note_config(SimpleNamespace(providers={"x": one, "b": two}))  # type: ignore[arg-type]  # a renamed to x
    held = states.identities["x"]
    states.rename("a", "x")
    states.rename("x", "y")
    assert held.id == "y" and states.identities["y"].id == "y"
    states.forget("y")
    assert held.id is None and "y" not in states.identities


def test_changes_of_address_key_usage_settings_and_usage_token_reach_the_right_states():
    """One watcher tells every per-provider state of a new address or key, and only the usage reading of
    new usage settings or a new usage token; a new id (a rename's first step) is no change, and a new
    address is not told twice."""
    from types import SimpleNamespace

    from api_router.secrets import Secrets
    from api_router.services import ProviderStates

    told: list[tuple[str, str]] = []
    member = SimpleNamespace(readdressed=lambda pid: told.append(("readdressed", pid)))
    usage = SimpleNamespace(usage_changed=lambda pid: told.append(("usage", pid)))
    states = ProviderStates([member], usage=[usage])  # type: ignore[list-item]

    def provider(base_url: str, adapter: str = "token_stats", usage_url: str = "http://a.test/usage") -> object:
        return SimpleNamespace(base_url=base_url, usage_adapter=adapter, usage_base_url=usage_url)

    def told_after(change: object) -> list[tuple[str, str]]:
        told.clear()
        if isinstance(change, Secrets):
            states.note_secrets(change)
        else:
            states.note_config(SimpleNamespace(providers=change))  # type: ignore[arg-type]
        return list(told)

    a = provider("http://a.test/v1")
    assert told_after({"a": a}) == []
    assert told_after(Secrets("ao_x", {"a": "k1"}, {"a": "t1"})) == []  # the files at start are no change
    assert told_after({"a": a, "b": a}) == []  # a new id
    assert told_after({"a": provider("http://a.test/v2"), "b": a}) == [("readdressed", "a")]
    assert told_after({"a": a, "b": provider(a.base_url, adapter="new_api")}) == [  # type: ignore[attr-defined]
        ("readdressed", "a"), ("usage", "b")]
    assert told_after({"a": a, "b": provider("http://b.test/v1", usage_url="http://b.test/u")}) == [
        ("readdressed", "b")]  # its usage reading goes with the address
    assert told_after(Secrets("ao_x", {"a": "k2"}, {"a": "t1"})) == [("readdressed", "a")]
    assert told_after(Secrets("ao_x", {"a": "k2"}, {"a": "t2", "new": "t"})) == [("usage", "a")]
    assert told_after(Secrets("ao_x", {"a": "k2"}, {"a": "t2", "new": "t"})) == []


async def test_a_stream_waiting_on_a_renamed_provider_hears_when_another_request_finds_it_dead(fakes, gateway):
    """Two streams wait on a provider that hangs; it is renamed meanwhile. When the first one's hedge
    finds it not answering, the second is told at once — it waits on the provider, not on its old id."""
    a, x = await fakes("a", "x")
    a.always(fp.hang(30))
    x.always(fp.stream_ok("from x"))
    gw = await gateway({"a": a, "x": x}, routing={"hedge": True, "hedge_min_seconds": 5, "hedge_max_seconds": 5,
                                                   "request_timeout_seconds": 30})
    first = asyncio.ensure_future(gw.responses(stream=True))
    await asyncio.sleep(1)
    second = asyncio.ensure_future(gw.responses(stream=True))
    for _ in range(100):
        if a.calls == 2:
            break
        await asyncio.sleep(0.02)
    await gw.api("rename_provider", provider="a", new_id="b")
    assert (await first).status == 200 and (await second).status == 200
    hedges = [e.message for e in gw.services.store.recent_events() if e.kind == "hedge"]
    assert any("found by another request" in m for m in hedges), hedges


async def test_a_provider_added_while_a_stream_waits_wins_its_race_under_its_name(fakes, gateway):
    """The two planned providers silent, a third added meanwhile and raced at the hedge delay: the failures
    of the two say it answered first by its display name, not its id (the request's plan never knew it)."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"hedge_min_seconds": 1, "hedge_max_seconds": 1,
                                                      "request_timeout_seconds": 30}, keys={})
    p1.always(fp.hang())
    p2.always(fp.hang())
    asking = asyncio.ensure_future(gw.responses(stream=True))
    await asyncio.sleep(0.3)
    await gw.api("upsert_provider", provider="p3", base_url=p3.base_url, display_name="Relay Three")
    reply = await asking
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p3"
    errors = [a["error"] for a in gw.services.store.request_log()[0]["attempts"] if a["provider"] != "p3"]
    assert errors and all(e.endswith("Relay Three answered first (hedge)") for e in errors), errors


async def test_a_provider_test_still_running_when_its_provider_is_replaced_leaves_nothing(fakes, gateway):
    """Deleted and added again under the same id (even at the same address), it is another provider:
    the old one's test result and its verdict on health are not the newcomer's."""
    p1, c = await fakes("p1", "c")
    gw = await gateway({"p1": p1, "c": c}, keys={})
    held = Held(fp.stream_ok("pong"))
    c.queue(held)
    testing = asyncio.ensure_future(gw.api("test_provider", provider="c"))
    await asyncio.wait_for(held.asked.wait(), 5)
    await gw.api("delete_provider", provider="c")
    await gw.api("upsert_provider", provider="c", base_url=c.base_url)
    held.go.set()
    assert (await testing)["ok"] is True
    assert gw.services.tests.last("c") is None
    assert (await gw.api("get_status"))["providers"]["c"]["status"] == "unknown"


async def test_a_new_address_unlearns_what_the_old_one_taught(fakes, gateway):
    """Hedge timings and a refusal of previous_response_id were the old relay's: the new address starts
    with the cautious hedge delay and is offered previous_response_id again."""
    c, other = await fakes("c", "other")
    gw = await gateway({"c": c})
    router, index = gw.services.router, gw.services.continuity.index
    for _ in range(6):
        router.first_events.record("c", 0.05)
    index.mark_rejects_previous_id("c")
    assert router.hedge_delay(gw.services.config.current, "c") < gw.services.config.current.routing.hedge_max_seconds
    await gw.api("upsert_provider", provider="c", base_url=other.base_url)
    cfg = gw.services.config.current
    assert router.hedge_delay(cfg, "c") == cfg.routing.hedge_max_seconds
    assert not index.rejects_previous_id("c")


async def test_a_check_of_the_old_address_says_nothing_about_the_new_one(fakes, gateway):
    """A background check still out to a provider's old address fails after the user fixed the address:
    the provider at its new address has failed nothing (traffic may return to it at once)."""
    from api_router.gateway.checks import BackgroundChecks

    old, new, p2 = await fakes("old", "new", "p2")
    held = Held(fp.status(503))
    old.queue(held)
    gw = await gateway({"p1": old, "p2": p2}, routing={"preferred_stable_seconds": 600, "failure_threshold": 1})
    services = gw.services
    services.router.record_failure(services.config.current, "p1", "HTTP 503")
    services.router.record_success(services.config.current, "p2")  # traffic moved to p2
    checking = asyncio.ensure_future(BackgroundChecks(services, services.require_serving().upstream)._check("p1", None))
    await asyncio.wait_for(held.asked.wait(), 5)
    await gw.api("upsert_provider", provider="p1", base_url=new.base_url)
    assert services.router.plan(services.config.current)[0] == "p1"  # a fresh start: the preferred one first
    held.go.set()
    await checking
    assert services.router.plan(services.config.current)[0] == "p1"
    assert services.router.health_json(services.config.current)["p1"]["last_fail_at_unix_ms"] is None


async def test_an_address_or_key_changed_by_hand_or_cleared_starts_afresh_too(fakes, gateway):
    """Not only the app's own forms: config.toml and secrets.json edited by hand, and a key cleared, are a
    new address or key like any other. Starting the app again is not."""
    p1, p2, new = await fakes("p1", "p2", "new")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 600})
    services = gw.services
    services.watcher.stop()

    async def learnt() -> None:
        await gw.api("test_provider", provider="p1")
        services.router.record_failure(services.config.current, "p1", "HTTP 503")
        assert services.tests.last("p1") is not None
        assert services.router.health_json(services.config.current)["p1"]["status"] == "cooldown"

    def afresh() -> bool:
        return services.tests.last("p1") is None and \
            services.router.health_json(services.config.current)["p1"]["status"] != "cooldown"

    await learnt()
    path = services.paths.config
    path.write_text(path.read_text().replace(p1.base_url, new.base_url))
    services.config.reload(), services.config.reload()  # taken once it has settled: the second look
    assert services.config.current.providers["p1"].base_url == new.base_url and afresh()

    await learnt()
    secrets = services.paths.secrets
    data = json.loads(secrets.read_text())
    data["providers"]["p1"] = "sk-edited-by-hand-0000"
    secrets.write_text(json.dumps(data))
    services.secrets.reload(), services.secrets.reload()
    assert services.provider_key("p1") == "sk-edited-by-hand-0000" and afresh()

    await learnt()
    await gw.api("clear_provider_key", provider="p1")
    assert afresh()

    await gw.api("test_provider", provider="p1")
    await gw.api("rename_provider", provider="p1", new_id="main")  # a rename carries the key: no change
    assert services.tests.last("main") is not None


def hand_edit(services, text: str) -> None:
    """config.toml saved by hand as ``text``, and taken (once it has settled: the second look)."""
    services.paths.config.write_text(text)
    services.config.reload(), services.config.reload()


def cut_by_hand(services, pid: str) -> str:
    """The provider's table cut from config.toml by hand (the watcher stopped); returns the table."""
    text = services.paths.config.read_text()
    start = text.index(f"[providers.{pid}]")
    end = text.find("\n[", start + 1)
    table = text[start:] if end == -1 else text[start:end + 1]
    hand_edit(services, text.replace(table, ""))
    assert pid not in services.config.current.providers
    return table


async def test_a_table_cut_by_hand_and_pasted_back_with_another_address_starts_afresh(fakes, gateway):
    """Two saves of config.toml: [providers.p2] cut, then pasted back with a new base_url. What was learnt
    at the old address (a cooldown, the last test) is not the new address's."""
    p1, p2, new = await fakes("p1", "p2", "new")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 600})
    services = gw.services
    services.watcher.stop()
    await gw.api("test_provider", provider="p2")
    services.router.record_failure(services.config.current, "p2", "HTTP 503: old relay broken")
    table = cut_by_hand(services, "p2")
    hand_edit(services, services.paths.config.read_text() + "\n" + table.replace(p2.base_url, new.base_url))
    assert services.config.current.providers["p2"].base_url == new.base_url
    health = services.router.health_json(services.config.current)["p2"]
    assert (health["status"], services.tests.last("p2")) == ("unknown", None), health
    assert (await gw.responses({**simple_body(), "input": "x"})).status == 200
    assert services.router.plan(services.config.current) == ["p1", "p2"]


async def test_a_request_that_ends_while_its_table_is_cut_by_hand_leaves_what_it_did_for_when_it_comes_back(
        fakes, gateway):
    """A cut is no delete: a stream that ends while c's table is out of config.toml (an editor saving in two
    steps) is counted under c, the session stays with c, and the reasoning c sealed goes back to c once the
    table is pasted back — not stripped as a gone provider's."""
    p1, c = await fakes("p1", "c")
    gw = await gateway({"p1": p1, "c": c}, routing={"preferred_provider": "p1"})
    services = gw.services
    services.watcher.stop()
    p1.queue(fp.status(500))  # the request fails over to c, which holds its answer
    held = Held(fp.stream_ok("sealed", reasoning=True))
    c.queue(held)
    cut: list[str] = []

    async def cut_c() -> None:
        cut.append(cut_by_hand(services, "c"))

    body, headers = turn("think")
    reply = await while_held(held, gw.responses(body, headers=headers, stream=True), cut_c)
    item = reply.events[-1]["response"]["output"][0]
    hand_edit(services, services.paths.config.read_text() + "\n" + cut[0])
    metrics = (await gw.api("get_status"))["metrics"]
    assert metrics["c"]["ok_requests"] == 1 and metrics["c"]["total_tokens"] > 0, metrics
    assert services.router.session_binding(services.config.current, SID) == "c"
    body, headers = turn("next", input=[item, {"role": "user", "content": "next"}])
    assert (await gw.responses(body, headers=headers)).headers["X-API-Router-Provider"] == "c"
    assert c.requests[-1].json["input"][0].get("id") == item["id"]  # its own reasoning, sent back


@pytest.mark.parametrize("change", ["key", "base_url"])
async def test_a_failure_at_the_old_key_or_address_is_not_the_reason_traffic_moved(fakes, gateway, change):
    """The preferred provider's answer to a request sent before the user gave it a new key (or address)
    says nothing of it now: the request is served by the next provider, but the status does not quote the
    old failure, and traffic does not move."""
    p1, new, p2 = await fakes("p1", "new", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_provider": "p1"})
    held = Held(fp.status(401, "invalid api key"))
    p1.queue(held)

    async def fix() -> None:
        if change == "key":
            await gw.api("set_provider_key", provider="p1", key="sk-the-fixed-key-0123")
        else:
            await gw.api("upsert_provider", provider="p1", base_url=new.base_url)

    reply = await while_held(held, gw.responses(simple_body(), stream=True), fix)
    assert reply.headers["X-API-Router-Provider"] == "p2"
    status = await gw.api("get_status")
    said = json.dumps([status["summary"], status.get("active_reason")])
    assert "invalid api key" not in said and "401" not in said, said
    assert gw.services.router.plan(gw.services.config.current)[0] == "p1"


@pytest.mark.parametrize("change", ["add", "rename", "delete"])
async def test_a_change_made_while_a_table_is_cut_by_hand_keeps_its_place_in_the_order(fakes, gateway, change):
    """provider_order written with a comment per id; [providers.p2] cut by hand (to be pasted back) when an
    add, rename or delete is made in the app: p2's line and comment stay, and once the table is back p2 is
    first again — the preferred provider when the setting is "first in the list"."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2})
    services = gw.services
    services.watcher.stop()
    text = services.paths.config.read_text()
    order = re.search(r"(?m)^provider_order = .*$", text)
    assert order is not None
    hand_edit(services, text.replace(order.group(0), 'provider_order = [\n  "p2",  # cheap one first: my choice\n'
                                                      '  "p1",  # fast fallback\n  "p3",\n]'))
    table = cut_by_hand(services, "p2")
    if change == "add":
        await gw.api("upsert_provider", provider="p3", base_url=p3.base_url, create=True)
    elif change == "rename":
        await gw.api("rename_provider", provider="p1", new_id="p1b")
    else:
        await gw.api("delete_provider", provider="p1")
    written = services.paths.config.read_text()
    assert '"p2",  # cheap one first: my choice' in written, written
    assert ('"p1b",  # fast fallback' in written) if change == "rename" else True, written
    hand_edit(services, written + "\n" + table)
    cfg = services.config.current
    assert cfg.order[0] == "p2" and cfg.effective_preferred == "p2", cfg.order


async def test_an_order_entry_without_a_table_gives_way_to_a_rename_or_an_add_of_its_id(fakes, gateway):
    """provider_order lists p2, whose table is cut (a keyless relay): renaming p1 to p2 writes p2 once, in
    p1's place; adding an id the order lists, but has no table for, appends it as any new provider."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": "sk-p1-0123456789"})
    services = gw.services
    services.watcher.stop()
    await gw.api("clear_provider_key", provider="p2")
    cut_by_hand(services, "p2")
    await gw.api("rename_provider", provider="p1", new_id="p2")
    assert tomlkit.parse(services.paths.config.read_text())["provider_order"] == ["p2"]
    text = services.paths.config.read_text()
    hand_edit(services, text.replace('provider_order = ["p2"]', 'provider_order = ["old", "p2"]'))
    await gw.api("upsert_provider", provider="old", base_url=p3.base_url, create=True)
    assert services.config.current.order == ("p2", "old") and services.config.current.effective_preferred == "p2"


# --- attempts that begin after a change obey it -------------------------------------------------------

async def fail_over_after(gw: Harness, held_on: fp.FakeProvider, change: Callable[[], Awaitable[object]], *,
                          stream: bool = False) -> Reply:
    """A request held by ``held_on``; ``change`` is made; then ``held_on`` fails (503), so the request's
    next attempt begins after the change."""
    held = Held(fp.status(503, "overloaded"))
    held_on.queue(held)
    return await while_held(held, gw.responses(stream=stream), change)


@pytest.mark.parametrize("change", ["delete", "disable", "lock"])
async def test_a_failover_that_begins_after_a_change_obeys_it(fakes, gateway, change):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3})
    make = {"delete": lambda: gw.api("delete_provider", provider="p2"),
            "disable": lambda: gw.api("set_provider_disabled", provider="p2", disabled=True),
            "lock": lambda: gw.api("set_manual_override", provider="p3")}[change]
    reply = await fail_over_after(gw, p1, make)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p3"
    assert p2.calls == 0


async def test_a_lock_set_during_a_request_brings_the_locked_provider_in_when_the_plan_runs_out(fakes, gateway):
    """p1 alone was planned (locked); locked to p2 meanwhile, p1's failure is followed by p2, not a 502."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_manual_override", provider="p1")
    reply = await fail_over_after(gw, p1, lambda: gw.api("set_manual_override", provider="p2"))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    gw.services.store.flush()
    assert gw.services.store.request_log()[0]["providers_tried"] == ["p1", "p2"]


@pytest.mark.parametrize("change", ["delete", "lock", "hedge off"])
async def test_a_hedge_that_would_begin_after_a_change_obeys_it(fakes, gateway, change):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    # A hedge delay of 1 s: the change (a few ms) lands well before it, and p1 answers well after it.
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={"hedge_min_seconds": 1, "hedge_max_seconds": 1})
    held = Held(fp.stream_ok("from p1"))
    p1.queue(held)
    make = {"delete": lambda: gw.api("delete_provider", provider="p2"),
            "lock": lambda: gw.api("set_manual_override", provider="p1"),
            "hedge off": lambda: gw.api("update_routing", hedge=False)}[change]
    pending = asyncio.ensure_future(gw.responses(stream=True))
    await asyncio.wait_for(held.asked.wait(), 5)
    await make()
    await asyncio.sleep(2.0)  # past p1's hedge delay
    held.go.set()
    reply = await asyncio.wait_for(pending, 10)
    assert reply.status == 200 and p2.calls == 0
    hedged = [e.message for e in gw.services.store.recent_events() if e.kind == "hedge"]
    assert (p3.calls, hedged) == ((1, hedged) if change == "delete" else (0, [])), hedged


@pytest.mark.parametrize("change", ["rename", "display name"])
async def test_a_hedge_event_after_a_rename_names_the_provider_as_it_is_called_now(fakes, gateway, change):
    """The event was filed under the id of the request's start (one no longer in the config: the events
    of the renamed provider missed it) and said the name of then."""
    p1, p2 = await fakes("p1", "p2")
    # A hedge delay of 1 s: the change (a few ms) lands well before it, and p1 answers well after it.
    gw = await gateway({"p1": p1, "p2": p2}, routing={"hedge_min_seconds": 1, "hedge_max_seconds": 1})
    held = Held(fp.stream_ok("from p1"))
    p1.queue(held)
    p2.always(fp.status(503, "p2 is down too"))
    pending = asyncio.ensure_future(gw.responses(stream=True))
    await asyncio.wait_for(held.asked.wait(), 5)
    if change == "rename":
        await gw.api("rename_provider", provider="p1", new_id="h1")
    else:
        await gw.api("upsert_provider", provider="p1", display_name="New Name")
    await asyncio.sleep(2.0)  # past p1's hedge delay
    held.go.set()
    reply = await asyncio.wait_for(pending, 10)
    assert reply.status == 200
    (hedge,) = [e for e in gw.services.store.recent_events() if e.kind == "hedge"]
    pid, name = ("h1", "P1") if change == "rename" else ("p1", "New Name")  # a renamed id keeps its display name
    assert hedge.provider == pid and hedge.message.startswith(f"{name} sent no first event within 1 s"), hedge


KEYS = {"a": "sk-key-of-a-0123456789", "b": "sk-key-of-b-0123456789"}


async def test_an_attempt_after_a_new_address_and_key_sends_the_new_key_to_the_new_address_only(fakes, gateway):
    a, b_old, b_new = await fakes("a", "b_old", "b_new")
    gw = await gateway({"a": a, "b": b_old}, keys=KEYS)

    async def move_b() -> None:
        await gw.api("upsert_provider", provider="b", base_url=b_new.base_url)
        await gw.api("set_provider_key", provider="b", key="sk-new-key-of-b-987654")

    reply = await fail_over_after(gw, a, move_b)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "b"
    assert b_old.calls == 0
    assert [r.headers.get("Authorization") for r in b_new.requests] == ["Bearer sk-new-key-of-b-987654"]


@pytest.mark.parametrize("change", ["rename", "swap"])
async def test_a_renamed_provider_is_asked_with_its_own_key(fakes, gateway, change):
    """Renamed after the request was planned, b is still b: its address with its key — also when a and b
    swap ids, where the key now filed under "b" is a's."""
    a, b = await fakes("a", "b")
    gw = await gateway({"a": a, "b": b}, keys=KEYS)

    async def rename() -> None:
        if change == "rename":
            await gw.api("rename_provider", provider="b", new_id="relay")
            return
        for old, new in (("b", "tmp"), ("a", "b"), ("tmp", "a")):
            await gw.api("rename_provider", provider=old, new_id=new)

    reply = await fail_over_after(gw, a, rename)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == ("relay" if change == "rename" else "a")
    assert [r.headers.get("Authorization") for r in b.requests] == [f"Bearer {KEYS['b']}"]


async def test_a_provider_renamed_while_the_body_is_read_gets_its_key_and_its_own_reasoning(fakes, gateway):
    c, p2 = await fakes("c", "p2")
    gw = await gateway({"c": c, "p2": p2}, keys={"c": "sk-key-of-c-0123456789", "p2": "sk-key-of-p2-012345678"})
    c.always(fp.json_ok("sealed", reasoning=True))
    body, headers = turn("think")
    item = (await gw.responses(body, headers=headers)).json["output"][0]
    assert item["type"] == "reasoning"
    body, headers = turn("next", input=[item, {"role": "user", "content": "next"}])
    reply = await while_reading_body(gw, body, headers,
                                     lambda: gw.api("rename_provider", provider="c", new_id="relay"))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "relay"
    sent = c.requests[-1]
    assert sent.headers.get("Authorization") == "Bearer sk-key-of-c-0123456789"
    assert sent.json["input"][0].get("id") == item["id"]  # its own: sent back, not stripped


async def test_a_request_that_ends_while_a_rename_moves_the_state_is_counted_under_the_new_id(fakes, gateway,
                                                                                            monkeypatch):
    """The rename follows the provider's identity first, then moves each piece of state; a request that
    ends in between must not be counted under the new id only to be written over by the move."""
    b, c = await fakes("b", "c")
    gw = await gateway({"b": b, "c": c})
    services = gw.services
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "b"
    before = (await gw.api("get_status"))["metrics"]["b"]
    services.router.record_failure(services.config.current, "b", "HTTP 503: a blip")
    moving = services.store.rename

    def slow_move(old: str, new: str) -> None:  # the store's part of the move, held a moment
        time.sleep(0.3)
        moving(old, new)

    monkeypatch.setattr(services.store, "rename", slow_move)
    held = Held(fp.json_ok("second"))
    b.queue(held)
    pending = asyncio.ensure_future(gw.responses())
    await asyncio.wait_for(held.asked.wait(), 5)
    renaming = asyncio.ensure_future(gw.api("rename_provider", provider="b", new_id="bx"))
    deadline = time.monotonic() + 5
    while "b" in services.providers.identities:  # followed: the move is under way
        assert time.monotonic() < deadline, "the rename did not begin"
        await asyncio.sleep(0.005)
    held.go.set()
    assert (await asyncio.wait_for(pending, 10)).status == 200
    await asyncio.wait_for(renaming, 10)
    status = await gw.api("get_status")
    after = status["metrics"]["bx"]
    assert (after["ok_requests"], after["total_tokens"]) == (before["ok_requests"] + 1, 2 * before["total_tokens"])
    assert (status["providers"]["bx"]["status"], status["providers"]["bx"]["consecutive_failures"]) == ("healthy", 0)
    assert (await gw.api("get_usage"))["ledgers"]["bx"]["tokens_since_check"] == 2 * before["total_tokens"]


@pytest.mark.parametrize("change", ["disable", "delete"])
async def test_a_continuity_retry_whose_provider_went_meanwhile_says_so(fakes, gateway, change):
    """The provider asked for a retry (its previous_response_id refused) and is switched off or deleted
    before it: no other provider can take the request, and the client hears why — not an empty 502."""
    (a,) = await fakes("a")
    gw = await gateway({"a": a})
    held = Held(fp.status(400, "Previous response with id 'resp_x' not found."))
    a.queue(held)
    make = {"disable": lambda: gw.api("set_provider_disabled", provider="a", disabled=True),
            "delete": lambda: gw.api("delete_provider", provider="a")}[change]
    reply = await while_held(held, gw.responses(simple_body(previous_response_id="resp_x")), make)
    message = reply.json["error"]["message"]
    assert reply.status == 503 and ("was switched off" if change == "disable" else "was deleted") in message, message
    assert a.calls == 1


async def swap_a_and_b(gw: Harness) -> None:
    for old, new in (("b", "tmp"), ("a", "b"), ("tmp", "a")):
        await gw.api("rename_provider", provider=old, new_id=new)


async def test_after_an_id_swap_each_provider_gets_the_body_built_for_it(fakes, gateway):
    """The request keeps what it built per provider under the id it knows it by: after a and b swap ids,
    the body built for a (with a's sealed reasoning) is not b's because b is called "a" now."""
    a, b = await fakes("a", "b")
    gw = await gateway({"a": a, "b": b})
    a.queue(fp.json_ok("sealed", reasoning=True))
    body, headers = turn("think")
    item = (await gw.responses(body, headers=headers)).json["output"][0]
    assert item["encrypted_content"] == "sealed-by-a"
    body, headers = turn("next", input=[item, {"role": "user", "content": "next"}])
    held = Held(fp.status(503, "overloaded"))
    a.queue(held)
    reply = await while_held(held, gw.responses(body, headers=headers), lambda: swap_a_and_b(gw))
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "a"  # b, called "a" now
    assert b.calls == 1 and b.foreign_sealed == []


async def test_after_an_id_swap_a_lock_on_the_untried_provider_brings_it_in(fakes, gateway):
    a, b = await fakes("a", "b")
    gw = await gateway({"a": a, "b": b})
    await gw.api("set_manual_override", provider="a")

    async def swap_and_lock() -> None:
        await swap_a_and_b(gw)
        await gw.api("set_manual_override", provider="a")  # b, under its new id

    reply = await fail_over_after(gw, a, swap_and_lock)
    assert reply.status == 200 and b.calls == 1


@pytest.mark.parametrize("change", ["enable", "add"])
async def test_a_provider_made_available_while_a_stream_waits_is_raced_at_the_hedge_delay(fakes, gateway, change):
    """Only pa could serve when the turn began, and it sends nothing; locked to pb meanwhile (switched on,
    or added), pb is asked at pa's hedge delay — not after the whole request timeout."""
    pa, pb = await fakes("pa", "pb")
    pa.always(fp.hang(20))
    providers: dict = {"pa": pa} if change == "add" else {"pa": pa, "pb": pb}
    gw = await gateway(providers, routing={"hedge_min_seconds": 1, "hedge_max_seconds": 1,
                                           "request_timeout_seconds": 10})
    if change == "enable":
        await gw.api("set_provider_disabled", provider="pb", disabled=True)
    started = time.monotonic()
    pending = asyncio.ensure_future(gw.responses(stream=True))
    deadline = started + 5
    while not pa.calls:
        assert time.monotonic() < deadline, "pa was not asked"
        await asyncio.sleep(0.01)
    if change == "enable":
        await gw.api("set_provider_disabled", provider="pb", disabled=False)
    else:
        await gw.api("upsert_provider", provider="pb", base_url=pb.base_url)
    await gw.api("set_manual_override", provider="pb")
    reply = await asyncio.wait_for(pending, 15)
    took = time.monotonic() - started
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "pb"
    assert took < 5, took


async def test_renaming_onto_an_id_whose_table_was_cut_by_hand_keeps_the_usage_reading(fakes, gateway):
    """The id left by a table cut from config.toml is taken by a rename: the renamed provider's own
    reading and address come with it — the cut table's old address makes nothing "new"."""
    from tests.support.usage import new_api

    p1, p2 = await fakes("p1", "p2")
    p1.usage = new_api(0)  # out of quota
    gw = await gateway({"p1": p1, "p2": p2})
    services = gw.services
    services.watcher.stop()
    await gw.api("refresh_usage", provider="p1")
    cut_by_hand(services, "p2")
    # The cut table's key is still in secrets.json (a table pasted back carries on): not replaced unasked.
    with pytest.raises(ApiError, match=r"secrets\.json holds a key for 'p2'"):
        await gw.api("rename_provider", provider="p1", new_id="p2")
    services.secrets.forget("p2")  # as the user removes it
    await gw.api("rename_provider", provider="p1", new_id="p2")
    await asyncio.sleep(0.3)  # anything the change scheduled on the loop has run
    quota = (await gw.api("get_status"))["quota"]
    assert quota["p2"]["skipped"] and quota["p2"]["snapshot"]["available"] == 0, quota
    voided = [e.message for e in services.store.recent_events() if "no longer applies" in e.message]
    assert voided == [], voided


async def test_a_request_that_fails_while_its_provider_is_being_renamed_asks_it_once(fakes, gateway):
    """Between the rename's edit of the files and the move of every state (here made long by a slow config
    listener) the provider is neither gone under its old id nor new under its new one: the request's
    failure is recorded under the new id, and the provider is not asked again as if it were another."""
    b, c = await fakes("b", "c")
    gw = await gateway({"b": b, "c": c})
    services = gw.services
    await gw.api("set_manual_override", provider="b")

    def slow_listener(cfg) -> None:  # on the control thread, within the rename
        if "relay" in cfg.providers:
            time.sleep(0.5)

    services.config.listeners.append(slow_listener)
    b.always(fp.status(503, "still overloaded"))
    held = Held(fp.status(503, "overloaded"))
    b.queue(held)
    pending = asyncio.ensure_future(gw.responses())
    await asyncio.wait_for(held.asked.wait(), 5)
    renaming = asyncio.ensure_future(gw.api("rename_provider", provider="b", new_id="relay"))
    deadline = time.monotonic() + 5
    while "relay" not in services.config.current.providers:
        assert time.monotonic() < deadline, "the rename did not begin"
        await asyncio.sleep(0.005)
    held.go.set()
    reply = await asyncio.wait_for(pending, 10)
    await asyncio.wait_for(renaming, 10)
    services.config.listeners.remove(slow_listener)
    assert reply.status == 502 and b.calls == 1, (b.calls, reply.body)
    health = services.router.health_json(services.config.current)["relay"]
    assert health["consecutive_failures"] == 1, health


async def test_a_rename_that_fails_leaves_a_cut_tables_address_remembered(fakes, gateway, monkeypatch):
    """A rename onto the id of a table cut by hand that could not be saved (a full disk) renames nothing:
    the cut table pasted back with another address still starts afresh there."""
    import errno

    p1, p2, new = await fakes("p1", "p2", "new")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 600})
    services = gw.services
    services.watcher.stop()
    services.router.record_failure(services.config.current, "p2", "HTTP 503: old relay broken")
    table = cut_by_hand(services, "p2")

    def full_disk(change):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(services.config, "edit", full_disk)
    with pytest.raises(ApiError):
        await gw.api("rename_provider", provider="p1", new_id="p2")
    monkeypatch.undo()
    hand_edit(services, services.paths.config.read_text() + "\n" + table.replace(p2.base_url, new.base_url))
    assert services.router.health_json(services.config.current)["p2"]["status"] == "unknown"


async def test_a_preferred_provider_that_names_no_provider_is_reported_at_start_and_after_a_hand_edit(
        fakes, gateway):
    """As a lock on a provider that cannot serve is: the app refuses such a name, the file took it silently
    (a typo preferred the first provider in the list with no word said)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    user_data = gw.services.paths.user_data
    await gw.close()
    path = Paths(user_data).config
    path.write_text(path.read_text().replace("[routing]\n", '[routing]\npreferred_provider = "ghost"\n'))
    again = await start_harness(user_data)
    try:
        warnings = [e.message for e in again.services.store.recent_events() if "prefers" in e.message]
        assert warnings == ["config.toml prefers ghost, which is no provider: P1 is preferred instead"], warnings
        assert (await again.responses()).headers["X-API-Router-Provider"] == "p1"
        hand_edit(again.services, path.read_text().replace('"ghost"', '"p2"'))
        hand_edit(again.services, path.read_text().replace('"p2"', '"gohst"'))
        warnings = [e.message for e in again.services.store.recent_events() if "prefers" in e.message]
        assert warnings[0] == "config.toml prefers gohst, which is no provider: P1 is preferred instead"
        assert len(warnings) == 2
    finally:
        await again.close()
