"""The transport boundary: how the gateway talks to a provider over HTTP, and nothing else.

``Upstream`` owns the client session for the life of the gateway. It sends one request and hands
back the open response; what the answer means is decided elsewhere (``classify``, ``attempt``).
It also knows every response still being read, so shutdown can cut them off.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import re
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp.helpers import is_ip_address
from multidict import MultiMapping
from yarl import URL

from api_router.gateway.deadlines import Deadlines
from api_router.gateway.errors import GATEWAY_QUITS, TooLarge, os_reason
from api_router.proxyenv import Proxy, ProxyRoutes, proxys_own_407
from api_router.secrets import mask_refused
from api_router.texts import one_line
from api_router.tls import tls_reason

ERROR_BODY_LIMIT = 4 * 1024 * 1024
ANSWER_BODY_LIMIT = 64 * 1024 * 1024  # a whole (non-streamed) answer; Codex's are a few MB at most
# The hop ids of the gateways a request went through, comma-separated: each API Router adds its own,
# and refuses a request that already carries it (or has been through MAX_HOPS of them).
LOOP_HEADER = "X-API-Router-Hop"
_LOOP_HEADER_LOWER = LOOP_HEADER.lower().encode()
MAX_HOPS = 8
PROVIDER_HEADER = "X-API-Router-Provider"  # who served
REQUEST_ID_HEADER = "X-API-Router-Request-Id"  # the request-log row
TURN_STATE_HEADER = "x-codex-turn-state"  # Codex's turn state: only ever sent back to the provider that issued it
_TURN_STATE_LOWER = TURN_STATE_HEADER.encode()

_FORWARDED_EXACT = frozenset({
    b"session-id", b"session_id", b"thread-id", b"conversation_id", b"x-session-id", b"originator", b"user-agent",
    b"x-client-request-id", b"openai-beta", b"accept",
})
# Provider response headers a client may use: request ids for support tickets, timing, Codex's own
# turn state and rate-limit/credit headers (the x-codex-* family and x-ratelimit-*).
_BACK_EXACT = frozenset({b"x-request-id", b"openai-processing-ms"})
_BACK_PREFIXES = (b"x-ratelimit-", b"x-codex-")
# What no header value may hold (aiohttp refuses to write it, and the whole answer would be lost): a
# relay's header carrying one is not passed back.
_NOT_IN_A_HEADER = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def forwarded_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The client's headers that Codex providers expect; never its Authorization or hop-by-hop ones.
    ``raw_headers`` as aiohttp received them (bytes: no str is made of a header that is not kept).

    ``x-codex-turn-state`` is left out here: it belongs to the provider that issued it and is added
    per attempt (see ``upstream_headers``)."""
    out = {}
    for name, value in raw_headers:
        lower = name.lower()
        if lower in _FORWARDED_EXACT or (lower.startswith(b"x-codex-") and lower != _TURN_STATE_LOWER):
            # aiohttp writes a value as UTF-8: read as such, the bytes the client sent go on as they came
            out[name.decode("latin-1")] = value.decode("utf-8", "replace")
        elif lower == _LOOP_HEADER_LOWER:  # another API Router's request: the chain goes on with our id
            out[LOOP_HEADER] = value.decode("latin-1")
    return out


_IDENTITY = frozenset({"user-agent", "originator"})


def identity_of(forwarded: Mapping[str, str]) -> dict[str, str]:
    """The headers of a request's forwarded ones that name its client (User-Agent, originator), if set."""
    return {name: value for name, value in forwarded.items() if value and name.lower() in _IDENTITY}


class ClientIdentity:
    """Who the gateway's own requests — background checks, provider tests, probes — ask as: the latest
    Codex request's client (Codex names itself in an ``originator`` header), else the latest client's.
    A relay that serves only the Codex CLI then answers them as it answers Codex, whatever other
    client used the gateway since."""

    __slots__ = ("_codex", "headers")

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}  # none before the first client request: aiohttp's own User-Agent
        self._codex = False

    def note(self, forwarded: Mapping[str, str]) -> None:
        """Taken from a request's forwarded headers (few, so one look at each)."""
        seen = identity_of(forwarded)
        if not seen or seen == self.headers:
            return
        codex = any(name.lower() == "originator" for name in seen)
        if codex or not self._codex:
            self.headers, self._codex = seen, codex


