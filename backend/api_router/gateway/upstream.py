"""Talking to one upstream provider: headers, outcome classes, error text, timeouts."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping

import aiohttp
import orjson
from multidict import CIMultiDictProxy

# Client errors go back to the client unchanged; any other non-2xx is the provider's failure.
CLIENT_ERROR_STATUSES = frozenset({400, 413, 415, 422})
ERROR_BODY_LIMIT = 4 * 1024 * 1024

_FORWARDED_EXACT = frozenset({
    "session-id", "session_id", "thread-id", "conversation_id", "x-session-id", "originator", "user-agent",
    "x-client-request-id", "openai-beta", "accept",
})
_UPSTREAM_HEADERS_BACK = ("x-request-id", "openai-processing-ms")


class ProviderFailure(Exception):
    """An attempt failed in a way that counts against the provider and moves on to the next one."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's headers that Codex providers expect; never its Authorization or hop-by-hop ones."""
    out = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in _FORWARDED_EXACT or lower.startswith("x-codex-"):
            out[name] = value
    return out


def upstream_headers(forwarded: Mapping[str, str], key: str | None) -> dict[str, str]:
    headers = {**forwarded, "Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def headers_back(upstream: CIMultiDictProxy[str], provider: str) -> dict[str, str]:
    out = {"X-API-Router-Provider": provider}
    for name in _UPSTREAM_HEADERS_BACK:
        value = upstream.get(name)
        if value is not None:
            out[name] = value
    return out


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


def error_text(body: bytes, content_type: str) -> str:
    """A short, human message from an upstream error body (JSON error, or the text of a page)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "detail", "error", "msg"):
                if isinstance(err.get(key), str) and err[key]:
                    return _clip(err[key])
        if isinstance(err, str) and err:
            return _clip(err)
    text = body.decode("utf-8", "replace")
    if "html" in content_type or text.lstrip().startswith("<"):
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
        text = re.sub(r"<[^>]+>", " ", text)
    return _clip(text) or "(empty body)"


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_exception(exc: BaseException, request_timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return str(exc) if str(exc) else f"no response within {request_timeout:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else str(exc.os_error or exc)
        return f"cannot connect to {exc.host}:{exc.port} ({reason})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the provider closed the connection without answering"
    if isinstance(exc, (aiohttp.ClientOSError, ConnectionResetError)):
        return f"connection error: {exc.strerror or exc}" if isinstance(exc, OSError) else f"connection error: {exc}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the response body was cut off"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def read_limited(resp: aiohttp.ClientResponse, limit: int = ERROR_BODY_LIMIT) -> bytes:
    chunks = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
