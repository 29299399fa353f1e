"""Keeping a conversation alive when the provider changes: the body each provider may see.

Decided per target provider:

- ``previous_response_id`` only reaches the provider that produced that response (and accepts the
  parameter); otherwise it is removed and ``input`` is rebuilt from the Codex session file.
- Reasoning items sealed (``encrypted_content``) by another provider are dropped: the target cannot
  open them and would reject the whole request.
- A compaction item sealed by another provider is replaced by the conversation it summarised,
  rebuilt from the Codex session file (its own foreign sealed items treated the same way), so the
  target never receives an item it did not seal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from api_router import heap
from api_router.codex.sessions import MAX_FORK_DEPTH, Rollout, RolloutReader
from api_router.continuity.index import ContinuityIndex, SealedKind, earlier_keys, sealed_key, sealed_kind
from api_router.jsonbytes import dumps
from api_router.texts import quoted

SESSION_HEADERS = ("session_id", "session-id", "thread-id", "conversation_id", "x-session-id")
ROLLOUT_RETRY_DELAY = 0.2
ROLLOUT_KEEP_SECONDS = 600.0  # a session file read is kept this long after the session's last read


class MissingSession(Exception):
    """The history needed to replay a conversation is not available; the message names why."""


@dataclass(frozen=True)
class BodyOptions:
    """How far a body departs from what the usual rules give (each set by one continuity retry)."""

    rebuild: bool = False  # replay the history instead of previous_response_id
    strip_sealed: bool = False  # drop every sealed reasoning item, whoever sealed it
    expand_compaction: bool = False  # expand every compaction item, whoever sealed it
    # (compaction id, summary text): an expansion too large for the target, summarised by the target.
    summaries: tuple[tuple[str, str], ...] = ()


PLAIN = BodyOptions()  # the usual rules, no retry's departure

class ClientRequest:
    """One client request body: the bytes as they came, and what routing needs from them.

    The parsed body is kept only while it may be needed: a Codex turn parses into hundreds of
    objects, and freeing them once the stream is over (from a cold cache) cost more than parsing the
    bytes again on the rare path that needs them (``release_payload``)."""

    __slots__ = (
        "_payload",
        "bodies",
        "compaction_trigger",
        "expansions",
        "model",
        "previous_response_id",
        "raw",
        "rollout_read",
        "sealed",
        "session_id",
        "store_false",
        "stream",
        "summarised",
    )

    def __init__(self, raw: bytes, payload: dict[str, Any], session_id: str | None) -> None:
        self.raw = raw
        # The session file, once looked for: its contents, or why it is not usable (each candidate
        # provider would otherwise search and wait for it again).
        self.rollout_read: Rollout | str | None = None
        self._payload: dict[str, Any] | None = payload
        self.session_id = session_id
        self.stream = payload.get("stream") is True
        model = payload.get("model")
        self.model = model if isinstance(model, str) else None
        prev = payload.get("previous_response_id")
        self.previous_response_id = prev if isinstance(prev, str) and prev else None
        self.store_false = payload.get("store") is False
        self.sealed = b'"encrypted_content"' in raw  # sealed items at all (a byte scan, no parse)
        items = payload.get("input")
        # Codex's remote compaction: the input ends with {"type": "compaction_trigger"}.
        self.compaction_trigger = isinstance(items, list) and bool(items) and isinstance(items[-1], dict) \
            and items[-1].get("type") == "compaction_trigger"
        # Bodies already built for this request, per (provider as the request knows it, options): that id
        # stays the provider's own while the request runs, whatever renames or swaps of ids come meanwhile.
        self.bodies: dict[tuple[str, BodyOptions], bytes] = {}
        # The compaction items replaced in those bodies: compaction id -> the items that took its place.
        self.expansions: dict[tuple[str, BodyOptions], dict[str, list[Any]]] = {}
        # Those bodies in which the provider's own summary (asked for now, or remembered) takes a compaction's place.
        self.summarised: set[tuple[str, BodyOptions]] = set()

    @property
    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            self._payload = orjson.loads(self.raw)
        return self._payload

    def release_payload(self) -> None:
        self._payload = None


def session_id_of(headers: Mapping[str, str], payload: Mapping[str, Any]) -> str | None:
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value and value.strip():
            return _utf8(value.strip())
    key = payload.get("prompt_cache_key")
    return (key.strip() or None) if isinstance(key, str) else None  # as a header's: the UI looks sessions up trimmed


def _utf8(value: str) -> str:
    """A header value as text that can be stored: bytes that were not UTF-8 (kept by aiohttp as lone
    surrogates) become U+FFFD, so the same header still names the same session."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _as_items(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value:
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    return []


def _signature(item: Any) -> Any:
    """What makes two history items the same, ignoring fields Codex adds or drops when saving; always
    hashable, whatever the item holds (a client's or a session file's odd values included)."""
    if not isinstance(item, dict):
        return _plain(item)
    kind = _plain(item.get("type", "message"))
    if kind == "message":
        return (kind, _plain(item.get("role")), dumps(item.get("content"), sort_keys=True))
    if "call_id" in item:
        return (kind, _plain(item.get("call_id")))
    return (kind, _plain(item.get("id")), dumps(item, sort_keys=True))


def _plain(value: Any) -> Any:
    """``value`` when it can be a set's member, else its JSON text."""
    return value if value is None or isinstance(value, (str, int, float)) else dumps(value, sort_keys=True)


def rebuild_input(history: list[Any], own: list[Any]) -> list[Any]:
    """The session history followed by the request's own items, unless they already end it."""
    n = len(own)
    if n and n <= len(history) and [_signature(i) for i in history[-n:]] == [_signature(i) for i in own]:
        return list(history)
    return [*history, *own]


def sealed_in(items: list[Any]) -> list[Any]:
    """The items that carry sealed content (``encrypted_content``: reasoning and compaction items), in
    order: the only ones the continuity rules look at. One pass with the test that rules out most
    items first — a long history has thousands of items, and this runs on every request that carries
    sealed items."""
    return [item for item in items if isinstance(item, dict) and item.get("encrypted_content")]


# Sealed items an answer does without: reasoning, and the context compactions a relay's context
# management leaves in the history. Another provider cannot read them, so it is not sent them. (A
# compaction item stands for the conversation it replaced: that one is expanded instead.)
_DROPPED_KINDS = frozenset({SealedKind.REASONING, SealedKind.CONTEXT_COMPACTION})


def drop_foreign_sealed(items: list[Any], provider: str, owners: Mapping[str, str], *, all_sealed: bool,
                        sealed: list[Any] | None = None) -> list[Any]:
    """``items`` without the reasoning and context compactions another provider sealed (or without any
    sealed ones: ``all_sealed``); ``sealed``: ``sealed_in(items)`` when the caller has it already.

    Returns the very same list when nothing is dropped, so callers can forward the original bytes.
    """
    doomed = {id(item) for item in (sealed_in(items) if sealed is None else sealed)
              if sealed_kind(item) in _DROPPED_KINDS and (all_sealed or _owner(owners, item, provider) != provider)}
    return [item for item in items if id(item) not in doomed] if doomed else items


def _owner(owners: Mapping[str, str], item: dict[str, Any], default: str | None) -> str | None:
    """Who sealed ``item``, as recorded (``default`` when nobody we know did) — also by an earlier
    version, under the key it used."""
    key = sealed_key(item)
    if key is None:
        return default
    owner = owners.get(key)
    if owner is None and getattr(owners, "earlier_keys", False):
        owner = next(filter(None, map(owners.get, earlier_keys(item))), None)
    return default if owner is None else owner


def _compaction_key(item: dict[str, Any]) -> str | None:
    """What a compaction item's expansion and summaries are kept under: its sealed content's key, or its id."""
    cid = item.get("id")
    return sealed_key(item) or (cid if isinstance(cid, str) else None)


def _summarised(rollout: Rollout, ckey: str | None, cid: Any, within: tuple[str, ...]) -> list[Any] | None:
    """The conversation the compaction item known as ``ckey`` (or by its id) replaced, by the session file:
    the newest such compaction's, or inside the expansion of compactions of the same key, the one before
    each of them (None: the file shows no more of them; this also ends every loop)."""
    histories = rollout.summarised.get(ckey) if ckey is not None else None
    if histories is None and isinstance(cid, str):
        histories = rollout.summarised.get(cid)
    if not histories or ckey is None:
        return None
    depth = within.count(ckey)
    return histories[-1 - depth] if depth < len(histories) else None




SUMMARY_PREFIX = ("[API Router] The start of this conversation happened with another model provider and was "
                  "compacted there. Here is a summary of it, written when the conversation moved to this provider:\n\n")


def summary_message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": SUMMARY_PREFIX + text}]}


class Continuity:
    """Builds, for each target provider, the body that provider may see."""

    def __init__(self, codex_home: Path, index: ContinuityIndex) -> None:
        self._codex_home = codex_home
        self.index = index
        self._rollouts = RolloutReader()
        self._expiry: asyncio.TimerHandle | None = None

    @staticmethod
    def untouched(req: ClientRequest) -> bool:
        """Whether every provider gets the client's own bytes (the usual case): no
        previous_response_id to judge and no sealed items to filter."""
        return req.previous_response_id is None and not req.sealed

    async def body_for(self, req: ClientRequest, provider: str, first_candidate: str,
                       opts: BodyOptions = PLAIN, known_as: str | None = None) -> bytes:
        """The body ``provider`` (its id now) may see; ``known_as``: the id the request knows it by, which
        names what is kept for it (``req.bodies``, ``req.expansions``)."""
        key = (known_as or provider, opts)
        cached = req.bodies.get(key)
        if cached is None:
            cached = req.bodies[key] = await self._build(req, provider, first_candidate, opts, key)
        return cached

    def keeps_previous_id(self, req: ClientRequest, provider: str, first_candidate: str) -> bool:
        prev = req.previous_response_id
        if prev is None or self.index.rejects_previous_id(provider):
            return False
        return (self.index.response_owner(prev) or first_candidate) == provider

    async def _build(self, req: ClientRequest, provider: str, first_candidate: str, opts: BodyOptions,
                     key: tuple[str, BodyOptions]) -> bytes:
        payload = req.payload
        drop_previous = req.previous_response_id is not None and (
            opts.rebuild or not self.keeps_previous_id(req, provider, first_candidate))
        rollout: Rollout | None = None
        items: list[Any] | None = None
        if drop_previous:
            rollout = await self._rollout_of(req, "previous_response_id cannot be replayed on another provider")
            items = rebuild_input(rollout.history, _as_items(payload.get("input")))
        source = items if items is not None else payload.get("input")
        # A replayed history carries what the session file holds, sealed items of any provider included,
        # even when the client's own items carry none.
        if isinstance(source, list) and (req.sealed or items is not None) and (sealed := sealed_in(source)):
            owners = self.index.sealed_owners(req.session_id)
            foreign = [i for i in sealed if self._must_expand(i, provider, owners, opts)]
            if foreign:
                summaries = [self._summary_of(_compaction_key(i), provider, opts) for i in foreign]
                if rollout is None and None in summaries:
                    rollout = await self._rollout_of(req, "a compaction item sealed by another provider cannot be "
                                                          "expanded")
                expanded = req.expansions.setdefault(key, {})
                if any(summary is not None for summary in summaries):
                    req.summarised.add(key)
                source = self._expand_compactions(source, provider, owners, opts, rollout, (), expanded)
                items = source
                sealed = sealed_in(source)
            filtered = drop_foreign_sealed(source, provider, owners, all_sealed=opts.strip_sealed, sealed=sealed)
            if filtered is not source:
                items = filtered
        if not drop_previous and items is None:
            return req.raw
        out = dict(payload)
        if drop_previous:
            out.pop("previous_response_id", None)
        if items is not None:
            out["input"] = items
        return dumps(out)

    @staticmethod
    def _must_expand(item: Any, provider: str, owners: Mapping[str, str], opts: BodyOptions) -> bool:
        return sealed_kind(item) == SealedKind.COMPACTION and (
            opts.expand_compaction or _owner(owners, item, provider) != provider)

    def _summary_of(self, cid: Any, provider: str, opts: BodyOptions) -> str | None:
        """``provider``'s summary of what compaction ``cid`` replaced: asked for by this request, or
        remembered from an earlier one."""
        if not isinstance(cid, str):
            return None
        for known, text in opts.summaries:
            if known == cid:
                return text
        return self.index.summary(provider, cid)

    def _expand_compactions(self, items: list[Any], provider: str, owners: Mapping[str, str], opts: BodyOptions,
                            rollout: Rollout | None, within: tuple[str, ...],
                            expanded: dict[str, list[Any]]) -> list[Any]:
        """``items`` with every compaction item ``provider`` may not see replaced by the conversation it
        summarised (recursively: that conversation may hold an older compaction item), or by the
        target's own summary of it. Items before a compaction item that the expansion repeats (Codex
        keeps e.g. its instructions) appear once. ``rollout`` may be None only when every such item
        has a summary. ``within``: the keys of the compactions being expanded around ``items``, outermost
        first — an item known as one of them stands for an older compaction of that key."""
        out: list[Any] = []
        for item in items:
            if not self._must_expand(item, provider, owners, opts):
                out.append(item)
                continue
            # Known by its sealed content: Codex's own compaction items carry no id (and it gives an id-less
            # item from a relay one of its own making).
            ckey = _compaction_key(item)
            summary = self._summary_of(ckey, provider, opts)
            if summary is not None:
                out.append(summary_message(summary))
                continue
            assert rollout is not None
            cid = item.get("id")
            summarised = _summarised(rollout, ckey, cid, within)
            if summarised is None or ckey is None:
                named = quoted(cid) if isinstance(cid, str) else "(without an id)"
                raise MissingSession(
                    f"the conversation carries a compaction item {named} sealed by another provider, and the "
                    "Codex session file does not show what it summarised; it can only go to the provider that "
                    "sealed it")
            expansion = self._expand_compactions(summarised, provider, owners, opts, rollout, (*within, ckey), {})
            # What the compaction summarised came from other providers' turns: only reasoning (and context
            # compactions) known to be the target's own may stay.
            expansion = [i for i in expansion
                         if not (sealed_kind(i) in _DROPPED_KINDS and _owner(owners, i, None) != provider)]
            expanded[ckey] = expansion
            repeated = {_signature(i) for i in expansion}
            out = [i for i in out if _signature(i) not in repeated] + expansion
        return out

    async def _rollout_of(self, req: ClientRequest, why: str) -> Rollout:
        if req.rollout_read is None:
            req.rollout_read = await self._read_rollout(req.session_id)
        if isinstance(req.rollout_read, str):
            raise MissingSession(f"{why}: {req.rollout_read}")
        return req.rollout_read

    async def _read_rollout(self, session_id: str | None) -> Rollout | str:
        if not session_id:
            return "the request carries no session id (session-id header or prompt_cache_key)"
        home = self._codex_home
        try:
            for attempt in range(2):
                try:
                    rollout = await asyncio.to_thread(self._rollouts.read, home, session_id)
                except OSError as exc:
                    return (f"the Codex session file of session {quoted(session_id)} cannot be read "
                            f"({exc.strerror or exc})")
                if rollout is not None:
                    return await self._with_ancestors(rollout) if rollout.forked_from else rollout
                if attempt == 0:
                    await asyncio.sleep(ROLLOUT_RETRY_DELAY)  # Codex may write the file a moment late
            return f"no Codex session file for session {quoted(session_id)} under {home / 'sessions'}"
        finally:
            self._expire_rollouts_later()

    async def _with_ancestors(self, rollout: Rollout) -> Rollout:
        """A forked session's rollout, knowing also what the compactions of the sessions it was forked
        from summarised (its own file starts from their history as it stood, compaction items and all).
        An ancestor whose file is gone or unreadable ends the search."""
        summarised = dict(rollout.summarised)
        parent = rollout.forked_from
        seen: set[str] = set()
        while parent and parent not in seen and len(seen) < MAX_FORK_DEPTH:
            seen.add(parent)
            try:
                ancestor = await asyncio.to_thread(self._rollouts.read, self._codex_home, parent)
            except OSError:
                break
            if ancestor is None:
                break
            for cid, histories in ancestor.summarised.items():
                summarised.setdefault(cid, histories)
            parent = ancestor.forked_from
        return Rollout(rollout.history, summarised, rollout.forked_from)

    def _expire_rollouts_later(self) -> None:
        """Once no session file has been needed for ROLLOUT_KEEP_SECONDS, the kept ones are let go
        (a second later than that: the timer's clock may run a little behind the reader's)."""
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = asyncio.get_running_loop().call_later(ROLLOUT_KEEP_SECONDS + 1.0, self._let_rollouts_go)

    def _let_rollouts_go(self) -> None:
        """The kept session files let go, and the memory they held given back to the system (off the loop:
        trimming a large heap takes a moment)."""
        if self._rollouts.expire(ROLLOUT_KEEP_SECONDS):
            asyncio.get_running_loop().run_in_executor(None, heap.give_back)
