"""Codex sessions across providers: affinity, sealed compaction, /responses/compact, turn state and
rate-limit headers, model names."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import tomlkit
from aiohttp import web

from api_router import analytics
from api_router.continuity.index import sealed_key
from api_router.gateway.classify import mentions_unknown_model
from api_router.gateway.upstream import clip
from api_router.paths import Paths
from api_router.routing import affinity
from tests.support import fake_provider as fp
from tests.support.harness import Harness, simple_body, start_harness
from tests.support.rollouts import write_rollout

SID = "019a0000-0000-7000-8000-0000000000a1"


def turn(text: str, sid: str = SID, **extra) -> tuple[dict, dict]:
    return simple_body(text, prompt_cache_key=sid, **extra), {"session-id": sid}


async def served_by(gw: Harness, text: str, sid: str = SID, stream: bool = False) -> str:
    body, headers = turn(text, sid)
    reply = await gw.responses(body, headers=headers, stream=stream)
    assert reply.status == 200, reply.body
    return reply.headers["X-API-Router-Provider"]


async def served_after_restart(gw: Harness, while_stopped: Callable[[Path], None] | None = None) -> str:
    """Stop the app (``while_stopped`` may then change its user-data folder), start it again on the same
    folder, and say who serves the session's next turn."""
    user_data = gw.services.paths.user_data
    await gw.close()
    if while_stopped is not None:
        while_stopped(user_data)
    again = await start_harness(user_data)
    try:
        return await served_by(again, "after restart")
    finally:
        await again.close()


def session_clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The clock session bindings are timed by (steady ms; saved as the wall clock's, here the same), moved
    only by the test: however slow the machine, a turn "soon after" is soon after, and a pause is as long as
    the test says."""
    now = [affinity.now_ms()]  # the store prunes bindings by the real date
    monkeypatch.setattr(affinity, "now_ms", lambda: now[0])
    monkeypatch.setattr(affinity, "steady_ms", lambda: now[0])
    monkeypatch.setattr(affinity, "wall_ms", lambda steady: steady)
    return now


# --- affinity -------------------------------------------------------------------------------------


async def test_a_session_keeps_its_provider_after_the_preferred_one_recovers(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    p1.queue(fp.status(503, "blip"))
    assert await served_by(gw, "first") == "p2"  # failed over
    assert await served_by(gw, "second") == "p2"  # p1 is fine again, but the session stays (prompt cache)
    assert await served_by(gw, "another session", sid="other-session") == "p1"  # new sessions: preferred
    sessions = {s["session_id"]: s for s in (await gw.api("list_sessions"))["sessions"]}
    assert sessions[SID]["provider"] == "p2" and sessions["other-session"]["provider"] == "p1"
    assert sessions[SID]["bound"] is True
    timeline = await gw.api("get_session_timeline", session_id=SID)
    assert timeline["provider"] == "p2" and timeline["bound"] is True
    await gw.api("set_manual_override", provider="p1")  # a lock releases every session: p2 only served it last
    sessions = {s["session_id"]: s for s in (await gw.api("list_sessions"))["sessions"]}
    assert (sessions[SID]["provider"], sessions[SID]["bound"]) == ("p2", False)
    timeline = await gw.api("get_session_timeline", session_id=SID)
    assert (timeline["provider"], timeline["bound"]) == ("p2", False)


async def test_sessions_on_different_providers_do_not_flip_the_serving_provider(fakes, gateway):
    """One session kept on the fallback, another on the preferred provider, taking turns: no route
    event per request and the gateway keeps serving from the preferred one."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    p1.queue(fp.status(503, "blip"))
    assert await served_by(gw, "first") == "p2"
    assert await served_by(gw, "new session", sid="other-session") == "p1"
    routes = len([e for e in gw.services.store.recent_events() if e.kind == "route"])
    for i in range(4):
        assert await served_by(gw, f"turn {i}") == "p2"
        assert await served_by(gw, f"turn {i}", sid="other-session") == "p1"
    assert len([e for e in gw.services.store.recent_events() if e.kind == "route"]) == routes
    assert (await gw.api("get_status"))["active_provider"] == "p1"


async def test_a_session_kept_on_the_fallback_is_no_failover_after_a_restart(fakes, gateway):
    """The first request after a start is a session's turn on the provider it was kept on: nothing
    failed, so no "Failover" event, and the serving provider is still named by new traffic."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    p1.queue(fp.status(503, "blip"))
    assert await served_by(gw, "first") == "p2"
    user_data = gw.services.paths.user_data
    await gw.close()
    again = await start_harness(user_data)
    try:
        def routes() -> list[str]:
            return [e.message for e in again.services.store.recent_events() if e.kind == "route"]

        before = routes()
        assert await served_by(again, "after restart") == "p2"
        assert routes() == before
        status = await again.api("get_status")
        assert status["active_provider"] is None
        assert status["summary"]["provider"] == "p1" and status["summary"]["state"] == "serving"
        assert await served_by(again, "a new session", sid="other-session") == "p1"
        assert routes() == ["Serving from preferred provider P1", *before]  # newest first
    finally:
        await again.close()


async def test_an_idle_session_returns_to_the_preferred_provider(fakes, gateway, monkeypatch):
    now = session_clock(monkeypatch)
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5,
                                                       "session_idle_return_seconds": 0.5})
    p1.queue(fp.status(503, "blip"))
    assert await served_by(gw, "first") == "p2"
    now[0] += 400
    assert await served_by(gw, "soon after") == "p2"
    now[0] += 600
    # Idle past the return time: no longer bound, p2 only served it last (the Usage page: "last on P2").
    sessions = {s["session_id"]: s for s in (await gw.api("list_sessions"))["sessions"]}
    assert (sessions[SID]["provider"], sessions[SID]["bound"]) == ("p2", False)
    timeline = await gw.api("get_session_timeline", session_id=SID)
    assert (timeline["provider"], timeline["bound"]) == ("p2", False)
    assert await served_by(gw, "after a pause") == "p1"
    sessions = {s["session_id"]: s for s in (await gw.api("list_sessions"))["sessions"]}
    assert (sessions[SID]["provider"], sessions[SID]["bound"]) == ("p1", True)


async def test_a_failure_of_the_sessions_provider_moves_it(fakes, gateway):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    p1.queue(fp.status(503))
    assert await served_by(gw, "first") == "p2"
    p2.queue(fp.status(500))
    assert await served_by(gw, "second") in ("p1", "p3")


@pytest.mark.parametrize("how", ["cut after output", "stall after output", "500 and every other down"])
async def test_a_session_its_provider_failed_is_routed_as_usual_next(fakes, gateway, how):
    """Also when no other provider took the failed turn (the stream had begun, or the others were down):
    the session is no longer held to the provider that failed it, and its next turn goes where routing
    sends it — the recovered preferred provider — not back to the one that just failed."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5,
                                                      "stream_idle_timeout_seconds": 0.5})
    p1.queue(fp.status(503))
    assert await served_by(gw, "first") == "p2"  # the session is p2's; p1 is fine again
    if how == "500 and every other down":
        p1.queue(fp.status(503))
        p2.queue(fp.status(500))
    else:
        p2.queue(fp.stream_ok("partial", cut_after=6) if how == "cut after output" else
                 fp.stream_ok("partial", stall_after=6, stall=5))
    body, headers = turn("second")
    failed = await gw.responses(body, headers=headers, stream=True)
    assert failed.status == 502 if how.startswith("500") else failed.event_types[-1] == "response.failed"
    assert gw.services.router.session_binding(gw.services.config.current, SID) is None
    assert await served_by(gw, "third") == "p1"


async def test_a_user_choice_moves_every_session_at_once(fakes, gateway):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    p1.queue(fp.status(503))
    assert await served_by(gw, "first") == "p2"
    await gw.api("set_preferred_provider", provider="p3")
    assert await served_by(gw, "second") == "p3"
    await gw.api("set_manual_override", provider="p2")
    assert await served_by(gw, "third") == "p2"
    await gw.api("set_manual_override", provider=None)
    assert await served_by(gw, "fourth") == "p3"


@pytest.mark.parametrize("preferred", ["p1", ""])
async def test_a_choice_that_changes_nothing_moves_no_session(fakes, gateway, preferred):
    """The preferred provider picked again (in the tray, or saved with other settings — also by its name
    where the setting said "first in the list", which is p1) and "Automatic" while nothing is locked are
    no new choice: the session stays where its cache and sealed items are, nothing is said to be set, and
    no lock is said to be released."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_provider": preferred, "preferred_stable_seconds": 0,
                                                       "failure_threshold": 5})
    p1.queue(fp.status(503))
    assert await served_by(gw, "first") == "p2"
    await gw.api("set_preferred_provider", provider="p1")
    assert await served_by(gw, "after picking p1 again") == "p2"
    await gw.api("update_routing", preferred_provider="p1", cooldown_seconds=12)
    assert await served_by(gw, "after saving routing") == "p2"
    await gw.api("set_manual_override", provider=None)
    assert await served_by(gw, "after Automatic") == "p2"
    assert not [e for e in gw.services.store.recent_events() if "lock released" in e.message]
    assert not [e for e in gw.services.store.recent_events() if "Preferred provider set" in e.message]
    await gw.api("set_manual_override", provider="p2")
    await gw.api("set_manual_override", provider="p2")  # locked again to the same one: one lock event
    assert len([e for e in gw.services.store.recent_events() if e.kind == "lock"]) == 1


async def test_a_preferred_provider_set_by_hand_in_config_toml_moves_every_session(fakes, gateway):
    import re
    import time

    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    p1.queue(fp.status(503, "blip"))
    assert await served_by(gw, "first") == "p2"  # failed over; the session stays on p2
    path = gw.services.paths.config
    text = re.sub(r"(?m)^preferred_provider = .*\n", "", path.read_text())
    path.write_text(text.replace("[routing]\n", '[routing]\npreferred_provider = "p3"\n'))
    deadline = time.monotonic() + 3
    # The event comes once every session has been released (after the new config is in use).
    while not any("config.toml edited" in e.message for e in gw.services.store.recent_events()):
        assert time.monotonic() < deadline, "the hand edit was not picked up"
        await asyncio.sleep(0.05)
    assert await served_by(gw, "after the edit") == "p3"


async def test_a_hand_edit_a_change_in_the_app_lands_on_counts_as_a_hand_edit(fakes, gateway):
    """The app changes config.toml as it is on disk: a hand edit the watcher had not seen yet is in use
    from that change on, and is told and followed like one the watcher picked up."""
    import re

    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    gw.services.watcher.stop()  # the change in the app comes first
    p1.queue(fp.status(503, "blip"))
    assert await served_by(gw, "first") == "p2"  # failed over; the session stays on p2
    path = gw.services.paths.config
    text = re.sub(r"(?m)^preferred_provider = .*\n", "", path.read_text())
    path.write_text(text.replace("[routing]\n", '[routing]\npreferred_provider = "p3"\nno_such_setting = 1\n'))
    await gw.api("update_routing", cooldown_seconds=42)
    cfg = gw.services.config.current
    assert cfg.routing.preferred_provider == "p3" and cfg.routing.cooldown_seconds == 42
    messages = [e.message for e in gw.services.store.recent_events()]
    assert any("config.toml was edited; the new settings are in use" in m for m in messages)
    assert any("config.toml edited" in m for m in messages)  # the preferred provider's change, as a hand edit's
    assert any("no_such_setting" in m for m in messages)  # a key that names no setting is pointed out
    assert await served_by(gw, "after the edit") == "p3"


async def test_a_hand_edit_goes_into_use_before_the_change_in_the_app_that_lands_on_it(fakes, gateway):
    """A lock written by hand, then the locked provider switched off in the app before the watcher looked:
    the lock went into use first and ended with the provider, as if the watcher had been quicker."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.watcher.stop()
    path = gw.services.paths.config
    path.write_text(path.read_text().replace("[routing]\n", '[routing]\nmanual_override = "p2"\n'))
    await gw.api("upsert_provider", provider="p2", disabled=True)
    cfg = gw.services.config.current
    assert not cfg.routing.manual_override and cfg.effective_lock is None
    messages = [e.message for e in gw.services.store.recent_events()]  # newest first
    locked = next(i for i, m in enumerate(messages) if "Routing locked to P2" in m)
    released = next(i for i, m in enumerate(messages) if "Routing lock released" in m)
    assert released < locked  # the lock went into use, then ended with the provider
    status = await gw.api("get_status")
    assert status["active_reason"] != "locked by user"
    assert await served_by(gw, "after the change") == "p1"


async def test_affinity_survives_a_restart(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    p1.queue(fp.status(503))
    assert await served_by(gw, "first") == "p2"
    assert await served_after_restart(gw) == "p2"


async def test_after_a_restart_a_sessions_idle_time_counts_from_its_last_request(fakes, gateway, monkeypatch):
    """An unchanged binding is saved at most every few seconds while its session is busy; what was not
    saved yet is saved as the app stops, so the session does not look idle for longer than it was."""
    now = session_clock(monkeypatch)
    monkeypatch.setattr(affinity, "SAVE_EVERY_MS", 60_000)  # the second request's binding is left unsaved
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5,
                                                       "session_idle_return_seconds": 4})
    p1.queue(fp.status(503))
    assert await served_by(gw, "first") == "p2"
    now[0] += 3_000
    assert await served_by(gw, "second") == "p2"
    now[0] += 1_500  # 4.5 s after the first request, 1.5 s after the last
    assert await served_after_restart(gw) == "p2"


