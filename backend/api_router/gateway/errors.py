"""The JSON errors the gateway produces itself: ``{"error": {"message", "type"}}``."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from api_router.jsonbytes import dumps

GATEWAY_QUITS = "API Router is shutting down"  # what cut off an attempt, or a stream under way
SHUTTING_DOWN = f"{GATEWAY_QUITS}; the request was not completed"

_TYPES = {
    400: "invalid_request_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_too_large",
    417: "expectation_failed",
    426: "upgrade_required",
    429: "rate_limit_exceeded",  # as OpenAI names it
    508: "loop_detected",
    500: "internal_error",
    502: "gateway_error",
    503: "unavailable",
}


class TooLarge(ValueError):
    """A provider sent more than the gateway holds in memory for one answer or one event: it is cut
    off, as a broken answer would be."""


class GatewayError(Exception):
    """Raised anywhere in a handler; the middleware turns it into the JSON error response."""

    def __init__(self, status: int, message: str, type_: str | None = None, *,
                 headers: Mapping[str, str] | None = None, extra: Mapping[str, Any] | None = None,
                 close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_ or _TYPES.get(status, "error")
        self.headers = headers
        self.extra = extra  # more fields of the error object (e.g. each provider's failure)
        self.close = close  # the connection cannot serve another request after this answer


def error_response(status: int, message: str, type_: str | None = None, headers: Mapping[str, str] | None = None,
                   extra: Mapping[str, Any] | None = None,
                   redact: Callable[[bytes], bytes] = lambda data: data) -> web.Response:
    """The JSON error; ``redact`` scrubs secrets from the whole body (an upstream's words may be in it)."""
    error = {"message": message, "type": type_ or _TYPES.get(status, "error"), **(extra or {})}
    return web.Response(body=redact(dumps({"error": error})), status=status, content_type="application/json",
                        headers=headers)


def from_error(err: GatewayError, redact: Callable[[bytes], bytes]) -> web.Response:
    response = error_response(err.status, err.message, err.type, err.headers, err.extra, redact)
    if err.close:
        response.force_close()
    return response


def os_reason(error: OSError) -> str:
    """An OS error in the system's own words ("Connection refused"): an event loop's message quotes
    Python's address tuple ("Connect call failed ('127.0.0.1', 9)"). A name lookup's error, and a code
    the C library cannot name (Windows' socket codes), keep the message they came with."""
    if not isinstance(error, socket.gaierror) and isinstance(error.errno, int) and error.errno > 0:
        said = os.strerror(error.errno)
        if not said.startswith("Unknown error"):
            return said
    return error.strerror or str(error) or _NAMELESS.get(type(error), type(error).__name__)


# What an OS error with neither a code nor a message (raised so by an event loop) was.
_NAMELESS: dict[type[OSError], str] = {
    ConnectionResetError: "the connection was reset", ConnectionAbortedError: "the connection was aborted",
    BrokenPipeError: "the connection was closed", ConnectionRefusedError: "Connection refused",
}
