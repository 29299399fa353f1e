"""The real Codex CLI (0.169.0) through the gateway to fake providers."""

import asyncio
import json
import sqlite3

import pytest
from aiohttp import web

from api_router.continuity.index import sealed_key
from tests.support import fake_provider as fp
from tests.support.codex import Codex, codex_binary

pytestmark = pytest.mark.codex


def strict_about_sealed_reasoning(text: str) -> fp.Behaviour:
    """Like a real provider: reasoning sealed by anyone else cannot be read and fails the request."""
    answer = fp.stream_ok(text, reasoning=True)

    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        body = json.loads(await request.read())
        for item in body.get("input", []):
            sealed = item.get("encrypted_content") if isinstance(item, dict) else None
            if item.get("type") == "reasoning" and sealed and sealed != f"sealed-by-{fake.name}":
                return web.json_response({"error": {"message": f"The encrypted content for item {item['id']} "
                                                               "could not be verified.", "type": "invalid_request_error"}},
                                         status=400)
        return await answer(request, fake)
    return run


@pytest.fixture
async def codex_setup(fakes, gateway, codex_root):
    binary = codex_binary()

    async def make(**routing):
        p1, p2 = await fakes("p1", "p2")
        gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_provider": "p1", **routing})
        codex = Codex(binary, codex_root / "codex-run", gw.base + "/v1", gw.token)
        return gw, p1, p2, codex

    return make


async def run(codex: Codex, prompt: str, **kw):
    result = await asyncio.to_thread(codex.exec, prompt, **kw)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


async def test_plain_turn(codex_setup):
    gw, p1, p2, codex = await codex_setup()
    p1.always(fp.stream_ok("Hello from the first provider"))
    result = await run(codex, "say hi")
    assert result.agent_text == "Hello from the first provider"
    sent = p1.requests[0]
    assert sent.headers["Authorization"] == "Bearer sk-test-p1-0123456789"
    assert gw.token not in json.dumps(sent.headers) and gw.token.encode() not in sent.raw
    assert sent.headers["session-id"] == result.thread_id
    body = sent.json
    assert body["stream"] is True and body["store"] is False and body["prompt_cache_key"] == result.thread_id
    assert p2.calls == 0
    log = gw.services.store.request_log()[0]
    assert log["session_id"] == result.thread_id and log["provider"] == "p1" and log["status"] == 200


async def test_a_relay_with_lone_cr_line_ends_and_its_own_lines_serves_a_turn(codex_setup):
    """Every line ended by a lone CR, a relay's comments and "data: ping" between the events: Codex gets
    exactly the text, at the first ask (its reader waits for the byte after a last CR; the gateway sends
    an LF after the end event's, since nothing else follows it)."""
    gw, p1, p2, codex = await codex_setup()
    events = [fp.sse_event(e).replace(b"\n", b"\r") + b": c\r\rdata: ping\r\r"
              for e in fp.stream_events(fp.response_object("CR says hi", provider="p1"))]
    p1.always(fp.raw_stream(events))
    result = await run(codex, "say hi")
    assert result.agent_text == "CR says hi"
    assert p1.calls == 1 and p2.calls == 0


async def test_turn_with_preferred_provider_down(codex_setup):
    gw, p1, p2, codex = await codex_setup()
    p1.always(fp.status(503, "maintenance"))
    p2.always(fp.stream_ok("The fallback answered"))
    result = await run(codex, "say hi")
    assert result.agent_text == "The fallback answered"
    assert p1.calls == 1 and p2.calls == 1
    assert p1.requests[0].raw == p2.requests[0].raw  # the same request, untouched, to the next provider
    status = gw.services.router.active(gw.services.config.current, gw.services.config.current.name_of)
    assert status[0] == "p2" and "HTTP 503: maintenance" in status[1]


async def test_resumed_session_with_reasoning_sealed_by_a_provider_now_down(codex_setup):
    gw, p1, p2, codex = await codex_setup(failure_threshold=1)
    p1.always(fp.stream_ok("First answer, with reasoning", reasoning=True))
    p2.always(strict_about_sealed_reasoning("Second answer from p2"))
    first = await run(codex, "start a task")
    assert first.agent_text == "First answer, with reasoning"

    p1.always(fp.status(502, "p1 went away"))
    second = await run(codex, "continue", resume=first.thread_id)
    assert second.thread_id == first.thread_id
    assert second.agent_text == "Second answer from p2"
    # Codex re-sent p1's sealed reasoning; the gateway kept it from p2 without a failed attempt.
    assert '"sealed-by-p1"' in p1.requests[1].raw.decode()
    assert p2.calls == 1 and '"sealed-by-p1"' not in p2.requests[0].raw.decode()
    history = p2.requests[0].json["input"]
    texts = json.dumps(history)
    assert "start a task" in texts and "First answer, with reasoning" in texts and "continue" in texts