def upstream_headers(forwarded: Mapping[str, str], key: str | None,
                     extra: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = {**forwarded, "Content-Type": "application/json"}
    if extra:
        headers.update(extra)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def headers_back(raw_headers: Iterable[tuple[bytes, bytes]], provider: str, request_id: str,
                 redact: Callable[[bytes], bytes]) -> dict[str, str]:
    """The provider's response headers the client gets (a key an upstream echoes in one is masked),
    plus which provider answered and our own id of the request (the one the request log shows).
    ``raw_headers`` as aiohttp received them."""
    out = {PROVIDER_HEADER: provider, REQUEST_ID_HEADER: request_id}
    kept: list[tuple[bytes, bytes]] = []
    for name, value in raw_headers:
        lower = name.lower()
        if (lower in _BACK_EXACT or lower.startswith(_BACK_PREFIXES)) and not _NOT_IN_A_HEADER.search(value):
            out[name.decode("latin-1")] = value.decode("utf-8", "replace")  # aiohttp writes values as UTF-8
            kept.append((name, value))
    if kept:
        values = kept[0][1] if len(kept) == 1 else b"\n".join([value for _, value in kept])
        if redact(values) is not values:  # one scan for all of them; the usual answer echoes no key
            for name, value in kept:
                shown = redact(value)
                if shown is not value:  # masked: it carries "…" (UTF-8)
                    out[name.decode("latin-1")] = shown.decode("utf-8", "replace")
    return out


def content_type_back(resp: aiohttp.ClientResponse, redact: Callable[[bytes], bytes]) -> str:
    """The Content-Type of a provider's answer passed through as it came (an error body): its own, with
    any key in it masked; ``application/json`` for a body decoded here or a label no header may carry."""
    raw = resp.raw_headers
    value = next((v for n, v in raw if n.lower() == b"content-type"), None)
    if value is None or left_encoded(resp) or _NOT_IN_A_HEADER.search(value):
        return "application/json"
    return redact(value).decode("utf-8", "replace")


@functools.lru_cache(maxsize=256)
def parsed_url(url: str, bearer: bool = True) -> URL:
    """A provider endpoint parsed once, instead of by aiohttp on every request (~6 us each). With a
    bearer key the URL's own ``user:password@`` is left out (HTTP carries one Authorization only);
    without one it is sent as basic auth."""
    parsed = URL(url)
    return parsed.with_user(None) if bearer and parsed.user is not None else parsed



class UnusableRequest(aiohttp.ClientError):
    """The request cannot even be sent as the provider is configured: a base URL or key no HTTP client
    can use (a port out of range, a control character in the key). A failure of that provider like a
    refused connection — never an error of the gateway, and the key is never quoted."""


class UnusableProxy(aiohttp.ClientError):
    """The proxy settings send the request to a proxy no client here can use (a SOCKS one, one written without
    its scheme): said so, rather than what aiohttp makes of it."""


@dataclass(frozen=True)
class Fetched:
    """A small GET's answer, read whole."""

    status: int
    content_type: str
    body: bytes
    waits: Mapping[str, str]  # the headers that say how long to wait (Retry-After, retry-after-ms)
    note: str  # what its status means besides its words (``status_note``)


_WAIT_HEADERS = ("Retry-After", "retry-after-ms")


def _waits(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name in _WAIT_HEADERS if (value := headers.get(name)) is not None}


# Whether the connection the current task's request went out on had carried a request before (set by
# ``PoolConnector``, read by ``Upstream._send`` in the same task).
_REUSED: contextvars.ContextVar[bool] = contextvars.ContextVar("upstream_connection_reused", default=False)
# The request connecting while it is (TCP connect, a proxy's tunnel, the TLS handshake): a time limit
# reached then is an address that does not answer, not a model that is slow to (worded by ``_unconnected``
# only then: nothing is formatted per request).
_CONNECTING: contextvars.ContextVar[Connecting | None] = contextvars.ContextVar("upstream_connecting", default=None)
# The proxy the current task's request went through (None: straight to the provider), for its failure's words.
_VIA: contextvars.ContextVar[Proxy | None] = contextvars.ContextVar("upstream_via", default=None)
_DIRECT: dict[str, Any] = {}
# A pooled connection the relay closed while idle fails the request sent on it within a round trip.
STALE_WITHIN_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Connecting:
    """A request still connecting: where to, and through which proxy (None: straight there)."""

    url: URL
    proxy: URL | None


class PoolConnector(aiohttp.TCPConnector):
    """aiohttp's connector, noting for each request whether the connection it was given is a pooled one.

    A relay closes keep-alive connections it finds idle (Node after 5 s, some after 1 s); one taken from
    the pool as it closes fails the request sent on it before the relay ever read it. That is no failure
    of the provider's, and must cost neither a failover nor a session's place: the request goes out once
    more (a closed connection the pool still held is dropped as the retry finds it; the race leaves one)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._carried: weakref.WeakSet[object] = weakref.WeakSet()

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        # Where it was going, not the request: the new socket's callbacks copy this context, and a request
        # held there (its body with it) would live as long as the connection — 60 MB, through later turns.
        _CONNECTING.set(Connecting(req.url, req.proxy))
        conn = await super().connect(req, traces, timeout)
        _CONNECTING.set(None)
        protocol = conn.protocol
        if protocol is not None:
            _REUSED.set(protocol in self._carried)
            self._carried.add(protocol)
        return conn


class Upstream:
    def __init__(self, session: aiohttp.ClientSession, deadlines: Deadlines, hop_id: str,
                 proxies: ProxyRoutes) -> None:
        self.session = session
        self.proxies = proxies
        self.deadlines = deadlines
        # Every request this gateway sends carries its own id, so one that comes back to it (a provider
        # URL that is this gateway under another name) is recognised; other gateways still accept it.
        self.hop_id = hop_id
        # Responses being read, each with how to stop watching its connection; shutdown closes them
        # (closing the session alone does not interrupt a body that is already streaming).
        self.open: dict[aiohttp.ClientResponse, Callable[[], None] | None] = {}
        self._watched: weakref.WeakSet[asyncio.Future[None]] = weakref.WeakSet()  # connections' closed futures
        self.client_identity = ClientIdentity()

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> aiohttp.ClientResponse:
        """Send the request and wait (at most ``timeout``) for the response headers; ``headers`` (a dict
        of the caller's own) gains the hop header."""
        with self.deadlines.timeout(timeout):
            resp = await self._send("POST", url, headers, body)
        self.open[resp] = _fail_body_when_connection_lost(resp, self._watched)
        return resp

    def done(self, resp: aiohttp.ClientResponse, *, reuse: bool) -> None:
        """Give the connection back to the pool (``reuse``: the body was read to the end) or close it."""
        unwatch = self.open.pop(resp, None)
        if unwatch is not None:
            unwatch()
        if reuse:
            resp.release()
        else:
            cut(resp)

    async def get(self, url: str, headers: dict[str, str], timeout: float) -> Fetched:
        """A small GET read whole."""
        with self.deadlines.timeout(timeout):
            resp = await self._send("GET", url, headers)
            try:
                body = await read_limited(resp)
                return Fetched(resp.status, resp.content_type, body, _waits(resp.headers),
                               status_note(resp))
            finally:
                resp.release()

    async def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None,
                    ) -> aiohttp.ClientResponse:
        """The request sent and its response headers read; a URL or header aiohttp will not send is the
        provider's failure (``UnusableRequest``), not the gateway's."""
        _add_hop(headers, self.hop_id)
        self._check_open()
        _VIA.set(None)  # (no earlier request's proxy in this task's failure words, if routing fails)
        _CONNECTING.set(None)
        try:
            target = parsed_url(url, "Authorization" in headers)
            via = await self._via(target, headers)
            resp = await self._request(method, target, headers, body, via)
        except aiohttp.ClientHttpProxyError as exc:  # (an https:// provider's tunnel refused)
            if exc.status == 407:
                self._login_refused(_offered(exc.headers))
            raise
        except aiohttp.ClientError:  # some are ValueErrors too (InvalidURL): what they say stands
            raise
        except ValueError as exc:
            raise _unusable(exc) from None
        if proxys_own_407(target.scheme, resp.status, resp.headers):
            self._login_refused(_offered(resp.headers))
        return resp

    async def _request(self, method: str, target: URL, headers: dict[str, str], body: bytes | None,
                       via: dict[str, Any]) -> aiohttp.ClientResponse:
        _REUSED.set(False)
        sent = time.monotonic()
        try:
            return await self.session.request(method, target, data=body, headers=headers, allow_redirects=False,
                                              **via)
        except aiohttp.ClientConnectorError:  # no connection made: the provider's failure
            raise
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            # Once, and only when the pooled connection failed at once — as one the relay closed while
            # idle does, before it read anything. One that failed later may have been read and worked
            # on: that is the provider's failure, as on a new connection.
            if not _REUSED.get() or time.monotonic() - sent > STALE_WITHIN_SECONDS:
                raise
        return await self.session.request(method, target, data=body, headers=headers, allow_redirects=False, **via)

    def _login_refused(self, offered: list[str]) -> None:
        if (proxy := _VIA.get()) is not None:
            self.proxies.refused(proxy, offered)

    async def _via(self, target: URL, headers: dict[str, str]) -> dict[str, Any]:
        """The proxy arguments for a request to ``target`` (none: straight there), noted for its failure's words;
        an http:// request sent through a proxy with credentials gains its ``Proxy-Authorization``."""
        proxy = await self.proxies.route(target) if self.proxies.any else None
        _VIA.set(proxy)
        if proxy is None:
            return _DIRECT
        if (why := self.proxies.unusable(proxy)) is not None:
            raise UnusableProxy(why)
        authorization = proxy.authorization
        if authorization is None:
            return {"proxy": proxy.url}
        if target.scheme == "http":  # sent to the proxy as it is: the proxy reads this header on it
            headers["Proxy-Authorization"] = authorization
            return {"proxy": proxy.url}
        # (the tunnel's CONNECT carries it, never the request inside; a dict of its own: aiohttp adds to it)
        return {"proxy": proxy.url, "proxy_headers": {"Proxy-Authorization": authorization}}

    def _check_open(self) -> None:
        """After ``cut_off`` (shutdown) a request fails like a connection that cannot be made — which every
        caller handles — rather than with aiohttp's "Session is closed", which none expects."""
        if self.session.closed:
            raise aiohttp.ClientConnectionError(GATEWAY_QUITS)

    def cut_all(self) -> None:
        for resp in list(self.open):
            cut(resp)

    async def cut_off(self) -> None:
        """Shutdown: end every request still out, those still waiting for their answer's headers too (they
        hold a connection but no response yet, so ``cut_all`` cannot reach them). Nothing is sent
        upstream after this: a new request fails at once."""
        self.cut_all()
        connector = self.session.connector
        if connector is not None:
            await connector.close()

    async def close(self) -> None:
        self.cut_all()
        await self.session.close()


def cut(resp: aiohttp.ClientResponse) -> None:
    """Close an answer whose body may still be coming (a timeout, a stall, the client gone). aiohttp
    (3.14) makes a body closed so fail with one exception object shared by every response, and each raise
    of it adds to its traceback: every stream the gateway ever cut stayed in memory through it, its frames
    and its response (20-30 KB each, growing without end while a relay kept stalling). The body gets an
    exception of its own first, which goes when the request does."""
    content = resp.content
    if content.exception() is None and not content.is_eof():
        content.set_exception(aiohttp.ClientConnectionError("Connection closed"))
    resp.close()


def _retrieved(closed: asyncio.Future[None]) -> None:
    """A pooled connection the provider reset later is no one's error: without this, asyncio logs the
    closed future's exception as never retrieved, with a traceback."""
    if not closed.cancelled():
        closed.exception()


def _fail_body_when_connection_lost(resp: aiohttp.ClientResponse,
                                    watched: weakref.WeakSet[asyncio.Future[None]]) -> Callable[[], None] | None:
    """Make a body that cannot end any more fail as cut off; returns how to stop watching (None: the
    body had ended, nothing to watch).

    A malformed chunk after the headers makes aiohttp (3.14) close the connection without telling the
    body's reader: it would wait for a timeout, and a provider that did answer (badly) would be blamed
    for not answering. Watching costs a callback on the connection's ``closed`` future, removed by
    ``done``."""
    conn = resp.connection
    protocol = conn.protocol if conn is not None else None
    closed = protocol.closed if protocol is not None else None
    if closed is None:
        return None
    if closed not in watched:  # once per connection, however many requests it carries — whole answers too
        watched.add(closed)
        closed.add_done_callback(_retrieved)
    content = resp.content
    if content.is_eof():
        return None

    def lost(_: object) -> None:
        if not content.is_eof() and content.exception() is None:
            content.set_exception(aiohttp.ClientPayloadError("the connection closed before the body ended"))

    def unwatch() -> None:
        closed.remove_done_callback(lost)

    closed.add_done_callback(lost)
    return unwatch


def _unusable(exc: ValueError) -> UnusableRequest:
    """aiohttp and yarl refuse such a URL or header with a ValueError while building the request."""
    return UnusableRequest(f"the provider's base URL or key cannot be used in a request ({_without_values(exc)}); "
                           "correct it in API Router")


def _without_values(exc: ValueError) -> str:
    """What was wrong, without the offending value: it may be (part of) a key."""
    text = str(exc).split(":", 1)[0].strip().rstrip(".")
    return text if text and len(text) <= 120 else type(exc).__name__


def _add_hop(headers: dict[str, str], hop_id: str) -> None:
    previous = headers.get(LOOP_HEADER)
    headers[LOOP_HEADER] = f"{previous},{hop_id}" if previous else hop_id


def is_loop(hops: str | None, hop_id: str) -> bool:
    """Whether a request with these hop ids came back to the gateway ``hop_id``, or went round too
    many gateways (two API Routers pointing at each other)."""
    return hops is not None and (hop_id in hops or hops.count(",") + 1 >= MAX_HOPS)


# What aiohttp decodes (any other Content-Encoding arrives as it was sent).
_DECODED_ENCODINGS = frozenset({"", "identity", "gzip", "deflate", "br", "zstd"})
UNREADABLE_BODY = orjson.dumps({"error": {
    "message": "The provider's body is in a Content-Encoding API Router cannot decode, so it is not passed on "
               "(a key in it could not be masked).",
    "type": "upstream_error"}})


def _content_encoding(resp: aiohttp.ClientResponse) -> str:
    return resp.headers.get("Content-Encoding", "").strip().lower()


def left_encoded(resp: aiohttp.ClientResponse) -> bool:
    """Whether the body arrives still encoded (``x-gzip``, ``gzip, gzip``, …): bytes that masking cannot
    look into and a person cannot read."""
    return _content_encoding(resp) not in _DECODED_ENCODINGS


def cut_while_gzipped(resp: aiohttp.ClientResponse, body: bytes) -> bool:
    """Whether ``body``, read to its end, came gzip-compressed and labelled JSON and is JSON that ends before
    it is whole: cut short in transit. aiohttp reads a gzip stream that ends early (part of its data, or the
    checksum and length that close it, missing) as what arrived of it; a deflate one it refuses. (A body that
    is no JSON at all, or broken in the middle, is what the provider sent.)"""
    if _content_encoding(resp) != "gzip" or not resp.content.at_eof():
        return False
    content_type = resp.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        return False
    return _json_ends_early(body)


_UTF8_BOM = b"\xef\xbb\xbf"


def _json_ends_early(body: bytes) -> bool:
    """Whether ``body`` is nothing at all (a cut in the stream's first block leaves nothing decoded) or starts
    as a JSON object or array and runs out before it closes — a cut may also fall inside a UTF-8 character."""
    text = body.removeprefix(_UTF8_BOM).strip()
    if not text:
        return True
    if not text.startswith((b"{", b"[")):
        return False
    try:
        text.decode()
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data" or exc.end != len(text):
            return False  # not UTF-8 in its middle (Latin-1 words, say): what the provider sent
        text = text[:exc.start]
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return str(exc).startswith("unexpected end of data")
    return False


async def read_limited(resp: aiohttp.ClientResponse, limit: int = ERROR_BODY_LIMIT, start: bytes = b"") -> bytes:
    """At most ``limit`` bytes of the body (``start``: what of it was read already). One cut short ends
    before the run of key characters the cut fell in: half a key echoed there is one that masking (which
    looks for whole keys) cannot recognise. A body left encoded is replaced by ``UNREADABLE_BODY``."""
    if left_encoded(resp):
        return UNREADABLE_BODY
    chunks = [start[:limit]]
    size = len(chunks[0])
    while size < limit:
        chunk = await resp.content.read(min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    body = b"".join(chunks)
    return _before_key_run(body) if size >= limit and not resp.content.at_eof() else body


def _before_key_run(body: bytes) -> bytes:
    """A body cut short, ended before the run of key characters the cut fell in. In a UTF-16 or UTF-32
    body (NUL bytes at its end) each of those characters comes with its NULs, and what is kept ends at
    a whole character."""
    tail = body[-16:]
    if b"\x00" not in tail:
        return body.rstrip(_KEY_BYTES)
    width = 4 if b"\x00\x00\x00" in tail else 2
    kept = len(body.rstrip(_KEY_BYTES_WIDE))
    return body[:kept + -kept % width]


def error_text(body: bytes, content_type: str, *, whole: bool = False) -> str:
    """A short, human message from an upstream error body (JSON error, or the text of a page). ``whole``:
    all of it, on one line — what is judged by its words (a refusal may say so past the 300 shown)."""
    shown = one_line if whole else clip
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "detail", "error", "msg"):
                if isinstance(err.get(key), str) and err[key]:
                    return shown(err[key])
        if isinstance(err, str) and err:
            return shown(err)
    text = body.decode("utf-8", "replace")
    if "html" in content_type or text.lstrip().startswith("<"):
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
        text = re.sub(r"<[^>]+>", " ", text)
    return shown(text) or "(empty body)"


# A run of key characters cut in two may be the start of a key an upstream echoed, which masking (it
# looks for whole keys) would no longer recognise. In a message a person reads, any run without a space
# goes (keys may hold any printable ASCII: "APIKey:APISecret"); in a body passed on — JSON, often without
# a space for megabytes — the characters keys are usually made of, a colon included.
_KEY_CHAR = re.compile(r"[!-~]")
_TRAILING_KEY_RUN = re.compile(r"[!-~]+$")
_KEY_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~+/=:"
_KEY_BYTES_WIDE = _KEY_BYTES + b"\x00"


def status_note(resp: aiohttp.ClientResponse) -> str:
    """What an error's status says that its words may not, said after them ("" for most): where a 3xx
    leads — redirects are not followed (the key would go on to another address), so the user is to point
    the base URL there —, and that a 407 is a proxy's, not the provider's (an http:// provider's request
    goes to HTTP_PROXY as it is, and its answer comes back as if the provider gave it)."""
    # (A proxy's 407 to an https:// provider's tunnel is no answer but an error of its own: ClientHttpProxyError.)
    if proxys_own_407(resp.url.scheme, resp.status, resp.headers):
        return _login_advice(_offered(resp.headers))
    location = resp.headers.get("Location", "") if 300 <= resp.status < 400 else ""
    if not location:
        return ""
    return (f" — it redirects to {clip(location)}; redirects are not followed "
            "(the key stays with the base URL's address)")


def _offered(headers: MultiMapping[str] | None) -> list[str]:
    """The login schemes a proxy's 407 names (its Proxy-Authenticate headers)."""
    return headers.getall("Proxy-Authenticate", []) if headers else []


def _login_advice(offered: list[str]) -> str:
    """What to do about a proxy's 407 (``offered``: its Proxy-Authenticate headers): give it credentials, correct
    the ones it refused (which are not sent again this run: ``ProxyRoutes.refused``), or log in through a proxy
    that can (it takes only logins API Router cannot give)."""
    proxy = _VIA.get()
    return "" if proxy is None else f" — a proxy between API Router and the provider {proxy.refuses(offered)}"


def clip(text: str, limit: int = 300) -> str:
    """An upstream's words as a person reads them: one line, no control characters, at most ``limit``."""
    text = one_line(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if _KEY_CHAR.match(text[limit - 1]):  # the cut falls inside a run: drop all of it
        cut = _TRAILING_KEY_RUN.sub("", cut)
    return cut.rstrip() + "…"


def describe_exception(exc: BaseException, request_timeout: float) -> str:
    if isinstance(exc, (TooLarge, UnusableRequest, UnusableProxy)):
        return str(exc)
    if isinstance(exc, aiohttp.InvalidURL):  # the proxy setting's, when it is no URL: quoted with its password
        return f"InvalidURL: {mask_refused(str(exc.url))}"
    if isinstance(exc, TimeoutError):
        said = str(exc) or f"no response within {request_timeout:g} s"
        connecting = _CONNECTING.get()
        return f"{said}{_through()}" if connecting is None else f"{said}: {_unconnected(connecting)}"
    if isinstance(exc, aiohttp.ClientProxyConnectionError):  # not the provider's address: the proxy's
        return f"cannot connect to the proxy {exc.host}:{exc.port} ({_why_not_connected(exc.os_error)})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({_why_not_connected(exc.os_error)})"
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        said = clip(f"the proxy refused to connect to the provider: HTTP {exc.status} {exc.message}")
        return said + _login_advice(_offered(exc.headers)) if exc.status == 407 else said
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        if (tunnel := _tunnel_asked()) is not None:
            return f"the proxy {tunnel} closed the connection without opening a tunnel to the provider"
        return f"the provider closed the connection without answering{_through()}"
    if isinstance(exc, (aiohttp.ClientOSError, ConnectionResetError)):  # both OSErrors
        return f"connection error: {os_reason(exc)}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        encoding = _UNDECODABLE_BODY.search(str(exc))
        if encoding:  # whole, but not what its Content-Encoding says: no network cut
            return f"the provider's body could not be decoded: it is not valid {encoding.group(1)} data"
        return "the response body was cut off"
    if isinstance(exc, aiohttp.ClientResponseError):  # aiohttp's own words, without its status and URL
        encoding = _UNDECODABLE.match(exc.message)
        if encoding:  # br or zstd, without the library that reads it: API Router never asks for them
            return f"the provider's body is in a Content-Encoding API Router cannot decode ({encoding.group(1)})"
        # (the parser quotes the provider's bytes: a status line of 2 KB, line breaks and all)
        if (tunnel := _tunnel_asked()) is not None:
            return clip(f"the proxy {tunnel} did not answer the tunnel request in HTTP (is it an HTTP proxy?): "
                        f"{exc.message}")
        return clip(f"the provider's answer could not be read{_through()}: {exc.message}")
    return clip(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__


def _through() -> str:
    """That the failed request went through a proxy (which may have been the one to fail), or ""."""
    proxy = _VIA.get()
    return "" if proxy is None else f" (through the proxy {_address(URL(proxy.url))})"


def _tunnel_asked() -> str | None:
    """The proxy's address while the request was still asking it for a tunnel (an https:// provider's
    CONNECT): what failed then is the proxy's doing, never the provider's, which was not reached yet."""
    req, proxy = _CONNECTING.get(), _VIA.get()
    if req is None or proxy is None or req.url.scheme != "https":
        return None
    return _address(URL(proxy.url))


def _address(url: URL) -> str:
    host = url.host or ""
    return f"[{host}]:{url.port}" if ":" in host else f"{host}:{url.port}"


def _unconnected(req: Connecting) -> str:
    """Why a request that timed out while connecting never got an answer: the proxy it went through did not
    open its tunnel, or the provider's address did not take the connection or finish its TLS handshake."""
    target = _address(req.url)
    proxy = req.proxy
    if proxy is not None and proxy.host is not None and req.url.scheme == "http":  # no tunnel: only the proxy
        looked_up = "" if is_ip_address(proxy.raw_host) else "name lookup or "
        return f"no connection to the proxy {_address(proxy)} was made (its {looked_up}TCP connect went unanswered)"
    if proxy is not None and proxy.host is not None:  # which of the two went silent is not known
        return (f"no connection to {target} was made through the proxy {_address(proxy)} (the "
                "proxy did not open its tunnel, or the provider did not answer the TLS handshake)")
    # A host name is looked up first (aiohttp skips that for what its own test takes as an address), and a
    # DNS server that never answers is as silent as the address.
    looked_up = "" if is_ip_address(req.url.raw_host) else "name lookup, "
    return f"no connection to {target} was made (its {looked_up}TCP connect or TLS handshake went unanswered)"


def _why_not_connected(error: OSError | None) -> str:
    """A TLS or OS error in a person's words."""
    if error is None:
        return "no reason given"
    if (said := tls_reason(error)) is not None:
        return said
    if isinstance(error, ConnectionResetError) and not error.errno:
        # No errno: the event loop's own, as the peer closed during the TLS handshake (a plain connect
        # that is reset carries the OS's ECONNRESET).
        return ("the connection was closed during the TLS handshake: the server may not accept this host name "
                "or TLS version")
    return os_reason(error)


_UNDECODABLE = re.compile(r"Can not decode content-encoding: [^(]*\(([^)]+)\)")
_UNDECODABLE_BODY = re.compile(r"Can not decode content-encoding: ([\w-]+)$")
