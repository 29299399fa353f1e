"""What the user changes while a request is under way — a key, a provider's id, the provider itself,
the routing choice — applies to what that request leaves behind when it ends."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from tests.support import fake_provider as fp
from tests.support.harness import simple_body

SID = "019a0000-0000-7000-8000-0000000000c1"


async def asked(fake: fp.FakeProvider, count: int = 1, seconds: float = 3.0) -> None:
    """Until ``fake`` has received ``count`` requests."""
    deadline = time.monotonic() + seconds
    while len(fake.requests) < count:
        assert time.monotonic() < deadline, f"{fake.name} was not asked"
        await asyncio.sleep(0.01)


def echoing_key(delay: float) -> fp.Behaviour:
    """After ``delay``, a 400 whose message repeats the key the request came with."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        await asyncio.sleep(delay)
        message = f"the key {request.headers.get('Authorization', '')} is not valid for this model"
        return web.json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=400)
    return run


def turn(text: str, **extra) -> tuple[dict, dict]:
    return simple_body(text, prompt_cache_key=SID, **extra), {"session-id": SID}


async def test_a_key_rotated_or_deleted_during_a_request_is_masked_in_its_answer(fakes, gateway):
    """The answer to a request sent with the old key may echo it after the change."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": "sk-old-key-p1-0123456789", "p2": "sk-key-p2-0123456789"})
    p1.queue(echoing_key(0.4))
    pending = asyncio.create_task(gw.responses())
    await asked(p1)
    await gw.api("set_provider_key", provider="p1", key="sk-new-key-p1-9876543210")
    rotated = await pending
    await gw.api("set_manual_override", provider="p2")
    p2.queue(echoing_key(0.4))
    pending = asyncio.create_task(gw.responses(stream=True))
    await asked(p2)
    await gw.api("delete_provider", provider="p2")
    deleted = await pending
    assert (rotated.status, deleted.status) == (400, 400)
    answers = [rotated.body.decode(), deleted.body.decode()]
    assert "sk-o…6789" in answers[0] and "sk-k…6789" in answers[1]
    gw.services.store.flush()
    seen = json.dumps([*answers, gw.services.store.request_log(),
                       [e.message for e in gw.services.store.recent_events()]])
    assert "sk-old-key-p1-0123456789" not in seen and "sk-key-p2-0123456789" not in seen


async def test_a_provider_deleted_during_a_request_leaves_nothing_to_the_one_added_under_its_id(fakes, gateway):
    """The answer of the deleted provider lands nowhere: not in the new provider's health, metrics,
    quota ledger or session binding — and the reasoning it sealed is another provider's to the newcomer."""
    p1, c, d = await fakes("p1", "c", "d")
    gw = await gateway({"p1": p1, "c": c}, routing={"preferred_provider": "p1"})
    await gw.api("set_manual_override", provider="c")
    c.queue(fp.stream_ok("sealed", reasoning=True, first_delay=0.3, delay=0.05))
    body, headers = turn("think")
    pending = asyncio.create_task(gw.responses(body, headers=headers, stream=True))
    await asked(c)
    await gw.api("delete_provider", provider="c")
    await gw.api("upsert_provider", provider="c", base_url=d.base_url)
    reply = await pending
    assert reply.status == 200
    item = reply.events[-1]["response"]["output"][0]
    assert item["type"] == "reasoning" and item["encrypted_content"] == "sealed-by-c"
    status = await gw.api("get_status")
    assert status["providers"]["c"]["status"] == "unknown"
    assert status["metrics"]["c"]["ok_requests"] == 0 and status["metrics"]["c"]["total_tokens"] == 0
    assert gw.services.router.session_binding(SID) is None
    await gw.api("set_manual_override", provider="c")
    body, headers = turn("next", input=[item, {"role": "user", "content": "next"}])
    assert (await gw.responses(body, headers=headers)).headers["X-API-Router-Provider"] == "c"
    assert d.foreign_sealed == []


async def test_a_provider_renamed_during_a_request_keeps_what_the_request_leaves(fakes, gateway):
    """Under its new id: the request-log row, the metrics, the session binding and the reasoning it
    sealed, which goes back to it (and only to it) in the session's next turn."""
    p1, c = await fakes("p1", "c")
    gw = await gateway({"p1": p1, "c": c}, routing={"preferred_provider": "p1"})
    await gw.api("set_manual_override", provider="c")
    c.queue(fp.stream_ok("sealed", reasoning=True, first_delay=0.3, delay=0.05))
    body, headers = turn("think")
    pending = asyncio.create_task(gw.responses(body, headers=headers, stream=True))
    await asked(c)
    await gw.api("rename_provider", provider="c", new_id="relay")
    reply = await pending
    item = reply.events[-1]["response"]["output"][0]
    gw.services.store.flush()
    row = gw.services.store.request_log()[0]
    assert (row["provider"], row["providers_tried"]) == ("relay", ["relay"])
    metrics = (await gw.api("get_status"))["metrics"]
    assert metrics["relay"]["ok_requests"] == 1 and "c" not in metrics
    assert gw.services.router.session_binding(SID) == "relay"
    body, headers = turn("next", input=[item, {"role": "user", "content": "next"}])
    assert (await gw.responses(body, headers=headers)).headers["X-API-Router-Provider"] == "relay"
    assert c.requests[-1].json["input"][0].get("id") == item["id"]  # sent back, not stripped


async def test_a_routing_choice_made_during_a_request_is_not_undone_when_it_ends(fakes, gateway):
    """A new preferred provider, or a lock, moves every session at once — the one whose request was
    under way too — and what serves is what the user chose."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"preferred_provider": "p1"})
    for before, choose, chosen in ((p1, lambda: gw.api("set_preferred_provider", provider="p2"), "p2"),
                                   (p2, lambda: gw.api("set_manual_override", provider="p3"), "p3")):
        body, headers = turn("slow")
        before.queue(fp.stream_ok("slow", first_delay=0.3))
        asked_before = len(before.requests)
        pending = asyncio.create_task(gw.responses(body, headers=headers, stream=True))
        await asked(before, asked_before + 1)
        seen = {e.id for e in gw.services.store.recent_events()}
        await choose()
        assert (await pending).headers["X-API-Router-Provider"] == before.name
        since = [e.message for e in gw.services.store.recent_events() if e.id not in seen]
        assert not any(f"preferred provider {before.name.upper()}" in m for m in since), since
        status = await gw.api("get_status")
        assert status["summary"]["state"] == "serving" and status["summary"]["provider"] == chosen, status["summary"]
        assert status["active_provider"] in (None, chosen)
        body, headers = turn("next")
        assert (await gw.responses(body, headers=headers)).headers["X-API-Router-Provider"] == chosen


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


async def test_ids_swapped_during_a_request_are_followed_once(fakes, gateway):
    """b renamed away, then a renamed to b, while a serves: the answer is the new b's (once a), not x's."""
    a, b = await fakes("a", "b")
    gw = await gateway({"a": a, "b": b})  # both candidates of the request
    a.queue(fp.hang(0.3))
    pending = asyncio.create_task(gw.responses())
    await asked(a)
    await gw.api("rename_provider", provider="b", new_id="x")
    await gw.api("rename_provider", provider="a", new_id="b")
    assert (await pending).status == 200
    gw.services.store.flush()
    row = gw.services.store.request_log()[0]
    assert (row["provider"], row["providers_tried"]) == ("b", ["b"])
    metrics = (await gw.api("get_status"))["metrics"]
    assert (metrics["b"]["ok_requests"], metrics["x"]["ok_requests"]) == (1, 0)
