"""Reading the parts of a Responses API object the gateway cares about."""

from __future__ import annotations

from typing import Any

from api_router.store import Usage


def _int(value: Any) -> int:
    kind = type(value)  # exact types: JSON gives int/float, and bool must not count
    return int(value) if kind is int or kind is float else 0


def usage_of(response: Any) -> Usage:
    """Token counts of a response object (absent or malformed numbers count as 0)."""
    u = response.get("usage") if type(response) is dict else None
    if type(u) is not dict:
        return Usage()
    inp, out = _int(u.get("input_tokens")), _int(u.get("output_tokens"))
    in_details, out_details = u.get("input_tokens_details"), u.get("output_tokens_details")
    return Usage(
        input_tokens=inp,
        output_tokens=out,
        cached_tokens=_int(in_details.get("cached_tokens")) if type(in_details) is dict else 0,
        reasoning_tokens=_int(out_details.get("reasoning_tokens")) if type(out_details) is dict else 0,
        total_tokens=_int(u.get("total_tokens")) or inp + out,
    )


def reasoning_ids(items: Any) -> list[str]:
    """Ids of the reasoning items among ``items`` (a response's ``output``)."""
    if not isinstance(items, list):
        return []
    return [i["id"] for i in items if isinstance(i, dict) and i.get("type") == "reasoning" and isinstance(i.get("id"), str)]


def response_id(response: Any) -> str | None:
    rid = response.get("id") if isinstance(response, dict) else None
    return rid if isinstance(rid, str) and rid else None


def error_message_of_event(payload: Any) -> str:
    """The message of an in-band ``error`` or ``response.failed`` event."""
    if not isinstance(payload, dict):
        return "the provider reported an error"
    err = payload.get("error")
    if err is None and isinstance(payload.get("response"), dict):
        err = payload["response"].get("error")
    if isinstance(err, dict):
        msg = err.get("message") or err.get("code")
        if isinstance(msg, str) and msg:
            return msg
    if isinstance(payload.get("message"), str) and payload["message"]:
        return payload["message"]
    return "the provider reported an error"
