"""What every request goes through before its handler: the Host check, the gateway token, JSON errors."""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import HttpVersion10, HttpVersion11, web
from aiohttp.typedefs import Middleware

from api_router.config.schema import LOOPBACK_HOSTS
from api_router.control.registry import WRONG_TOKEN
from api_router.gateway.connections import GuardedRequestHandler, unserved_version
from api_router.gateway.errors import GatewayError, error_response, from_error
from api_router.gateway.exchange import answer_now, refuse_held_back_body
from api_router.gateway.upstream import LOOP_HEADER, MAX_HOPS, is_loop
from api_router.services import Services

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_HTTP_1 = frozenset({HttpVersion10, HttpVersion11})


# A Host header: a name (or a bracketed IPv6 address) and an optional port of digits only.
_HOST = re.compile(r"(\[[^\]]*\]|[^:\[\]]*)(?::([0-9]{0,5}))?")


@functools.lru_cache(maxsize=64)
def host_allowed(host_header: str | None, listen_host: str) -> bool:
    """Loopback names and the configured listen host, with any port; anything else may be a
    DNS-rebinding page pretending to be us — and so is a loopback name followed by more than a port."""
    if not host_header:
        return True  # HTTP/1.0 clients; browsers always send Host
    host = host_header.strip().lower()
    listen = listen_host.lower()
    if host in ("::1", listen):  # a bare IPv6 address cannot carry a port
        return True
    found = _HOST.fullmatch(host)
    if found is None or (found[2] and int(found[2]) > 65535):
        return False
    name = found[1]
    if name in LOOPBACK_HOSTS or name in (listen, f"[{listen}]"):
        return True
    # Served on every address (allow_remote): a client on the network names one of this machine's
    # addresses. An address is no rebinding (that takes a name resolving to us); a name stays refused.
    return listen in _EVERY_ADDRESS and _is_ip(name.strip("[]"))


_EVERY_ADDRESS = frozenset({"0.0.0.0", "::", "[::]"})


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def bearer_token(request: web.Request) -> str:
    value = request.headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def still_the_token(services: Services, request: web.Request) -> Callable[[], bool]:
    """Whether the token ``request`` came with is the gateway token now — asked again by a control call
    once its body is in and the files are caught up with: a token changed meanwhile (rotated, or by
    hand) must not let the old one in to a call that would hand it the new one."""
    presented = bearer_token(request).encode("utf-8", "surrogateescape")
    return lambda: hmac.compare_digest(presented, services.secrets.current.gateway_token.encode())


def guard(services: Services, hop_id: str, listen_host: str) -> Middleware:
    """The outermost middleware: foreign Host headers and our own requests coming back are refused, and
    every error becomes JSON. ``listen_host``: the address served (a hand edit of [listen] host takes
    effect at the next start, and so does what a Host header may name)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.version not in _HTTP_1:
            _refuse_version(request)
            raise asyncio.CancelledError()  # answered and closed: nothing more to do for it
        response: web.StreamResponse
        if is_loop(hops := request.headers.get(LOOP_HEADER), hop_id):
            if hops is not None and hop_id in hops:
                # Our own upstream client sent this: a provider's base URL leads back here under another name,
                # or through another API Router whose provider is this one.
                said = ("this request came from API Router itself: a provider's base URL points back at this "
                        "gateway (under another name, or through another API Router); give that provider its real "
                        "address")
            else:
                said = (f"this request has been through {MAX_HOPS} API Routers already: gateways whose providers "
                        "point at each other pass it round; give each provider its real address")
            response = error_response(508, said)
        elif not host_allowed(request.headers.get("Host"), listen_host):
            response = error_response(403, "requests must address the gateway as localhost or 127.0.0.1 "
                                           "(foreign Host header refused)")
        else:
            try:
                response = await handler(request)
            except GatewayError as err:
                response = from_error(err, services.redactor.redact_bytes)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                allow = exc.headers.get("Allow")  # a 405 names the methods that are
                message = "no such endpoint" if exc.status == 404 else exc.reason
                if exc.status == 405 and allow:
                    methods = [m.strip() for m in allow.split(",")]
                    either = " or ".join(filter(None, [", ".join(methods[:-1]), methods[-1]]))
                    message = f"{request.method} is not allowed here: use {either}"
                response = error_response(exc.status, message, headers={"Allow": allow} if allow else None)
            except ConnectionError:
                raise
            except Exception:
                log.exception("unhandled error in %s %s", request.method, request.path)
                response = error_response(500, "internal error in API Router; see its log")
        refuse_held_back_body(request, response)
        return response

    return middleware


def _refuse_version(request: web.Request) -> None:
    """aiohttp's parser passes any version it can read; this server speaks HTTP/1.x only (an HTTP/0.9 answer
    has no headers, an HTTP/2 client sends a preface, not this request line). Answered as HTTP/1.1 straight
    to the socket, which is then closed: aiohttp would answer in the request's own version, which an HTTP/1
    client cannot read ("HTTP/2.0 400")."""
    version = request.version
    why = unserved_version(f"{version.major}.{version.minor}")
    if isinstance(request.protocol, GuardedRequestHandler):
        request.protocol.note_malformed(request.remote, why)
    answer_now(request, 400, f"malformed HTTP request: {why}", None)


class _ExpectedToken:
    """The gateway token as bytes, encoded again only when the secrets change."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._for: object = None
        self._bytes = b""

    def __call__(self) -> bytes:
        current = self._services.secrets.current
        if current is not self._for:
            self._for, self._bytes = current, current.gateway_token.encode()
        return self._bytes


_ASK_FOR_THE_TOKEN = {"WWW-Authenticate": 'Bearer realm="API Router"'}  # how to authenticate (RFC 9110 §11.6.1)


def token_required(services: Services, handler: Handler, *, same_origin: bool = False) -> Handler:
    """``handler`` behind the gateway token (compared in constant time, before the body is read) and,
    for the control API, the same-origin rule."""
    expected_token = _ExpectedToken(services)

    async def checked(request: web.Request) -> web.StreamResponse:
        # Every Origin header: with two, the first alone could be ours while the other is not.
        if same_origin and any(origin != f"http://{request.host}" for origin in request.headers.getall("Origin", ())):
            return error_response(403, "cross-origin control requests are refused")
        # surrogateescape: header bytes that are not UTF-8 are a wrong token, not a crash
        if not hmac.compare_digest(bearer_token(request).encode("utf-8", "surrogateescape"), expected_token()):
            return error_response(401, WRONG_TOKEN, "unauthorized", headers=_ASK_FOR_THE_TOKEN)
        return await handler(request)

    return checked
