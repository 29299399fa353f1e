"""Conversation continuity across providers (contract §6): body preservation, session ids,
previous_response_id replay, foreign reasoning removal."""

import asyncio
import json

import pytest

from api_router.gateway import streaming
from tests.support import fake_provider as fp
from tests.support.rollouts import SID, write_rollout


def codex_history(reasoning_by: str | None = None) -> list[dict]:
    items = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]},
    ]
    if reasoning_by:
        items.append({"type": "reasoning", "id": f"rs_{reasoning_by}_9", "summary": [],
                      "encrypted_content": f"sealed-by-{reasoning_by}"})
    items += [
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "shell", "arguments": "{\"cmd\":\"ls\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.txt\nb.txt"},
        {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": "Done"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Two files."}]},
    ]
    return items


def codex_body(items: list[dict], **extra) -> dict:
    return {
        "model": "gpt-5.5", "instructions": None, "input": items, "stream": True, "store": False,
        "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}},
                  {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}},
                  {"type": "web_search"}],
        "tool_choice": "auto", "parallel_tool_calls": True, "reasoning": {"effort": "medium", "summary": "auto"},
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": SID,
        "text": {"verbosity": "low"}, "client_metadata": {"x": "y"}, **extra,
    }



CODEX_HEADERS = {"session-id": SID, "thread-id": SID, "x-client-request-id": SID, "originator": "codex_exec",
                 "user-agent": "codex_exec/0.169.0", "x-codex-window-id": "w1",
                 "x-codex-turn-metadata": "{\"turn\":1}", "x-codex-beta-features": "a,b", "openai-beta": "x",
                 "accept": "text/event-stream", "cookie": "must-not-pass", "x-forwarded-for": "1.2.3.4"}


async def test_body_bytes_and_codex_headers_are_forwarded_untouched(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.stream_ok())
    raw = json.dumps(codex_body(codex_history("p1"), previous_response_id="resp_unknown")).encode()
    reply = await gw.request("POST", "/v1/responses", raw=raw, headers=CODEX_HEADERS)
    assert reply.status == 200
    sent = p1.requests[0]
    assert sent.raw == raw  # every field, tool items, reasoning and previous_response_id
    for name in ("session-id", "thread-id", "x-client-request-id", "originator", "x-codex-window-id",
                 "x-codex-turn-metadata", "x-codex-beta-features", "openai-beta"):
        assert sent.headers[name] == CODEX_HEADERS[name], name
    assert sent.headers["User-Agent"] == "codex_exec/0.169.0"
    assert "Cookie" not in sent.headers and "X-Forwarded-For" not in sent.headers