async def session_on_the_fallback(fakes, gateway):
    """Three providers; the preferred p1 failed the session's first request, which p2 served (and holds)."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    p1.queue(fp.status(503))
    assert await served_by(gw, "first") == "p2"
    return gw


def edited(change: Callable[[tomlkit.TOMLDocument], None]) -> Callable[[Path], None]:
    """A hand edit of config.toml made while the app is stopped (for ``served_after_restart``)."""
    def edit(user_data: Path) -> None:
        config = user_data / "config.toml"
        doc = tomlkit.parse(config.read_text())
        change(doc)
        config.write_text(tomlkit.dumps(doc))

    return edit


@pytest.mark.parametrize("choice", ["preferred_provider", "manual_override"])
async def test_a_choice_made_in_config_toml_while_the_app_was_stopped_moves_every_session(fakes, gateway, choice):
    gw = await session_on_the_fallback(fakes, gateway)

    def choose_p3(doc: tomlkit.TOMLDocument) -> None:
        doc["routing"][choice] = "p3"

    assert await served_after_restart(gw, edited(choose_p3)) == "p3"


def prefer_switched_off_p3(doc: tomlkit.TOMLDocument) -> None:
    doc["routing"]["preferred_provider"] = "p3"
    doc["providers"]["p3"]["disabled"] = True


async def test_a_switched_off_provider_chosen_as_preferred_moves_every_session_wherever_chosen(fakes, gateway):
    """Chosen while it cannot serve, it stays the choice and p1 serves meanwhile; a choice is a choice: in
    the app it released every session, written in config.toml (running or stopped) it released none."""
    gw = await session_on_the_fallback(fakes, gateway)
    await gw.api("set_provider_disabled", provider="p3", disabled=True)
    await gw.api("set_preferred_provider", provider="p3")
    assert await served_by(gw, "chosen in the app") == "p1"

    gw = await session_on_the_fallback(fakes, gateway)
    assert await served_after_restart(gw, edited(prefer_switched_off_p3)) == "p1"

    gw = await session_on_the_fallback(fakes, gateway)
    config = gw.services.paths.config
    doc = tomlkit.parse(config.read_text())
    prefer_switched_off_p3(doc)
    config.write_text(tomlkit.dumps(doc))
    deadline = asyncio.get_running_loop().time() + 3
    while gw.services.config.current.routing.preferred_provider != "p3":
        assert asyncio.get_running_loop().time() < deadline, "the hand edit was not picked up"
        await asyncio.sleep(0.05)
    assert await served_by(gw, "chosen in config.toml") == "p1"


async def test_sessions_saved_before_the_chosen_provider_was_kept_apart_stay_after_the_upgrade(fakes, gateway):
    """An older version saved the routing choice as ``lock|in effect``: with a switched-off provider chosen
    (p3; p1 serving meanwhile) the first start of this one must not take that for a new choice."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    await gw.api("set_provider_disabled", provider="p3", disabled=True)
    await gw.api("set_preferred_provider", provider="p3")
    p1.queue(fp.status(503))
    assert await served_by(gw, "first") == "p2"

    def saved_by_the_older_version(user_data: Path) -> None:
        with contextlib.closing(sqlite3.connect(Paths(user_data).store)) as db, db:
            db.execute("UPDATE meta SET value = '|p1' WHERE key = ?", (affinity.CHOICE_KEY,))

    assert await served_after_restart(gw, saved_by_the_older_version) == "p2"


@pytest.mark.parametrize("lock", ["no-such-provider", "p3"])
async def test_a_lock_written_while_stopped_that_locks_nothing_moves_no_session(fakes, gateway, lock):
    """A lock in config.toml on a provider that cannot serve (no such id; one switched off) locks nothing —
    written while the app was stopped as much as while it runs: the sessions stay where they were."""
    gw = await session_on_the_fallback(fakes, gateway)

    def lock_nothing(doc: tomlkit.TOMLDocument) -> None:
        doc["routing"]["manual_override"] = lock
        doc["providers"]["p3"]["disabled"] = True

    assert await served_after_restart(gw, edited(lock_nothing)) == "p2"


# --- sealed compaction -------------------------------------------------------------------------------


def trigger(sid: str = SID) -> dict:
    """A request asking for a remote compaction, as Codex sends it."""
    body = simple_body("compact", prompt_cache_key=sid)
    body["input"].append({"type": "compaction_trigger"})
    return body


