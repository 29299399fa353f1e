"""What an upstream's error means, wherever it shows up: an HTTP status, an in-band stream event, or a
2xx body that is not a response.

The client's own errors (a request too large for the model, an invalid parameter, a refused prompt)
go back to the client unchanged and leave the provider's health alone; everything else is the
provider's failure and moves on to the next provider. A few client-looking errors are really about
the provider (it does not know the model; it cannot read another provider's sealed items) and get
their own treatment.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from api_router.gateway import sse
from api_router.gateway.upstream import clip
from api_router.routing import MAX_RETRY_AFTER_SECONDS

# Client errors go back to the client unchanged; any other non-2xx is the provider's failure.
CLIENT_ERROR_STATUSES = frozenset({400, 413, 415, 422})

# In-band error codes/types that are the request's fault, not the provider's.
_CLIENT_CODES = frozenset({
    "invalid_request_error", "context_length_exceeded", "invalid_prompt", "content_policy_violation",
    "content_filter", "invalid_value", "invalid_type", "missing_required_parameter", "unknown_parameter",
    "string_above_max_length", "response_too_large", "invalid_image", "invalid_image_url", "image_too_large",
    "unsupported_parameter", "unsupported_value", "invalid_function_parameters", "flagged", "safety",
    "cyber_policy", "prompt_blocked", "bad_request", "request_too_large",
})
# In-band codes/types that are the provider's trouble, whatever else the event says.
_PROVIDER_CODES = frozenset({
    "server_error", "internal_error", "overloaded", "overloaded_error", "rate_limit_exceeded", "rate_limit_error",
    "insufficient_quota", "quota_exceeded", "billing_hard_limit_reached", "service_unavailable", "timeout",
    "api_error", "engine_overloaded", "slow_down", "too_many_requests", "model_not_found",
    # The provider's key refused (OpenAI types it "invalid_request_error"): what a 401/403 says.
    "invalid_api_key", "incorrect_api_key", "invalid_authentication", "authentication_error", "permission_error",
    "permission_denied", "unauthorized", "account_deactivated",
})


# In-band codes/types that say what a 429 says: wait, then ask again.
_RATE_LIMIT_CODES = frozenset({"rate_limit_exceeded", "rate_limit_error", "too_many_requests", "slow_down"})


# ... and those that say the account has nothing left: no wait brings it back (a 429 that says this too).
_QUOTA_CODES = frozenset({"insufficient_quota", "quota_exceeded", "billing_hard_limit_reached"})


def is_rate_limit_event(payload: Any) -> bool:
    """An in-band ``error`` / ``response.failed`` that is a rate limit (counted like an HTTP 429)."""
    return _coded(payload, _RATE_LIMIT_CODES)


def is_spent_quota(payload: Any) -> bool:
    """An error (an in-band event or an error body) saying the provider's quota is used up."""
    return _coded(payload, _QUOTA_CODES)


def spent_quota_body(body: bytes) -> bool:
    """``is_spent_quota`` for an HTTP error body."""
    try:
        return is_spent_quota(orjson.loads(body))
    except orjson.JSONDecodeError:
        return False


def _coded(payload: Any, codes: frozenset[str]) -> bool:
    err = error_object(payload)
    return err is not None and any(isinstance(v := err.get(k), str) and v in codes for k in ("code", "type"))