async def test_non_ascii_codex_header_values_reach_the_provider_as_the_client_wrote_them(fakes, gateway):
    """UTF-8 in a session id or a working folder: the provider gets the same bytes (and so the same session
    id the gateway reads), not each byte made a character of its own and encoded again."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.stream_ok())
    headers = {"session-id": "séssion-世", "user-agent": "my-client/1.0 (Jérôme)",
               "x-codex-turn-metadata": '{"cwd":"/home/jérôme/項目"}'}
    assert (await gw.responses(headers=headers)).status == 200
    sent = {name.lower(): value for name, value in p1.requests[0].headers.items()}
    assert [sent[name] for name in headers] == list(headers.values())
    assert gw.services.store.request_log()[0]["session_id"] == "séssion-世"


@pytest.mark.parametrize("header", ["session_id", "session-id", "thread-id", "conversation_id", "x-session-id"])
async def test_session_id_is_read_from_every_named_header(fakes, gateway, header):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    await gw.responses(headers={header: "abc-123"})
    assert gw.services.store.request_log()[0]["session_id"] == "abc-123"


async def test_session_id_falls_back_to_prompt_cache_key(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    await gw.responses({"model": "m", "input": "hi", "prompt_cache_key": "pck-1"})
    assert gw.services.store.request_log()[0]["session_id"] == "pck-1"


async def test_previous_response_id_kept_for_its_own_provider(fakes, gateway, codex_home):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    first = await gw.responses(headers={"session-id": SID})
    rid = first.json["id"]
    body = {"model": "m", "input": [{"type": "message", "role": "user", "content": "next"}], "previous_response_id": rid}
    await gw.responses(body, headers={"session-id": SID})
    assert p1.requests[1].json["previous_response_id"] == rid


async def test_previous_response_id_is_replaced_by_history_on_another_provider(fakes, gateway, codex_home):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    first = await gw.responses(headers={"session-id": SID})
    rid = first.json["id"]
    history = codex_history()
    write_rollout(codex_home, history)
    p1.always(fp.status(503))
    new_item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and now?"}]}
    body = {"model": "m", "input": [new_item], "previous_response_id": rid, "tools": [{"type": "web_search"}]}
    reply = await gw.responses(body, headers={"session-id": SID})
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    sent = p2.requests[0].json
    assert "previous_response_id" not in sent
    assert sent["input"] == [*history, new_item]  # tool calls and outputs replayed, in order
    assert sent["tools"] == [{"type": "web_search"}]
    # p1 got the id unchanged: it produced that response
    assert p1.requests[1].json["previous_response_id"] == rid


async def test_replay_does_not_duplicate_items_already_in_the_history(fakes, gateway, codex_home):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_provider": "p2"})
    history = codex_history()
    write_rollout(codex_home, history, legacy=True)
    body = {"model": "m", "input": history[-1:], "previous_response_id": "resp_from_elsewhere"}
    gw.services.continuity.index.record_response("resp_from_elsewhere", "p2")
    await gw.api("set_manual_override", provider="p1")
    reply = await gw.responses(body, headers={"session-id": SID})
    assert reply.status == 200
    assert p1.requests[0].json["input"] == history


async def test_missing_session_file_is_a_400_naming_it(fakes, gateway, codex_home):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_manual_override", provider="p2")
    body = {"model": "m", "input": "x", "previous_response_id": "resp_p1_owned"}
    gw.services.continuity.index.record_response("resp_p1_owned", "p1")
    reply = await gw.responses(body, headers={"session-id": "no-such-session"})
    assert reply.status == 400
    assert reply.json["error"]["type"] == "invalid_request_error"
    assert "no-such-session" in reply.json["error"]["message"]
    no_id = await gw.responses(body)
    assert no_id.status == 400 and "no session id" in no_id.json["error"]["message"]
    assert p2.calls == 0


async def test_an_error_names_a_long_session_id_by_its_start_without_echoing_it(fakes, gateway, codex_home):
    """A 100,000-character prompt_cache_key is a session id like any other, but the 400 that names it
    stays a sentence: its start, then "…"."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_manual_override", provider="p2")
    gw.services.continuity.index.record_response("resp_p1_owned", "p1")
    long_id = "s" * 100_000
    reply = await gw.responses({"model": "m", "input": "x", "previous_response_id": "resp_p1_owned",
                                "prompt_cache_key": long_id})
    message = reply.json["error"]["message"]
    assert reply.status == 400 and len(reply.body) < 1_000, len(reply.body)
    assert f"session '{'s' * 79}…'" in message, message


async def test_a_provider_that_cannot_be_given_the_history_is_passed_for_the_one_that_holds_it(
        fakes, gateway, codex_home):
    """No session file to replay the conversation for the preferred provider: the request goes to the
    provider that produced the previous response, unchanged, instead of failing."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.continuity.index.record_response("resp_p2_owned", "p2")
    body = {"model": "m", "input": "x", "previous_response_id": "resp_p2_owned"}
    reply = await gw.responses(body, headers={"session-id": "no-such-session"})
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert p1.calls == 0 and p2.requests[0].json["previous_response_id"] == "resp_p2_owned"


@pytest.mark.parametrize("session", [None, "no-such-session"])
async def test_a_request_only_the_holder_of_its_history_can_take_does_not_move_the_serving_provider(
        fakes, gateway, codex_home, session):
    """Nothing failed: the preferred provider was passed by for one request it could not be given. New
    traffic still goes to it, so no "Failover" (nor a "back to preferred" after it) is said."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"  # p1 serves
    routes = [e.message for e in gw.services.store.list_events() if e.kind == "route"]
    gw.services.continuity.index.record_response("resp_p2_owned", "p2")
    body = {"model": "m", "input": "x", "previous_response_id": "resp_p2_owned"}
    reply = await gw.responses(body, headers={"session-id": session} if session else None)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    status = await gw.api("get_status")
    assert status["active_provider"] == "p1" and status["summary"]["state"] != "fallback", status["summary"]
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    assert [e.message for e in gw.services.store.list_events() if e.kind == "route"] == routes


