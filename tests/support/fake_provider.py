"""A scriptable upstream provider: a real aiohttp server on 127.0.0.1.

Each incoming ``POST /v1/responses`` takes the next queued behaviour (or the default one) and is
recorded with its headers and body, so tests can assert exactly what the gateway sent and how
often.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Behaviour = Callable[[web.Request, "FakeProvider"], Awaitable[web.StreamResponse]]
_ids = itertools.count(1)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    query: str = ""  # the query string as sent (percent-encodings kept), without its "?"
    at: float = field(default_factory=time.monotonic)  # when its headers and body had come

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None


def response_object(text: str = "hello", *, provider: str = "fake", reasoning: bool = False,
                    usage: dict[str, Any] | None = None, rid: str | None = None) -> dict[str, Any]:
    n = next(_ids)
    output: list[dict[str, Any]] = []
    if reasoning:
        output.append({"id": f"rs_{provider}_{n}", "type": "reasoning", "summary": [],
                       "encrypted_content": f"sealed-by-{provider}"})
    output.append({"id": f"msg_{provider}_{n}", "type": "message", "role": "assistant", "status": "completed",
                   "content": [{"type": "output_text", "text": text, "annotations": []}]})
    return {
        "id": rid or f"resp_{provider}_{n}", "object": "response", "status": "completed", "model": "gpt-test",
        "output": output,
        "usage": usage or {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
                           "input_tokens_details": {"cached_tokens": 3},
                           "output_tokens_details": {"reasoning_tokens": 2}},
    }


def sse_event(payload: dict[str, Any], *, named: bool = True, crlf: bool = False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    head = f"event: {payload['type']}{nl}" if named else ""
    return f"{head}data: {json.dumps(payload)}{nl}{nl}".encode()


def stream_events(response: dict[str, Any], *, deltas: int = 3) -> list[dict[str, Any]]:
    """A realistic event sequence for ``response`` (text split into ``deltas`` pieces)."""
    shell = {**response, "status": "in_progress", "output": []}
    shell.pop("usage", None)
    events: list[dict[str, Any]] = [{"type": "response.created", "response": shell},
                                    {"type": "response.in_progress", "response": shell}]
    for index, item in enumerate(response["output"]):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            events.append({"type": "response.output_item.added", "output_index": index,
                           "item": {**item, "status": "in_progress", "content": []}})
            step = max(1, -(-len(text) // deltas))
            for i in range(0, len(text), step):
                events.append({"type": "response.output_text.delta", "item_id": item["id"], "output_index": index,
                               "content_index": 0, "delta": text[i:i + step]})
            events.append({"type": "response.output_text.done", "item_id": item["id"], "output_index": index,
                           "content_index": 0, "text": text})
        else:
            events.append({"type": "response.output_item.added", "output_index": index, "item": item})
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": response})
    for seq, event in enumerate(events):
        event["sequence_number"] = seq
    return events


# --- behaviours -----------------------------------------------------------------------------------


def json_ok(text: str = "hello", **kw: Any) -> Behaviour:
    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        return web.json_response(response_object(text, provider=fake.name, **kw))
    return run


def stream_ok(text: str = "hello", *, delay: float = 0.0, cut_after: int | None = None,
              stall_after: int | None = None, stall: float = 3600, drop_completed: bool = False,
              named: bool = True, crlf: bool = False, before: list[dict[str, Any]] | None = None,
              first_delay: float = 0.0, deltas: int = 3, linger: float = 0.0,
              headers: dict[str, str] | None = None, **kw: Any) -> Behaviour:
    """An SSE stream; ``cut_after``/``stall_after`` = number of events sent before cutting/stalling;
    ``linger``: the body is left open that long after its last event (a relay that sends ``[DONE]`` late)."""

    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        events = (before or []) + stream_events(response_object(text, provider=fake.name, **kw), deltas=deltas)
        if drop_completed:
            events = [e for e in events if e["type"] != "response.completed"]
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **(headers or {})})
        await resp.prepare(request)
        if first_delay:
            await asyncio.sleep(first_delay)
        for i, event in enumerate(events):
            if cut_after is not None and i == cut_after:
                request.transport.close()  # abrupt: no terminating chunk
                return resp
            if stall_after is not None and i == stall_after:
                await asyncio.sleep(stall)
            await resp.write(sse_event(event, named=named, crlf=crlf))
            if delay:
                await asyncio.sleep(delay)
        if linger:
            await asyncio.sleep(linger)
        await resp.write_eof()
        return resp
    return run


def raw_stream(chunks: list[bytes], delay: float = 0.0, content_type: str | None = "text/event-stream",
               hang: float = 0.0) -> Behaviour:
    """``chunks`` as the body; ``content_type`` None: no Content-Type header at all; ``hang``: the body is
    left open that long after them."""
    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": content_type} if content_type else None)
        await resp.prepare(request)
        for chunk in chunks:
            await resp.write(chunk)
            if delay:
                await asyncio.sleep(delay)
        if hang:
            await asyncio.sleep(hang)
        await resp.write_eof()
        return resp
    return run


def malformed_chunk(content_type: str, good: list[bytes] | None = None, pause: float = 0.1) -> Behaviour:
    """A 200 in chunked encoding that goes wrong after its headers: the ``good`` chunks framed as they
    should be, then a chunk whose size is no hex number, then the connection closed (a broken relay
    or middlebox). Each part reaches the gateway in a read of its own."""
    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        transport.write(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n".encode())
        for chunk in good or []:
            await asyncio.sleep(pause)
            transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await asyncio.sleep(pause)
        transport.write(b"zz\r\nbroken\r\n")
        await asyncio.sleep(0.05)
        transport.close()
        return web.Response()  # never sent: the connection is closed
    return run


def trickle(every: float = 0.2) -> Behaviour:
    """A whole JSON answer with its length announced in the headers, then sent one byte at a time:
    never silent for long, never done."""
    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        body = json.dumps(response_object(provider=fake.name)).encode()
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(body)
        await resp.prepare(request)
        for i in range(len(body)):
            await resp.write(body[i:i + 1])
            await asyncio.sleep(every)
        await resp.write_eof()
        return resp
    return run


def huge_body(content_type: str, head: bytes, size: int) -> Behaviour:
    """A 200 of ``head`` and then ``size`` bytes of "A" in 64 KiB writes, never finishing what it began."""
    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        await resp.prepare(request)
        await resp.write(head)
        block = b"A" * 65536
        for _ in range(size // len(block)):
            await resp.write(block)
        await resp.write_eof()
        return resp
    return run


def status(code: int, message: str = "upstream says no", *, headers: dict[str, str] | None = None,
           body: bytes | None = None, content_type: str = "application/json") -> Behaviour:
    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        payload = body if body is not None else json.dumps({"error": {"message": message, "type": "x"}}).encode()
        return web.Response(status=code, body=payload, headers=headers, content_type=content_type)
    return run


def hang(seconds: float = 3600) -> Behaviour:
    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response(response_object(provider=fake.name))
    return run


def reset() -> Behaviour:
    """Accept the request, then drop the TCP connection before any response header."""
    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        sock = request.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        request.transport.close()
        await asyncio.sleep(0.05)
        return web.Response()
    return run


# Heartbeats relays send instead of a comment: none of them is progress.
HEARTBEATS = {
    "comment": b": keep-alive\n\n",
    "keepalive event": b'data: {"type":"keepalive","sequence_number":7}\n\n',
    "ping event": b"event: ping\ndata: {}\n\n",
    "empty data": b"data: \n\n",
    "CRLF ping": b"event: ping\r\ndata: {}\r\n\r\n",
    "padding comment": b":" + b" " * 2048 + b"\n\n",  # relays pad to get past proxies' buffers
    "comments in one write": b": keep-alive\n\n" * 40,
    # Data lines that are no Responses event: heartbeats by a relay's own names, or words with no type.
    "heartbeat type": b'data: {"type": "heartbeat"}\n\n',
    "response.heartbeat type": b'data: {"type": "response.heartbeat"}\n\n',
    "named and typed response.keepalive": b'event: response.keepalive\ndata: {"type":"response.keepalive"}\n\n',
    "plain data": b"data: ping\n\n",
    "untyped json": b'event: chunk\ndata: {"n": 1}\n\n',
    "bare line": b"ping\n\n",
    "named delta without data": b"event: response.output_text.delta\ndata:\n\n",
    "named event with empty data": b"event: response.in_progress\ndata: {}\n\n",
}


def keepalive_only(*, before: int = 0, interval: float = 0.05, seconds: float = 60,
                   beat: bytes = HEARTBEATS["comment"]) -> Behaviour:
    """``before`` real events of a normal answer (0: none), then only heartbeats (``: keep-alive``
    comments unless ``beat`` says otherwise): a relay that holds the socket open without a model
    behind it."""

    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in stream_events(response_object("never finished", provider=fake.name))[:before]:
            await resp.write(sse_event(event))
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            await resp.write(beat)
            await asyncio.sleep(interval)
        return resp
    return run


def in_band_failure(code: str, message: str, *, error_type: str = "invalid_request_error",
                    event: str = "response.failed", after_output: bool = False) -> Behaviour:
    """A stream that starts normally and reports a failure before any output (``after_output``: after a
    first text delta): ``response.failed``, an ``error`` event with a nested error object,
    (``error_flat``) the API's flat ``error`` event, or (``error_untyped``) a bare ``data:`` line holding
    ``{"error": {...}}``, with neither an event name nor a type, as Chat Completions relays write it."""

    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        shell = {"id": f"resp_{fake.name}_failed", "object": "response", "status": "in_progress", "output": []}
        error = {"code": code, "message": message, "type": error_type}
        failed = {"response.failed": {"type": "response.failed", "response": {**shell, "status": "failed", "error": error}},
                  "error": {"type": "error", "error": error},
                  # The Responses API's own error event: flat, no nested object.
                  "error_flat": {"type": "error", "code": code, "message": message, "param": None},
                  "error_untyped": {"error": error}}[event]
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        output = [{"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
                   "delta": "The answer beg"}] if after_output else []
        for ev in ({"type": "response.created", "response": shell}, {"type": "response.in_progress", "response": shell},
                   *output):
            await resp.write(sse_event(ev))
        await resp.write(f"data: {json.dumps(failed)}\n\n".encode() if event == "error_untyped" else sse_event(failed))
        await resp.write_eof()
        return resp
    return run


def error_with_200(message: str = "upstream quota exhausted") -> Behaviour:
    """A relay that reports its trouble as ``200 {"error": …}`` (no response object)."""
    return status(200, body=json.dumps({"error": {"message": message, "type": "server_error"}}).encode())


def reasoning_then_answer(text: str = "the answer", *, summary_at: float = 0.3, answer_at: float = 3.0) -> Behaviour:
    """A reasoning model: a reasoning item and its summary text early, the answer much later."""

    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        response = response_object(text, provider=fake.name, reasoning=True)
        rs = response["output"][0]
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        shell = {**response, "status": "in_progress", "output": []}
        await resp.write(sse_event({"type": "response.created", "response": shell}))
        await asyncio.sleep(summary_at)
        await resp.write(sse_event({"type": "response.output_item.added", "output_index": 0,
                                    "item": {**rs, "encrypted_content": None}}))
        await resp.write(sse_event({"type": "response.reasoning_summary_text.delta", "item_id": rs["id"],
                                    "output_index": 0, "summary_index": 0, "delta": "Thinking about it"}))
        await asyncio.sleep(max(0.0, answer_at - summary_at))
        for event in stream_events(response)[2:]:  # from the reasoning item on
            await resp.write(sse_event(event))
        await resp.write_eof()
        return resp
    return run


class BlackHole:
    """A listening socket that never accepts: connections pile up in the backlog, nothing answers."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self._sock.close()


