"""One client request on its way through the gateway: what came in, what it is routed with, and the
record of what happened to it."""

from __future__ import annotations

import functools
import os
import random
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

import orjson
from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11

from api_router.config import Config, ProviderConfig
from api_router.continuity.rewrite import BodyOptions, ClientRequest
from api_router.gateway.connections import UNSUPPORTED_ENCODING, malformed_reason
from api_router.gateway.deadlines import Deadlines
from api_router.gateway.errors import SHUTTING_DOWN, GatewayError, error_response
from api_router.gateway.upstream import REQUEST_ID_HEADER
from api_router.records import RequestRecord, Usage
from api_router.routing import Failure
from api_router.services import ProviderIdentity, id_last, id_now, identity_of


@dataclass(slots=True, eq=False)
class Exchange:
    request: web.Request
    record: RequestRecord
    started: float  # perf_counter() when the request arrived
    cfg: Config  # the config snapshot this request is served with, start to end
    client: ClientRequest | None = None  # once the body is read and parsed
    forwarded: dict[str, str] = field(default_factory=dict)  # client headers passed upstream
    failures: list[Failure] = field(default_factory=list)  # provider failures so far, in order
    # The providers that found the conversation too long even with their own summaries in, and passed it on
    # (their failures, newest last; the client's answer when no other candidate takes the conversation), and
    # the failures there were when the first of them did.
    too_long: list[Failure] = field(default_factory=list)
    failed_before_too_long: list[Failure] = field(default_factory=list)
    # Candidates passed by because the body they may see cannot be built: why, by provider.
    passed_by: dict[str, str] = field(default_factory=dict)
    # Of those, one passed by before any provider was asked: whoever serves holds the conversation, not
    # the place routing gives new traffic (a hedge's candidate passed by later says nothing of it).
    passed_by_first: bool = False
    upstream_path: str = "/responses"  # appended to the provider's base URL (or /responses/compact)
    # Tokens spent on summaries asked for along the way, by the provider that wrote them.
    summary_usage: dict[str, Usage] = field(default_factory=dict)
    # The providers as ``cfg`` names them: renamed or deleted while the request runs, what it learns of
    # them follows them (see ProviderIdentity).
    identities: Mapping[str, ProviderIdentity] = field(default_factory=dict)
    choice: int = 0  # the user's routing choice it was planned under (Router.choice)
    # The failover to the provider whose stream serves it was taken as that stream's output began: its
    # end, however late, changes the route no more (traffic may be back on the preferred one by then).
    route_taken: bool = False
    # Providers put back in the queue after a race, by the body they were last asked with when not the
    # plain one (a retry's): asked again with that body, not with the one they refused.
    asked_again_with: dict[str, BodyOptions] = field(default_factory=dict)
    # How each provider was asked, by the id ``cfg`` names it: the config (base URL) and key of the
    # moment its attempt began (the key held in memory only, never recorded). An answer says nothing
    # about an address or key given since.
    asked: dict[str, tuple[ProviderConfig, str | None]] = field(default_factory=dict)

    def who(self, provider: str) -> ProviderIdentity | str:
        """The provider the request knows as ``provider``, followed through renames and deletes."""
        return identity_of(self.identities, provider)

    def now_called(self, provider: str) -> str | None:
        """The id the provider the request knows as ``provider`` goes by now; None once it was deleted."""
        return id_now(self.who(provider))

    def last_called(self, provider: str) -> str:
        """The id the provider the request knows as ``provider`` goes by now, or went by when it was
        deleted (renamed first, the new id: the one its other rows and events name it by)."""
        return id_last(self.who(provider))


class RequestIds:
    """Ids that name a request in the log and in support tickets. They guard nothing, so they come from a
    generator seeded once by the OS rather than from a getrandom() system call per request."""

    def __init__(self) -> None:
        self._random = random.Random(os.urandom(16))

    def new(self) -> str:
        return f"req_{self._random.getrandbits(64):016x}"