async def test_a_hedge_candidate_passed_by_does_not_hold_back_the_return_to_the_preferred_provider(
        fakes, gateway, codex_home):
    """The preferred provider, back, is asked first and serves; only the hedge's candidate (the fallback
    serving until now) could not be given the conversation. Traffic is back on the preferred provider."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_stable_seconds": 0, "failure_threshold": 5,
                                                       "hedge_min_seconds": 0.2, "hedge_max_seconds": 0.2})
    p1.queue(fp.status(503, "blip"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"  # p2 serves in p1's place
    assert (await gw.api("get_status"))["active_provider"] == "p2"
    gw.services.continuity.index.record_response("resp_p1_owned", "p1")
    p1.queue(fp.stream_ok("late", first_delay=0.6))  # slow: the hedge starts, and p2 cannot take it
    body = {"model": "m", "input": "x", "previous_response_id": "resp_p1_owned"}
    reply = await gw.responses(body, stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1" and p2.calls == 1
    assert (await gw.api("get_status"))["active_provider"] == "p1"


async def test_a_request_only_a_failing_provider_could_take_does_not_say_every_provider_is_down(
        fakes, gateway, codex_home):
    """The holder of the conversation fails; the other provider was passed by, not asked, and serves
    everything else: the client hears the 502, but no "all providers failed" event is said."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.continuity.index.record_response("resp_p1_owned", "p1")
    p1.queue(fp.status(503, "overloaded"))
    reply = await gw.responses({"model": "m", "input": "x", "previous_response_id": "resp_p1_owned"})
    assert reply.status == 502 and p2.calls == 0
    assert "all_down" not in [e.kind for e in gw.services.store.list_events()]
    assert (await gw.api("get_status"))["summary"]["state"] != "down"


async def test_session_file_written_late_is_found_on_reread(fakes, gateway, codex_home):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.continuity.index.record_response("resp_p1_owned", "p1")
    await gw.api("set_manual_override", provider="p2")

    async def late_write():
        await asyncio.sleep(0.08)
        write_rollout(codex_home, codex_history())

    writer = asyncio.create_task(late_write())
    reply = await gw.responses({"model": "m", "input": "x", "previous_response_id": "resp_p1_owned"},
                               headers={"session-id": SID})
    await writer
    assert reply.status == 200
    assert p2.requests[0].json["input"][:len(codex_history())] == codex_history()