def compacting(text: str = "answer", *, input_tokens: int = 5000, minimal: bool = False,
               flaw: str | None = None, item_type: str = "compaction") -> Behaviour:
    """A provider that compacts remotely the way Codex's OpenAI provider expects: a request whose input
    ends with ``{"type": "compaction_trigger"}`` gets exactly one sealed compaction item; any other
    request a streamed answer with sealed reasoning, reporting ``input_tokens`` (so Codex compacts again
    once its auto-compact limit is below that). ``minimal``: the final ``response.completed`` lists no
    output; the items come only with ``response.output_item.done`` (enough for Codex). ``flaw``, a
    compaction item Codex cannot use: ``"unsealed"`` (no ``encrypted_content``) or ``"final_only"``
    (listed only in ``response.completed``'s output, never announced by ``response.output_item.done``).
    ``item_type``: what the compaction item is typed (``compaction_summary``, which Codex reads as one)."""

    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        body = json.loads(await request.read())
        items = body.get("input") or []
        n = next(_ids)
        if items and isinstance(items[-1], dict) and items[-1].get("type") == "compaction_trigger":
            response = response_object("", provider=fake.name, usage={"input_tokens": 100, "output_tokens": 10,
                                                                        "total_tokens": 110})
            response["output"] = [{"type": item_type, "id": f"cmp_{fake.name}_{n}",
                                   "encrypted_content": f"sealed-by-{fake.name}"}]
            if flaw == "unsealed":
                del response["output"][0]["encrypted_content"]
        else:
            response = response_object(text, provider=fake.name, reasoning=True,
                                       usage={"input_tokens": input_tokens, "output_tokens": 10,
                                              "total_tokens": input_tokens + 10})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        events = stream_events(response)
        if minimal:
            events[-1]["response"] = {**response, "output": []}
        if flaw == "final_only":
            events = [e for e in events if e.get("item", {}).get("type") != item_type]
        for event in events:
            await resp.write(sse_event(event))
        await resp.write_eof()
        return resp
    return run


