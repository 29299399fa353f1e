"""Streaming (contract §6): pass-through, commit point, in-band failures, cuts, stalls, synthesis."""

import asyncio
import itertools
import json
import time

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from api_router.continuity.index import sealed_key
from api_router.gateway.streaming import _readable
from tests.support import fake_provider as fp
from tests.support.harness import simple_body


async def test_stream_is_forwarded_chunk_by_chunk_not_buffered(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.stream_ok("abcdefghij", deltas=10, delay=0.15))
    arrivals = []
    started = time.perf_counter()
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.base + "/v1/responses", json={**simple_body(), "stream": True}, headers=gw.auth()) as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            async for line in r.content:
                if line.startswith(b"data:") and b"output_text.delta" in line:
                    arrivals.append(time.perf_counter() - started)
    assert len(arrivals) == 10
    # Deltas arrive spread over the upstream's pace, not all at the end.
    assert arrivals[-1] - arrivals[0] > 1.0
    # And one by one, not in batches: a proxy that held even every other delta back would leave
    # about half the gaps near zero. Two may be small anyway when a loaded machine stalls the loop.
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert sum(gap > 0.05 for gap in gaps) >= len(gaps) - 2, gaps


async def test_upstream_bytes_reach_the_client_unchanged(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    events = fp.stream_events(fp.response_object("exact bytes", provider="p1"))
    chunks = [fp.sse_event(e) for e in events]
    chunks.insert(2, b": keep-alive comment\n\n")
    p1.always(fp.raw_stream(chunks))
    reply = await gw.responses(stream=True)
    assert reply.body == b"".join(chunks)


async def test_what_follows_the_end_event_in_the_same_chunk_is_not_relayed(fakes, gateway):
    """A whole answer in one chunk with a trailing ``data: [DONE]``, and a non-ASCII header value: the
    client gets the same bytes up to the end event (what follows it is dropped, as when it comes in a
    later read), and the header as the provider sent it."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    response = {**fp.response_object("", provider="p1"), "output": []}
    events = [{"type": "response.created", "response": {**response, "status": "in_progress"}},
              {"type": "response.completed", "response": response}]
    answer = b"".join(fp.sse_event(e) for e in events)

    async def one_chunk(request, fake):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "x-request-id": "req-café"})
        await resp.prepare(request)
        await resp.write(answer + b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    p1.always(one_chunk)
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.body == answer
    assert {k.lower(): v for k, v in reply.headers.items()}["x-request-id"] == "req-café"


def as_an_sdk_reads(body: bytes) -> list[tuple[str | None, str]]:
    """The events a client reading like the OpenAI SDKs gets from ``body``: (name, data) of every block with
    a name, data or retry, or after any id (they keep the last id for good, as the SSE spec says, and
    dispatch at every blank line from then on — an empty-data event for a comment's) — with data "" when
    it has none."""
    out, name, data, retry, last_id = [], "", [], False, ""
    for line in body.decode().replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if name or data or last_id or retry:
                out.append((name or None, "\n".join(data)))
            name, data, retry = "", [], False
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
        elif field == "id" and "\0" not in value:
            last_id = value
        elif field == "retry":
            retry = value.isdigit()
    return out


relay_line = st.sampled_from([b'data: {"type": "response.output_text.delta"}', b'data:{"a": 1}', b"data:  {}",
                              b"data: [DONE]", b"data: ping", b"data:", b"data", b"data: 1}", b"event: ping",
                              b"event: response.output_text.delta", b"id: 7", b"retry: 10", b": keep-alive", b"ping",
                              b'data: {"type":"keepalive"}', b'data: { "type" : "response.heartbeat", "n": 1}',
                              b"event:keepalive", b'data: {"ts": 1}', b"database: 1", b"datax", b"id:",
                              b'data: {"type": "keepalive", "type": "response.output_text.delta"}', b"data: {",
                              b"data: }", b'data: "keepalive"}', b'data: {"n": 3, "type": "ping"}'])
HEARTBEATS = ("keepalive", "heartbeat", "ping")


def readable(name: str | None, data: str) -> bool:
    """An event a client can take: data that begins as a JSON object and is no heartbeat — by its type (the
    last it names, as JSON readers take it), or by its name when it has none. Data that begins as an object
    but is no JSON is passed as it came (the README says so)."""
    if not data.strip().startswith("{"):
        return False
    try:
        payload = json.loads(data)
    except ValueError:
        return True
    if not isinstance(payload, dict):
        return True
    kind = payload.get("type")
    beat = isinstance(kind, str) and kind.removeprefix("response.") in HEARTBEATS
    return bool(payload) and not beat and not (name in HEARTBEATS and kind is None)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(relay_line, min_size=1, max_size=4), max_size=6), st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_every_block_a_client_reads_has_a_json_object_for_data(blocks, newline):
    """Whatever a relay's blocks hold, a client reading like the OpenAI SDKs gets only events whose data
    is a JSON object, and a block that is such an event passes unchanged."""
    chunk = b"".join(newline.join(block) + newline * 2 for block in blocks)
    out = _readable(chunk)
    assert all(readable(name, data) for name, data in as_an_sdk_reads(out)), out
    for block in blocks:
        read = as_an_sdk_reads(newline.join(block) + newline * 2)
        if read and readable(*read[0]):  # passed on as it came, but for its id (said as a comment)
            kept = [b": " + line if line.startswith(b"id:") else line for line in block]
            assert newline.join(kept) + newline * 2 in out, block


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_a_read_of_many_names_is_looked_at_in_time_linear_in_its_size(newline):
    """A relay writing 16,000 names before one data line (144 KB, one read): the quick look once went over
    the rest of the block from every name — 9.5 s of the event loop, every client waiting. Linear, it takes
    milliseconds; the bound leaves a loaded machine a hundred times that."""
    delta = b'data: {"type":"response.output_text.delta","delta":"x"}' + newline * 2
    chunk = delta + (b"event: x" + newline) * 16_000 + delta
    started = time.perf_counter()
    _readable(chunk)
    assert time.perf_counter() - started < 1.5


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_a_usual_read_is_passed_on_without_a_copy(newline):
    """Named or unnamed Responses events, comments between them: the quick look lets them through as
    they are, the block-by-block reading is for relays' own lines only."""
    events = fp.stream_events(fp.response_object("all good", provider="p1"))
    chunk = b"".join(fp.sse_event(e, named=i % 2 == 0) for i, e in enumerate(events)) + b": keep-alive\n\n"
    chunk = chunk.replace(b"\n", newline)
    assert _readable(chunk) is chunk


RELAY_WORDS = [b"data: [DONE]\n\n", b"data: ping\n\n", b"event: ping\n\n", b"id: 7\n\n", b"data:\n\n",
               b"event: ping\ndata: {}\n\n", b'data: {"type":"keepalive"}\n\n']


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
@pytest.mark.parametrize(("cut", "ends"), [(4, "broken"), (4, "completed"), (2, "completed")],
                         ids=["after output, broken", "after output", "before output"])
async def test_a_relays_own_lines_reach_a_client_as_comments(fakes, gateway, newline, cut, ends):
    """A relay's words that are no event with a JSON object — an early ``data: [DONE]`` (as relays end a
    stream whose upstream broke), ``data: ping``, a name or id without data — reach the client as SSE
    comments: the OpenAI SDKs stop reading at a [DONE] (a broken answer would look finished, the
    gateway's response.failed unread) and fail on data that is not JSON. Every event a client reads is
    JSON, whether the stream then breaks or completes."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    events = fp.stream_events(fp.response_object("all good", provider="p1"))
    chunks = [fp.sse_event(e) for e in events]  # cut at 2: before the first output; at 4: after the first delta
    words = [w.replace(b"\n", newline) for w in RELAY_WORDS]
    body = [*chunks[:cut], *words, *(chunks[cut:] if ends == "completed" else [])]
    p1.always(fp.raw_stream([b"".join(body[:cut]), *body[cut:]], delay=0.02))
    reply = await gw.responses(stream=True)
    read = as_an_sdk_reads(reply.body)
    assert all(json.loads(data)["type"] == name for name, data in read), read
    assert read[-1][0] == ("response.completed" if ends == "completed" else "response.failed"), read
    for word in words:  # what the relay said is still passed on
        assert all(b": " + line in reply.body for line in word.replace(newline, b"\n").split(b"\n") if line), word


@pytest.mark.parametrize(("tail", "message", "code"), [
    (b"event: error\ndata: upstream broke\n\n", "upstream broke", "upstream_error"),
    (b'event: error\ndata: {"code": "server_is_overloaded", "message": "try later"}\n\n', "try later",
     "server_is_overloaded"),
    (b"event: response.failed\r\ndata: oops\r\n\r\n", "oops", "upstream_error")],
    ids=["not JSON", "JSON without a type", "CRLF"])
async def test_a_failure_clients_cannot_read_ends_the_stream_as_one_they_can(fakes, gateway, tail, message, code):
    """After output, a relay ends its stream with a failure whose data is no Responses failure: the client gets
    a response.failed with the relay's message and code in its place — Codex skips what it cannot read and
    retries as if cut off, the OpenAI SDKs raise a JSON error or end as if the answer were whole."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    chunks = [fp.sse_event(e) for e in fp.stream_events(fp.response_object("all good", provider="p1"))][:4]
    p1.always(fp.raw_stream([*chunks, tail], delay=0.02))
    reply = await gw.responses(stream=True)
    name, data = as_an_sdk_reads(reply.body)[-1]
    failed = json.loads(data)
    assert (name, failed["type"]) == ("response.failed", "response.failed")
    assert failed["response"]["error"] == {"code": code, "message": message}
    assert failed["response"]["id"] == json.loads(chunks[0].split(b"data: ")[1])["response"]["id"]
    row = gw.services.store.request_log()[0]
    assert row["outcome"] == "error" and message in row["error"], row


@pytest.mark.parametrize("numbered", [True, False])
async def test_the_failure_the_gateway_adds_is_numbered_after_the_last_event(fakes, gateway, numbered):
    """A stream cut after output ends with the gateway's response.failed, whose sequence_number follows the
    last one the client got (the AI SDK refuses an event without one): 0 when the provider numbered none."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    events = fp.stream_events(fp.response_object("all good", provider="p1"))[:4]
    if not numbered:
        for event in events:
            del event["sequence_number"]
    p1.always(fp.raw_stream([fp.sse_event(e) for e in events]))
    reply = await gw.responses(stream=True)
    name, data = as_an_sdk_reads(reply.body)[-1]
    assert name == "response.failed" and json.loads(data)["sequence_number"] == (4 if numbered else 0)


async def test_an_end_event_whose_data_begins_on_its_second_line_reaches_the_client(fakes, gateway):
    """``data:`` empty, then the JSON on the next data line: clients join the lines ("\\n{…}", still JSON),
    so it is the end event for them as for the gateway — passed on, not made a comment."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    events = fp.stream_events(fp.response_object("all good", provider="p1"))
    chunks = [fp.sse_event(e) for e in events[:-1]]
    last = b"event: response.completed\ndata:\ndata: " + json.dumps(events[-1]).encode() + b"\n\n"
    p1.always(fp.raw_stream([*chunks, last], delay=0.01))
    reply = await gw.responses(stream=True)
    assert as_an_sdk_reads(reply.body)[-1][0] == "response.completed" and reply.body.endswith(last)


async def test_a_failure_in_the_read_of_the_last_deltas_is_numbered_after_them(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    events = fp.stream_events(fp.response_object("all good things come", provider="p1"), deltas=5)
    chunks = [fp.sse_event(e) for e in events]
    deltas = [i for i, e in enumerate(events) if e["type"] == "response.output_text.delta"]
    together = b"".join(chunks[deltas[1]:deltas[3] + 1]) + b"event: error\ndata: upstream broke\n\n"
    p1.always(fp.raw_stream([*chunks[:deltas[1]], together], delay=0.02))
    reply = await gw.responses(stream=True)
    numbers = [json.loads(data)["sequence_number"] for _, data in as_an_sdk_reads(reply.body)]
    assert numbers == [*range(deltas[3] + 1), deltas[3] + 1], numbers


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
async def test_the_requests_own_failure_before_output_is_relayed_as_it_came_whatever_the_line_ends(
        fakes, gateway, newline):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    opening = [fp.sse_event(e) for e in fp.stream_events(fp.response_object("x", provider="p1"))[:2]]
    failure = b'event: error\ndata: {"type": "invalid_request_error", "code": "context_length_exceeded", ' \
              b'"message": "too long"}\n\n'
    data = b"".join([*opening, failure]).replace(b"\n", newline)
    p1.always(fp.raw_stream([data]))
    reply = await gw.responses(stream=True)
    assert reply.body == data


def late_events(code: str = "server_error") -> list[dict]:
    """What a broken relay may send after an answer's end event: more output, and a failure."""
    return [{"type": "response.output_text.delta", "delta": "LATE", "item_id": "x", "output_index": 0,
             "content_index": 0},
            {"type": "response.failed", "response": {"id": "resp_late", "object": "response", "status": "failed",
                                                     "output": [], "error": {"code": code, "message": "late failure"}}}]


def answer_then(tail: list[dict], *, crlf: bool = False, **kw) -> tuple[list[dict], bytes, bytes]:
    """A whole answer's events, their bytes (ending with response.completed), and the bytes of ``tail``."""
    events = fp.stream_events(fp.response_object("all good", provider="p1", **kw))
    return (events, b"".join(fp.sse_event(e, crlf=crlf) for e in events),
            b"".join(fp.sse_event(e, crlf=crlf) for e in tail))


@pytest.mark.parametrize("reads", ["one", "one, CRLF", "tail later", "end and tail after the commit"])
async def test_events_after_completed_are_neither_relayed_nor_a_failure(fakes, gateway, reads):
    """The answer is complete at response.completed, however the reads fall: what a provider sends after
    it (a delta, a response.failed) in the same read is dropped as it is from a later read; the client's
    stream ends with response.completed, and the row and the provider's health say the answer was served."""
    p1, p2 = await fakes("p1", "p2")
    events, answer, tail = answer_then(late_events(), crlf=reads.endswith("CRLF"))
    if reads == "tail later":
        chunks = [answer, tail]
    elif reads == "end and tail after the commit":
        last = fp.sse_event(events[-1])
        chunks = [answer[:-len(last)], last + tail]
    else:
        chunks = [answer + tail]
    p1.always(fp.raw_stream(chunks, delay=0.05 if len(chunks) > 1 else 0))
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.body == answer, reply.event_types[-3:]
    row = gw.services.store.request_log()[0]
    assert (row["outcome"], row["error"], row["total_tokens"]) == ("ok", None, 15), row
    health = gw.services.router.health_json(gw.services.config.current)["p1"]
    assert health["consecutive_failures"] == 0 and p2.calls == 0


async def test_the_first_end_event_decides_a_failure_followed_by_completed(fakes, gateway):
    """A response.failed after output, then a response.completed in the same read: the stream failed
    there (the client's stream ends with that failure), not at the later completed."""
    p1, p2 = await fakes("p1", "p2")
    events, answer, _ = answer_then([])
    failed = fp.sse_event(late_events()[1])
    p1.always(fp.raw_stream([answer[:-len(fp.sse_event(events[-1]))] + failed + fp.sse_event(events[-1])]))
    gw = await gateway({"p1": p1, "p2": p2})
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.body.endswith(failed) and "response.completed" not in reply.event_types
    row = gw.services.store.request_log()[0]
    assert row["outcome"] == "error" and "late failure" in row["error"], row
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["consecutive_failures"] == 1


async def test_a_held_compaction_is_delivered_up_to_its_end_event(fakes, gateway):
    """A compaction answer is held until it is whole: what came after its response.completed in the
    same read is not part of it, and is not sent with it."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    events = fp.stream_events({**fp.response_object("", provider="p1"), "output": [
        {"type": "compaction", "id": "cmp_held_1", "encrypted_content": "sealed-by-p1"}]})
    answer = b"".join(fp.sse_event(e) for e in events)
    p1.always(fp.raw_stream([answer + b"".join(fp.sse_event(e) for e in late_events())]))
    body = {**simple_body(), "input": [{"type": "message", "role": "user", "content": "hi"},
                                       {"type": "compaction_trigger"}]}
    reply = await gw.responses(body, stream=True)
    assert reply.status == 200 and reply.body == answer, reply.event_types[-3:]
    assert gw.services.store.request_log()[0]["outcome"] == "ok"


async def test_crlf_and_unnamed_events_are_understood(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.stream_ok("crlf text", crlf=True, named=False))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.text == "crlf text"
    assert gw.services.store.request_log()[0]["total_tokens"] == 15


async def test_http_error_before_stream_fails_over(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.status(503))
    p2.always(fp.stream_ok("from p2"))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.text == "from p2"


async def test_in_band_failure_before_output_fails_over(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    created = {"type": "response.created", "response": {"id": "resp_x", "status": "in_progress", "output": []}}
    failed = {"type": "response.failed", "response": {"id": "resp_x", "status": "failed",
                                                       "error": {"code": "server_error", "message": "overloaded"}}}
    p1.always(fp.raw_stream([fp.sse_event(created), fp.sse_event(failed)]))
    p2.always(fp.stream_ok("p2 saved it"))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.text == "p2 saved it"
    assert "response.failed" not in reply.event_types
    assert reply.event_types.count("response.created") == 1
    assert "overloaded" in gw.services.router.health_json(gw.services.config.current)["p1"]["last_error"]


async def test_a_failure_after_megabytes_of_echoed_instructions_but_no_output_still_fails_over(fakes, gateway):
    """OpenAI's Responses API echoes the request's instructions (and tools) in response.created and
    response.in_progress: with 6 MB of them, 12 MB arrive before any output. Nothing was generated, so a
    server error then is a failure before output — the next provider answers (the 8 MB the gateway held
    before it committed a stream made it "after output started")."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    echoed = "You are a coding agent. " * 250_000  # 6 MB
    shell = {"id": "resp_x", "status": "in_progress", "output": [], "instructions": echoed}
    failed = {"type": "response.failed", "response": {"id": "resp_x", "status": "failed",
                                                       "error": {"code": "server_error", "message": "overloaded"}}}
    p1.always(fp.raw_stream([fp.sse_event({"type": "response.created", "response": shell}),
                             fp.sse_event({"type": "response.in_progress", "response": shell}),
                             fp.sse_event(failed)], delay=0.3))  # each event read on its own
    p2.always(fp.stream_ok("p2 saved it"))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.text == "p2 saved it" and "response.failed" not in reply.event_types
    assert p2.calls == 1


async def test_in_band_error_event_before_output_fails_over(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    err = {"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}
    p1.always(fp.raw_stream([fp.sse_event(err)]))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"


async def test_reasoning_commits_the_stream(fakes, gateway):
    """Reasoning is generated work: the client sees it at once (Codex shows the summary live), so a
    stream cut after it ends with response.failed instead of moving to another provider."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    rs = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "x"}
    events = [{"type": "response.created", "response": {"id": "r", "output": []}},
              {"type": "response.output_item.added", "output_index": 0, "item": rs},
              {"type": "response.output_item.done", "output_index": 0, "item": rs}]
    p1.always(fp.raw_stream([fp.sse_event(e) for e in events]))  # then ends: no output, no completion
    reply = await gw.responses(stream=True)
    assert reply.headers["X-API-Router-Provider"] == "p1"
    assert reply.event_types == ["response.created", "response.output_item.added", "response.output_item.done",
                                 "response.failed"]
    assert p2.calls == 0


async def test_created_alone_is_not_a_commit(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    events = [{"type": "response.created", "response": {"id": "r", "output": []}},
              {"type": "response.in_progress", "response": {"id": "r", "output": []}}]
    p1.always(fp.raw_stream([fp.sse_event(e) for e in events] + [b": keep-alive\n\n"]))  # then ends
    reply = await gw.responses(stream=True)
    assert reply.headers["X-API-Router-Provider"] == "p2"
    assert reply.text == "hello"


async def test_cut_after_output_ends_with_response_failed(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.stream_ok("a long answer that breaks", deltas=5, cut_after=5))
    reply = await gw.responses(stream=True)
    assert reply.status == 200
    assert reply.event_types[-1] == "response.failed"
    assert "response.completed" not in reply.event_types
    failure = reply.events[-1]["response"]["error"]
    assert failure["code"] == "upstream_stream_error"
    assert "broke after output started" in failure["message"]
    assert p2.calls == 0  # output was already sent: no silent restart elsewhere
    h = gw.services.router.health_json(gw.services.config.current)["p1"]
    assert h["consecutive_failures"] == 1
    log = gw.services.store.request_log()[0]
    assert log["error"] and "broke" in log["error"]
    assert gw.services.store.metrics()["p1"].error_requests == 1


@pytest.mark.parametrize(("code", "error_type", "counts"), [
    ("content_policy_violation", "invalid_request_error", False), ("server_error", "server_error", True),
    ("response_too_large", "", False)])
async def test_a_failure_reported_after_output_counts_against_health_only_when_it_is_the_providers(
        fakes, gateway, code, error_type, counts):
    """A moderation cut mid-answer is the request's doing: relayed as it came (no restart elsewhere),
    and the provider stays healthy; a server error at the same point is the provider's failure."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    p1.always(fp.in_band_failure(code, "stopped here", error_type=error_type, after_output=True))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.event_types[-1] == "response.failed"
    assert reply.events[-1]["response"]["error"]["code"] == code and p2.calls == 0
    health = gw.services.router.health_json(gw.services.config.current)["p1"]
    assert health["consecutive_failures"] == (1 if counts else 0) and (health["status"] == "cooldown") is counts
    row = gw.services.store.request_log()[0]
    assert row["provider"] == "p1" and "stopped here" in row["error"]
    # One verdict everywhere: the request's own error is no provider error in the log or the totals.
    assert row["outcome"] == ("error" if counts else "client_error"), row["outcome"]
    metrics = gw.services.store.metrics().get("p1")
    assert (metrics.error_requests if metrics else 0) == (1 if counts else 0)


async def test_a_response_too_large_before_output_is_the_requests_own_error(fakes, gateway):
    """response_too_large says the request asked for more than the model may give: another provider would say
    the same. A JSON request gets a 400 with that error, a stream the events as they came; nobody else is
    asked and the provider stays healthy."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    p1.always(fp.in_band_failure("response_too_large", "the response would be too large", error_type=""))
    reply = await gw.responses()
    assert reply.status == 400 and reply.json["error"]["code"] == "response_too_large", reply.json
    streamed = await gw.responses(stream=True)
    assert streamed.event_types[-1] == "response.failed" and p2.calls == 0
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["consecutive_failures"] == 0


async def test_stream_ending_without_completed_is_failed_not_success(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.stream_ok("no end marker", drop_completed=True))
    reply = await gw.responses(stream=True)
    assert reply.event_types[-1] == "response.failed"
    assert "ended before response.completed" in reply.events[-1]["response"]["error"]["message"]


async def test_stall_after_output_hits_the_idle_timeout(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"stream_idle_timeout_seconds": 1})
    p1.always(fp.stream_ok("stalls midway", deltas=4, stall_after=4))
    started = time.perf_counter()
    reply = await gw.responses(stream=True)
    assert time.perf_counter() - started < 3
    assert reply.event_types[-1] == "response.failed"
    assert "no stream event within 1 s" in reply.events[-1]["response"]["error"]["message"]


async def test_slow_first_event_beyond_request_timeout_fails_over(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"request_timeout_seconds": 1})  # p2 is held to it too
    p1.always(fp.stream_ok("too late", first_delay=5))
    reply = await gw.responses(stream=True)
    assert reply.headers["X-API-Router-Provider"] == "p2"
    assert "no response within" in gw.services.router.health_json(gw.services.config.current)["p1"]["last_error"]


async def test_stall_before_output_fails_over(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"stream_idle_timeout_seconds": 1})  # p2 is held to it too
    p1.always(fp.stream_ok("stalls early", stall_after=1))  # response.created, then silence
    reply = await gw.responses(stream=True)
    assert reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "hello"


async def test_json_answer_to_stream_request_is_synthesised(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.json_ok("from json", reasoning=True))
    reply = await gw.responses(stream=True)
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    assert reply.event_types == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.output_item.done",  # the reasoning item
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    assert reply.text == "from json"
    completed = reply.events[-1]["response"]
    assert completed["usage"]["total_tokens"] == 15
    assert [e["sequence_number"] for e in reply.events] == list(range(len(reply.events)))


async def test_sse_answer_to_json_request_is_collected(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.stream_ok("collected"))
    reply = await gw.responses(stream=False)
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.text == "collected"


async def test_sse_answer_to_json_request_is_decided_by_its_first_end_event(fakes, gateway):
    """An event stream collected for a JSON request ends where a relayed one does: an answer followed by
    a failure is the answer; a server-side failure followed by an answer is a failure (the next provider)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 5})
    events, answer, tail = answer_then(late_events())
    p1.always(fp.raw_stream([answer + tail]))
    reply = await gw.responses(stream=False)
    assert (reply.status, reply.text, p2.calls) == (200, "all good", 0)
    assert gw.services.store.request_log()[0]["outcome"] == "ok"
    p1.always(fp.raw_stream([fp.sse_event(late_events()[1]) + fp.sse_event(events[-1])]))
    reply = await gw.responses(stream=False)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["consecutive_failures"] == 1


@pytest.mark.parametrize("usage", [
    {"input_tokens": 1200, "output_tokens": 340, "total_tokens": 1540,
     "input_tokens_details": {"cached_tokens": 1000}, "output_tokens_details": {"reasoning_tokens": 128}},
    # A relay converting from Chat Completions that keeps that API's names in the Responses answer.
    {"prompt_tokens": 1200, "completion_tokens": 340, "total_tokens": 1540,
     "prompt_tokens_details": {"cached_tokens": 1000}, "completion_tokens_details": {"reasoning_tokens": 128}},
], ids=["responses", "chat-names"])
async def test_usage_is_recorded_from_completed_event(fakes, gateway, usage):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.stream_ok("counted", usage=usage))
    await gw.responses(stream=True, headers={"session-id": "sess-1"})
    log = gw.services.store.request_log()[0]
    assert (log["input_tokens"], log["output_tokens"], log["cached_tokens"], log["reasoning_tokens"],
            log["total_tokens"]) == (1200, 340, 1000, 128, 1540)
    assert log["session_id"] == "sess-1" and log["stream"] is True
    assert log["ttfb_ms"] is not None and log["ttfb_ms"] <= log["latency_ms"]
    assert gw.services.store.metrics()["p1"].total_tokens == 1540


async def test_client_disconnect_mid_stream_closes_upstream_and_is_logged(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.stream_ok("x" * 40, deltas=40, delay=0.05))
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.base + "/v1/responses", json={**simple_body(), "stream": True}, headers=gw.auth()) as r:
            async for line in r.content:
                if b"output_text.delta" in line:
                    break
    for _ in range(50):
        log = gw.services.store.request_log()
        if log:
            break
        await asyncio.sleep(0.05)
    assert log[0]["status"] == 499 and log[0]["error"] == "client disconnected"
    # It served part of the answer, and is not blamed for the client leaving.
    assert log[0]["provider"] == "p1" and [a["outcome"] for a in log[0]["attempts"]] == ["client_closed"]
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["consecutive_failures"] == 0


def end_of_body_late(answer: dict, written: asyncio.Event | None = None):
    """A stream whose events all come at once, and the end of its body 0.3 s later (within the
    gateway's wait for it); ``written`` is set once the last event is out."""
    async def run(request, fake):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in fp.stream_events(answer):
            await resp.write(fp.sse_event(event))
        if written is not None:
            written.set()
        await asyncio.sleep(0.3)
        await resp.write_eof()
        return resp
    return run


async def open_raw(gw, body: dict, session: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A streamed request on a socket of the test's own, which it can close at any moment."""
    host, port = gw.base.split("//")[1].split(":")
    raw = json.dumps({**body, "stream": True}).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in {**gw.auth(), "session-id": session}.items())
    reader, writer = await asyncio.open_connection(host, int(port.split("/")[0]))
    writer.write(f"POST /v1/responses HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{head}"
                 f"Content-Length: {len(raw)}\r\n\r\n".encode() + raw)
    return reader, writer


async def logged_row(gw) -> dict:
    for _ in range(100):
        if gw.services.store.request_log():
            break
        await asyncio.sleep(0.05)
    return gw.services.store.request_log()[0]


async def compaction_left_before_its_end(gw, fake, answer: dict, session: str) -> dict:
    """A compaction request whose client closes once ``fake`` has written ``answer``, before the end of
    its body (a compaction is held until then, so the client got none of it): the request's log row."""
    written = asyncio.Event()
    fake.always(end_of_body_late(answer, written))
    body = {**simple_body(), "input": [{"type": "message", "role": "user", "content": "hi"},
                                       {"type": "compaction_trigger"}]}
    _, writer = await open_raw(gw, body, session)
    async with asyncio.timeout(5):
        await written.wait()
    writer.close()
    return await logged_row(gw)


USAGE_120 = {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}


async def test_a_client_that_closes_once_it_has_response_completed_got_a_complete_answer(fakes, gateway):
    """Codex ends its turn at response.completed and its process may exit before the end of the body
    follows. The turn was complete: logged 200, its tokens counted, and its sealed reasoning recorded
    as this provider's, so that another provider is never sent it."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    answer = fp.response_object("done", provider="p1", reasoning=True, usage=USAGE_120)
    p1.always(end_of_body_late(answer))
    reader, writer = await open_raw(gw, simple_body(), "sess-leaves")
    received = b""
    async with asyncio.timeout(5):
        while b"event: response.completed" not in received:
            chunk = await reader.read(65536)
            assert chunk, received
            received += chunk
    writer.close()  # at once, as the Codex process does when its turn is over
    row = await logged_row(gw)
    assert (row["status"], row["provider"], row["total_tokens"], row["error"]) == (200, "p1", 120, None), row
    assert [a["outcome"] for a in row["attempts"]] == ["ok"]
    assert gw.services.continuity.index.sealed_owners("sess-leaves").get(sealed_key(answer["output"][0])) == "p1"
    assert gw.services.store.metrics()["p1"].total_tokens == 120


async def test_a_compaction_completed_after_the_client_left_is_still_accounted(fakes, gateway):
    """A compaction is held until it is complete, so a client that leaves meanwhile gets none of it (499),
    but the provider did the work: its tokens count and its compaction item is recorded as its own."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    answer = {**fp.response_object("", provider="p1", usage=USAGE_120),
              "output": [{"type": "compaction", "id": "cmp_left_1", "encrypted_content": "sealed-by-p1"}]}
    row = await compaction_left_before_its_end(gw, p1, answer, "sess-compacts")
    assert (row["status"], row["provider"], row["total_tokens"], row["error"]) == (499, "p1", 120, "client disconnected")
    assert gw.services.continuity.index.sealed_owners("sess-compacts").get(sealed_key(answer["output"][0])) == "p1"
    assert gw.services.store.metrics()["p1"].total_tokens == 120