async def test_each_turn_replays_the_session_file_as_it_stands_then(fakes, gateway, codex_home):
    """The file is kept between requests and only read on: a turn Codex appends, and a file written
    anew, both reach the next request's replayed history."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.continuity.index.record_response("resp_p1_owned", "p1")
    await gw.api("set_manual_override", provider="p2")
    body = {"model": "m", "input": "x", "previous_response_id": "resp_p1_owned"}
    history = codex_history()
    path = write_rollout(codex_home, history)
    assert (await gw.responses(body, headers={"session-id": SID})).status == 200
    assert p2.requests[-1].json["input"][:len(history)] == history
    turn = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and now?"}]}
    with path.open("a") as fh:  # complete the torn line as something else, then append a turn
        fh.write('se_item"}\n' + json.dumps({"timestamp": "t", "type": "response_item", "payload": turn}) + "\n")
    assert (await gw.responses(body, headers={"session-id": SID})).status == 200
    assert p2.requests[-1].json["input"][:len(history) + 1] == [*history, turn]
    rewritten = [history[0], turn]
    write_rollout(codex_home, rewritten)
    assert (await gw.responses(body, headers={"session-id": SID})).status == 200
    assert p2.requests[-1].json["input"][:2] == rewritten and p2.requests[-1].json["input"][2] != history[1]


async def test_a_session_file_is_let_go_once_no_request_needs_it(fakes, gateway, codex_home, monkeypatch):
    from api_router.continuity import rewrite

    monkeypatch.setattr(rewrite, "ROLLOUT_KEEP_SECONDS", 0.0)
    given_back = []
    monkeypatch.setattr(rewrite.heap, "give_back", lambda: given_back.append(True) or True)
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.continuity.index.record_response("resp_p1_owned", "p1")
    await gw.api("set_manual_override", provider="p2")
    write_rollout(codex_home, codex_history())
    reply = await gw.responses({"model": "m", "input": "x", "previous_response_id": "resp_p1_owned"},
                               headers={"session-id": SID})
    assert reply.status == 200
    rollouts = gw.services.continuity._rollouts
    assert rollouts.kept == 1
    for _ in range(60):  # the expiry runs 1 s after the last read
        if rollouts.kept == 0 and given_back:
            break
        await asyncio.sleep(0.05)
    assert rollouts.kept == 0 and given_back == [True]  # and the memory it held given back to the system


async def test_a_session_file_that_cannot_be_read_is_a_400_saying_so(fakes, gateway, codex_home, monkeypatch):
    from api_router.codex import sessions

    def unreadable(self):
        raise PermissionError(13, "Permission denied")

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.continuity.index.record_response("resp_p1_owned", "p1")
    await gw.api("set_manual_override", provider="p2")
    write_rollout(codex_home, codex_history())
    monkeypatch.setattr(sessions._Replay, "advance", unreadable)  # root reads any file: denied here instead
    reply = await gw.responses({"model": "m", "input": "x", "previous_response_id": "resp_p1_owned"},
                               headers={"session-id": SID})
    assert reply.status == 400
    assert "cannot be read (Permission denied)" in reply.json["error"]["message"]
    assert p2.calls == 0


async def test_unsupported_previous_response_id_retries_once_and_is_remembered(fakes, gateway, codex_home):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    write_rollout(codex_home, codex_history())
    p1.queue(fp.status(400, "Unsupported parameter: 'previous_response_id' is not supported by this relay"))
    body = {"model": "m", "input": "go on", "previous_response_id": "resp_1"}
    reply = await gw.responses(body, headers={"session-id": SID})
    assert reply.status == 200
    assert p1.calls == 2
    assert p1.requests[0].json["previous_response_id"] == "resp_1"
    assert "previous_response_id" not in p1.requests[1].json
    assert p1.requests[1].json["input"][:2] == codex_history()[:2]
    # remembered: the next request never carries the id to p1
    await gw.responses(body, headers={"session-id": SID})
    assert p1.calls == 3 and "previous_response_id" not in p1.requests[2].json
    attempts = gw.services.store.request_log()[1]["attempts"]
    assert [a["outcome"] for a in attempts] == ["retry", "ok"]


async def test_rejection_retry_happens_only_once(fakes, gateway, codex_home):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    write_rollout(codex_home, codex_history())
    p1.always(fp.status(400, "previous_response_id not supported"))
    reply = await gw.responses({"model": "m", "input": "x", "previous_response_id": "resp_1"},
                               headers={"session-id": SID})
    assert reply.status == 400 and p1.calls == 2


async def test_foreign_reasoning_is_dropped_for_another_provider_only(fakes, gateway, codex_home):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    p1.always(fp.stream_ok("first turn", reasoning=True))
    first = await gw.responses(codex_body(codex_history()), stream=True, headers={"session-id": SID})
    rs_item = next(e["item"] for e in first.events
                   if e["type"] == "response.output_item.done" and e["item"]["type"] == "reasoning")
    # Codex re-sends the whole history including p1's sealed reasoning
    items = [*codex_history(), rs_item, {"type": "message", "role": "user", "content": "more"}]
    raw = json.dumps(codex_body(items)).encode()
    p1.always(fp.stream_ok("p1 again"))
    await gw.request("POST", "/v1/responses", raw=raw, headers={"session-id": SID})
    assert p1.requests[1].raw == raw  # same provider: untouched bytes
    p1.always(fp.status(503))
    reply = await gw.request("POST", "/v1/responses", raw=raw, headers={"session-id": SID})
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    sent = p2.requests[0].json
    assert rs_item["id"] not in json.dumps(sent)
    assert sent["input"] == [i for i in items if i is not rs_item]
    assert {k: v for k, v in sent.items() if k != "input"} == {k: v for k, v in json.loads(raw).items() if k != "input"}


async def test_the_next_turn_knows_what_an_answer_carried_while_its_body_is_still_open(fakes, gateway, codex_home,
                                                                                       monkeypatch):
    """A relay that keeps its body open after response.completed (a late ``[DONE]``): a client reading to
    response.completed sends its next turn at once. That turn is routed knowing the answer's sealed items
    (never sent to another provider) and its turn state (sent back to its issuer) — they were recorded as
    the answer left, not once the provider's body ended."""
    monkeypatch.setattr(streaming, "DRAIN_SECONDS", 5.0)  # the window a busy machine's next turn lands in
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 5})
    p1.queue(fp.stream_ok("first turn", reasoning=True, linger=3, headers={"x-codex-turn-state": "ts-p1"}))
    headers = {**gw.auth(), "session-id": SID, "Content-Type": "application/json"}
    async with gw.client.post(gw.base + "/v1/responses", data=json.dumps(codex_body(codex_history())),
                              headers=headers) as first:
        seen = b""
        async for chunk in first.content.iter_any():
            seen += chunk
            if b"response.completed" in seen:
                break
        rs_item = next(json.loads(line[6:])["item"] for line in seen.split(b"\n")
                       if line.startswith(b"data: ") and b'"type": "reasoning"' in line
                       and b"response.output_item.done" in line)
        items = [*codex_history(), rs_item, {"type": "message", "role": "user", "content": "more"}]
        p1.queue(fp.stream_ok("p1 again"))
        again = await gw.responses(codex_body(items), stream=True, headers={"session-id": SID,
                                                                            "x-codex-turn-state": "ts-p1"})
        assert again.headers["X-API-Router-Provider"] == "p1"
        assert p1.requests[-1].headers.get("x-codex-turn-state") == "ts-p1"
        p1.queue(fp.status(503))
        moved = await gw.responses(codex_body(items), stream=True, headers={"session-id": SID})
        assert moved.headers["X-API-Router-Provider"] == "p2"
        assert rs_item["id"] not in p2.requests[-1].raw.decode()
        assert not first.content.is_eof()  # all of it while the first answer's body was still open