def compaction_rollout(codex_home: Path, cmp_id: str, sealed_by: str,
                       later: list[dict] | None = None) -> tuple[list[dict], list[dict]]:
    """A session that compacted once: (what the compaction summarised, the history after it).
    ``later``: more of the conversation before the compaction, after its first turn."""
    before = [
        {"type": "message", "id": "msg_dev", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
        {"type": "message", "id": "msg_u1", "role": "user", "content": [{"type": "input_text", "text": "fix the build"}]},
        {"type": "reasoning", "id": f"rs_{sealed_by}_1", "summary": [], "encrypted_content": f"sealed-by-{sealed_by}"},
        {"type": "message", "id": "msg_a1", "role": "assistant", "content": [{"type": "output_text", "text": "Done, I changed make.py."}]},
        *(later or []),
    ]
    replacement = [
        {"type": "message", "id": "msg_dev2", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
        {"type": "compaction", "id": cmp_id, "encrypted_content": f"sealed-by-{sealed_by}"},
    ]
    path = write_rollout(codex_home, before, sid=SID)
    lines = path.read_text().rsplit("\n", 1)[0]  # drop the torn last line
    compacted = {"timestamp": "t", "type": "compacted", "payload": {"message": "", "replacement_history": replacement}}
    path.write_text(lines + "\n" + json.dumps(compacted) + "\n")
    return before, replacement


@pytest.mark.parametrize(("codex_id", "item_type"),
                         [(False, "compaction"), (True, "compaction"), (False, "compaction_summary")])
async def test_a_compaction_sealed_by_a_provider_that_is_down_is_expanded_for_the_next(fakes, gateway, codex_home,
                                                                                       codex_id, item_type):
    """``codex_id``: the item comes back under another id than the provider gave it (Codex makes its own
    for a relay's id-less item): it is known by its sealed content, in the store and the session file.
    ``compaction_summary``: a relay's name for the item that Codex reads as a compaction item, and sends
    back typed ``compaction`` — it is the compaction asked for, and sealed by its provider."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    p1.always(fp.compacting(item_type=item_type))
    reply = await gw.responses(trigger(), headers={"session-id": SID}, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"
    assert len(gw.services.store.request_log()[0]["attempts"]) == 1  # p1's compaction was the answer
    compaction = reply.events[-1]["response"]["output"][0]
    assert compaction["type"] == item_type
    cmp_id = "cmp_01a23e77-9276-codex-made" if codex_id else compaction["id"]
    assert gw.services.continuity.index.sealed_owners(SID)[sealed_key(compaction)] == "p1"
    before, replacement = compaction_rollout(codex_home, cmp_id, "p1")

    p1.always(fp.status(503, "p1 is gone"))
    new_turn = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "now run the tests"}]}
    body = {**simple_body(prompt_cache_key=SID), "input": [*replacement, new_turn], "store": False}
    reply = await gw.responses(body, headers={"session-id": SID}, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    sent = p2.requests[-1].json["input"]
    assert not fp.foreign_sealed_items(p2.requests[-1].json, "p2")
    assert [i.get("id") for i in sent] == ["msg_dev", "msg_u1", "msg_a1", None]  # instructions once, p1's reasoning gone
    assert sent[-1] == new_turn
    assert p2.foreign_sealed == []


@pytest.mark.parametrize("same_seal", [False, True])
async def test_a_conversation_compacted_twice_by_codex_moves_to_another_provider(fakes, gateway, codex_home,
                                                                                same_seal):
    """Codex's own compaction items carry no id: the second compaction's expansion holds the first one,
    which must be expanded too (both were taken for the same item, "None", and refused as a loop).
    ``same_seal``: a provider that seals both compactions alike (a relay's fixed token, a fake's) — the
    second's expansion holds an item that looks like itself and stands for the first compaction."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    dev = {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]}

    def said(role, text):
        kind = "output_text" if role == "assistant" else "input_text"
        return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}

    first = {"type": "compaction", "encrypted_content": "sealed-by-p1-first"}
    second = {"type": "compaction", "encrypted_content": "sealed-by-p1-first" if same_seal else "sealed-by-p1-second"}
    turn1 = [dev, said("user", "fix the build"), said("assistant", "fixed make.py")]
    turn2 = [said("user", "now the tests"), said("assistant", "they pass")]
    path = write_rollout(codex_home, turn1, sid=SID)
    lines = path.read_text().rsplit("\n", 1)[0].splitlines()
    lines.append(json.dumps({"timestamp": "t", "type": "compacted",
                             "payload": {"message": "", "replacement_history": [dev, first]}}))
    lines += [json.dumps({"timestamp": "t", "type": "response_item", "payload": item}) for item in turn2]
    lines.append(json.dumps({"timestamp": "t", "type": "compacted",
                             "payload": {"message": "", "replacement_history": [dev, second]}}))
    path.write_text("\n".join(lines) + "\n")
    gw.services.continuity.index.record_sealed(SID, [(sealed_key(first), "compaction"),
                                                     (sealed_key(second), "compaction")], "p1")
    await gw.api("set_manual_override", provider="p2")
    body = {**simple_body(prompt_cache_key=SID), "input": [dev, second, said("user", "and the docs?")]}
    reply = await gw.responses(body, headers={"session-id": SID})
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.text
    sent = p2.requests[-1].json["input"]
    assert not [i for i in sent if i.get("type") == "compaction"]
    texts = [part["text"] for i in sent for part in i.get("content", [])]
    assert texts == ["You are Codex.", "fix the build", "fixed make.py", "now the tests", "they pass", "and the docs?"]


async def test_a_replayed_history_never_carries_another_providers_sealed_items(fakes, gateway, codex_home):
    """previous_response_id pointing at a provider that is down: the history comes from the session
    file, and its compaction item (sealed by that provider) is expanded even though the client's own
    items carry nothing sealed."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    p1.always(fp.compacting())
    reply = await gw.responses(trigger(), headers={"session-id": SID})
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"
    response_id, cmp_id = reply.json["id"], reply.json["output"][0]["id"]
    compaction_rollout(codex_home, cmp_id, "p1")

    p1.always(fp.status(503, "p1 is gone"))
    new_turn = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and now?"}]}
    body = {**simple_body(prompt_cache_key=SID), "input": [new_turn], "previous_response_id": response_id}
    reply = await gw.responses(body, headers={"session-id": SID})
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    sent = p2.requests[-1].json
    assert "previous_response_id" not in sent
    assert [i.get("id") for i in sent["input"]] == ["msg_dev", "msg_u1", "msg_a1", None]
    assert sent["input"][-1] == new_turn
    assert p2.foreign_sealed == []


async def test_a_replayed_history_with_sealed_reasoning_the_provider_refuses_is_stripped_on_retry(
        fakes, gateway, codex_home):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    reply = await gw.responses(simple_body("hi", prompt_cache_key=SID), headers={"session-id": SID})
    assert reply.headers["X-API-Router-Provider"] == "p1"
    write_rollout(codex_home, [
        {"type": "message", "id": "msg_u1", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "reasoning", "id": "rs_who", "summary": [], "encrypted_content": "sealed-by-nobody-known"},
    ], sid=SID)
    p1.always(fp.status(503, "p1 is gone"))

    async def strict(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        if b"encrypted_content" in await request.read():
            return web.json_response({"error": {"message": "The encrypted content could not be verified.",
                                                "code": "invalid_encrypted_content"}}, status=400)
        return await fp.json_ok("fine")(request, fake)

    p2.always(strict)
    body = {**simple_body("go on", prompt_cache_key=SID), "previous_response_id": reply.json["id"]}
    reply = await gw.responses(body, headers={"session-id": SID})
    assert reply.status == 200 and reply.text == "fine"
    attempts = gw.services.store.request_log()[0]["attempts"]
    assert [(a["provider"], a["retry"]) for a in attempts] == [("p1", None), ("p2", "strip_sealed"), ("p2", None)]


@pytest.mark.parametrize("refusal", ["HTTP 400", "200 failed response"])
async def test_an_unknown_compaction_item_refused_by_a_provider_is_expanded_on_retry(fakes, gateway, codex_home,
                                                                                    refusal):
    (p2,) = await fakes("p2")
    gw = await gateway({"p2": p2})
    _, replacement = compaction_rollout(codex_home, "cmp_unknown", "elsewhere")
    unreadable = {"message": "The encrypted content could not be verified.", "type": "invalid_request_error",
                  "code": "invalid_encrypted_content"}

    async def strict(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        if fp.foreign_sealed_items(json.loads(await request.read()), fake.name):
            if refusal.startswith("200"):
                return failed_answer(request, fake, unreadable)
            return web.json_response({"error": unreadable}, status=400)
        return await fp.json_ok("fine")(request, fake)

    p2.always(strict)
    body = {**simple_body(prompt_cache_key=SID), "input": [*replacement]}
    reply = await gw.responses(body, headers={"session-id": SID})
    assert reply.status == 200 and reply.text == "fine"
    attempts = gw.services.store.request_log()[0]["attempts"]
    assert [(a["outcome"], a["retry"]) for a in attempts] == [("retry", "expand_compaction"), ("ok", None)]


async def test_a_compaction_request_without_exactly_one_compaction_item_fails_over(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    p1.always(fp.stream_ok("I summarised nothing"))  # a message instead of a compaction item
    p2.always(fp.compacting())
    for stream in (True, False):
        sid = f"{SID}-{stream}"
        reply = await gw.responses(trigger(sid), headers={"session-id": sid}, stream=stream)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
        attempts = gw.services.store.request_log()[0]["attempts"]
        assert attempts[0]["outcome"] == "provider_failure" and "0 compaction items" in attempts[0]["error"]


@pytest.mark.parametrize(("flaw", "stream"), [("unsealed", True), ("unsealed", False), ("final_only", True)])
async def test_a_compaction_item_codex_cannot_use_is_no_compaction(fakes, gateway, flaw, stream):
    """Codex counts the compaction items ``response.output_item.done`` announces, and one without its
    sealed content is no item to it ("expected exactly one compaction output item, got 0"): the answer
    is the provider's failure, and the next provider compacts."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    p1.always(fp.compacting(flaw=flaw))
    p2.always(fp.compacting())
    reply = await gw.responses(trigger(SID), headers={"session-id": SID}, stream=stream)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert (b"sealed-by-p2" in reply.body) and (b"cmp_p1" not in reply.body)
    attempts = gw.services.store.request_log()[0]["attempts"]
    assert attempts[0]["outcome"] == "provider_failure" and "0 compaction items" in attempts[0]["error"], attempts


@pytest.mark.parametrize("flaw", ["none", "unsealed"])
async def test_a_hedge_answering_a_compaction_without_its_item_does_not_beat_the_original(fakes, gateway, flaw):
    """The hedge's answer begins first but has no compaction item Codex can use: it is the hedge's
    failure, and the original — slow, not dead — is asked again, nothing counted against it."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"hedge_min_seconds": 0.3, "hedge_max_seconds": 0.3,
                                                      "request_timeout_seconds": 5, "failure_threshold": 1})
    compacting = fp.compacting()

    async def slow_but_right(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        await asyncio.sleep(1.3)  # a whole second after its hedge delay: no stall lets it answer in time
        return await compacting(request, fake)

    p1.always(slow_but_right)
    p2.always(fp.stream_ok("I summarised nothing") if flaw == "none" else fp.compacting(flaw="unsealed"))
    reply = await gw.responses(trigger(), headers={"session-id": SID}, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1", reply.text
    assert reply.events[-1]["response"]["output"][0]["encrypted_content"] == "sealed-by-p1"
    attempts = gw.services.store.request_log()[0]["attempts"]
    assert [(a["provider"], a["outcome"]) for a in attempts] == [
        ("p1", "hedge_lost"), ("p2", "provider_failure"), ("p1", "ok")], attempts
    health = (await gw.api("get_status"))["providers"]["p1"]
    assert health["status"] != "unresponsive" and health["consecutive_failures"] == 0


async def test_a_compaction_request_no_provider_answers_with_its_item_is_a_502_naming_each(fakes, gateway):
    """Answers without the compaction item are the providers' failures, not refusals of the request: the
    usual 502, each provider with its 200 and what was wrong; no health change, the gateway not down."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.stream_ok("I summarised nothing"))
    p2.always(fp.json_ok("nor I"))
    for stream in (True, False):
        sid = f"{SID}-none-{stream}"
        reply = await gw.responses(trigger(sid), headers={"session-id": sid}, stream=stream)
        error = reply.json["error"]
        assert reply.status == 502 and error["message"].startswith("all providers failed — P1: "), error
        assert [(d["provider"], d["status"], "0 compaction items" in d["error"]) for d in error["providers"]] == [
            ("p1", 200, True), ("p2", 200, True)]
        status = (await gw.request("GET", "/status")).json
        assert status["summary"]["state"] == "serving"
        assert all(status["providers"][p]["status"] != "unhealthy" for p in ("p1", "p2"))


@pytest.mark.parametrize("stream", [True, False])
async def test_a_compaction_refused_in_a_failed_json_answer_is_a_refusal_for_either_client(fakes, gateway, stream):
    """A 200 whose response failed by the request's fault (a relay without remote compaction) is that
    provider's refusal, whether the client streams or not: the next provider is asked, and when every one
    refuses the client hears the first refusal, not a 502."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    said = "Invalid value: 'compaction_trigger'."

    async def refused(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.json_response({**fp.response_object("", provider=fake.name), "status": "failed", "output": [],
                                  "error": {"code": "invalid_value", "type": "invalid_request_error", "message": said}})

    p1.always(refused)
    p2.always(fp.compacting())
    reply = await gw.responses(trigger(f"{SID}-a"), headers={"session-id": f"{SID}-a"}, stream=stream)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    p2.always(refused)
    reply = await gw.responses(trigger(f"{SID}-b"), headers={"session-id": f"{SID}-b"}, stream=stream)
    assert reply.status == 400 and said in reply.json["error"]["message"], reply.text
    assert [(a["provider"], a["outcome"]) for a in gw.services.store.request_log()[0]["attempts"]] == [
        ("p1", "client_error"), ("p2", "client_error")]  # every one refused: the request's fault, not theirs


@pytest.mark.parametrize("refusal", ["HTTP 400", "in the stream", "200 failed response"])
async def test_a_compaction_one_provider_refuses_while_another_is_down_is_answered_with_the_refusal(
        fakes, gateway, refusal):
    """Codex retries a 502 (the trigger again, to the same providers) and has no fallback for a compaction:
    the refusal is its answer — said with an HTTP status or in the body of a 200 alike — and the provider
    that was down is still that provider's failure."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    said = "Invalid value: 'compaction_trigger'."
    p1.always(fp.status(503, "p1 down"))

    async def failed(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return failed_answer(request, fake, {"code": "invalid_value", "type": "invalid_request_error", "message": said})

    p2.always({"HTTP 400": fp.status(400, said), "in the stream": fp.in_band_failure("invalid_value", said),
               "200 failed response": failed}[refusal])
    reply = await gw.responses(trigger(), headers={"session-id": SID}, stream=refusal != "200 failed response")
    assert reply.status == 400 and said in reply.json["error"]["message"], reply.text
    assert [(a["provider"], a["outcome"]) for a in gw.services.store.request_log()[0]["attempts"]] == [
        ("p1", "provider_failure"), ("p2", "client_error")]


async def test_a_compaction_where_one_cannot_be_reached_and_another_is_down_is_the_502_codex_retries(fakes, gateway):
    """A reset connection keeps no status, as a refusal in the body of a 200 does: it is still a provider down."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.reset())
    p2.always(fp.status(503, "p2 down"))
    reply = await gw.responses(trigger(), headers={"session-id": SID}, stream=True)
    assert reply.status == 502, reply.text


async def test_a_compaction_where_one_lacks_the_model_and_another_is_down_is_the_502_codex_retries(fakes, gateway):
    """A provider without the model is no refusal of the compaction (another may have it): with the one
    that has it down for a moment, Codex gets the 502 and tries again."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.status(503, "p1 down"))
    p2.always(fp.status(404, "The model `gpt-test` does not exist"))
    reply = await gw.responses(trigger(), headers={"session-id": SID}, stream=True)
    assert reply.status == 502, reply.text
    assert [a["outcome"] for a in gw.services.store.request_log()[0]["attempts"]] == [
        "provider_failure", "provider_failure"]


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("lacking", ["p1", "p2"])
async def test_a_compaction_one_lacks_the_model_for_and_another_answers_without_its_item_is_a_502(
        fakes, gateway, lacking, stream):
    """Neither refused the request: one lacks the model (another may have it), the other answered without
    the item. The 502 names both; the client is not told the model does not exist."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    for fake in (p1, p2):
        fake.always(fp.status(404, "The model `gpt-test` does not exist") if fake.name == lacking else
                    fp.stream_ok("I summarised nothing"))
    reply = await gw.responses(trigger(), headers={"session-id": SID}, stream=stream)
    assert reply.status == 502, reply.text
    assert [d["provider"] for d in reply.json["error"]["providers"]] == ["p1", "p2"]
    row = gw.services.store.request_log()[0]
    assert row["outcome"] != "client_error"
    assert [a["outcome"] for a in row["attempts"]] == ["provider_failure", "provider_failure"]


@pytest.mark.parametrize("refusal", ["http_400", "in_band"])
async def test_a_compaction_request_a_provider_refuses_fails_over(fakes, gateway, refusal):
    """A relay without remote compaction refuses the trigger; Codex has no fallback of its own."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    said = "Invalid value: 'compaction_trigger'. Supported values are: 'message', 'reasoning'."
    p1.always(fp.status(400, said) if refusal == "http_400" else fp.in_band_failure("invalid_value", said))
    p2.always(fp.compacting())
    reply = await gw.responses(trigger(), headers={"session-id": SID}, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert reply.events[-1]["response"]["output"][0]["type"] == "compaction"
    attempts = gw.services.store.request_log()[0]["attempts"]
    assert [(a["provider"], a["outcome"]) for a in attempts] == [("p1", "provider_failure"), ("p2", "ok")]
    # p1 serves everything else: it stays healthy and the serving provider, with no failover announced.
    status = (await gw.request("GET", "/status")).json
    assert status["summary"]["state"] == "serving" and status["summary"]["provider"] == "p1"
    assert status["providers"]["p1"]["status"] != "unhealthy"
    assert not [e for e in gw.services.store.recent_events() if e.kind in ("route", "provider_failure")]
    # An ordinary request refused the same way is still the client's own error.
    reply = await gw.responses(simple_body("hi"), stream=True)
    assert reply.headers["X-API-Router-Provider"] == "p1" and (reply.status == 400 or "response.failed" in reply.event_types)
    # Every provider refusing a compaction: the client hears the refusal (not a 502 it would retry),
    # and the gateway is not "down".
    p2.always(fp.status(400, said))
    reply = await gw.responses(trigger(f"{SID}-2"), headers={"session-id": f"{SID}-2"}, stream=True)
    assert reply.status == 400 and "compaction_trigger" in reply.json["error"]["message"]
    assert (await gw.request("GET", "/status")).json["summary"]["state"] == "serving"


@pytest.mark.parametrize("stream", [True, False])
async def test_a_compaction_every_provider_refuses_as_too_long_says_so_in_the_code_codex_reads(fakes, gateway, stream):
    """Codex says it "ran out of room in the model's context window" for that code; without it, it printed
    the raw JSON of the gateway's 400 at every later turn."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.status(400, body=json.dumps({"error": TOO_LONG}).encode()))
    p2.always(fp.in_band_failure(TOO_LONG["code"], TOO_LONG["message"]))
    reply = await gw.responses(trigger(), headers={"session-id": SID}, stream=stream)
    error = reply.json["error"]
    assert reply.status == 400 and error["code"] == "context_length_exceeded", error
    assert "exceeds the context window" in error["message"] and p2.calls == 1
    # Refused for another reason by one of them: no such code.
    p2.always(fp.status(400, "Invalid value: 'compaction_trigger'."))
    reply = await gw.responses(trigger(f"{SID}-2"), headers={"session-id": f"{SID}-2"}, stream=stream)
    assert reply.status == 400 and "code" not in reply.json["error"]


async def test_a_compaction_announced_only_by_output_item_done_is_accepted(fakes, gateway):
    """A minimal compaction stream (the item in ``response.output_item.done``, an empty final output)
    is what Codex needs: no failover, the item's owner recorded, a JSON client gets the item."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0})
    p1.always(fp.compacting(minimal=True))
    for stream in (True, False):
        sid = f"{SID}-minimal-{stream}"
        reply = await gw.responses(trigger(sid), headers={"session-id": sid}, stream=stream)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"
        attempts = gw.services.store.request_log()[0]["attempts"]
        assert [a["outcome"] for a in attempts] == ["ok"]
        owners = gw.services.continuity.index.sealed_owners(sid)
        assert list(dict(owners).values()) == ["p1"]  # the compaction item's
        if not stream:
            assert [i["type"] for i in reply.json["output"]] == ["compaction"]
    assert p2.calls == 0


@pytest.mark.parametrize("stream", [True, False])
async def test_a_compaction_summary_item_answers_a_compaction_request(fakes, gateway, stream):
    """Codex reads ``compaction_summary`` as a compaction item: such an answer is the compaction asked
    for, not a failure to fail over from (which would throw away a usable compaction and pay for another)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5})
    p1.always(fp.compacting(item_type="compaction_summary"))
    p2.always(fp.compacting())
    reply = await gw.responses(trigger(SID), headers={"session-id": SID}, stream=stream)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"
    assert b'"compaction_summary"' in reply.body and b"sealed-by-p1" in reply.body and not p2.requests
    assert [a["outcome"] for a in gw.services.store.request_log()[0]["attempts"]] == ["ok"]


async def test_a_context_compaction_another_provider_sealed_is_not_sent_to_the_next(fakes, gateway):
    """A relay's context management leaves sealed ``context_compaction`` items in the history, which Codex
    sends back: like sealed reasoning, they go to the provider that sealed them and to no other (which
    would refuse the turn: it cannot read them)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    answer = fp.response_object("done", provider="p1")
    context = {"type": "context_compaction", "id": "cc_p1_1", "encrypted_content": "sealed-by-p1"}
    answer["output"].insert(0, context)
    p1.always(fp.raw_stream([b"".join(fp.sse_event(e) for e in fp.stream_events(answer))]))
    reply = await gw.responses(simple_body(prompt_cache_key=SID), headers={"session-id": SID}, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"
    assert gw.services.continuity.index.sealed_owners(SID)[sealed_key(context)] == "p1"

    p1.always(fp.status(503, "p1 is gone"))
    new_turn = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go on"}]}
    body = {**simple_body(prompt_cache_key=SID), "input": [context, *answer["output"][1:], new_turn], "store": False}
    reply = await gw.responses(body, headers={"session-id": SID}, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert p2.foreign_sealed == [] and len(p2.requests) == 1  # no retry needed: never sent
    assert [i["type"] for i in p2.requests[-1].json["input"]] == ["message", "message"]


async def test_responses_compact_is_proxied_with_failover(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.status(502, "bad gateway"))
    compacted = {"id": "resp_c1", "object": "response.compaction", "output": [
        {"type": "compaction", "id": "cmp_p2_c1", "encrypted_content": "sealed-by-p2"}],
        "usage": {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}}
    p2.always(fp.status(200, body=json.dumps(compacted).encode()))
    body = {"model": "gpt-test", "input": simple_body()["input"], "instructions": "compact it", "prompt_cache_key": SID}
    for path in ("/v1/responses/compact", "/responses/compact"):
        reply = await gw.request("POST", path, body=body, headers={"session-id": SID})
        assert reply.status == 200 and reply.json["object"] == "response.compaction"
        assert reply.headers["X-API-Router-Provider"] == "p2"
        assert p2.requests[-1].path == "/v1/responses/compact"
        row = gw.services.store.request_log()[0]
        assert row["path"] == path and row["provider"] == "p2"
    assert gw.services.continuity.index.sealed_owners(SID)[sealed_key(
        {"type": "compaction", "id": "cmp_p2_c1", "encrypted_content": "sealed-by-p2"})] == "p2"


# --- headers -----------------------------------------------------------------------------------------


async def test_turn_state_goes_back_to_the_client_and_only_to_the_provider_that_issued_it(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 5})

    async def with_headers(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        answer = fp.response_object("ok", provider=fake.name)
        return web.json_response(answer, headers={"x-codex-turn-state": f"state-from-{fake.name}",
                                                  "x-ratelimit-remaining-requests": "99",
                                                  "x-codex-primary-used-percent": "12", "x-other": "no"})

    p1.always(with_headers)
    p2.always(with_headers)
    first = await gw.responses()
    assert first.headers["x-codex-turn-state"] == "state-from-p1"
    assert first.headers["x-ratelimit-remaining-requests"] == "99"
    assert first.headers["x-codex-primary-used-percent"] == "12" and "x-other" not in first.headers
    await gw.responses(headers={"x-codex-turn-state": "state-from-p1"})
    assert p1.requests[-1].headers["x-codex-turn-state"] == "state-from-p1"
    p1.queue(fp.status(503))
    again = await gw.responses(headers={"x-codex-turn-state": "state-from-p1"})
    assert again.headers["X-API-Router-Provider"] == "p2"
    assert p1.requests[-1].headers["x-codex-turn-state"] == "state-from-p1"  # tried first: it issued it
    assert "x-codex-turn-state" not in p2.requests[-1].headers  # another provider never sees it
    unknown = await gw.responses(headers={"x-codex-turn-state": "made-up"})
    fake = {"p1": p1, "p2": p2}[unknown.headers["X-API-Router-Provider"]]
    assert "x-codex-turn-state" not in fake.requests[-1].headers


async def test_turn_state_of_an_error_or_a_broken_stream_still_belongs_to_its_provider(fakes, gateway):
    """The client got the header with a refusal or with half a stream, and sends it back on its retry:
    the provider that issued it gets it."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 5, "hedge": False})

    async def broken(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "x-codex-turn-state": "broken"})
        await resp.prepare(request)
        for event in fp.stream_events(fp.response_object("a long answer", provider=fake.name))[:4]:
            await resp.write(fp.sse_event(event))
        request.transport.close()  # output has started: no failover, the client sees the stream fail
        return resp

    cases = (("refused", fp.status(400, "unsupported parameter: foo", headers={"x-codex-turn-state": "refused"}),
              False, 400), ("broken", broken, True, 200))
    for state, behaviour, stream, status in cases:
        p1.queue(behaviour)
        reply = await gw.responses(stream=stream)
        assert (reply.status, reply.headers["x-codex-turn-state"]) == (status, state)
        await gw.responses(headers={"x-codex-turn-state": state})
        assert p1.requests[-1].headers.get("x-codex-turn-state") == state, state


# --- model names -----------------------------------------------------------------------------------


async def test_model_map_renames_the_model_for_one_provider_only(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": {"base_url": p2.base_url,
                                         "model_map": {"gpt-5.5": "openai/gpt-5.5", "*": "openai/other"}}})
    raw = json.dumps({"model": "gpt-5.5", "input": "hi", "stream": False, "metadata": {"model": "gpt-5.5"}}).encode()
    await gw.request("POST", "/v1/responses", raw=raw)
    assert p1.requests[-1].raw == raw  # no map: the very same bytes
    await gw.api("set_manual_override", provider="p2")
    await gw.request("POST", "/v1/responses", raw=raw)
    sent = p2.requests[-1]
    assert sent.json == {"model": "openai/gpt-5.5", "input": "hi", "stream": False, "metadata": {"model": "gpt-5.5"}}
    assert sent.raw == raw.replace(b'"gpt-5.5"', b'"openai/gpt-5.5"', 1)  # only the model's value changed
    row = gw.services.store.request_log()[0]
    assert (row["model"], row["sent_model"]) == ("gpt-5.5", "openai/gpt-5.5")
    await gw.responses({"model": "o3", "input": "hi"})
    assert p2.requests[-1].json["model"] == "openai/other"
    # Two "model" keys: the gateway, like any JSON reader, takes the last; so is the one mapped.
    for raw in (b'{"model": "o3", "input": "hi", "model": "gpt-5.5"}', b'{"model": "gpt-5.5", "model": "gpt-5.5"}'):
        await gw.request("POST", "/v1/responses", raw=raw)
        assert p2.requests[-1].json["model"] == "openai/gpt-5.5", raw
    assert gw.services.store.request_log()[0]["sent_model"] == "openai/gpt-5.5"


@pytest.mark.parametrize("status", [400, 404])
async def test_a_relay_that_does_not_know_the_model_is_a_provider_failure(fakes, gateway, status):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.status(status, "The model `gpt-5.5` does not exist or you do not have access to it."))
    reply = await gw.responses({"model": "gpt-5.5", "input": "hi"})
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert [a["outcome"] for a in gw.services.store.request_log()[0]["attempts"]] == ["provider_failure", "ok"]


@pytest.mark.parametrize("error", [
    {"message": "Not found", "type": "invalid_request_error", "code": "model_not_found"},  # said only in the code
    {"message": "Model gpt-5.5 is not supported", "type": "invalid_request_error"},
    {"message": "模型 gpt-5.5 不存在", "type": "invalid_request_error"},  # relays in Chinese: "model … does not exist"
    {"message": "Model Not Exist", "type": "invalid_request_error", "code": "invalid_request_error"},  # DeepSeek
    {"message": "no model named gpt-5.5", "type": "invalid_request_error"},
    {"message": "The requested model 'gpt-5.5' is not available.", "type": "invalid_request_error"},
    {"message": "The model gpt-5.5 is currently not available", "type": "invalid_request_error"},
    {"message": "model gpt-5.5 not exists", "type": "invalid_request_error"},
])
async def test_a_relay_that_names_an_unknown_model_another_way_is_a_provider_failure(fakes, gateway, error):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.status(400, body=json.dumps({"error": error}).encode()))
    reply = await gw.responses({"model": "gpt-5.5", "input": "hi"})
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    failed = gw.services.store.request_log()[0]["attempts"][0]
    assert failed["outcome"] == "provider_failure" and ("model" in failed["error"].lower() or "模型" in failed["error"])


async def test_a_provider_lacking_the_model_is_blamed_even_when_the_one_that_served_moved_meanwhile(
        fakes, gateway):
    """p2 served, but got a new address while it did (its success says nothing of the new one): p1, which
    said the model does not exist, still counts as failed for that request."""
    p1, p2, moved = await fakes("p1", "p2", "moved")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 5})
    p1.always(fp.status(404, "The model `gpt-5.5` does not exist or you do not have access to it."))
    asked, go = asyncio.Event(), asyncio.Event()

    async def held(request, fake):
        asked.set()
        await asyncio.wait_for(go.wait(), 10)
        return await fp.json_ok()(request, fake)

    p2.queue(held)
    pending = asyncio.ensure_future(gw.responses({"model": "gpt-5.5", "input": "hi"}))
    await asyncio.wait_for(asked.wait(), 5)
    await gw.api("upsert_provider", provider="p2", base_url=moved.base_url)
    go.set()
    assert (await pending).headers["X-API-Router-Provider"] == "p2"
    health = gw.services.router.health_json(gw.services.config.current)
    assert health["p1"]["consecutive_failures"] == 1 and "does not exist" in health["p1"]["last_error"]
    assert health["p2"]["status"] == "unknown"  # the new address has not answered yet


async def test_a_base_url_with_a_query_keeps_it_after_the_path(fakes, gateway):
    """Azure-style relays want ``?api-version=…`` on every call: the path goes before it, a fragment is dropped."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1.base_url + "?api-version=2024-10-01#notes"})
    assert (await gw.responses()).status == 200
    assert (await gw.request("GET", "/v1/models")).status == 200
    assert [(r.path, r.query) for r in (p1.requests[-1], p1.model_requests[-1])] == [
        ("/v1/responses", "api-version=2024-10-01"), ("/v1/models", "api-version=2024-10-01")]
    # Codex's own query goes after it, as the client wrote it (an encoded "&", "=" or "#" stays encoded).
    assert (await gw.request("GET", "/v1/models?client_version=0.169.0&q=a%26b%3Dc&tag=x%23y")).status == 200
    assert p1.model_requests[-1].query == "api-version=2024-10-01&client_version=0.169.0&q=a%26b%3Dc&tag=x%23y"


async def test_a_prompt_cache_key_with_spaces_around_it_names_the_session_without_them(fakes, gateway):
    """As a session header's value is: the UI looks a session up by its trimmed id."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    await gw.responses({**simple_body(), "prompt_cache_key": "  padded  "})
    await gw.responses({**simple_body(), "prompt_cache_key": "   "})  # no session at all
    assert [s["session_id"] for s in (await gw.api("list_sessions"))["sessions"]] == ["padded"]
    assert len((await gw.api("get_session_timeline", session_id="padded"))["requests"]) == 1
    assert [r["session_id"] for r in gw.services.store.request_log()] == [None, "padded"]


UNKNOWN_MODEL = "The model `gpt-typo` does not exist or you do not have access to it."


@pytest.mark.parametrize(("answer", "stream"), [
    (fp.status(404, UNKNOWN_MODEL), False),
    (fp.status(400, body=json.dumps({"error": {"message": "Not found", "code": "model_not_found"}}).encode()), True),
    (fp.status(400, body=json.dumps({"error": {"message": "gpt-typo", "type": "model_not_found"}}).encode()), False),
    (fp.status(400, body=json.dumps({"message": "Not found", "code": "model_not_found"}).encode()), False),
    (fp.in_band_failure("model_not_found", UNKNOWN_MODEL), True),
    (fp.in_band_failure("invalid_request_error", "Model gpt-typo is not supported"), False),
], ids=["404", "code-only-400", "type-only-400", "bare-object-400", "in-band", "in-band-to-json"])
async def test_a_model_no_provider_knows_is_the_requests_fault_and_leaves_health_alone(fakes, gateway, answer, stream):
    """A typo in the model name: every provider says it does not exist. The client hears that (a 4xx it
    does not retry, naming a provider), however many times it asks; no provider cools down, the gateway is
    not "down", and a background check never asks for the typo."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 60})
    await gw.responses({"model": "gpt-5.5", "input": "hi"})  # the model each provider knows
    for fake in (p1, p2):
        fake.always(answer)
    for _ in range(3):
        reply = await gw.responses({"model": "gpt-typo", "input": "hi"}, stream=stream)
        assert reply.status in (400, 404), reply.body
        assert reply.json["error"]["message"].startswith("no provider has the model 'gpt-typo' (P1: "), reply.json
        assert "; P2: " in reply.json["error"]["message"], reply.json  # each provider's refusal, as for a 502
        assert [(p["provider"], p["name"]) for p in reply.json["error"]["providers"]] == [("p1", "P1"), ("p2", "P2")]
    status = (await gw.request("GET", "/status")).json
    assert status["summary"]["state"] == "serving", status["summary"]
    assert [status["providers"][p]["status"] for p in ("p1", "p2")] == ["healthy", "unknown"]  # p2 never asked before
    kinds = [e.kind for e in gw.services.store.recent_events()]
    assert "all_down" not in kinds and "cooldown" not in kinds and "provider_failure" not in kinds
    assert [gw.services.router.last_model(p) for p in ("p1", "p2")] == ["gpt-5.5", None]
    p1.always(fp.json_ok("fine"))
    reply = await gw.responses({"model": "gpt-5.5", "input": "hi"})
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"


async def test_a_long_model_name_no_provider_knows_is_named_by_its_start(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.status(404, UNKNOWN_MODEL))
    reply = await gw.responses({"model": "m" * 100_000, "input": "hi"})
    assert reply.status == 404 and len(reply.body) < 1_000, len(reply.body)
    assert reply.json["error"]["message"].startswith(f"no provider has the model '{'m' * 79}…' (P1: ")


async def test_a_model_the_providers_asked_lack_is_no_refusal_while_another_is_cooling_down(fakes, gateway):
    """p2 has the model but cools down after a 500: p1's "does not exist" says nothing of the request, so
    the client gets the usual 502 naming p2 (which it may retry), not a 4xx claiming no provider has it."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 60})
    p1.always(fp.status(404, "The model `gpt-5.5` does not exist or you do not have access to it."))
    p2.queue(fp.status(500, "boom"))
    assert (await gw.responses({"model": "gpt-5.5", "input": "hi"})).status == 502  # p1 lacks it, p2 failed
    reply = await gw.responses({"model": "gpt-5.5", "input": "hi"})
    assert reply.status == 502 and "no provider has the model" not in reply.body.decode(), reply.body
    assert "P2" in reply.json["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_model_the_locked_provider_lacks_is_the_requests_fault_not_a_502(fakes, gateway, stream):
    """Locked to p1, a retry goes nowhere else: p1's "does not exist" is the answer (a 4xx the client does
    not retry — Codex would ask six times), saying both ways out, and nothing cools down."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 60})
    await gw.api("set_manual_override", provider="p1")
    p1.always(fp.status(404, UNKNOWN_MODEL))
    reply = await gw.responses({"model": "gpt-typo", "input": "hi"}, stream=stream)
    assert reply.status == 404, reply.body
    message = reply.json["error"]["message"]
    assert message.startswith("routing is locked to P1, which does not have the model 'gpt-typo' (P1: HTTP 404"), message
    assert "check the model name" in message and "Back to automatic" in message, message
    assert p2.calls == 0
    status = (await gw.request("GET", "/status")).json
    assert status["summary"]["state"] != "down" and status["providers"]["p1"]["status"] != "cooldown", status


async def test_a_provider_missing_a_model_another_serves_counts_as_failed(fakes, gateway):
    """The model exists, just not on p1 (a model_map entry missing): p1 failed, traffic moves to the
    provider that has it, and the event says why."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.status(404, "The model `gpt-5.5` does not exist or you do not have access to it."))
    reply = await gw.responses({"model": "gpt-5.5", "input": "hi"})
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["status"] == "unhealthy"
    events = [(e.kind, e.provider, e.message) for e in gw.services.store.recent_events()]
    assert [m for k, p, m in events if (k, p) == ("provider_failure", "p1")] == [
        "P1 failed (1 in a row): HTTP 404: The model `gpt-5.5` does not exist or you do not have access to it."]
    assert any(k == "route" and m.startswith("Failover from P1 to P2: HTTP 404: The model") for k, _, m in events)
    calls = p1.calls
    reply = await gw.responses({"model": "gpt-5.5", "input": "hi"})
    assert reply.headers["X-API-Router-Provider"] == "p2" and p1.calls == calls  # not asked again meanwhile


@pytest.mark.parametrize("message", [
    "Unsupported parameter: 'temperature' is not supported with this model.",
    "The 'temperature' parameter for model o3-mini is not supported.",
    "Image input for model gpt-3.5-turbo is not supported",
])
async def test_a_parameter_the_model_does_not_support_is_the_clients_error(fakes, gateway, message):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.status(400, message))
    reply = await gw.responses({"model": "gpt-5.5", "input": "hi", "temperature": 0.2})
    assert reply.status == 400 and reply.headers["X-API-Router-Provider"] == "p1"
    assert p2.requests == []


def test_a_long_message_in_another_script_is_clipped_not_emptied():
    text = "当前分组下对于模型无可用渠道" * 30  # new-api: "no channel for this model in the current group"
    shown = clip(text)
    assert len(shown) == 300 and shown.endswith("…") and mentions_unknown_model(shown)


async def test_model_map_is_editable_through_the_control_api(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    cfg = await gw.api("upsert_provider", provider="p1", model_map={"gpt-5.5": "vendor/gpt-5.5"})
    assert cfg["providers"]["p1"]["model_map"] == {"gpt-5.5": "vendor/gpt-5.5"}
    assert 'model_map = {"gpt-5.5" = "vendor/gpt-5.5"}' in gw.services.paths.config.read_text()
    await gw.responses({"model": "gpt-5.5", "input": "hi"})
    assert p1.requests[-1].json["model"] == "vendor/gpt-5.5"
    cfg = await gw.api("upsert_provider", provider="p1", model_map={})
    assert cfg["providers"]["p1"]["model_map"] == {} and "model_map" not in gw.services.paths.config.read_text()


async def compacted_by_p1_then_gone(gw: Harness, p1: fp.FakeProvider, codex_home: Path,
                                    later: list[dict] | None = None) -> list[dict]:
    """A session compacted remotely by p1, which then goes down: the history after the compaction, whose
    compaction item no other provider can read."""
    p1.always(fp.compacting())
    cmp_id = (await gw.responses(trigger(), headers={"session-id": SID}, stream=True)).events[-1]["response"]["output"][0]["id"]
    _, replacement = compaction_rollout(codex_home, cmp_id, "p1", later)
    p1.always(fp.status(503, "p1 is gone"))
    return replacement


def context_too_long() -> web.Response:
    return web.json_response({"error": {"message": "Your input exceeds the context window of this model.",
                                        "code": "context_length_exceeded"}}, status=400)


async def test_a_summary_asked_of_a_provider_renamed_meanwhile_goes_with_its_key(fakes, gateway, codex_home):
    """p2 refuses the expanded conversation as too long while it is being renamed: the summary it is then
    asked for goes with its key, filed under its new id."""
    key = "sk-key-of-p2-0123456789"
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1},
                       keys={"p1": "sk-key-of-p1-0123456789", "p2": key})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    asked, go = asyncio.Event(), asyncio.Event()

    async def small_context(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        texts = json.dumps(json.loads(await request.read())["input"])
        if "handover summary" in texts:
            return await fp.stream_ok("The user fixed the build in make.py.")(request, fake)
        if "now run the tests" in texts and "summary" not in texts.lower():
            asked.set()
            await asyncio.wait_for(go.wait(), 10)
            return context_too_long()
        return await fp.json_ok("continuing from the summary")(request, fake)

    p2.always(small_context)
    turn = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "now run the tests"}]}
    pending = asyncio.ensure_future(gw.responses({**simple_body(prompt_cache_key=SID), "input": [*replacement, turn]},
                                                 headers={"session-id": SID}))
    await asyncio.wait_for(asked.wait(), 5)
    await gw.api("rename_provider", provider="p2", new_id="relay")
    go.set()
    reply = await asyncio.wait_for(pending, 15)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "relay", reply.body
    assert {r.headers.get("Authorization") for r in p2.requests} == {f"Bearer {key}"}


@pytest.mark.parametrize("refusal", ["HTTP 500", "200 failed response"])
async def test_a_summary_that_fails_is_its_own_attempt_and_the_client_hears_why(fakes, gateway, codex_home, refusal):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    overloaded = {"message": "upstream overloaded", "code": "server_error"}

    async def no_room_at_all(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        texts = json.dumps(json.loads(await request.read())["input"])
        if "handover summary" in texts:
            if refusal.startswith("200"):
                return failed_answer(request, fake, overloaded)
            return web.json_response({"error": overloaded}, status=500)
        return context_too_long()

    p2.always(no_room_at_all)
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID})
    said = "HTTP 500" if refusal.startswith("HTTP") else "answered a failed response"
    assert reply.status == 400 and f"summarising it there failed: {said}: upstream overloaded" in reply.body.decode()
    status = 500 if refusal.startswith("HTTP") else 200
    row = gw.services.store.request_log()[0]
    assert [(a["provider"], a["outcome"], a["retry"], a["summary"], a["status"]) for a in row["attempts"]][-2:] == [
        ("p2", "retry", "summarize_compaction", False, 400), ("p2", "client_error", None, True, status)]
    assert row["status"] == 400 and row["total_tokens"] == 0


TOO_LONG = {"message": "Your input exceeds the context window of this model.", "code": "context_length_exceeded",
            "type": "invalid_request_error"}


def failed_answer(request: web.Request, fake: fp.FakeProvider, error: dict) -> web.Response:
    """A relay that says no in the body of a 200: a response whose status is "failed"."""
    return web.json_response({"id": f"resp_{fake.name}_failed", "object": "response", "status": "failed",
                              "output": [], "error": error})


# How a relay says "too long" (and whether the client streams): an HTTP status, or in the body of a 200
# — a failed response, or an event stream that fails, to a client that asked for JSON.
TOO_LONG_RELAYS = {"400 context length": False, "413, streams only": True, "200 failed response": False,
                   "200 failed response, streamed": True, "event stream to a JSON request": False,
                   "event stream that fails, streamed": True}  # (as OpenAI's API says it to Codex)


async def too_long(relay: str, request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
    """``relay``'s way (one of TOO_LONG_RELAYS) of saying the request is too long for it."""
    if relay.startswith("413"):
        return web.Response(status=413, text="Request Entity Too Large")
    if relay.startswith("200"):
        return failed_answer(request, fake, TOO_LONG)
    if relay.startswith("event stream"):
        return await fp.in_band_failure(TOO_LONG["code"], TOO_LONG["message"])(request, fake)
    return web.json_response({"error": TOO_LONG}, status=400)


@pytest.mark.parametrize("relay", list(TOO_LONG_RELAYS))
async def test_an_expansion_too_long_for_the_new_provider_is_summarised_there(fakes, gateway, codex_home, relay):
    """The summary is asked for the way Codex's own compaction asks (streamed), so a relay that serves
    only streams can give it; a 413, and a refusal in the body of a 200, are as much "too long" as a
    context-length 400."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    streamed = TOO_LONG_RELAYS[relay]

    async def small_context(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        body = json.loads(await request.read())
        texts = json.dumps(body["input"])
        if relay.endswith("streams only") and not body.get("stream"):
            return web.json_response({"error": {"message": "stream must be true"}}, status=400)
        if "handover summary" in texts:  # asked to summarise (the conversation alone is what is too long)
            return await fp.stream_ok("The user fixed the build in make.py.")(request, fake)
        if "fix the build" in texts:  # the expanded conversation plus the new turn: too long for this provider
            return await too_long(relay, request, fake)
        return await fp.json_ok("continuing from the summary")(request, fake)

    p2.always(small_context)
    # Another client (Codex) used the gateway too: the summary is asked as this request's client asks.
    gw.services.require_serving().upstream.client_identity.note({"User-Agent": "codex_exec/0.169.0",
                                                                "originator": "codex_exec"})
    new_turn = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "now run the tests"}]}
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": [*replacement, new_turn]},
                               headers={"session-id": SID, "User-Agent": "my-agent/2.0"}, stream=streamed)
    assert reply.status == 200 and reply.text == "continuing from the summary"
    final = p2.requests[-1].json
    assert "The user fixed the build in make.py." in json.dumps(final["input"])
    assert "fix the build" not in json.dumps(final["input"]) and final["input"][-1] == new_turn
    summary_request = p2.requests[-2].json
    assert summary_request["stream"] is True and summary_request["tools"] == []
    assert p2.requests[-2].headers["User-Agent"] == "my-agent/2.0"
    ledger = (await gw.api("get_status"))["ledgers"].get("p2", {}).get("tokens_since_check", 0)
    row = gw.services.store.request_log()[0]
    # The summary is an attempt of its own, and what it cost counts: 15 tokens for it, 15 for the answer.
    assert [(a["provider"], a["outcome"], a["retry"], a["summary"]) for a in row["attempts"]][-3:] == [
        ("p2", "retry", "summarize_compaction", False), ("p2", "ok", None, True), ("p2", "ok", None, False)]
    assert row["total_tokens"] == 30 and row["input_tokens"] == 20
    assert gw.services.store.metrics()["p2"].total_tokens == 30 and gw.services.store.metrics()["p2"].ok_requests == 1
    assert ledger == 30
    chain = (await gw.api("get_request", id=row["id"]))["attempt_chain"]
    assert [a["summary"] for a in chain][-2:] == [True, False]
    # Analytics counts p2's attempts: the one refused as too long and the answer (a summary is not one).
    assert analytics.summary(gw.services.store, "hour")["providers"]["p2"]["requests"] == 2
    assert p2.foreign_sealed == []
    # The session's next turn gets the summary at once: no second "too long", no second summary, and
    # the session file is not needed for it any more.
    for rollout in (codex_home / "sessions").rglob("*.jsonl"):
        rollout.unlink()
    asked = len(p2.requests)
    answered = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}
    next_turn = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and commit"}]}
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": [*replacement, new_turn, answered,
                                                                               next_turn]},
                               headers={"session-id": SID}, stream=streamed)
    assert reply.status == 200 and reply.text == "continuing from the summary"
    assert len(p2.requests) == asked + 1
    sent = json.dumps(p2.requests[-1].json["input"])
    assert "The user fixed the build in make.py." in sent and "fix the build" not in sent
    assert p2.foreign_sealed == []


def tool_turns(count: int, size: int) -> list[dict]:
    """``count`` turns of a long session: a command, its (long) output, what the model made of it."""
    out: list[dict] = []
    for i in range(count):
        out += [{"type": "function_call", "id": f"fc_{i}", "call_id": f"call_{i}", "name": "shell",
                 "arguments": json.dumps({"command": ["make", f"step{i}"]})},
                {"type": "function_call_output", "call_id": f"call_{i}", "output": f"step {i}: " + "x" * size},
                {"type": "message", "id": f"msg_t{i}", "role": "assistant",
                 "content": [{"type": "output_text", "text": f"step {i} passed"}]}]
    return out


@pytest.mark.parametrize("refusal", ["HTTP 400", "200 failed response"])
async def test_a_conversation_too_long_even_to_summarise_is_summarised_without_its_oldest_part(
        fakes, gateway, codex_home, refusal):
    """As Codex's local compaction does when the context overflows: the oldest items are left out until
    the provider can take the rest; a tool output never loses its call. "Too long" may come in the body
    of a 200, for the summary request as for the request itself."""
    limit = 12_000
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home, later=tool_turns(30, 1000))

    async def small_context(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        body = json.loads(await request.read())
        if len(json.dumps(body["input"])) > limit:
            return failed_answer(request, fake, TOO_LONG) if refusal.startswith("200") else context_too_long()
        if "handover summary" in json.dumps(body["input"]):
            return await fp.stream_ok("Steps 0 to 29 of the build passed.")(request, fake)
        return await fp.json_ok("continuing from the summary")(request, fake)

    p2.always(small_context)
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID})
    assert reply.status == 200 and reply.text == "continuing from the summary"
    assert "Steps 0 to 29 of the build passed." in json.dumps(p2.requests[-1].json["input"])
    asked = [r.json["input"] for r in p2.requests if "handover summary" in json.dumps(r.json["input"])]
    sizes = [len(json.dumps(i)) for i in asked]
    assert len(asked) >= 3 and sizes == sorted(sizes, reverse=True) and sizes[-1] <= limit < sizes[-2]
    for items in asked:
        calls = {i["call_id"] for i in items if i.get("type") == "function_call"}
        assert all(i["call_id"] in calls for i in items if i.get("type") == "function_call_output")
    newest = [i for i in asked[-1] if i.get("type") == "message" and i["role"] == "assistant"]
    assert newest[-1]["content"][0]["text"] == "step 29 passed"  # the newest turns are what is kept
    row = gw.services.store.request_log()[0]
    # Every summary request sent is an attempt of its own, the refused ones too (they cost a round trip).
    refusals = len(asked) - 1
    assert [(a["provider"], a["outcome"], a["summary"], a["retry"]) for a in row["attempts"]][-3 - refusals:] == [
        ("p2", "retry", False, "summarize_compaction"),
        *[("p2", "retry", True, "shorter_summary")] * refusals,
        ("p2", "ok", True, None), ("p2", "ok", False, None)]
    assert all(a["status"] == (200 if refusal.startswith("200") else 400)
               and "asked again without the oldest part" in a["error"]
               for a in row["attempts"] if a["retry"] == "shorter_summary")
    assert p2.foreign_sealed == []


def writes_summaries(otherwise: fp.Behaviour, too_long_for: tuple[str, ...] = ("fix the build",)) -> fp.Behaviour:
    """A provider that writes the summary it is asked for, finds a request with any of ``too_long_for`` in it
    too long (context length), and answers the rest with ``otherwise``."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        texts = json.dumps(json.loads(await request.read())["input"])
        if "handover summary" in texts:
            return await fp.stream_ok("The user fixed the build in make.py.")(request, fake)
        if any(words in texts for words in too_long_for):
            return context_too_long()
        return await otherwise(request, fake)
    return run


def summarises_then_too_long(relay: str, meanwhile: Callable[[], Awaitable[None]] | None = None) -> fp.Behaviour:
    """A provider whose context the newest turns alone fill: it writes the summary it is asked for, then
    finds the conversation too long with the summary in as well (after ``meanwhile``, if given)."""
    async def tiny_context(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        body = json.loads(await request.read())
        if relay.endswith("streams only") and not body.get("stream"):
            return web.json_response({"error": {"message": "stream must be true"}}, status=400)
        if "handover summary" in json.dumps(body["input"]):
            return await fp.stream_ok("The user fixed the build in make.py.")(request, fake)
        if meanwhile is not None and "The user fixed the build" in json.dumps(body["input"]):
            await meanwhile()
        return await too_long(relay, request, fake)
    return tiny_context


@pytest.mark.parametrize("relay", list(TOO_LONG_RELAYS))
async def test_a_conversation_too_long_even_summarised_goes_to_the_next_candidate(fakes, gateway, codex_home, relay):
    """Too long for p2 with its own summary in: p2 cannot take the conversation whatever it is sent, so the
    next candidate is asked (it may hold the whole), not the client told "too long" — p2's health untouched."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    p2.always(summarises_then_too_long(relay))
    p3.always(fp.json_ok("from p3"))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement},
                               headers={"session-id": SID}, stream=TOO_LONG_RELAYS[relay])
    assert reply.status == 200 and reply.text == "from p3"
    assert "The user fixed the build in make.py." in json.dumps(p2.requests[-1].json["input"])
    assert "fix the build" in json.dumps(p3.requests[-1].json["input"]) and p3.foreign_sealed == []
    row = gw.services.store.request_log()[0]
    assert [(a["provider"], a["outcome"], a["retry"], a["summary"]) for a in row["attempts"]][-4:] == [
        ("p2", "retry", "summarize_compaction", False), ("p2", "ok", None, True),
        ("p2", "provider_failure", None, False), ("p3", "ok", None, False)]
    assert "context window" in row["attempts"][-2]["error"] or "Too Large" in row["attempts"][-2]["error"]
    # It serves shorter conversations: one failure would put it in cooldown here.
    assert (await gw.request("GET", "/status")).json["providers"]["p2"]["status"] == "unknown"


@pytest.mark.parametrize("relay", list(TOO_LONG_RELAYS))
async def test_a_conversation_too_long_even_summarised_for_the_last_candidate_is_its_refusal(
        fakes, gateway, codex_home, relay):
    """No candidate left to pass the conversation on to: the client hears the provider's "too long" — with
    the code the OpenAI API gives it, whichever way the provider said it (Codex then says it ran out of
    room; a 413 it would have retried five times)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    p2.always(summarises_then_too_long(relay))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement},
                               headers={"session-id": SID}, stream=TOO_LONG_RELAYS[relay])
    error = json.loads(reply.body)["error"]
    assert reply.status == 400 and error["code"] == "context_length_exceeded", error
    assert error["message"].startswith("P2: ") and ("context window" in error["message"] or "Too Large" in error["message"])
    row = gw.services.store.request_log()[0]
    assert [(a["provider"], a["outcome"]) for a in row["attempts"]][-2:] == [("p2", "ok"), ("p2", "client_error")]
    assert row["outcome"] == "client_error"


@pytest.mark.parametrize("relay", ["400 context length", "200 failed response, streamed"])
async def test_a_conversation_too_long_even_summarised_is_the_refusal_once_the_next_candidate_is_gone(
        fakes, gateway, codex_home, relay):
    """The next candidate deleted while the provider reads the summarised conversation: none is left to
    take it, so the client hears the provider's "too long" — not a gateway error it would retry."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)

    async def delete_p3() -> None:
        await gw.api("delete_provider", provider="p3")

    p2.always(summarises_then_too_long(relay, delete_p3))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement},
                               headers={"session-id": SID}, stream=relay.endswith("streamed"))
    assert reply.status == 400 and json.loads(reply.body)["error"]["code"] == "context_length_exceeded"
    assert p3.calls == 0


@pytest.mark.parametrize("raced", ["answers", "fails"])
async def test_a_conversation_too_long_even_summarised_while_the_next_one_races_is_left_to_the_race(
        fakes, gateway, codex_home, raced):
    """p3 already asked (it raced the slow p2 as a hedge) when p2 finds the summarised conversation too long:
    p3's answer serves; p3 failing makes it the 502 Codex retries (p3 may serve then), not p2's refusal."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={"failure_threshold": 1, "hedge_min_seconds": 0.1, "hedge_max_seconds": 0.2})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)

    async def a_second() -> None:
        await asyncio.sleep(1)

    async def after_p2(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        await request.read()
        await asyncio.sleep(2)
        if raced == "fails":
            return web.json_response({"error": {"message": "p3 overloaded"}}, status=503)
        return await fp.stream_ok("from p3")(request, fake)

    p2.always(summarises_then_too_long("400 context length", a_second))
    p3.always(after_p2)
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement},
                               headers={"session-id": SID}, stream=True)
    if raced == "answers":
        assert reply.status == 200 and reply.text == "from p3"
    else:
        assert reply.status == 502, reply.body
        assert [d["provider"] for d in reply.json["error"]["providers"]] == ["p1", "p2", "p3"]


@pytest.mark.parametrize("then", ["a 503 from the next", "another refusal of its own"])
async def test_only_too_long_is_passed_on_and_a_failure_after_it_is_the_502(fakes, gateway, codex_home, then):
    """p2 refusing the summarised request for another reason (a tool's schema) refuses the request itself: the
    client hears it, p3 is not asked. Passed on as too long and then p3 failing: the 502 Codex retries."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    p3.always(fp.status(503, "p3 overloaded"))
    if then.startswith("a 503"):
        p2.always(summarises_then_too_long("400 context length"))
    else:
        schema = {"message": "Invalid schema for function 'shell'", "type": "invalid_request_error",
                  "code": "invalid_value"}
        p2.always(writes_summaries(fp.status(400, body=json.dumps({"error": schema}).encode())))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID})
    if then.startswith("a 503"):
        assert reply.status == 502 and p3.calls == 1, reply.body
    else:
        assert reply.status == 400 and "Invalid schema" in reply.json["error"]["message"] and p3.calls == 0


async def test_a_provider_asked_first_that_fails_after_the_hedge_found_it_too_long_makes_it_the_502(
        fakes, gateway, codex_home):
    """p3 (preferred, slow) is raced by p2 with its remembered summary; p2 finds the later turn too long, then
    p3 fails: p3 was still in play when p2 refused, and a retry may find it serving — the 502."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={"failure_threshold": 1, "hedge_min_seconds": 0.1, "hedge_max_seconds": 0.2})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    p2.always(writes_summaries(fp.stream_ok("from p2"), too_long_for=("fix the build", "and commit")))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement},
                               headers={"session-id": SID}, stream=True)
    assert reply.status == 200 and reply.text == "from p2"

    async def slow_then_down(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        await request.read()
        await asyncio.sleep(1.5)
        return web.json_response({"error": {"message": "p3 overloaded"}}, status=503)

    p3.always(slow_then_down)
    await gw.api("delete_provider", provider="p1")
    await gw.api("set_preferred_provider", provider="p3")
    later = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and commit"}]}
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": [*replacement, later]},
                               headers={"session-id": SID}, stream=True)
    assert [a["provider"] for a in gw.services.store.request_log()[0]["attempts"]][:2] == ["p3", "p2"]
    assert reply.status == 502, reply.body


async def test_every_provider_too_long_with_its_own_summary_is_the_requests_refusal(fakes, gateway, codex_home):
    """p2 and p3 each write a summary and find the conversation too long even so: the client hears the last,
    and both attempts are the request's refusal (no provider's error count takes them)."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    p2.always(summarises_then_too_long("400 context length"))
    p3.always(summarises_then_too_long("400 context length"))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID})
    assert reply.status == 400 and reply.json["error"]["message"].startswith("P3: ")
    row = gw.services.store.request_log()[0]
    assert [(a["provider"], a["outcome"]) for a in row["attempts"]
            if not a["summary"] and a["outcome"] != "retry" and a["provider"] != "p1"] == [
        ("p2", "client_error"), ("p3", "client_error")]
    metrics = gw.services.store.metrics()
    assert all(getattr(metrics.get(pid), "error_requests", 0) == 0 for pid in ("p2", "p3")), metrics


async def test_locked_to_a_provider_too_small_for_the_conversation_says_how_to_let_others_take_it(
        fakes, gateway, codex_home):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    p1.always(fp.json_ok("from p1"))  # back, and holding the conversation whole
    await gw.api("set_manual_override", provider="p2")
    p2.always(summarises_then_too_long("400 context length"))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID})
    error = reply.json["error"]
    assert reply.status == 400 and error["code"] == "context_length_exceeded"
    assert "routing is locked to P2: unlock it in API Router — Back to automatic — to let the other providers take " \
           "the conversation" in error["message"]
    assert p1.calls == 1  # the compaction only


async def test_a_conversation_passed_on_that_no_other_candidate_takes_is_the_first_ones_refusal(
        fakes, gateway, codex_home):
    """Passed on to p3, which does not have the model: nobody failed that a retry could reach, so the client
    hears p2's "too long", coded as the OpenAI API codes it — Codex reads it as the context window exceeded."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    p2.always(summarises_then_too_long("200 failed response"))
    p3.always(fp.status(404, body=json.dumps({"error": {"message": "Not found", "code": "model_not_found"}}).encode()))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID})
    error = json.loads(reply.body)["error"]
    assert reply.status == 400 and error["code"] == "context_length_exceeded", error
    assert error["message"].startswith("P2: ") and "exceeds the context window" in error["message"]
    assert p3.calls == 1
    row = gw.services.store.request_log()[0]
    assert row["outcome"] == "client_error" and row["attempts"][-2]["outcome"] == "client_error"