async def test_a_wrong_compaction_answer_is_judged_even_when_the_client_left(fakes, gateway):
    """An answer to a compaction request without its compaction item is no answer (a relay without remote
    compaction), whether or not the client is still there to be told: not a success, and no health change."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    answer = fp.response_object("no compaction here", provider="p1", usage=USAGE_120)
    row = await compaction_left_before_its_end(gw, p1, answer, "sess-wrong")
    assert row["status"] == 499 and [a["outcome"] for a in row["attempts"]] == ["provider_failure"], row
    assert "compaction" in row["attempts"][0]["error"]
    health = gw.services.router.health_json(gw.services.config.current)["p1"]
    assert health["consecutive_failures"] == 0 and health["last_ok_at_unix_ms"] is None


async def test_malformed_event_data_is_forwarded_and_stream_still_completes(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    events = fp.stream_events(fp.response_object("ok despite junk", provider="p1"))
    chunks = [fp.sse_event(e) for e in events]
    chunks.insert(3, b"data: {this is not json\n\n")
    p1.always(fp.raw_stream(chunks))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and b"{this is not json" in reply.body
    assert reply.body.endswith(chunks[-1])


async def test_events_split_across_tcp_chunks_are_reassembled(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    body = b"".join(fp.sse_event(e) for e in fp.stream_events(fp.response_object("split up", provider="p1")))
    pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
    p1.always(fp.raw_stream(pieces, delay=0.001))
    reply = await gw.responses(stream=True)
    assert reply.body == body
    assert json.loads(reply.body.split(b"data: ")[-1])["type"] == "response.completed"


async def test_completed_reaches_the_client_while_the_upstream_body_is_still_open(fakes, gateway):
    """A relay that keeps its body open after response.completed: the client gets the event at once
    (the gateway does not hold it back to send it with the end of the stream), and the stream ends."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    whole = b"".join(fp.sse_event(e) for e in fp.stream_events(fp.response_object("done early", provider="p1")))

    async def lingering(request, fake):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(whole)
        await asyncio.sleep(0.4)  # below the gateway's drain limit: the end still comes through
        await resp.write_eof()
        return resp

    p1.always(lingering)
    started = time.perf_counter()
    completed_at = None
    body = b""
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.base + "/v1/responses", json={**simple_body(), "stream": True}, headers=gw.auth()) as r:
            async for chunk in r.content.iter_any():
                body += chunk
                if completed_at is None and b"response.completed" in body:
                    completed_at = time.perf_counter() - started
    ended_at = time.perf_counter() - started
    assert body == whole
    assert ended_at >= 0.35
    assert completed_at is not None and completed_at < ended_at - 0.2, (completed_at, ended_at)