# A client that asked to hear "100 Continue" before it sends its body: it hears it only once the body is
# wanted — after the Host, the token and the declared size passed — never for a request about to be refused.
CONTINUE_WANTED = web.RequestKey("continue_wanted", bool)


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """The routes' ``Expect`` handler: "100-continue" is answered by ``read_body``, anything else is 417."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if expect.lower() != "100-continue":
        # Not quoted: a client's header may hold anything (a key pasted in the wrong place).
        refused = error_response(417, "unsupported Expect header; only 100-continue is understood")
        refused.force_close()  # its body, if one comes, is not read
        request.content.feed_eof()
        return refused
    if request.version >= HttpVersion11:  # HTTP/1.0 has no interim responses
        request[CONTINUE_WANTED] = True
    return None


def refuse_held_back_body(request: web.Request, response: web.StreamResponse) -> None:
    """A client still waiting for "100 Continue" is answered without its body: the answer ends its
    connection at once (the body may come after all, and nothing waits to read it)."""
    if request.headers.get(hdrs.EXPECT) and request.get(CONTINUE_WANTED, False):
        response.force_close()
        request.content.feed_eof()  # no lingering read of a body that will not come


async def read_body(request: web.Request, limit: int, deadlines: Deadlines, stall_seconds: float,
                    limit_set_by: str = "listen.max_body_mb in config.toml",
                    record: RequestRecord | None = None,
                    receiving: set[Callable[[], None]] | None = None) -> bytes:
    """The whole request body, refusing (413) anything above ``limit`` before reading it all. A body
    that stops arriving for ``stall_seconds`` is answered 408 and its connection closed (``record``:
    the request's, which says so). While it arrives, how to answer it 503 at once (the gateway is
    shutting down) is in ``receiving``."""
    encodings = request.headers.getall(hdrs.CONTENT_ENCODING, [])
    encoding = encodings[0].strip().lower() if encodings else ""
    if len(encodings) > 1 or encoding not in _DECODED_ENCODINGS:
        # x-gzip, "gzip, gzip", compress, br: a body not readable as it came (nor safely passed on).
        raise GatewayError(400, f"the request body could not be read: {UNSUPPORTED_ENCODING}", close=True)
    mb = limit / (1024 * 1024)
    too_large = f"request body exceeds the {mb:g} MB limit ({limit_set_by})"
    declared = request.content_length
    if declared is not None and declared > limit:
        raise GatewayError(413, too_large)
    if request.get(CONTINUE_WANTED, False):
        request[CONTINUE_WANTED] = False
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the interim answer is not part of the response's size
    try:
        body = await _read(request, limit, too_large, deadlines, stall_seconds, record, receiving)
    except web.RequestPayloadError as exc:  # chunks that do not frame the body are wrong input
        # The rest of it is not worth reading: aiohttp would try to after the answer (its lingering close),
        # meet the same error and log it as unhandled; and the connection cannot carry another request.
        request.content.feed_eof()
        raise GatewayError(400, f"the request body could not be read: {malformed_reason(exc, None)}",
                           close=True) from None
    if encoding not in ("gzip", "deflate") or (not body and request.content_length == 0):
        return body  # plain, or declared empty
    return _decoded(body, encoding, limit, too_large)


def _decoded(raw: bytes, encoding: str, limit: int, too_large: str) -> bytes:
    """A gzip or deflate body decoded, all of it or an error: one cut short (its end and checksum missing)
    would otherwise be read as what arrived of it — a control call as one without its arguments (unlock
    instead of lock). gzip members may follow one another; at most ``limit`` bytes come out."""
    out = bytearray()
    data = raw
    while True:  # nothing at all is no gzip or deflate stream either (its end is missing)
        wbits = _GZIP_WBITS if encoding == "gzip" else zlib.MAX_WBITS if _zlib_header(data) else -zlib.MAX_WBITS
        decoder = zlib.decompressobj(wbits)
        try:
            out += decoder.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise GatewayError(400, f"the request body could not be read: Can not decode content-encoding: "
                                    f"{encoding} ({exc})", close=True) from None
        if len(out) > limit:
            raise GatewayError(413, too_large)
        if not decoder.eof:
            raise GatewayError(400, f"the request body could not be read: Can not decode content-encoding: "
                                    f"{encoding} (the data ends early)", close=True)
        data = decoder.unused_data if encoding == "gzip" else b""
        if not data:
            return bytes(out)


_GZIP_WBITS = 16 + zlib.MAX_WBITS


def _zlib_header(data: bytes) -> bool:
    """Whether a deflate body starts with the zlib header RFC 9110 asks for (some clients send raw deflate)."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


