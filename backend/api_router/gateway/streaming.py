"""Relaying one upstream SSE stream to the client.

Until the first output event nothing is sent, so a stream that fails early (HTTP error, in-band
``response.failed``/``error``, silence, a cut) can still fail over to the next provider. After that
the bytes pass through as they arrive (only whole events, never half of one), and a stream that
ends without ``response.completed`` is closed with a ``response.failed`` event so the client never
mistakes a truncated answer for a complete one.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from api_router.gateway import sse
from api_router.gateway.response_objects import error_message_of_event, reasoning_ids, response_id, usage_of
from api_router.gateway.deadlines import Deadlines
from api_router.gateway.upstream import describe_exception
from api_router.store import Usage

_OUTPUT_EVENTS = frozenset({
    "response.output_text.delta", "response.output_text.done", "response.content_part.added",
    "response.function_call_arguments.delta", "response.custom_tool_call_input.delta",
    "response.refusal.delta",
})
_ITEM_EVENTS = frozenset({"response.output_item.added", "response.output_item.done"})
_SUCCESS_END = frozenset({"response.completed", "response.incomplete"})
_FAILURE_END = frozenset({"response.failed", "error"})
# A stream that never produces output still has to be committed at some point.
PRECOMMIT_LIMIT = 8 * 1024 * 1024

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


class StreamEnd(enum.Enum):
    COMPLETED = "completed"  # the client got a complete stream
    FAILED_EARLY = "failed_early"  # nothing was sent: the next provider may be tried
    BROKEN = "broken"  # output was sent, then the stream failed; the client got response.failed
    CLIENT_GONE = "client_gone"


@dataclass
class StreamResult:
    end: StreamEnd
    response: web.StreamResponse | None = None
    error: str = ""
    ttfb_ms: float | None = None
    usage: Usage = field(default_factory=Usage)
    response_id: str | None = None
    reasoning_ids: list[str] = field(default_factory=list)


class _ClientGone(Exception):
    pass


@dataclass
class _Seen:
    output: bool = False
    end: str | None = None  # "ok" | "failed"
    error: str = ""
    response_id: str | None = None
    usage: Usage = field(default_factory=Usage)
    reasoning_ids: list[str] = field(default_factory=list)


def _inspect(ev: sse.SSEEvent, seen: _Seen) -> None:
    kind = ev.type
    if kind in _ITEM_EVENTS:
        if b'"reasoning"' in ev.data:
            payload = ev.json()
            item = payload.get("item") if isinstance(payload, dict) else None
            if isinstance(item, dict) and item.get("type") == "reasoning":
                if kind == "response.output_item.done":
                    seen.reasoning_ids.extend(reasoning_ids([item]))
                return
        seen.output = True
    elif kind in _OUTPUT_EVENTS:
        seen.output = True
    elif kind == "response.created":
        payload = ev.json()
        seen.response_id = response_id(payload.get("response")) if isinstance(payload, dict) else None
    elif kind in _SUCCESS_END:
        seen.end = "ok"
        payload = ev.json()
        response = payload.get("response") if isinstance(payload, dict) else None
        if isinstance(response, dict):
            seen.usage = usage_of(response)
            seen.response_id = response_id(response) or seen.response_id
            seen.reasoning_ids.extend(i for i in reasoning_ids(response.get("output")) if i not in seen.reasoning_ids)
    elif kind in _FAILURE_END:
        seen.end = "failed"
        seen.error = error_message_of_event(ev.json())


class StreamRelay:
    def __init__(self, request: web.Request, upstream: aiohttp.ClientResponse, deadlines: Deadlines, *,
                 headers: dict[str, str],
                 started: float, first_event_timeout: float, idle_timeout: float,
                 shutting_down: Callable[[], bool]) -> None:
        self._request = request
        self._upstream = upstream
        self._deadlines = deadlines
        self._headers = headers
        self._started = started
        self._first_event_timeout = first_event_timeout
        self._idle_timeout = idle_timeout
        self._shutting_down = shutting_down
        self._out: web.StreamResponse | None = None
        self._ttfb_ms: float | None = None

    async def run(self) -> StreamResult:
        watchdog = self._deadlines.watchdog(self._upstream.close, self._first_event_timeout)
        watchdog.start()
        decoder = sse.SSEDecoder()
        seen = _Seen()
        held: list[bytes] = []
        held_size = 0
        got_event = False
        problem = ""
        try:
            async for chunk in self._upstream.content.iter_any():
                watchdog.touch()
                forward, events = decoder.feed(chunk)
                if events and not got_event:
                    got_event = True
                    watchdog.relimit(self._idle_timeout)
                for ev in events:
                    _inspect(ev, seen)
                if self._out is None:
                    if seen.end == "failed":
                        return StreamResult(StreamEnd.FAILED_EARLY, error=seen.error)
                    held.append(forward)
                    held_size += len(forward)
                    if seen.output or seen.end or held_size > PRECOMMIT_LIMIT:
                        await self._commit(b"".join(held))
                        held.clear()
                elif forward:
                    await self._write(forward)
                if seen.end:
                    break
        except _ClientGone:
            return self._result(StreamEnd.CLIENT_GONE, seen, "client disconnected")
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            problem = describe_exception(exc, self._first_event_timeout)
        finally:
            watchdog.stop()

        if seen.end == "ok":
            try:
                if self._out is None:
                    await self._commit(b"".join(held))
                await self._finish()
            except _ClientGone:
                return self._result(StreamEnd.CLIENT_GONE, seen, "client disconnected")
            return self._result(StreamEnd.COMPLETED, seen)

        if seen.end == "failed":  # in-band failure after output: already forwarded to the client
            await self._finish_quietly()
            return self._result(StreamEnd.BROKEN, seen, f"stream failed after output started: {seen.error}")

        code = "upstream_stream_error"
        if self._shutting_down():
            problem, code = "API Router is shutting down", "gateway_shutdown"
        elif watchdog.expired:
            problem = (f"no stream event within {self._idle_timeout:g} s" if got_event
                       else f"no response within {self._first_event_timeout:g} s")
        elif not problem:
            problem = "stream ended before response.completed"
        if self._out is None:
            return StreamResult(StreamEnd.FAILED_EARLY, error=problem)
        reason = problem if code == "gateway_shutdown" else f"upstream stream broke after output started: {problem}"
        await self._try_write(sse.failure_event(reason, code, seen.response_id))
        await self._finish_quietly()
        return self._result(StreamEnd.BROKEN, seen, reason)

    def _result(self, end: StreamEnd, seen: _Seen, error: str = "") -> StreamResult:
        return StreamResult(end, self._out, error, self._ttfb_ms, seen.usage, seen.response_id, seen.reasoning_ids)

    async def _commit(self, first: bytes) -> None:
        out = web.StreamResponse(status=200, headers={**SSE_HEADERS, **self._headers})
        try:
            await out.prepare(self._request)
        except ConnectionError as exc:
            raise _ClientGone() from exc
        self._out = out
        self._ttfb_ms = (time.perf_counter() - self._started) * 1000
        if first:
            await self._write(first)

    async def _write(self, data: bytes) -> None:
        assert self._out is not None
        try:
            await self._out.write(data)
        except ConnectionError as exc:
            raise _ClientGone() from exc

    async def _finish(self) -> None:
        assert self._out is not None
        try:
            await self._out.write_eof()
        except ConnectionError as exc:
            raise _ClientGone() from exc

    async def _try_write(self, data: bytes) -> None:
        try:
            await self._write(data)
        except _ClientGone:
            pass

    async def _finish_quietly(self) -> None:
        try:
            await self._finish()
        except _ClientGone:
            pass


async def send_synthesized(request: web.Request, response: dict, headers: dict[str, str], started: float) -> tuple[web.StreamResponse, float]:
    """Answer a stream request from a complete JSON response; returns (response, ttfb ms)."""
    out = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
    await out.prepare(request)
    ttfb = (time.perf_counter() - started) * 1000
    await out.write(sse.synthesize(response))
    await out.write_eof()
    return out, ttfb