async def test_a_provider_put_back_after_a_race_passes_on_what_is_too_long_for_it(fakes, gateway, codex_home):
    """p2, asked with its summary in, is slow; p3, raced against it, opens its stream first and then fails
    before its output: p2 is asked again, finds the conversation too long — and p4, still left, is asked."""
    p1, p2, p3, p4 = await fakes("p1", "p2", "p3", "p4")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3, "p4": p4},
                       routing={"failure_threshold": 1, "hedge_min_seconds": 0.1, "hedge_max_seconds": 0.2})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    asked = []

    async def slow_the_first_time() -> None:
        asked.append(1)
        if len(asked) == 1:
            await asyncio.sleep(3)

    p2.always(summarises_then_too_long("400 context length", slow_the_first_time))

    async def opens_then_breaks(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        await request.read()
        shell = {"id": "resp_p3", "object": "response", "status": "in_progress", "output": []}
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(fp.sse_event({"type": "response.created", "response": shell}))
        await asyncio.sleep(0.3)
        error = {"code": "server_error", "message": "p3 broke", "type": "server_error"}
        await resp.write(fp.sse_event({"type": "response.failed", "response": {**shell, "status": "failed",
                                                                                "error": error}}))
        await resp.write_eof()
        return resp

    p3.always(opens_then_breaks)
    p4.always(fp.stream_ok("from p4"))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement},
                               headers={"session-id": SID}, stream=True)
    assert reply.status == 200 and reply.text == "from p4"
    assert len(asked) == 2