# --- CR and CRLF line ends: judged as LF streams are ------------------------------------------------


def _with_line_ends(events, nl):
    return b"".join(fp.sse_event(e).replace(b"\n", nl) for e in events)


@pytest.mark.parametrize("split", [False, True])
async def test_a_cr_stream_whose_last_byte_ends_its_completed_event_is_complete(fakes, gateway, split):
    """Complete at its last CR — and the client gets an LF after it: nothing follows the end event, and a
    reader that waits for the byte after a CR to tell it from a CRLF (Codex's) would wait for ever."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    data = _with_line_ends(fp.stream_events(fp.response_object("cr text", provider="p1")), b"\r")
    chunks = [data[:-1], data[-1:]] if split else [data]
    p1.always(fp.raw_stream(chunks, delay=0.05 if split else 0))
    reply = await gw.responses(stream=True)
    assert reply.status == 200
    assert reply.body == data + b"\n"
    assert gw.services.store.request_log()[0]["outcome"] == "ok"


@pytest.mark.parametrize("nl", [b"\n", b"\r\n", b"\r"])
async def test_output_then_a_failure_in_one_read_is_a_failure_after_output_whatever_the_line_ends(fakes, gateway, nl):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    ro = fp.response_object("partial", provider="p1")
    events = fp.stream_events(ro)[:-1]
    failed = {"type": "response.failed", "response": {**ro, "status": "failed", "output": [],
                                                       "error": {"code": "server_error", "message": "boom"}}}
    data = _with_line_ends([*events, failed], nl)
    p1.always(fp.raw_stream([data]))
    reply = await gw.responses(stream=True)
    # As it came: output, then the failure (a last lone CR followed by an LF)
    assert reply.status == 200 and reply.body == data + (b"\n" if nl == b"\r" else b"")
    row = gw.services.store.request_log()[0]
    assert row["outcome"] == "error" and "after output" in row["error"]


@pytest.mark.parametrize("fallback", [True, False])
async def test_a_response_created_that_is_not_utf8_is_a_broken_stream_not_a_gateway_error(fakes, gateway, caplog,
                                                                                        fallback):
    """One bad byte in the id of response.created was a 500 and a traceback, the next provider never asked."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2} if fallback else {"p1": p1})
    created = b'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_\xff","output":[]}}\n\n'
    rest = [fp.sse_event(e) for e in fp.stream_events(fp.response_object("from p1", provider="p1"))[1:]]
    p1.always(fp.raw_stream([created, *rest]))
    reply = await gw.responses(stream=True)
    if fallback:
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2" and reply.text == "hello"
    else:
        assert reply.status == 502 and "response.created event is not UTF-8" in reply.json["error"]["message"]
    assert "Traceback" not in caplog.text


async def test_a_stream_ending_in_response_incomplete_is_an_answer_not_a_break(fakes, gateway):
    """Contract §6/streaming: the events that end a
    stream are response.completed and response.incomplete (max_output_tokens); only a stream that stops
    without its end gets a response.failed and counts against the provider."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    response = {**fp.response_object("partial", provider="p1"), "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"}}
    events = fp.stream_events(response)
    events[-1] = {"type": "response.incomplete", "response": response}
    p1.always(fp.raw_stream([fp.sse_event(e) for e in events]))
    reply = await gw.responses(stream=True)
    assert reply.status == 200
    assert reply.event_types[-1] == "response.incomplete", reply.event_types
    assert "response.failed" not in reply.event_types, reply.event_types
    status = await gw.api("get_status")
    assert status["providers"]["p1"]["consecutive_failures"] == 0, status["providers"]["p1"]