async def _read(request: web.Request, limit: int, too_large: str, deadlines: Deadlines, stall_seconds: float,
                record: RequestRecord | None, receiving: set[Callable[[], None]] | None) -> bytes:
    content = request.content
    if content.is_eof():  # all of it came with the headers: nothing can stall
        body = await request.read()
        if len(body) > limit:  # chunked, or compressed: no Content-Length said so
            _received(record, len(body))
            raise GatewayError(413, too_large)
        return body
    stalled = f"the request body stalled: no bytes for {stall_seconds:g} s"
    watchdog = deadlines.watchdog(lambda: answer_now(request, 408, stalled, record), stall_seconds)
    watchdog.start()
    shut_down = functools.partial(answer_now, request, 503, SHUTTING_DOWN, record)
    if receiving is not None:
        receiving.add(shut_down)
    buf = bytearray()
    try:
        while chunk := await content.readany():
            watchdog.touch()
            buf += chunk
            if len(buf) > limit:
                raise GatewayError(413, too_large)
    finally:
        watchdog.stop()
        if receiving is not None:
            receiving.discard(shut_down)
        _received(record, len(buf))
    if watchdog.expired:
        raise GatewayError(408, stalled)
    return bytes(buf)


def _received(record: RequestRecord | None, size: int) -> None:
    """A body cut short (refused as too large, stalled, or the client gone) is logged with what came of it
    when that is more than it declared (a chunked body declares nothing)."""
    if record is not None and size > record.request_bytes:
        record.request_bytes = size


# What read_body decodes (or takes as it is).
_DECODED_ENCODINGS = frozenset({"", "identity", "gzip", "deflate"})


def answer_now(request: web.Request, status: int, message: str, record: RequestRecord | None) -> None:
    """Answer a request whose body is still arriving (it stalled, or the gateway is shutting down) — or
    a control call still running when shutdown's grace is over — and close the connection. Written
    straight to the socket: the rest of the body may never come, so the request cannot be answered the
    usual way (aiohttp would wait for that rest), and waiting for it is what a stalled client must not
    be able to make the gateway do."""
    transport = request.transport
    if transport is None:
        return
    head = ""
    if record is not None:  # closing cancels the handler: the record says why first
        record.status, record.error = status, message
        head = f"{REQUEST_ID_HEADER}: {record.request_id}\r\n"
    body = error_response(status, message).body
    assert isinstance(body, bytes)
    transport.write(f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
                    f"Connection: close\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode("latin-1") + body)
    transport.close()  # once what was written is sent


def parse_object(body: bytes) -> dict[str, object]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, f"request body is not valid JSON: {_not_json(body, exc)}") from None
    if not isinstance(payload, dict):
        raise GatewayError(400, "request body must be a JSON object")
    return payload


def _not_json(body: bytes, exc: orjson.JSONDecodeError) -> str:
    """orjson's words, unless the body is no UTF-8 at all: then said so (orjson speaks of surrogates)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"it is not UTF-8 text (byte {body[bad.start]:#04x} at offset {bad.start}); JSON must be UTF-8"
    return str(exc)