async def test_a_later_turn_too_long_even_with_the_remembered_summary_goes_to_the_next_candidate(
        fakes, gateway, codex_home):
    """The summary p2 wrote is remembered for the session's later turns; one that fills p2's context even so
    is passed on as the turn that asked for the summary would have been — not refused to Codex."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)

    # Too long: the whole conversation, and the later turn even with the summary.
    p2.always(writes_summaries(fp.json_ok("from p2"), too_long_for=("fix the build", "and commit")))
    p3.always(fp.json_ok("from p3"))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID})
    assert reply.status == 200 and reply.text == "from p2"
    later = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and commit"}]}
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": [*replacement, later]},
                               headers={"session-id": SID})
    assert reply.status == 200 and reply.text == "from p3", reply.body
    asked = [json.dumps(r.json["input"]) for r in p2.requests]
    assert sum("handover summary" in a for a in asked) == 1  # remembered: not asked for again
    assert "The user fixed the build in make.py." in asked[-1] and "and commit" in asked[-1]
    assert "fix the build" in json.dumps(p3.requests[-1].json["input"])
    assert (await gw.request("GET", "/status")).json["providers"]["p2"]["status"] != "unhealthy"


async def test_a_provider_that_cannot_summarise_passes_the_conversation_to_the_next(fakes, gateway, codex_home):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)

    async def no_summary(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        if "handover summary" in json.dumps(json.loads(await request.read())["input"]):
            return web.json_response({"error": {"message": "summaries are not served here"}}, status=400)
        return context_too_long()

    p2.always(no_summary)
    p3.always(fp.json_ok("from p3"))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID})
    assert reply.status == 200 and reply.text == "from p3"
    assert "fix the build" in json.dumps(p3.requests[-1].json["input"]) and p3.foreign_sealed == []
    row = gw.services.store.request_log()[0]
    attempts = [(a["provider"], a["outcome"], a["summary"]) for a in row["attempts"]]
    assert attempts[-3:] == [("p2", "retry", False), ("p2", "provider_failure", True), ("p3", "ok", False)]
    assert "summarising it there failed: HTTP 400: summaries are not served here" in row["attempts"][-2]["error"]
    # It serves shorter conversations: its health is untouched (one failure would put it in cooldown here).
    assert (await gw.request("GET", "/status")).json["providers"]["p2"]["status"] == "unknown"


@pytest.mark.parametrize("silence", ["hang", "keep-alives"])
async def test_a_provider_silent_on_the_summary_is_passed_over_after_its_hedge_delay(fakes, gateway, codex_home,
                                                                                      silence):
    """Asked for a summary (the conversation too long for it), the provider says nothing — or only sends
    keep-alives: after its hedge delay, not the whole request timeout, the next candidate takes the turn."""
    import time

    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={"failure_threshold": 1, "request_timeout_seconds": 30, "hedge_min_seconds": 1,
                                "hedge_max_seconds": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)

    async def silent_summary(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        if "handover summary" not in json.dumps(json.loads(await request.read())["input"]):
            return context_too_long()
        if silence == "hang":
            await asyncio.sleep(60)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for _ in range(600):
            await resp.write(b": keep-alive\n\n")
            await asyncio.sleep(0.1)
        return resp

    p2.always(silent_summary)
    p3.always(fp.stream_ok("from p3"))
    started = time.monotonic()
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID},
                               stream=True)
    took = time.monotonic() - started
    assert reply.status == 200 and reply.text == "from p3"
    assert took < 10, took  # a hedge delay of 1 s, not the 30 s timeout
    row = gw.services.store.request_log()[0]
    attempts = [(a["provider"], a["outcome"], a["summary"]) for a in row["attempts"]]
    assert attempts[-3:] == [("p2", "retry", False), ("p2", "provider_failure", True), ("p3", "ok", False)]
    assert "summarising it there failed: no answer within 1 s (its hedge delay)" in row["attempts"][-2]["error"]


def summarising(write: Callable[[web.StreamResponse, list[bytes]], Awaitable[None]], *,
                first_delay: float = 0.0) -> fp.Behaviour:
    """p2 as a provider whose context is too small for the expanded conversation: it summarises it — its
    stream's headers after ``first_delay``, then what ``write`` sends of the summary's events — and, with
    the summary, it continues."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        texts = json.dumps(json.loads(await request.read())["input"])
        if "handover summary" not in texts:
            return context_too_long() if "fix the build" in texts else await fp.json_ok("continued")(request, fake)
        await asyncio.sleep(first_delay)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await write(resp, [fp.sse_event(e) for e in fp.stream_events(
            fp.response_object("The user fixed the build.", provider=fake.name))])
        await resp.write_eof()
        return resp
    return run


def summary_stream(*, first_delay: float = 0.0, padding: int = 0, then: float = 0.0) -> fp.Behaviour:
    """``summarising``: ``padding`` comments of 64 KB, then after ``then`` the summary."""
    async def write(resp: web.StreamResponse, events: list[bytes]) -> None:
        await resp.write(b": summarising\n\n")
        for _ in range(padding):
            await resp.write(b": " + b"k" * 65536 + b"\n\n")
        await asyncio.sleep(then)
        for event in events:
            await resp.write(event)
    return summarising(write, first_delay=first_delay)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_summary_has_the_request_timeout_for_its_answer_and_again_for_the_rest(fakes, gateway, codex_home,
                                                                                       stream):
    """Its headers within ``request_timeout_seconds``, then the rest of it within as long again, as any
    answer is read (the last candidate has no hedge delay to begin within)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "request_timeout_seconds": 2})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    p2.always(summary_stream(first_delay=1.2, then=1.2))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement},
                               headers={"session-id": SID}, stream=stream)
    assert reply.status == 200 and reply.text == "continued", reply.text


def summary_of_exactly(size: int) -> fp.Behaviour:
    """``summarising``: a chunked stream of exactly ``size`` bytes (comments, then the events) whose end
    comes a moment after its last byte."""
    async def write(resp: web.StreamResponse, events: list[bytes]) -> None:
        summary = b"".join(events)
        await resp.write(b": " + b"k" * (size - len(summary) - 4) + b"\n\n" + summary)
        await asyncio.sleep(0.3)
    return summarising(write)


async def test_a_summary_of_exactly_4_mb_is_whole(fakes, gateway, codex_home):
    from api_router.gateway.upstream import ERROR_BODY_LIMIT

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "request_timeout_seconds": 10})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    p2.always(summary_of_exactly(ERROR_BODY_LIMIT))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID})
    assert reply.status == 200 and reply.text == "continued", reply.text


@pytest.mark.parametrize("stream", [False, True])
async def test_a_summary_is_held_up_to_4_mb_also_before_its_first_event(fakes, gateway, codex_home, stream):
    """A summary is read up to 4 MB, also while its first event is awaited (a relay's keep-alive comments):
    beyond that it fails as too large — the next candidate takes the turn."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1, "request_timeout_seconds": 10,
                                                                "hedge_min_seconds": 5, "hedge_max_seconds": 5})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    p2.always(summary_stream(padding=80))  # 5 MB of comments before its first event
    p3.always(fp.stream_ok("from p3") if stream else fp.json_ok("from p3"))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement},
                               headers={"session-id": SID}, stream=stream)
    assert reply.status == 200 and reply.text == "from p3"
    attempts = gw.services.store.request_log()[0]["attempts"]
    assert [(a["provider"], a["outcome"], a["summary"]) for a in attempts][-3:] == [
        ("p2", "retry", False), ("p2", "provider_failure", True), ("p3", "ok", False)]
    said = "sent 4 MB before its first event" if stream else "answer is longer than 4 MB"
    assert said in attempts[-2]["error"], attempts[-2]


async def test_when_all_fail_the_error_names_the_providers_the_conversation_could_not_go_to(
        fakes, gateway, codex_home):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)
    for rollout in (codex_home / "sessions").rglob("*.jsonl"):
        rollout.unlink()
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID})
    assert reply.status == 502 and p2.calls == 0
    message = reply.json["error"]["message"]
    assert "P1: HTTP 503: p1 is gone" in message
    assert "Skipped: P2 (" in message and "Codex session file" in message and SID in message, message


async def test_a_summary_by_a_provider_that_then_fails_counts_for_it_not_for_the_one_that_answers(
        fakes, gateway, codex_home):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 1})
    replacement = await compacted_by_p1_then_gone(gw, p1, codex_home)

    p2.always(writes_summaries(fp.status(500, "p2 broke")))  # summarises, then breaks
    p3.always(fp.json_ok("from p3"))
    reply = await gw.responses({**simple_body(prompt_cache_key=SID), "input": replacement}, headers={"session-id": SID})
    assert reply.status == 200 and reply.text == "from p3"
    row = gw.services.store.request_log()[0]
    assert row["provider"] == "p3" and row["total_tokens"] == 15  # p3's answer; p2's summary is p2's
    assert [(a["provider"], a["outcome"], a["summary"]) for a in row["attempts"]][-3:] == [
        ("p2", "ok", True), ("p2", "provider_failure", False), ("p3", "ok", False)]
    ledgers = (await gw.api("get_status"))["ledgers"]
    assert ledgers["p2"]["tokens_since_check"] == 15 and ledgers["p3"]["tokens_since_check"] == 15
    assert gw.services.store.metrics()["p3"].total_tokens == 15


# --- sealed items of turns that did not complete, and of forked sessions -------------------------------


def carrying(item: dict, sid: str) -> tuple[dict, dict]:
    """A next turn whose history carries ``item`` (as Codex resends a turn's reasoning)."""
    body, headers = turn("and now?", sid)
    user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "first"}]}
    return {**body, "input": [user, item, {"type": "message", "role": "user",
                                           "content": [{"type": "input_text", "text": "and now?"}]}]}, headers


async def sealed_item_from(stream: aiohttp.ClientResponse) -> dict:
    """The first sealed item a stream hands the client (its output_item.done), read as it arrives."""
    async for line in stream.content:
        if line.startswith(b"data:") and b"output_item.done" in line and b'"encrypted_content"' in line:
            item: dict = json.loads(line[5:])["item"]
            return item
    raise AssertionError("the stream carried no sealed item")


def sealed_item_of(events: list[dict]) -> dict:
    return next(e["item"] for e in events if e.get("type") == "response.output_item.done"
                and e["item"].get("encrypted_content"))


async def test_reasoning_of_a_turn_cut_after_output_is_never_sent_to_another_provider(fakes, gateway):
    """The stream broke after the reasoning item (or the user interrupted the turn): Codex keeps that
    item in its history all the same, so who sealed it is recorded."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.stream_ok("cut short", reasoning=True, cut_after=6))  # the reasoning item, then one delta
    body, headers = turn("think about it")
    reply = await gw.responses(body, headers=headers, stream=True)
    assert reply.events[-1]["type"] == "response.failed"
    item = sealed_item_of(reply.events)
    await gw.api("set_manual_override", provider="p2")
    body, headers = carrying(item, SID)
    reply = await gw.responses(body, headers=headers, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert p2.foreign_sealed == [] and len(p2.requests) == 1  # not sent, so no refusal and retry either


async def test_reasoning_of_a_turn_the_user_interrupts_is_never_sent_to_another_provider(fakes, gateway):
    """Codex's Esc while the provider is still thinking: the client closes its connection after the
    reasoning item, which cancels the request. The item is in Codex's history; who sealed it, and who
    served the turn, are recorded."""
    import aiohttp

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.queue(fp.stream_ok("never finished", reasoning=True, stall_after=6, stall=30))
    body, headers = turn("think about it")
    async with aiohttp.ClientSession() as client:
        async with client.post(gw.base + "/v1/responses", json={**body, "stream": True},
                               headers={**gw.auth(), **headers}) as r:
            item = await sealed_item_from(r)
    assert item["encrypted_content"] == "sealed-by-p1"
    row = None
    for _ in range(100):
        gw.services.store.flush()
        rows = gw.services.store.request_log()
        if rows:
            row = rows[0]
            break
        await asyncio.sleep(0.05)
    assert row is not None
    assert (row["status"], row["provider"]) == (499, "p1")
    assert [a["outcome"] for a in row["attempts"]] == ["client_closed"]
    await gw.api("set_manual_override", provider="p2")
    body, headers = carrying(item, SID)
    reply = await gw.responses(body, headers=headers, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert p2.foreign_sealed == [] and len(p2.requests) == 1


async def test_a_forked_session_keeps_who_sealed_its_parents_items(fakes, gateway):
    """``codex exec fork`` starts a new session id whose history carries the parent's items."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.stream_ok("parent", reasoning=True))
    body, headers = turn("think about it")
    item = sealed_item_of((await gw.responses(body, headers=headers, stream=True)).events)
    gw.services.store.flush()
    await gw.api("set_manual_override", provider="p2")
    fork = "019a0000-0000-7000-8000-0000000000f0"
    body, headers = carrying(item, fork)
    reply = await gw.responses(body, headers=headers, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert p2.foreign_sealed == [] and len(p2.requests) == 1


async def test_a_sealed_item_is_known_as_its_providers_while_the_rest_of_its_stream_still_comes(fakes, gateway):
    """Codex keeps a reasoning item as soon as it is done; a fork made then (or Codex's retry after the app
    was killed mid-stream) carries it before the stream that brought it has ended: it is recorded as it
    passes to the client, not at the stream's end."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.stream_ok("a long answer " * 5, reasoning=True, deltas=10, delay=0.3))
    body, headers = turn("think about it")
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.base + "/v1/responses", json={**body, "stream": True},
                                headers={**gw.auth(), **headers}) as parent:
            item = await sealed_item_from(parent)
            await gw.api("set_manual_override", provider="p2")  # the fork goes to p2 while p1 still streams
            fork_body, fork_headers = carrying(item, "019a0000-0000-7000-8000-0000000000f1")
            reply = await gw.responses(fork_body, headers=fork_headers, stream=True)
            assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
            assert p2.foreign_sealed == [] and len(p2.requests) == 1, p2.foreign_sealed
            assert parent.status == 200


async def test_a_sealed_item_in_the_streams_first_read_is_known_as_its_providers_at_once(fakes, gateway):
    """The reasoning item came in the read that opened the stream; the rest, one delta a read, takes a while."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    events = fp.stream_events(fp.response_object("slowly " * 8, provider="p1", reasoning=True), deltas=8)
    done = next(i for i, e in enumerate(events) if e["type"] == "response.output_item.done")
    p1.always(fp.raw_stream([b"".join(fp.sse_event(e) for e in events[:done + 1]),
                             *(fp.sse_event(e) for e in events[done + 1:])], delay=0.25))
    body, headers = turn("think about it")
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.base + "/v1/responses", json={**body, "stream": True},
                                headers={**gw.auth(), **headers}) as parent:
            item = await sealed_item_from(parent)
            await gw.api("set_manual_override", provider="p2")
            fork_body, fork_headers = carrying(item, "019a0000-0000-7000-8000-0000000000f2")
            reply = await gw.responses(fork_body, headers=fork_headers, stream=True)
            assert reply.status == 200 and p2.foreign_sealed == [], p2.foreign_sealed


async def test_a_forked_session_expands_a_compaction_made_before_the_fork(fakes, gateway, codex_home):
    """The fork's session file starts from the parent's compacted history (a compacted line naming the
    parent's compaction item); what that compaction summarised is only in the parent's file."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    p1.always(fp.compacting())
    reply = await gw.responses(trigger(), headers={"session-id": SID}, stream=True)
    cmp_id = reply.events[-1]["response"]["output"][0]["id"]
    _, replacement = compaction_rollout(codex_home, cmp_id, "p1")
    fork = "019a0000-0000-7000-8000-0000000000f1"
    folder = codex_home / "sessions" / "2026" / "11" / "24"
    lines = [{"timestamp": "t", "type": "session_meta", "payload": {"id": fork, "forked_from_id": SID}},
             {"timestamp": "t", "type": "compacted", "payload": {"message": "", "replacement_history": replacement}}]
    (folder / f"rollout-2026-11-24T11-00-00-{fork}.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")

    p1.always(fp.status(503, "p1 is gone"))
    new_turn = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go on in the fork"}]}
    body = {**simple_body(prompt_cache_key=fork), "input": [*replacement, new_turn], "store": False}
    reply = await gw.responses(body, headers={"session-id": fork}, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.body
    sent = p2.requests[-1].json["input"]
    assert [i.get("id") for i in sent] == ["msg_dev", "msg_u1", "msg_a1", None]  # the parent's conversation
    assert p2.foreign_sealed == []


def _message(mid: str, role: str, text: str) -> dict:
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "id": mid, "role": role, "content": [{"type": kind, "text": text}]}


def _jsonl(lines: list[dict]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


@pytest.mark.parametrize("bound", ["byte offset", "ordinal only"])
async def test_a_fork_whose_file_does_not_copy_its_parents_history_expands_its_own_compaction(
        fakes, gateway, codex_home, bound):
    """Codex 0.169 writes a fork's file ``"history_mode": "paginated"``: no parent item in it, only a
    ``history_base`` naming the parent and where the fork left it. A compaction made in the fork
    summarised the parent's turns too, and only those before the fork (the parent went on after it)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    fork = "019a0000-0000-7000-8000-0000000000f2"
    p1.always(fp.compacting())
    reply = await gw.responses(trigger(fork), headers={"session-id": fork}, stream=True)
    compaction = reply.events[-1]["response"]["output"][0]

    folder = codex_home / "sessions" / "2026" / "11" / "24"
    folder.mkdir(parents=True, exist_ok=True)
    parent_items = [_message("msg_dev", "developer", "You are Codex."), _message("msg_u1", "user", "PARENT ASKS"),
                    {"type": "reasoning", "id": "rs_p1_1", "summary": [], "encrypted_content": "sealed-by-p1"},
                    _message("msg_a1", "assistant", "PARENT ANSWERS")]
    parent = [{"timestamp": "t", "ordinal": 0, "type": "session_meta", "payload": {"id": SID}},
              *({"timestamp": "t", "ordinal": n, "type": "response_item", "payload": item}
                for n, item in enumerate(parent_items, 1))]
    at_fork = _jsonl(parent)
    later = {"timestamp": "t", "ordinal": len(parent), "type": "response_item",
             "payload": _message("msg_u9", "user", "THE PARENT WENT ON AFTER THE FORK")}
    (folder / f"rollout-2026-11-24T10-00-00-{SID}.jsonl").write_text(at_fork + _jsonl([later]))
    base = {"thread_id": SID, "end_ordinal_exclusive": len(parent)}
    if bound == "byte offset":
        base["end_byte_offset"] = len(at_fork.encode())
    meta = {"id": fork, "forked_from_id": SID, "forked_from_ordinal_exclusive": len(parent),
            "history_mode": "paginated", "history_base": base}
    replacement = [_message("msg_dev2", "developer", "You are Codex."), compaction]
    own = [{"type": "session_meta", "payload": meta},
           {"type": "response_item", "payload": _message("msg_f1", "user", "THE FORK ASKS")},
           {"type": "response_item", "payload": _message("msg_f2", "assistant", "THE FORK ANSWERS")},
           {"type": "compacted", "payload": {"message": "", "replacement_history": replacement}}]
    lines = [{"timestamp": "t", "ordinal": n, **line} for n, line in enumerate(own, len(parent))]
    (folder / f"rollout-2026-11-24T11-00-00-{fork}.jsonl").write_text(_jsonl(lines))

    p1.always(fp.status(503, "p1 is gone"))
    body = {**simple_body(prompt_cache_key=fork), "store": False,
            "input": [*replacement, _message("msg_f3", "user", "THE FORK GOES ON")]}
    reply = await gw.responses(body, headers={"session-id": fork}, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.body
    sent = [i.get("id") for i in p2.requests[-1].json["input"]]
    assert sent == ["msg_dev", "msg_u1", "msg_a1", "msg_f1", "msg_f2", "msg_f3"]  # p1's reasoning left out
    assert p2.foreign_sealed == []


@pytest.mark.parametrize("item", [{"type": "reasoning", "id": [1], "encrypted_content": "x", "summary": []},
                                  {"type": "compaction", "id": {"a": 1}, "encrypted_content": "x"},
                                  {"type": "reasoning", "id": 7, "encrypted_content": "x", "summary": []}])
async def test_a_sealed_item_whose_id_is_not_a_string_is_no_gateway_error(fakes, gateway, item):
    """Its producer was never recorded (only string ids are): it passes as the target's own, as an item
    with no id does — the provider judges it."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    body = {**simple_body(), "input": [item, {"type": "message", "role": "user", "content": "go on"}]}
    for stream in (False, True):
        reply = await gw.responses(body, stream=stream, headers={"session-id": "odd-ids"})
        assert reply.status == 200, reply.body


def without_sealed_ids(stream: bool) -> fp.Behaviour:
    """A relay whose reasoning items carry no id (some strip them): only their sealed content names them."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        answer = fp.response_object("thought it over", provider=fake.name, reasoning=True)
        for item in answer["output"]:
            if item["type"] == "reasoning":
                del item["id"]
        if not stream:
            return web.json_response(answer)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in fp.stream_events(answer):
            await resp.write(fp.sse_event(event))
        await resp.write_eof()
        return resp
    return run


@pytest.mark.parametrize("codex_id", [False, True])
@pytest.mark.parametrize("stream", [False, True])
async def test_reasoning_sealed_without_an_id_is_still_kept_from_other_providers(fakes, gateway, stream, codex_id):
    """Codex 0.169 sends such an item back with an id of its own making (``codex_id``): the owner is
    known by the sealed content all the same."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.queue(without_sealed_ids(stream))
    body, headers = turn("think")
    reply = await gw.responses(body, headers=headers, stream=stream)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"
    item = sealed_item_of(reply.events) if stream else next(
        i for i in reply.json["output"] if i["type"] == "reasoning")
    assert "id" not in item
    if codex_id:
        item = {**item, "id": "rs_01a23e77-3e86-7d51-a3f3-codex-made"}
    await gw.api("set_manual_override", provider="p2")
    body, headers = carrying(item, SID)
    reply = await gw.responses(body, headers=headers, stream=stream)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert p2.foreign_sealed == [] and len(p2.requests) == 1  # never sent, so no refusal and retry either
    await gw.api("set_manual_override", provider="p1")
    reply = await gw.responses(body, headers=headers, stream=stream)
    assert reply.status == 200 and p1.requests[-1].json["input"][1] == item  # its own producer gets it back


def answering(answer: dict) -> fp.Behaviour:
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.json_response(answer)
    return run


async def test_two_providers_giving_their_sealed_items_the_same_id_keep_them_apart(fakes, gateway):
    """Relays that number their items (``rs_0``): p2's item of that id must not take the place of p1's,
    and neither provider is sent the other's."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    items = {}
    for name in ("p1", "p2"):
        await gw.api("set_manual_override", provider=name)
        answer = fp.response_object("thought", provider=name, reasoning=True)
        (item,) = [i for i in answer["output"] if i["type"] == "reasoning"]
        item["id"] = "rs_0"
        (p1 if name == "p1" else p2).queue(answering(answer))
        think, headers = turn(f"think on {name}")
        reply = await gw.responses(think, headers=headers)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == name
        items[name] = item
    user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go on"}]}
    body, headers = turn("go on")
    body["input"] = [items["p1"], items["p2"], user]
    for name, fake in (("p2", p2), ("p1", p1)):
        await gw.api("set_manual_override", provider=name)
        reply = await gw.responses(body, headers=headers)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == name
        assert fake.foreign_sealed == []
        assert [i["encrypted_content"] for i in fake.requests[-1].json["input"] if i.get("encrypted_content")] == [
            f"sealed-by-{name}"]


async def test_a_session_header_that_is_not_utf8_still_names_one_session(fakes, gateway):
    """aiohttp keeps such bytes as lone surrogates, which no database or JSON takes: stored as U+FFFD,
    the same header names the same session turn after turn, and every turn is in the request log."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.stream_ok("sealed", reasoning=True))
    body = json.dumps({**simple_body(), "stream": True}).encode()
    for _ in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + gw.token.encode() + b"\r\nsession-id: s\xe9ssion\r\n"
                     b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200") and b"response.completed" in answer, answer[:300]
    gw.services.store.flush()
    rows = gw.services.store.request_log()
    assert [r["session_id"] for r in rows] == ["s\ufffdssion", "s\ufffdssion"]
    assert gw.services.continuity.index.sealed_owners("s\ufffdssion")
