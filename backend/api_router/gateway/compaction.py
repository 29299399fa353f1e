"""Summarising a conversation on the provider that has to continue it.

When a compaction item sealed by another provider is expanded into the conversation it summarised,
that conversation can be too long for the new provider (the reason it was compacted in the first
place). Then the new provider is asked for a summary, the way Codex's own local compaction asks:
the conversation, then one user message asking for a handover summary; no tools. The summary
replaces the compaction item and the request is sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from api_router.config import ProviderConfig
from api_router.gateway.response_objects import answer_of, usage_of
from api_router.gateway.upstream import Upstream, describe_exception, error_text, read_limited, upstream_headers
from api_router.records import Usage

SUMMARY_REQUEST = (
    "This conversation is about to continue with a fresh context. Write a handover summary of it for "
    "whoever continues: the user's goal and constraints, what has been done so far (files, commands, "
    "decisions and their reasons), what is left to do, and anything found out that must not be lost. "
    "Be complete but concise; answer with the summary only.")


class SummaryFailed(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the provider's HTTP status, when it answered


@dataclass(frozen=True, slots=True)
class Summary:
    text: str
    usage: Usage  # what writing it cost (it counts like any other tokens of the provider)


def summary_body(items: list[Any], model: str | None) -> bytes:
    # Streamed and without tools, as Codex's own (local) compaction asks: some relays serve nothing else.
    request = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": SUMMARY_REQUEST}]}
    return orjson.dumps({"model": model, "input": [*items, request], "tools": [], "stream": True, "store": False})


async def summarize(upstream: Upstream, provider: ProviderConfig, key: str | None, model: str | None,
                    items: list[Any], timeout: float) -> Summary:
    try:
        resp = await upstream.post(provider.endpoint("/responses"), summary_body(items, model),
                                   upstream_headers({"Accept": "text/event-stream"}, key), timeout)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise SummaryFailed(describe_exception(exc, timeout)) from exc
    try:
        with upstream.deadlines.timeout(timeout, f"no summary within {timeout:g} s"):
            raw = await read_limited(resp)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise SummaryFailed(describe_exception(exc, timeout)) from exc
    finally:
        upstream.done(resp, reuse=False)
    if resp.status != 200:
        raise SummaryFailed(f"HTTP {resp.status}: {error_text(raw, resp.content_type)}", resp.status)
    answer = answer_of(raw, resp.content_type)
    text = _output_text(answer) if isinstance(answer, dict) else ""
    if not text:
        raise SummaryFailed("the summary came back empty" if isinstance(answer, dict) else answer, resp.status)
    return Summary(text, usage_of(answer))


def _output_text(response: dict[str, Any]) -> str:
    parts = []
    for item in response.get("output") or []:
        if isinstance(item, dict) and item.get("type") == "message":
            parts += [c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)
                      and c.get("type") == "output_text"]
    return "".join(parts).strip()
