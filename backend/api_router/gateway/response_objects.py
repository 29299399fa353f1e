"""Reading the parts of a Responses API object (not an HTTP response) the gateway cares about."""

from __future__ import annotations

import re
from typing import Any, TypeGuard

import orjson

from api_router.continuity.index import SealedKind, sealed_key, sealed_kind
from api_router.gateway import classify, sse
from api_router.gateway.upstream import error_text
from api_router.records import Usage

# A compaction item in raw JSON (request input or an output item), found without parsing; Codex reads
# "compaction_summary" as one.
COMPACTION_ITEM = re.compile(rb'"type"\s*:\s*"compaction(?:_summary)?"')


# What a relay may label its event stream with (aiohttp reads a missing Content-Type as octet-stream):
# Codex reads the bytes whatever the label says, so a stream that works without the gateway works with it.
# (A JSON label is a whole answer's: its first bytes count as the answer begun, see ``holds_events``.)
_STREAM_LABELS = frozenset({"text/event-stream", "text/plain", "application/octet-stream"})


def read_as_stream(content_type: str) -> bool:
    """Whether a 2xx answer to a streamed request is read as an event stream (it may still turn out to be
    a whole answer under such a label: no event in it)."""
    return content_type in _STREAM_LABELS


# How an event stream starts (after a BOM or blank lines): with a field or a comment; no JSON can.
_EVENTS_START = re.compile(rb"\A(?:\xef\xbb\xbf)?[ \t\r\n]*(?:event|data|id|retry)?:")


def holds_events(data: bytes, content_type: str) -> bool:
    """Whether a complete body is an event stream: labelled so, or starting as one under another label."""
    return content_type == "text/event-stream" or _EVENTS_START.match(data) is not None


def is_compaction_item(item: Any) -> bool:
    """A compaction item Codex can carry on with: one without its sealed content is no item to it (it
    does not even count it as an output item)."""
    return sealed_kind(item) == SealedKind.COMPACTION


def compaction_problem(count: int) -> str:
    """Why an answer to a compaction request is unusable ("" when it has exactly one compaction item)."""
    if count == 1:
        return ""
    return (f"answered the compaction request with {count} compaction items (Codex needs exactly one, "
            "with its encrypted_content)")


# More tokens than any request could use: a count above it (or below 0) is a relay's nonsense, counted as
# 0 — taken at its word it would wreck the ledgers and not fit the database's 64-bit integers.
MAX_TOKENS = 10**12


def _int(value: Any) -> int:
    kind = type(value)  # exact types: JSON gives int/float, and bool must not count
    if kind is not int and kind is not float:
        return 0
    return int(value) if 0 <= value <= MAX_TOKENS else 0  # a float NaN fails both comparisons


def usage_of(response: Any) -> Usage:
    """Token counts of a response object (absent or malformed numbers count as 0)."""
    u = response.get("usage") if type(response) is dict else None
    if type(u) is not dict:
        return Usage()
    if "input_tokens" in u or "output_tokens" in u:
        inp, out = _int(u.get("input_tokens")), _int(u.get("output_tokens"))
        in_details, out_details = u.get("input_tokens_details"), u.get("output_tokens_details")
    else:  # a relay that converts from Chat Completions may keep that API's names
        inp, out = _int(u.get("prompt_tokens")), _int(u.get("completion_tokens"))
        in_details, out_details = u.get("prompt_tokens_details"), u.get("completion_tokens_details")
    return Usage(
        input_tokens=inp,
        output_tokens=out,
        cached_tokens=_int(in_details.get("cached_tokens")) if type(in_details) is dict else 0,
        reasoning_tokens=_int(out_details.get("reasoning_tokens")) if type(out_details) is dict else 0,
        total_tokens=_int(u.get("total_tokens")) or inp + out,
    )


def sealed_items(items: Any) -> list[tuple[str, str]]:
    """(key, kind) of the items among ``items`` that carry ``encrypted_content`` only their producer
    can read (``sealed_kind``), keyed as ``sealed_key`` says."""
    if not isinstance(items, list):
        return []
    return [(key, kind) for i in items if (kind := sealed_kind(i)) is not None and (key := sealed_key(i)) is not None]


def response_id(response: Any) -> str | None:
    rid = response.get("id") if isinstance(response, dict) else None
    return rid if isinstance(rid, str) and rid else None


