"""Summarising a conversation on the provider that has to continue it.

When a compaction item sealed by another provider is expanded into the conversation it summarised,
that conversation can be too long for the new provider (the reason it was compacted in the first
place). Then the new provider is asked for a summary, the way Codex's own local compaction asks:
the conversation, then one user message asking for a handover summary; no tools. The summary
replaces the compaction item and the request is sent again. When even the conversation alone is too
long for the provider, its oldest part is left out and the summary asked for again, as Codex's local
compaction does when the context overflows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from api_router.config import ProviderConfig
from api_router.gateway import classify, sse
from api_router.gateway.errors import TooLarge
from api_router.gateway.response_objects import answer_of, failure_in, failure_said, usage_of
from api_router.gateway.upstream import (
    ERROR_BODY_LIMIT,
    Upstream,
    describe_exception,
    error_text,
    left_encoded,
    read_limited,
    upstream_headers,
)
from api_router.jsonbytes import dumps
from api_router.records import Usage

SUMMARY_REQUEST = (
    "This conversation is about to continue with a fresh context. Write a handover summary of it for "
    "whoever continues: the user's goal and constraints, what has been done so far (files, commands, "
    "decisions and their reasons), what is left to do, and anything found out that must not be lost. "
    "Be complete but concise; answer with the summary only.")


# How often a summary refused as too long is asked for again, each time without the oldest third of
# what was left (six tries leave about a tenth of the conversation).
SUMMARY_TRIES = 6
KEPT_SHARE = 2 / 3


class SummaryFailed(Exception):
    def __init__(self, message: str, status: int | None = None, *, too_long: bool = False) -> None:
        super().__init__(message)
        self.status = status  # the provider's HTTP status, when it answered
        self.too_long = too_long  # the provider found the conversation too long to summarise


@dataclass(frozen=True, slots=True)
class Summary:
    text: str
    usage: Usage  # what writing it cost (it counts like any other tokens of the provider)


def summary_body(items: list[Any], model: str | None) -> bytes:
    # Streamed and without tools, as Codex's own (local) compaction asks: some relays serve nothing else.
    request = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": SUMMARY_REQUEST}]}
    return dumps({"model": model, "input": [*items, request], "tools": [], "stream": True, "store": False})


async def summarize(upstream: Upstream, provider: ProviderConfig, key: str | None, model: str | None,
                    items: list[Any], timeout: float, identity: Mapping[str, str],
                    refused: Callable[[SummaryFailed], None] = lambda exc: None,
                    answer_within: float | None = None) -> Summary:
    """The provider's summary of ``items``, asked as the client of the request it is for (``identity``);
    refused as too long, it is asked again without the oldest part of the conversation (the newest turns
    matter most to whoever continues). ``refused`` hears of each request refused so, before the shorter
    one is sent. ``answer_within``: the seconds its stream has to begin (its first event) before it is
    given up as silent — another provider can take the request — rather than the whole ``timeout``."""
    headers = upstream_headers({"Accept": "text/event-stream", **identity}, key)
    for _ in range(SUMMARY_TRIES - 1):
        try:
            return await _summary_of(upstream, provider, headers, model, items, timeout, answer_within)
        except SummaryFailed as exc:
            shorter = without_oldest(items)
            if not exc.too_long or not shorter:
                raise
            refused(exc)
            items = shorter
    return await _summary_of(upstream, provider, headers, model, items, timeout, answer_within)


async def _summary_of(upstream: Upstream, provider: ProviderConfig, headers: dict[str, str], model: str | None,
                      items: list[Any], timeout: float, answer_within: float | None) -> Summary:
    # Its answer (headers, then the stream's first event when it has ``answer_within``) and then the rest,
    # each within ``timeout``: the hedge delay only shortens the wait for its beginning.
    clock = upstream.deadlines
    wait = answer_within if answer_within is not None and answer_within < timeout else None
    began = clock.timeout(timeout, f"no response within {timeout:g} s") if wait is None else \
        clock.timeout(wait, f"no answer within {wait:g} s (its hedge delay)")
    resp = None
    try:
        with began:
            resp = await upstream.post(provider.endpoint("/responses"), summary_body(items, model), dict(headers),
                                       timeout)
            begun = await _first_event(resp) if wait is not None and resp.status == 200 else b""
        with clock.timeout(timeout, f"no summary within {timeout:g} s"):
            raw = await read_limited(resp, start=begun)
            # Cut at the limit, with more to come (a body of exactly the limit is whole): no summary is this long.
            if resp.status == 200 and not left_encoded(resp) and not resp.content.at_eof() \
                    and await resp.content.read(1):
                raise TooLarge(f"the summary's answer is longer than {ERROR_BODY_LIMIT >> 20} MB")
    except (aiohttp.ClientError, TimeoutError, OSError, TooLarge) as exc:
        raise SummaryFailed(describe_exception(exc, timeout)) from exc
    finally:
        if resp is not None:
            upstream.done(resp, reuse=False)
    if resp.status != 200:
        message = classify.with_code(error_text(raw, resp.content_type), raw)
        too_long = resp.status == 413 or (resp.status == 400 and classify.mentions_context_length(
            classify.with_code(error_text(raw, resp.content_type, whole=True), raw)))
        raise SummaryFailed(f"HTTP {resp.status}: {message}", resp.status, too_long=too_long)
    answer = answer_of(raw, resp.content_type, needs_id=False)
    failure = failure_in(raw, resp.content_type, answer)
    if failure is not None:  # in the body of a 200: a failed response, or an event stream that fails
        raise SummaryFailed(failure_said(failure, answer), resp.status,
                            too_long=classify.mentions_context_length(classify.failure_text(failure)))
    if isinstance(answer, str):
        raise SummaryFailed(answer, resp.status)
    text = _output_text(answer)
    if not text:
        raise SummaryFailed("the summary came back empty", resp.status)
    return Summary(text, usage_of(answer))


async def _first_event(resp: aiohttp.ClientResponse) -> bytes:
    """The stream read up to its first Responses event (comments and keep-alives are no sign of an
    answer). A body that is no event stream came whole, as its headers did: nothing to wait for."""
    if resp.content_type != "text/event-stream":
        return b""
    decoder = sse.SSEDecoder()
    read: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        read.append(chunk)
        size += len(chunk)
        whole = decoder.cut(chunk)  # None: CR line ends, for the general decoder
        if sse.carries_progress(whole) if whole is not None else any(map(sse.is_progress, decoder.feed(chunk)[1])):
            break
        if size >= ERROR_BODY_LIMIT:  # no more than a summary's body is ever kept (read_limited)
            raise TooLarge(f"the summary's stream sent {ERROR_BODY_LIMIT >> 20} MB before its first event")
    return b"".join(read)


def without_oldest(items: list[Any]) -> list[Any]:
    """``items`` without their oldest part: the newest items that make up about two thirds of the
    size, never starting at a tool output whose call is left out (a provider refuses an output
    without its call). When whole items cannot be left out (one huge tool output, say), the biggest
    text in them is cut short instead. Empty when nothing is left to take away."""
    sizes = [len(dumps(item)) for item in items]
    budget = sum(sizes) * KEPT_SHARE
    start = len(items) - 1
    kept = sizes[start] if items else 0
    while start > 1 and kept + sizes[start - 1] <= budget:
        start -= 1
        kept += sizes[start]
    while start > 0 and _is_output(items[start]):  # take its call along
        start -= 1
    if start > 0:
        newest = items[start:]
        calls = {i.get("call_id") for i in newest if isinstance(i, dict) and not _is_output(i)}
        return [i for i in newest if not (_is_output(i) and i.get("call_id") not in calls)]
    return _biggest_text_cut(items, sizes, int(sum(sizes) - budget))


def _biggest_text_cut(items: list[Any], sizes: list[int], by: int) -> list[Any]:
    """``items`` with the text of the biggest one (a tool output, or a message's text) shortened by
    about ``by`` characters; empty when it has no text that long."""
    if not items:
        return []
    biggest = max(range(len(items)), key=sizes.__getitem__)
    item = items[biggest]
    if not isinstance(item, dict):
        return []
    if isinstance(item.get("output"), str) and len(item["output"]) > by:
        cut = {**item, "output": _shortened(item["output"], by)}
    else:
        content = item.get("content")
        parts: list[Any] = list(content) if isinstance(content, list) else []
        long = [i for i, c in enumerate(parts) if isinstance(c, dict) and isinstance(c.get("text"), str)
                and len(c["text"]) > by]
        if not long:
            return []
        parts[long[0]] = {**parts[long[0]], "text": _shortened(parts[long[0]]["text"], by)}
        cut = {**item, "content": parts}
    return [*items[:biggest], cut, *items[biggest + 1:]]


def _shortened(text: str, by: int) -> str:
    """``text`` less ``by`` characters from its middle (its start and end say the most)."""
    keep = len(text) - by
    return f"{text[:keep // 2]}\n[… {by} characters left out …]\n{text[len(text) - keep // 2:]}"


def _is_output(item: Any) -> bool:
    return isinstance(item, dict) and str(item.get("type", "")).endswith("_output")


def _output_text(response: dict[str, Any]) -> str:
    parts = []
    for item in response.get("output") or []:
        if isinstance(item, dict) and item.get("type") == "message":
            parts += [c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)
                      and c.get("type") == "output_text"]
    return "".join(parts).strip()
