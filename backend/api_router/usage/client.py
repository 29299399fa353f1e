"""The one HTTP primitive of the usage layer: GET a usage endpoint and return its JSON.

Why a wrapper instead of calling ``client.get`` in each adapter:

* **Credentials stay home.** Redirects are never followed to another origin (scheme, host or
  port): the request carries the provider key, and a relay's panel bouncing us to a CDN or a
  login page must not receive it. Same-origin redirects (``/api/x`` -> ``/api/x/``) are followed,
  at most three.
* **No secret in any message.** Every error names the endpoint without its query string (the
  ``token_stats`` adapter puts the key in the query) and goes through :func:`redact`.
* **No secret in httpx's own log.** httpx logs ``HTTP Request: GET <full url>`` at INFO; we add a
  filter to the ``httpx`` logger that strips query strings (:func:`install_log_redaction`).
* **Bounded.** Bodies over ``MAX_BODY_BYTES`` are refused (a usage answer is a few hundred
  bytes), and a whole exchange may take at most twice the client's per-step timeout: httpx's
  timeouts are per read, so a panel trickling bytes would otherwise hold a fetch forever.
* **One vocabulary of failures** (:class:`~.model.ErrorKind`) so detection can tell "this endpoint
  does not exist here" (try the next) from "your token is wrong" (worth reporting).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
from yarl import URL

from api_router.proxyenv import Proxy, ProxyRoutes, proxys_own_407
from api_router.texts import one_line, shortened
from api_router.tls import causes, client_context, tls_reason

from .bases import origin_of
from .model import ErrorKind, UsageError, redact, strip_query

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_BODY_BYTES",
    "QueryRedactingFilter",
    "UsageHttp",
    "install_log_redaction",
    "make_client",
]

DEFAULT_TIMEOUT_S = 10.0
MAX_BODY_BYTES = 1_000_000
_MAX_SAME_ORIGIN_REDIRECTS = 3
_DEADLINE_STEPS = 2  # a whole answer may take two per-step timeouts, never more
_NOT_FOUND_STATUSES = frozenset({404, 405, 410, 501})
_UNAUTHORIZED_STATUSES = frozenset({401, 403})

log = logging.getLogger(__name__)

DETAIL_MAX = 300  # characters of a transport's own words about an answer it could not read


class QueryRedactingFilter(logging.Filter):
    """Rewrites log records so that no URL in them keeps its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = strip_query(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction(logger_name: str = "httpx") -> None:
    """Attach :class:`QueryRedactingFilter` to ``logger_name`` once (idempotent).

    httpx logs every request URL, query included, at INFO on the ``httpx`` logger; the
    ``token_stats`` adapter carries the provider key in that query.
    """
    target = logging.getLogger(logger_name)
    if not any(isinstance(f, QueryRedactingFilter) for f in target.filters):
        target.addFilter(QueryRedactingFilter())


def make_client(timeout_s: float = DEFAULT_TIMEOUT_S, *, proxies: ProxyRoutes | None = None,
                verify: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """The shared client the app should create once and pass to every fetch.

    No automatic redirects (see module doc), a cookie jar that accepts no cookies (one relay's
    session cookie must never ride along to another provider on the same host), JSON accept
    header. Also installs the httpx log redaction.
    """
    install_log_redaction()
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    verify = verify if verify is not None else client_context()  # the gateway's own certificates
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        cookies=httpx.Cookies(no_cookies),
        headers={"Accept": "application/json", "User-Agent": "api-router-usage"},
        # The proxy settings as the gateway reads them (``proxyenv``), not as httpx would.
        trust_env=False,
        transport=_ProxiedAsTheGatewayIs(verify, proxies) if proxies is not None and proxies.any
        else httpx.AsyncHTTPTransport(verify=verify),
    )


class _InOurWords(httpx.ProxyError):
    """A proxy's refusal as API Router words it (bounded, and said whole: its advice is at its end)."""


class _ProxiedAsTheGatewayIs(httpx.AsyncBaseTransport):
    """Each request sent through the proxy a gateway request to its address would take, or straight there."""

    def __init__(self, verify: ssl.SSLContext, proxies: ProxyRoutes) -> None:
        self._verify = verify
        self._proxies = proxies
        self._direct = httpx.AsyncHTTPTransport(verify=verify)
        self._proxied: dict[Proxy, httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = await self._proxies.route(URL(str(request.url)))
        if proxy is None:
            return await self._direct.handle_async_request(request)
        try:
            response = await self._through(proxy).handle_async_request(request)
        except httpx.ProxyError as exc:  # the tunnel refused (an https:// panel): "407 Proxy Authentication …"
            if str(exc).startswith("407"):
                raise self._login_refused(proxy) from None
            raise
        if proxys_own_407(request.url.scheme, response.status_code, response.headers):
            await response.aclose()
            raise self._login_refused(proxy, response.headers.get_list("Proxy-Authenticate"))
        return response

    def _login_refused(self, proxy: Proxy, offered: list[str] | None = None) -> _InOurWords:
        """The proxy's 407, in the gateway's words (``offered``: its login schemes, where known): credentials
        refused (and not sent again: see ``ProxyRoutes.refused``), or none given where it asks for them."""
        self._proxies.refused(proxy, offered)
        return _InOurWords(f"the proxy {proxy.url} {proxy.refuses(offered)}")

    def _through(self, proxy: Proxy) -> httpx.AsyncHTTPTransport:
        if (why := self._proxies.unusable(proxy)) is not None:  # as for the gateway's requests
            raise _InOurWords(why)
        transport = self._proxied.get(proxy)
        if transport is None:
            authorization = proxy.authorization
            headers = {"Proxy-Authorization": authorization} if authorization else None
            transport = httpx.AsyncHTTPTransport(proxy=httpx.Proxy(proxy.url, headers=headers), verify=self._verify)
            self._proxied[proxy] = transport
        return transport

    async def aclose(self) -> None:
        for transport in (self._direct, *self._proxied.values()):
            await transport.aclose()


@dataclass(frozen=True)
class UsageHttp:
    """A client plus the secrets to keep out of messages, for one provider's fetch."""

    client: httpx.AsyncClient
    secrets: tuple[str, ...] = field(default=(), repr=False)

    async def get_json(
        self,
        base: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        bearer: str = "",
    ) -> Any:
        """GET ``base + path`` and return the decoded JSON body, or raise :class:`UsageError`."""
        endpoint = base.rstrip("/") + path
        url = httpx.URL(endpoint, params=dict(params) if params else None)
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        home = origin_of(endpoint)
        for _ in range(_MAX_SAME_ORIGIN_REDIRECTS + 1):
            status, response_headers, body = await self._send(url, headers, endpoint)
            location = response_headers.get("location") if 300 <= status < 400 else None
            if location is None:
                return self._decode(status, response_headers, body, endpoint)
            url = url.join(location)
            if origin_of(str(url)) != home:
                where = origin_of(str(url)) or "an unknown place"
                raise self._error(
                    ErrorKind.REDIRECT,
                    f"usage endpoint redirected to another host ({where}), not followed: {endpoint}",
                )
        raise self._error(ErrorKind.REDIRECT, f"usage endpoint redirected too many times: {endpoint}")

    async def _send(
        self, url: httpx.URL, headers: Mapping[str, str], endpoint: str
    ) -> tuple[int, httpx.Headers, bytes]:
        request = self.client.build_request("GET", url, headers=headers)
        step_s = self._step_timeout_s()
        try:
            async with asyncio.timeout(step_s * _DEADLINE_STEPS):
                response = await self.client.send(request, stream=True, follow_redirects=False)
                try:
                    body = await self._read_capped(response, endpoint)
                finally:
                    await response.aclose()
        except httpx.ConnectTimeout:  # no answer to the connection itself: the host cannot be reached
            raise self._error(
                ErrorKind.NETWORK, f"could not reach usage endpoint {endpoint} (no connection within {step_s:g} s)"
            ) from None
        except httpx.TimeoutException:
            raise self._error(
                ErrorKind.TIMEOUT, f"usage endpoint timed out after {step_s:g} s: {endpoint}"
            ) from None
        except TimeoutError:  # our overall deadline: an answer trickling in byte by byte
            raise self._error(
                ErrorKind.TIMEOUT,
                f"usage endpoint timed out after {step_s * _DEADLINE_STEPS:g} s in total: {endpoint}",
            ) from None
        except httpx.HTTPError as exc:
            # (an answer no parser reads is quoted whole: a status line of 48 KB)
            detail = str(exc) if isinstance(exc, _InOurWords) else \
                shortened(_transport_words(exc), DETAIL_MAX) or type(exc).__name__
            raise self._error(
                ErrorKind.NETWORK, f"could not reach usage endpoint {endpoint} ({detail})"
            ) from None
        log.debug("usage GET %s -> %s", endpoint, response.status_code)
        return response.status_code, response.headers, body

    async def _read_capped(self, response: httpx.Response, endpoint: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise self._error(
                    ErrorKind.TOO_LARGE,
                    f"usage endpoint answered more than {MAX_BODY_BYTES} bytes: {endpoint}",
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _decode(self, status: int, headers: httpx.Headers, body: bytes, endpoint: str) -> Any:
        if status in _UNAUTHORIZED_STATUSES:
            raise self._error(
                ErrorKind.UNAUTHORIZED,
                f"usage endpoint refused the credentials ({status}){self._upstream_says(body)}: {endpoint}",
            )
        if status in _NOT_FOUND_STATUSES:
            raise self._error(ErrorKind.NOT_FOUND, f"usage endpoint not found ({status}): {endpoint}")
        if not 200 <= status < 300:
            raise self._error(
                ErrorKind.HTTP,
                f"usage endpoint answered HTTP {status}{self._upstream_says(body)}: {endpoint}",
            )
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            content_type = headers.get("content-type", "").split(";", 1)[0].strip() or "no content type"
            raise self._error(
                ErrorKind.NOT_JSON, f"usage endpoint answered non-JSON ({content_type}): {endpoint}"
            ) from None

    def _upstream_says(self, body: bytes) -> str:
        """`` — <upstream message>`` when an error body is JSON with a message, else ``""``."""
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return ""
        message = upstream_message(doc, self.secrets)
        return f" — {message}" if message else ""

    def _step_timeout_s(self) -> float:
        """The client's per-step timeout (read, else connect), the default when it has none."""
        timeout = self.client.timeout
        return timeout.read or timeout.connect or DEFAULT_TIMEOUT_S

    def _error(self, kind: ErrorKind, message: str) -> UsageError:
        return UsageError(redact(message, self.secrets), kind)


def _transport_words(exc: BaseException) -> str:
    """What went wrong under an httpx error: TLS in a person's words (OpenSSL's name no cause one can act
    on), else its own message, else the OS's words of the error it was raised from (a reset says nothing)."""
    said = tls_reason(exc) or one_line(str(exc))
    return said or next((one_line(words) for cause in causes(exc)
                         if isinstance(cause, OSError) and (words := cause.strerror or str(cause))), "")


def upstream_message(doc: Any, secrets: Iterable[str], limit: int = 160) -> str:
    """The human message a panel put in its JSON (``message``/``msg``/``error``), ``secrets``
    masked, then shortened: cut first, a secret the cut fell in would show all but its end."""
    if not isinstance(doc, dict):
        return ""
    for key in ("message", "msg", "error", "detail"):
        value = doc.get(key)
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, str) and value.strip():
            text = redact(one_line(value), secrets)
            return shortened(text, limit)
    return ""