async def test_unverifiable_encrypted_content_retries_once_without_reasoning(fakes, gateway, codex_home):
    (p2,) = await fakes("p2")
    gw = await gateway({"p2": p2})
    items = codex_history("elsewhere")  # sealed by a provider the gateway never saw
    p2.queue(fp.status(400, "The encrypted content for item rs_elsewhere_9 could not be verified."))
    p2.queue(fp.stream_ok("accepted"))
    reply = await gw.responses(codex_body(items), stream=True, headers={"session-id": SID})
    assert reply.status == 200 and reply.text == "accepted"
    assert p2.calls == 2
    assert '"encrypted_content"' in p2.requests[0].raw.decode()
    assert '"encrypted_content"' not in p2.requests[1].raw.decode()
    assert p2.requests[1].json["input"] == [i for i in items if i["type"] != "reasoning"]
    # and only once
    p2.always(fp.status(400, "encrypted content could not be decrypted"))
    again = await gw.responses(codex_body(items), stream=True, headers={"session-id": SID})
    assert again.status == 400 and p2.calls == 4


async def test_reasoning_ownership_survives_a_restart(fakes, gateway, codex_home, tmp_path):
    from tests.support.harness import start_harness

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.json_ok("sealed", reasoning=True))
    first = await gw.responses(codex_body(codex_history()), headers={"session-id": SID})
    rs_item = first.json["output"][0]
    user_data = gw.services.paths.user_data
    await gw.close()
    again = await start_harness(user_data)
    try:
        await again.api("set_manual_override", provider="p2")
        await again.responses(codex_body([*codex_history(), rs_item]), headers={"session-id": SID})
        assert rs_item["id"] not in p2.requests[0].raw.decode()
    finally:
        await again.close()


async def test_a_refusal_of_previous_response_id_is_remembered_however_late_in_a_long_message_it_says_so(
        fakes, gateway, codex_home):
    """The message shown is cut to 300 characters; whether the provider refuses previous_response_id is
    judged on its whole words (a relay's long preamble put them past the cut: the id was sent, refused and
    retried again on every turn)."""
    preamble = "details: the relay forwarded the request to its backend pool and got " * 6
    said = f"upstream request failed; {preamble}Unsupported parameter: 'previous_response_id' is not supported"
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    write_rollout(codex_home, codex_history())
    p1.queue(fp.in_band_failure("invalid_request_error", said), fp.stream_ok("ok"), fp.stream_ok("ok2"))
    body = {"model": "m", "input": "go on", "previous_response_id": "resp_1"}
    assert (await gw.responses(body, stream=True, headers={"session-id": SID})).status == 200
    assert p1.calls == 2 and "previous_response_id" not in p1.requests[1].json  # retried without it
    await gw.responses(body, stream=True, headers={"session-id": SID})
    assert "previous_response_id" not in p1.requests[2].json  # remembered: not sent again


async def test_an_http_400_refusing_previous_response_id_late_in_a_long_message_is_retried(fakes, gateway,
                                                                                          codex_home):
    preamble = "details: the relay forwarded the request to its backend pool and got " * 6
    said = f"upstream request failed; {preamble}Unsupported parameter: 'previous_response_id' is not supported"
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    write_rollout(codex_home, codex_history())
    p1.queue(fp.status(400, said), fp.stream_ok("ok"))
    body = {"model": "m", "input": "go on", "previous_response_id": "resp_1"}
    assert (await gw.responses(body, stream=True, headers={"session-id": SID})).status == 200
    assert p1.calls == 2 and "previous_response_id" not in p1.requests[1].json
