"""Client connections that cannot hold the gateway hostage.

aiohttp keeps a connection open for as long as its client likes while it waits for request headers,
so a client that sends half its headers (or nothing) ties up a socket indefinitely. Here every
connection that has been waiting for the rest of a request's headers longer than
``header_timeout_seconds`` is closed by a sweep that runs once a second. A connection beyond
``max_connections`` takes the place of one idling between requests (a keep-alive connection may idle
for 75 s, so idle ones held open by anyone could otherwise lock every client out); with none idle it is
refused (the log says so, at most every 10 seconds). A request body that stalls is the proxy's
business (``exchange.read_body``). A request aiohttp cannot parse (a broken header line, a body
encoding it cannot decode) is answered with the gateway's JSON error and one log line, not a
traceback.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError, InvalidURLError, LineTooLong
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler, RequestPayloadError, _ErrInfo
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from api_router.config import ListenConfig
from api_router.gateway.errors import error_response
from api_router.openfiles import connection_room

log = logging.getLogger(__name__)

SWEEP_SECONDS = 0.25  # how late past its header timeout a connection may be closed
LIMIT_LOG_SECONDS = 10.0
IDLE_KEEPALIVE_SECONDS = 75.0  # a complete keep-alive connection may idle this long between requests


class GuardedRequestHandler(RequestHandler):
    __slots__ = ("_body", "handled", "waiting_since")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.waiting_since: float | None = self._loop.time()  # no complete request yet
        self.handled = 0  # requests whose handling ended (their count against aiohttp's, parsed)
        self._body: StreamReader | None = None  # the body of the request parsed last

    async def _handle_request(self, *args: Any, **kwargs: Any) -> tuple[web.StreamResponse, bool]:
        try:
            return await super()._handle_request(*args, **kwargs)
        finally:
            self.handled += 1

    @property
    def idle(self) -> bool:
        """Between requests on a kept-alive connection: nothing under way, nothing of the next yet."""
        # As aiohttp's own keep-alive timer tells: its loop is waiting for the next message.
        return self._request_count > 0 and self._waiter is not None and not self._waiter.done()

    def data_received(self, data: bytes) -> None:
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:
            self._body_broken(self._request_count - parsed)
            self.waiting_since = None  # a request's headers are complete
        elif self.handled == self._request_count and self.waiting_since is None:
            # Every request parsed has been handled: these are the first bytes of the next one's headers (or
            # a body its handler did not read). Not "no request being handled": a body arriving right after
            # its headers, before the handler has started (a loop turn later), belongs to its request.
            self.waiting_since = self._loop.time()

    def _body_broken(self, new: int) -> None:
        """Of the ``new`` messages parsed, an error met inside a body that arrived after its headers (a chunk
        size that is no number) is that body's: aiohttp queues it as a message of its own, and the request
        would wait its stall limit out for a body that can never come. Its reader is told at once."""
        for message, payload in list(self._messages)[-new:]:
            if not isinstance(message, _ErrInfo):
                self._body = payload
            elif self._body is not None and not self._body.is_eof():
                why = malformed_reason(message.exc, message.message)
                self.note_malformed(None, f"the request body could not be read: {why}")
                self._body.set_exception(RequestPayloadError(why))

    def note_malformed(self, remote: str | None, why: str) -> None:
        """A request the parser passed but the gateway refuses as malformed: logged as the parser's are."""
        if isinstance(self._manager, GuardedServer):
            self._manager.note_malformed(remote, why)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        # A body its Content-Encoding cannot decode, met again by aiohttp's lingering read after an answer
        # that did not need the body (a 401, a 405): the client's mistake, one line at most.
        exc = kw.get("exc_info")
        if isinstance(exc, RequestPayloadError) and isinstance(self._manager, GuardedServer):
            self._manager.note_malformed(None, f"the request body could not be read: {malformed_reason(exc, None)}")
            return
        super().log_exception(*args, **kw)

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status != 400 or exc is None or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        # A request that could not be parsed is the client's mistake, not the gateway's: no traceback.
        why = malformed_reason(exc, message)
        if isinstance(exc, ContentEncodingError) and why != UNSUPPORTED_ENCODING:
            why = f"the request body could not be read: {why}"  # cut short: the parser met its end
            said = why
        else:
            said = f"malformed HTTP request: {why}"
        if isinstance(self._manager, GuardedServer):
            self._manager.note_malformed(request.remote, why)
        response = error_response(400, said)
        response.force_close()
        return response


UNSUPPORTED_ENCODING = "this Content-Encoding is not supported: send the body uncompressed, or gzip or deflate"
# llhttp's words for the HTTP/2 connection preface (``PRI * HTTP/2.0``), which an HTTP/2 client sends first
_HTTP2_PREFACE = "Pause on PRI/Upgrade"


def unserved_version(version: str) -> str:
    return f"HTTP/{version} is not served here (API Router speaks HTTP/1.1 and 1.0)"


