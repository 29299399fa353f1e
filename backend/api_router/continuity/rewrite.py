"""Keeping a conversation alive when the provider changes.

Two mechanisms, both decided per target provider:

- ``previous_response_id`` only reaches the provider that produced that response (and accepts
  the parameter); otherwise it is removed and ``input`` is rebuilt from the Codex session file.
- Reasoning items sealed (``encrypted_content``) by another provider are dropped, because the
  target cannot decrypt them and would reject the whole request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from api_router.codex.sessions import find_rollout, read_history
from api_router.continuity.index import ContinuityIndex

SESSION_HEADERS = ("session_id", "session-id", "thread-id", "conversation_id", "x-session-id")
ROLLOUT_RETRY_DELAY = 0.2


class MissingSession(Exception):
    """The history needed to replay a conversation is not available; the message names why."""


@dataclass
class ClientRequest:
    raw: bytes
    payload: dict[str, Any]
    session_id: str | None
    stream: bool
    # Per-target bodies already built for this request: (provider, strip_all, rebuild) -> bytes.
    bodies: dict[tuple[str, bool, bool], bytes] = field(default_factory=dict)

    @property
    def model(self) -> str | None:
        value = self.payload.get("model")
        return value if isinstance(value, str) else None

    @property
    def previous_response_id(self) -> str | None:
        value = self.payload.get("previous_response_id")
        return value if isinstance(value, str) and value else None


def session_id_of(headers: Mapping[str, str], payload: Mapping[str, Any]) -> str | None:
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value and value.strip():
            return value.strip()
    key = payload.get("prompt_cache_key")
    return key if isinstance(key, str) and key else None


def _as_items(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value:
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    return []


def _signature(item: Any) -> Any:
    """What makes two history items the same, ignoring fields Codex adds or drops when saving."""
    if not isinstance(item, dict):
        return item
    kind = item.get("type", "message")
    if kind == "message":
        return (kind, item.get("role"), orjson.dumps(item.get("content"), option=orjson.OPT_SORT_KEYS))
    if "call_id" in item:
        return (kind, item.get("call_id"))
    return (kind, item.get("id"), orjson.dumps(item, option=orjson.OPT_SORT_KEYS))


def rebuild_input(history: list[Any], own: list[Any]) -> list[Any]:
    """The session history followed by the request's own items, unless they already end it."""
    n = len(own)
    if n and n <= len(history) and [_signature(i) for i in history[-n:]] == [_signature(i) for i in own]:
        return list(history)
    return [*history, *own]


def drop_sealed_reasoning(items: list[Any], provider: str, owners: Mapping[str, str], *, all_sealed: bool) -> list[Any]:
    """``items`` without reasoning another provider sealed (or without any sealed reasoning).

    Returns the very same list when nothing is dropped, so callers can forward the original bytes.
    """
    kept = [
        item for item in items
        if not (
            isinstance(item, dict)
            and item.get("type") == "reasoning"
            and item.get("encrypted_content")
            and (all_sealed or owners.get(item.get("id"), provider) != provider)
        )
    ]
    return items if len(kept) == len(items) else kept


def mentions_unsupported_previous_response_id(text: str) -> bool:
    t = text.lower()
    return "previous_response_id" in t and any(
        w in t for w in ("unsupported", "not supported", "unknown parameter", "unrecognized", "not allowed", "not permitted")
    )


def mentions_previous_response_not_found(text: str) -> bool:
    t = text.lower()
    return ("previous response" in t or "previous_response_id" in t) and "not found" in t


def mentions_unreadable_reasoning(text: str) -> bool:
    t = text.lower()
    return ("encrypted content" in t or "encrypted_content" in t) and any(
        w in t for w in ("verif", "decrypt", "could not be", "invalid")
    )


class Continuity:
    """Builds, for each target provider, the body that provider may see."""

    def __init__(self, codex_home: Path, index: ContinuityIndex) -> None:
        self._codex_home = codex_home
        self.index = index

    @staticmethod
    def untouched(req: ClientRequest) -> bool:
        """Whether every provider gets the client's own bytes (the usual case): no
        previous_response_id to judge and no sealed items to filter."""
        return req.previous_response_id is None and b'"encrypted_content"' not in req.raw

    async def body_for(self, req: ClientRequest, provider: str, first_candidate: str, *,
                       strip_all_reasoning: bool = False, rebuild: bool = False) -> bytes:
        key = (provider, strip_all_reasoning, rebuild)
        cached = req.bodies.get(key)
        if cached is None:
            cached = req.bodies[key] = await self._build(req, provider, first_candidate, strip_all_reasoning, rebuild)
        return cached

    def keeps_previous_id(self, req: ClientRequest, provider: str, first_candidate: str) -> bool:
        prev = req.previous_response_id
        if prev is None or self.index.rejects_previous_id(provider):
            return False
        return (self.index.response_owner(prev) or first_candidate) == provider

    async def _build(self, req: ClientRequest, provider: str, first_candidate: str, strip_all: bool,
                     rebuild: bool) -> bytes:
        payload = req.payload
        drop_previous = req.previous_response_id is not None and (
            rebuild or not self.keeps_previous_id(req, provider, first_candidate))
        items: list[Any] | None = None
        if drop_previous:
            items = rebuild_input(await self.history(req.session_id), _as_items(payload.get("input")))
        source = items if items is not None else payload.get("input")
        if isinstance(source, list) and b'"encrypted_content"' in req.raw:
            owners = self.index.sealed_owners(req.session_id)
            filtered = drop_sealed_reasoning(source, provider, owners, all_sealed=strip_all)
            if filtered is not source:
                items = filtered
        if not drop_previous and items is None:
            return req.raw
        out = dict(payload)
        if drop_previous:
            out.pop("previous_response_id", None)
        if items is not None:
            out["input"] = items
        return orjson.dumps(out)

    async def history(self, session_id: str | None) -> list[dict[str, Any]]:
        if not session_id:
            raise MissingSession(
                "previous_response_id cannot be replayed on another provider: the request carries no "
                "session id (session-id header or prompt_cache_key)")
        home = self._codex_home
        for attempt in range(2):
            path = await asyncio.to_thread(find_rollout, home, session_id)
            if path is not None:
                return await asyncio.to_thread(read_history, path)
            if attempt == 0:
                await asyncio.sleep(ROLLOUT_RETRY_DELAY)  # Codex may write the file a moment late
        raise MissingSession(
            f"previous_response_id cannot be replayed on another provider: no Codex session file for "
            f"session {session_id} under {home / 'sessions'}")