def retry_after_of(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """How long an answer asks to wait: ``retry-after-ms`` when it holds a number (OpenAI's own, which its
    SDKs read first, and some relays send alone), else ``Retry-After``."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            seconds = float(ms) / 1000
        except ValueError:
            pass
        else:
            if not math.isnan(seconds):
                return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)
    return parse_retry_after(headers.get("Retry-After"), now)


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), at most an hour: a
    relay asking for longer (``inf``, a date in 2999) gets the cooldown's own cap, and so does a client
    told when to come back."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        seconds = when.timestamp() - now()
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


def error_object(payload: Any) -> dict[str, Any] | None:
    """The ``error`` object of an ``error`` / ``response.failed`` event, or of an error body."""
    if not isinstance(payload, dict):
        return None
    err = payload.get("error")
    if err is None and isinstance(payload.get("response"), dict):
        err = payload["response"].get("error")
    if err is None and payload.get("type") == "error" and ("code" in payload or "message" in payload):
        # The Responses API's own ``error`` event is flat: {"type": "error", "code", "message", "param"}.
        return {k: payload[k] for k in ("code", "message", "param") if k in payload}
    return err if isinstance(err, dict) else None


def error_message_of_event(payload: Any) -> str:
    """The message of an in-band ``error`` or ``response.failed`` event as a person reads it (``clip``: one
    line, no control characters, 300 at most — it is recorded, shown and notified)."""
    return clip(message_of_event(payload)) or "the provider reported an error"


def message_of_event(payload: Any) -> str:
    """The same message, whole and as it came (what the client is told in the gateway's words, and what
    classification reads)."""
    err = error_object(payload)
    if err is not None:
        msg = err.get("message") or err.get("code")
        if isinstance(msg, str) and msg:
            return msg
    message = payload.get("message") if isinstance(payload, dict) else None
    return message if isinstance(message, str) and message else "the provider reported an error"


def failure_text(payload: Any) -> str:
    """An in-band failure's message plus its code when the message does not say it (what a retry that
    mends the request looks for: "context_length_exceeded" may be only in the code)."""
    return _with_code_of(message_of_event(payload), error_object(payload))  # whole: what it says may come late


def says_unknown_model(message: str, body: bytes) -> bool:
    """Whether an HTTP error says the model asked for does not exist there: in its message (with its
    code), or only in its code or type (``"type": "model_not_found"``) however the body holds its error,
    as the same error in-band would."""
    return mentions_unknown_model(message) or any(
        is_unknown_model_event({"error": err}) for err in _error_objects(body))


def says_provider_trouble(body: bytes) -> dict[str, Any] | None:
    """The error object of an HTTP error ``body`` whose code or type is the provider's trouble (its key
    refused, its quota spent, its server failing), whatever client-error status it came with (relays
    answer a wrong key with a 400 too) — a JSON error, a bare one (``{"message", "code"}``), or the error
    event of an event stream; ``None`` otherwise."""
    return next((err for err in _error_objects(body)
                 if {str(err.get(k, "")).lower() for k in ("code", "type")} & _PROVIDER_CODES), None)


# What TLS servers answer a plain-HTTP request with (nginx's, Go's, Apache's 400 pages): an http:// base
# URL for an https:// server (or a front end speaking plain HTTP to its HTTPS origin), the address wrong,
# not the request.
_PLAIN_HTTP_TO_TLS = (b"plain http request was sent to https port", b"client sent an http request to an https server",
                      b"speaking plain http to an ssl-enabled server port")


def says_plain_http_to_tls(body: bytes, content_type: str) -> bool:
    """Whether a 400 is such a page: a server's own short page, not a provider's error object (which may
    quote what the request said)."""
    if "json" in content_type or len(body) > 4096 or body.lstrip()[:1] in (b"{", b"["):
        return False
    lowered = body.lower()
    return any(phrase in lowered for phrase in _PLAIN_HTTP_TO_TLS)


def plain_http_hint(scheme: str) -> str:
    """What to do about such a page, by the scheme the provider was asked with."""
    if scheme == "http":
        return "it speaks HTTPS there: is the address https:// rather than http://?"
    return "a server on the way was sent plain HTTP for an HTTPS port: the provider's own front end is set up wrong"


def trouble_event(body: bytes) -> dict[str, Any]:
    """``says_provider_trouble`` as the in-band error that would say it, for ``is_rate_limit_event`` and
    ``is_spent_quota`` (``{"error": None}``: no such trouble)."""
    return {"error": says_provider_trouble(body)}


def _error_objects(body: bytes) -> list[dict[str, Any]]:
    """The error objects of an HTTP error body: a JSON error, a bare one (``{"message", "code"}``), or each
    error event of an event stream."""
    out = []
    for payload in _payloads(body):
        err = error_object(payload)
        if err is None and isinstance(payload, dict) and "code" in payload:
            err = payload  # the error object itself, unwrapped
        if err is not None:
            out.append(err)
    return out


def _payloads(body: bytes) -> list[Any]:
    """What an error body says: its JSON, or the data of each event when it is an event stream."""
    try:
        return [orjson.loads(body)]
    except orjson.JSONDecodeError:
        pass
    return [event.json() for event in sse.iter_events(body)] if b"data:" in body else []


def is_client_error_event(payload: Any) -> bool:
    """Whether an in-band failure is the request's own fault (relayed as is, no failover)."""
    err = error_object(payload)
    if err is None:
        return False
    words = {str(err.get(k, "")).lower() for k in ("code", "type")} - {""}
    if words & _PROVIDER_CODES:
        return False
    if mentions_unknown_model(str(err.get("message", ""))):
        return False
    return bool(words & _CLIENT_CODES)