def stream_failure(data: bytes) -> Any:
    """The payload of the ``response.failed`` / ``error`` event that ends a whole event-stream body
    (None: it reports none, or ended with an answer first)."""
    for ev in sse.iter_events(data):
        kind = ev.type
        if kind in sse.FAILURE_END:
            return ev.failure()
        if kind in sse.ANSWER_END:
            return None
    return None


def reports_failure(response: dict[str, Any]) -> bool:
    """Whether a response object reports a failure: its status is "failed", or it carries an error
    whatever its status says (a relay's 200 "completed" with ``"error": {...}`` is no answer)."""
    if response.get("status") == "failed":
        return True
    error = response.get("error")
    if isinstance(error, dict):
        return bool(error.get("message") or error.get("code"))
    return isinstance(error, str) and bool(error.strip())


def ending_response(payload: Any) -> tuple[dict[str, Any] | None, bool]:
    """The response object an ending event (``response.completed``/``incomplete``) carries, and whether
    it reports a failure (see ``reports_failure``): an answer's name does not make it an answer."""
    response = payload.get("response") if isinstance(payload, dict) else None
    if not isinstance(response, dict):
        return None, False
    return response, reports_failure(response)


def closes_an_answer(response: Any) -> TypeGuard[dict[str, Any]]:
    """Whether an ending event's response object can end an answer for Codex: it takes an end only with
    a response object that has its id (without one the stream has not ended; with a malformed one it fails)."""
    return isinstance(response, dict) and isinstance(response.get("id"), str)


# A whole answer still under way (a background response's first answer): nothing in it is an answer yet.
_UNDER_WAY = frozenset({"in_progress", "queued"})


def failure_in(data: bytes, content_type: str, answer: dict[str, Any] | str) -> dict[str, Any] | None:
    """The failure a complete body (read as ``answer``, see ``answer_of``) reports, as the stream event
    that would tell it: a response that reports one, or an event stream that ends failing."""
    if isinstance(answer, str):
        return stream_failure(data) if holds_events(data, content_type) else None
    return {"type": "response.failed", "response": answer} if reports_failure(answer) else None


def failure_said(failure: dict[str, Any], answer: dict[str, Any] | str) -> str:
    """The error recorded for a ``failure_in`` a complete body: what it said, and how it came."""
    how = "stream reported" if isinstance(answer, str) else "answered a failed response"
    return f"{how}: {classify.error_message_of_event(failure)}"


def answer_of(data: bytes, content_type: str, *, needs_id: bool = True) -> dict[str, Any] | str:
    """The response object of a complete body, or why the body is not a usable answer. ``needs_id``: an
    answer to ``/responses`` (Codex takes none without its id); ``/responses/compact``'s is an ``output``
    list only, and a summary is read for its text."""
    if holds_events(data, content_type):
        done = []  # a minimal stream may list its items only here, not in the final response
        # The first ending event decides, as in a relayed stream: what follows it is not read.
        for ev in sse.iter_events(data):
            kind = ev.type
            if kind == "response.output_item.done":
                done.append(ev)
            elif kind in sse.ANSWER_END:
                response, failed = ending_response(ev.json())
                if response is None or not (failed or closes_an_answer(response)):
                    return f"stream ended with {kind} but without a response object"
                if not response.get("output") and done:
                    response["output"] = [p["item"] for p in (e.json() for e in done)
                                          if isinstance(p, dict) and isinstance(p.get("item"), dict)]
                return response
            elif kind in sse.FAILURE_END:
                return f"stream reported {kind}"
        return "stream ended before response.completed"
    if not data:
        return "empty response body"
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        shown = content_type or "no content type"
        return f"answered {shown} that is not JSON: {error_text(data, content_type)}"
    if not isinstance(obj, dict):
        return "answered JSON that is not a response object"
    if not isinstance(obj.get("output"), list):
        if obj.get("error"):
            return f"answered with an error instead of a response: {error_text(data, content_type)}"
        return "answered JSON that is not a response object (no output)"
    if obj.get("status") in _UNDER_WAY:
        return f"answered a response that is not finished (status {obj['status']}), with nothing to give"
    if needs_id and not (closes_an_answer(obj) or reports_failure(obj)):  # a failure says what it is, id or not
        return "answered a response object without its id (Codex takes none as an answer)"
    return obj