def malformed_reason(exc: BaseException, message: str | None) -> str:
    """What aiohttp's parser says is wrong, without the bytes it quotes after it (a header line that may
    hold the gateway token)."""
    if isinstance(exc, ContentEncodingError):
        said = str(exc.message)
        if "install" in said.lower():  # br or zstd without its decoder in this build
            return UNSUPPORTED_ENCODING
        if said.startswith("Can not decode"):
            return said.splitlines()[0]
        # A deflate stream that ended before its end (aiohttp names only the encoding).
        return f"Can not decode content-encoding: {said} (the data ends early)"
    if isinstance(exc, LineTooLong):
        return "a request or header line is too long"
    if isinstance(exc, InvalidURLError):  # its message is the request target itself, as sent
        return "the request target is not a valid URL"
    if _HTTP2_PREFACE in (message or str(exc)):
        return unserved_version("2")
    lines = []
    for line in (message or str(exc)).replace("400, message:", "").strip().splitlines():
        if not line.strip():
            break
        shown = _QUOTED.split(line, maxsplit=1)[0].strip().rstrip(":").strip()
        if shown:
            lines.append(shown)
        if shown != line.strip().rstrip(":").strip():
            break  # what follows a quote is the client's bytes
    return ": ".join(lines) or type(exc).__name__


# Where the client's bytes start: a quote that opens a word (not an apostrophe inside one, as in "can't"),
# unless it only quotes a header's name ("Duplicate 'Host' header").
_QUOTED = re.compile(r"""(?<![A-Za-z])b?['"](?![A-Za-z][A-Za-z-]{0,39}['"](?:\s|$))""")


class GuardedServer(Server):
    """aiohttp's Server with guarded connections (see the module doc)."""

    def __init__(self, *args: Any, listen: Callable[[], ListenConfig], room: int | None = None,
                 **kwargs: Any) -> None:
        """``room``: the client connections the open-files limit leaves room for (None: no such limit)."""
        super().__init__(*args, **kwargs)
        self._listen = listen
        self._room = room
        self._limit_logged_at = -LIMIT_LOG_SECONDS
        self._malformed_logged_at = -LIMIT_LOG_SECONDS
        self._malformed_unlogged = 0

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        configured = self._listen().max_connections
        limit = configured if self._room is None else min(configured, self._room)
        if len(self._connections) > limit:
            idle = self._idle_connection(besides=handler)
            if idle is not None:
                self._close(idle)
                return
            now = self._loop.time()
            if now - self._limit_logged_at >= LIMIT_LOG_SECONDS:
                self._limit_logged_at = now
                room = "" if limit == configured else f", and the open-files limit leaves room for {limit}"
                kept = len(self._connections) - 1  # the one refused now is not kept open
                log.warning("connection limit reached (%d open; [listen] max_connections = %d%s): refusing new "
                            "connections until some close", kept, configured, room)
            handler.force_close()
            transport.close()

    def note_malformed(self, remote: str | None, why: str) -> None:
        """One log line for a malformed request, at most every 10 s (a client looping on a broken request
        would otherwise fill the log)."""
        now = self._loop.time()
        if now - self._malformed_logged_at < LIMIT_LOG_SECONDS:
            self._malformed_unlogged += 1
            return
        more = f" (and {self._malformed_unlogged} more since the last such line)" if self._malformed_unlogged else ""
        self._malformed_logged_at, self._malformed_unlogged = now, 0
        log.warning("malformed HTTP request from %s answered 400: %s%s", remote or "an unknown address", why, more)

    def sweep(self) -> int:
        """Close connections whose request headers are overdue; returns how many."""
        deadline = self._loop.time() - self._listen().header_timeout_seconds
        overdue = [h for h in self._connections if isinstance(h, GuardedRequestHandler)
                   and h.waiting_since is not None and h.waiting_since <= deadline]
        for handler in overdue:
            self._close(handler)
        if overdue:
            log.info("closed %d connection(s) that did not complete their request headers in time", len(overdue))
        return len(overdue)

    def _idle_connection(self, besides: RequestHandler) -> RequestHandler | None:
        """A connection that served a request and waits for the next (no request under way, no part of
        one arrived)."""
        for handler in self._connections:
            if (handler is not besides and isinstance(handler, GuardedRequestHandler)
                    and handler.waiting_since is None and handler.idle):
                return handler
        return None

    def _close(self, handler: RequestHandler) -> None:
        handler.force_close()
        transport = self._connections.get(handler)
        if transport is not None:
            transport.close()


class GuardedAppRunner(web.AppRunner):
    def __init__(self, app: web.Application, *, listen: Callable[[], ListenConfig], **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=IDLE_KEEPALIVE_SECONDS, **kwargs)
        self._listen = listen
        self._sweeper: asyncio.Task[None] | None = None

    async def _make_server(self) -> Server:
        plain = await super()._make_server()
        room = connection_room()
        configured = self._listen().max_connections
        if room is not None and room < configured:
            log.warning("the open-files limit leaves room for %d client connections, fewer than [listen] "
                        "max_connections = %d: beyond %d a new connection takes an idle one's place or is refused "
                        "(raise the limit, ulimit -n, to allow more)", room, configured, room)
        # The app's own Server, rebuilt as a GuardedServer with the same handler and settings.
        server = GuardedServer(plain.request_handler, request_factory=plain.request_factory, loop=plain._loop,
                               handler_cancellation=plain.handler_cancellation, listen=self._listen, room=room,
                               **plain._kwargs)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(server), name="connection-sweeper")
        return server

    async def _sweep(self, server: GuardedServer) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                server.sweep()
            except Exception:  # one slip must not leave stalled connections open from then on
                log.exception("connection sweep failed")

    async def cleanup(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        await super().cleanup()