def is_unknown_model_event(payload: Any) -> bool:
    """Whether an in-band failure says the model asked for does not exist there."""
    err = error_object(payload)
    if err is None:
        return False
    if "model_not_found" in {str(err.get(k, "")).lower() for k in ("code", "type")}:
        return True
    return mentions_unknown_model(str(err.get("message", "")))


def with_code(message: str, body: bytes) -> str:
    """``message`` plus the error code of a JSON error ``body`` when the message does not say it: some
    relays say "Not found" and put what is not found (``model_not_found``) only in the code."""
    try:
        err = error_object(orjson.loads(body))
    except orjson.JSONDecodeError:
        return message
    return _with_code_of(message, err)


def _with_code_of(message: str, err: dict[str, Any] | None) -> str:
    code = err.get("code") if err is not None else None
    return f"{message} [{code}]" if isinstance(code, str) and code and code not in message else message


def mentions_unsupported_previous_response_id(text: str) -> bool:
    t = text.lower()
    return "previous_response_id" in t and any(
        w in t for w in ("unsupported", "not supported", "unknown parameter", "unrecognized", "not allowed",
                         "not permitted"))


def mentions_previous_response_not_found(text: str) -> bool:
    t = text.lower()
    return ("previous response" in t or "previous_response_id" in t) and "not found" in t


def mentions_item_not_found(text: str) -> bool:
    """An item the request refers to (an ``item_reference``, a stored item's id) is not kept there."""
    t = text.lower()
    return "item with id" in t and "not found" in t


def mentions_unreadable_sealed_content(text: str) -> bool:
    t = text.lower()
    return ("encrypted content" in t or "encrypted_content" in t) and any(
        w in t for w in ("verif", "decrypt", "could not be", "invalid", "parse"))


def mentions_unknown_model(text: str) -> bool:
    """A relay that does not know the model the client asked for (a provider problem: fail over)."""
    t = text.lower()
    if "无可用渠道" in t or ("模型" in t and "不存在" in t):  # new-api / one-api relays: "模型 … 不存在"
        return True
    if "model" not in t:
        return False
    return any(w in t for w in ("not exist", "not found", "no such model", "no model named", "unknown model",
                                "invalid model", "model_not_found", "unsupported model", "no available channel",
                                "model is not available", "not a valid model")) or bool(_MODEL_NOT_SUPPORTED.search(t))


# "Model gpt-5.5 is not supported", "The requested model 'gpt-5.5' is currently not available" (the model
# itself), not "… is not supported with this model".
_MODEL_NOT_SUPPORTED = re.compile(
    r"(?:^|[.:;!]\s*)(?:the\s+)?(?:requested\s+)?model\s+[`'\"]?[\w./:-]+[`'\"]?\s+(?:is\s+)?(?:currently\s+)?"
    r"not\s+(?:currently\s+)?(?:supported|available)")


def mentions_context_length(text: str) -> bool:
    t = text.lower()
    return any(w in t for w in ("context_length_exceeded", "context length", "context window", "too many tokens",
                                "prompt is too long", "input is too long", "maximum context"))