def foreign_sealed_items(body: Any, provider: str) -> list[str]:
    """Ids of the items in a request body that carry content sealed by another provider (the fakes
    seal with ``sealed-by-<name>``)."""
    items = body.get("input") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return []
    return [str(i.get("id")) for i in items if isinstance(i, dict) and isinstance(i.get("encrypted_content"), str)
            and i["encrypted_content"].startswith("sealed-by-") and i["encrypted_content"] != f"sealed-by-{provider}"]


def html_page() -> Behaviour:
    return status(200, body=b"<html><body><h1>Welcome to nginx</h1></body></html>", content_type="text/html")


def gzip_json(text: str = "zipped") -> Behaviour:
    async def run(request: web.Request, fake: FakeProvider) -> web.StreamResponse:
        body = gzip.compress(json.dumps(response_object(text, provider=fake.name)).encode())
        return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    return run


class FakeProvider:
    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.requests: list[Recorded] = []
        self.model_requests: list[Recorded] = []
        self.default: Behaviour = json_ok()
        self._queue: deque[Behaviour] = deque()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.models_behaviour: Behaviour | None = None
        # A new-api style usage endpoint at the origin (GET /api/usage/token); None answers 404.
        self.usage: dict[str, Any] | None = None
        self.usage_status = 200
        self.usage_delay = 0.0  # seconds before the usage panel answers
        self.usage_requests: list[Recorded] = []
        self.tls: ssl.SSLContext | None = None  # set before start: it speaks HTTPS with this server context

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1"

    @property
    def calls(self) -> int:
        return len(self.requests)

    def queue(self, *behaviours: Behaviour) -> FakeProvider:
        self._queue.extend(behaviours)
        return self

    def always(self, behaviour: Behaviour) -> FakeProvider:
        self._queue.clear()
        self.default = behaviour
        return self

    async def start(self, port: int = 0) -> FakeProvider:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/v1/responses/compact", self._responses)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/api/usage/token", self._usage)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=self.tls)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _record(self, request: web.Request, into: list[Recorded]) -> None:
        into.append(Recorded(request.method, request.path, dict(request.headers), await request.read(),
                             request.rel_url.raw_query_string))

    @property
    def foreign_sealed(self) -> list[str]:
        """Every item sealed by another provider that this one was sent (must stay empty)."""
        out: list[str] = []
        for req in self.requests:
            try:
                out += foreign_sealed_items(req.json, self.name)
            except ValueError:
                continue
        return out

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        await self._record(request, self.requests)
        behaviour = self._queue.popleft() if self._queue else self.default
        try:
            return await behaviour(request, self)
        except ConnectionResetError:
            # The gateway hung up mid-answer (a hedge it no longer needs, a client that left): what a
            # real provider sees too, and nothing to log as a server error here.
            return web.Response(status=499)

    async def _usage(self, request: web.Request) -> web.StreamResponse:
        await self._record(request, self.usage_requests)
        if self.usage_delay:
            await asyncio.sleep(self.usage_delay)
        if self.usage is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(self.usage, status=self.usage_status)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        await self._record(request, self.model_requests)
        if self.models_behaviour is not None:
            return await self.models_behaviour(request, self)
        return web.json_response({"object": "list", "data": [{"id": f"{self.name}-model-a", "object": "model"},
                                                            {"id": f"{self.name}-model-b", "object": "model"}]})