async def test_resume_after_restart_without_ownership_knowledge_retries_once(codex_setup):
    gw, p1, p2, codex = await codex_setup(failure_threshold=1)
    p1.always(fp.stream_ok("Sealed by p1", reasoning=True))
    p2.always(strict_about_sealed_reasoning("p2 took over"))
    first = await run(codex, "start")
    # Forget who sealed what (as if the store had been lost), then lose p1.
    store = gw.services.store
    store.flush()
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute("DELETE FROM sealed_owner WHERE session_id = ?", (first.thread_id,))
    conn.close()
    index = gw.services.continuity.index  # memory goes with the store (what it keeps until written too)
    index._sealed.pop(first.thread_id, None)
    index._queued.clear()
    p1.always(fp.status(503))
    second = await run(codex, "go on", resume=first.thread_id)
    assert second.agent_text == "p2 took over"
    assert p2.calls == 2  # rejected once for p1's reasoning, then accepted without it
    attempts = gw.services.store.request_log()[0]["attempts"]
    assert [a["outcome"] for a in attempts] == ["provider_failure", "retry", "ok"]


async def compacting_relays(fakes, gateway, codex_home, codex_root):
    """p1 (preferred) and p2 answering and compacting remotely; Codex set to compact remotely, on the
    gateway's CODEX_HOME (the gateway reads its session files)."""
    p1, p2 = await fakes("p1", "p2")
    p1.always(fp.compacting("p1 answers"))
    p2.always(fp.compacting("p2 answers"))
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_provider": "p1", "failure_threshold": 1})
    codex = Codex(codex_binary(), codex_root / "codex-run", gw.base + "/v1", gw.token, home=codex_home,
                  remote_compaction=True)
    return p1, p2, gw, codex


@pytest.mark.parametrize("compactions_on_p1", [1, 2])
async def test_remote_compaction_survives_the_sealing_provider_going_down(fakes, gateway, codex_home, codex_root,
                                                                         compactions_on_p1):
    """Codex compacts remotely on p1 (p1 seals the compaction item); p1 goes down; the next turns run
    on p2, which never receives anything p1 sealed: the gateway expands the compaction from the session
    file instead. Twice: the fake seals both compactions alike, so the second's history holds an item
    that looks like itself (it stands for the first)."""
    p1, p2, gw, codex = await compacting_relays(fakes, gateway, codex_home, codex_root)
    first = await run(codex, "start a task")
    assert first.agent_text == "p1 answers"
    for turn in range(compactions_on_p1):
        second = await run(codex, f"continue ({turn + 1})", resume=first.thread_id)  # compacts on p1 first
        assert second.agent_text == "p1 answers"
    sealed = gw.services.continuity.index.sealed_owners(first.thread_id)
    carried = [i for i in p1.requests[-1].json["input"] if i.get("type") == "compaction"]
    assert carried, "p1 should have been sent its compaction item back"
    assert all(sealed.get(sealed_key(i)) == "p1" for i in carried), "p1 should own its compaction item"
    compactions = {i.get("id") for i in carried}

    p1.always(fp.status(503, "p1 went away"))
    third = await run(codex, "and finish it", resume=first.thread_id)
    assert third.agent_text == "p2 answers"
    assert p2.calls >= 1 and p2.foreign_sealed == []
    for req in p2.requests:
        assert b"sealed-by-p1" not in req.raw
        assert not {i.get("id") for i in req.json["input"]} & compactions
    texts = json.dumps(p2.requests[-1].json["input"])
    assert "start a task" in texts and "and finish it" in texts  # the conversation survived


async def test_a_fork_that_compacted_on_a_provider_now_down_goes_on_with_its_parents_turns(
        fakes, gateway, codex_home, codex_root):
    """``codex exec fork`` (0.169) writes the fork's session file without the parent's items: it names
    the parent and where the fork left it. The fork compacts on p1, p1 goes down: p2 gets the
    conversation that compaction summarised — the parent's turns first — and nothing p1 sealed."""
    p1, p2, gw, codex = await compacting_relays(fakes, gateway, codex_home, codex_root)
    parent = await run(codex, "PARENT ASKS FIRST")
    fork = await run(codex, "THE FORK ASKS", fork=parent.thread_id)  # compacts on p1 first
    assert fork.thread_id != parent.thread_id and fork.agent_text == "p1 answers"
    assert any(i.get("type") == "compaction" for i in p1.requests[-1].json["input"]), "the fork should have compacted"

    p1.always(fp.status(503, "p1 went away"))
    went_on = await run(codex, "THE FORK GOES ON", resume=fork.thread_id)
    assert went_on.agent_text == "p2 answers"
    assert p2.foreign_sealed == [] and all(b"sealed-by-p1" not in req.raw for req in p2.requests)
    texts = json.dumps(p2.requests[-1].json["input"])
    assert texts.index("PARENT ASKS FIRST") < texts.index("THE FORK ASKS") < texts.index("THE FORK GOES ON")


async def test_a_session_keeps_its_provider_after_the_preferred_one_recovers(codex_setup):
    gw, p1, p2, codex = await codex_setup(preferred_stable_seconds=0, failure_threshold=5)
    p1.always(fp.stream_ok("from p1"))
    p2.always(fp.stream_ok("from p2"))
    p1.queue(fp.status(503, "a blip"))
    first = await run(codex, "start")
    assert first.agent_text == "from p2"
    second = await run(codex, "go on", resume=first.thread_id)
    assert second.agent_text == "from p2"  # p1 is fine again, but this session stays where its cache is
    other = await run(codex, "a new session")
    assert other.agent_text == "from p1"