@contextlib.contextmanager
def on_own_loop(name: str) -> Iterator[FakeProvider]:
    """A fake provider served from a thread of its own, for code under test that runs its own loop in the
    foreground (the desktop shell). On exit the server, its loop and its thread all end: a loop left running
    would hold its port and thread for the rest of the session."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True, name=f"fake-provider-{name}")
    thread.start()
    try:
        fake = asyncio.run_coroutine_threadsafe(FakeProvider(name).start(), loop).result(10)
        try:
            yield fake
        finally:
            asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        if not thread.is_alive():  # (a loop that hung is left as it is: closing it would hide why)
            loop.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve_switches(fakes: dict[str, FakeProvider], modes: dict[str, Callable[[FakeProvider], Behaviour]]) -> web.AppRunner:
    """A small server on 127.0.0.1 that a browser script drives: ``POST /<name>/<mode>`` makes the fake
    ``name`` answer with ``modes[mode](fake)`` from now on (404 for a name or mode it does not know)."""

    async def switch(request: web.Request) -> web.Response:
        fake = fakes.get(request.match_info["name"])
        mode = request.match_info["mode"]
        if fake is None or mode not in modes:
            raise web.HTTPNotFound()
        fake.always(modes[mode](fake))
        return web.json_response({"name": fake.name, "mode": mode, "calls": fake.calls})

    app = web.Application()
    app.router.add_post("/{name}/{mode}", switch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner
