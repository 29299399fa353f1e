"""Who produced what: the one owner of the continuity maps.

- response id → provider (``previous_response_id`` only goes back to the provider that stored it);
- sealed item → provider (reasoning and compaction items carry ``encrypted_content`` only their
  producer can open), keyed by ``sealed_key`` (that sealed content's length, beginning and end), held in memory per
  session and found in the store by that key whatever the session (a forked session carries its
  parent's items);
- the providers that refuse ``previous_response_id`` altogether.

Lookups are answered from memory (a session's sealed items are loaded once, then kept); every change
is queued to the store and survives a restart.
"""

from __future__ import annotations

import enum
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import islice
from typing import Any, TypeVar

from api_router.store import Store
from api_router.store.database import tombstone

_T = TypeVar("_T")

REJECTS_PREVIOUS_ID_META = "rejects_previous_response_id"
RESPONSES_IN_MEMORY = 10_000
SESSIONS_IN_MEMORY = 256
# Sealed items kept in memory: a long session keeps its newest ones (what its requests carry since
# their last compaction: one reasoning item per model call); older ones and whole sessions past the
# total are read back from the store when asked for. Each costs about 150 bytes, so this bounds them
# to a few MB however long the app runs, and 25 long sessions at once fit without reloading.
SEALED_PER_SESSION_IN_MEMORY = 2_000
SEALED_ITEMS_IN_MEMORY = 50_000
QUEUED_AT_MOST = 100_000  # sealed items kept aside until written (about 15 MB at most)
TURN_STATES_IN_MEMORY = 4096
SUMMARIES_IN_MEMORY = 256


class ContinuityIndex:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._responses: OrderedDict[str, str] = OrderedDict()
        self._sealed: OrderedDict[str, SessionOwners] = OrderedDict()
        self._sealed_items = 0  # entries across self._sealed
        # Renames and deletes so far: a read of the store that one overtook is read again (the store answers
        # under the ids of every move queued to it, and it is told first; see ProviderStates).
        self._moves = 0
        self._rejects_previous_id = set(json.loads(store.get_meta(REJECTS_PREVIOUS_ID_META) or "[]"))
        # x-codex-turn-state value -> the provider that issued it. It lives for one turn, so memory is
        # enough: after a restart an unknown state is simply not forwarded.
        self._turn_states: OrderedDict[str, str] = OrderedDict()
        # Sealed items recorded in the last UNKNOWN_AFTER_SECONDS — and all since, while the store holds its
        # writes back (item -> (provider, when)), whatever memory trims: until the writer has stored them,
        # memory is the only place that knows them.
        self._queued: OrderedDict[str, tuple[str, float]] = OrderedDict()
        # (provider, compaction id) -> that provider's summary of what another provider's compaction
        # replaced: the conversation behind a compaction never changes, so once it was too long for a
        # provider, every later request of the session gets the summary instead of asking again.
        self._summaries: OrderedDict[tuple[str, str], str] = OrderedDict()

    # --- response ids ----------------------------------------------------------------------------

    def record_response(self, response_id: str, provider: str) -> None:
        with self._lock:
            self._responses[response_id] = provider
            self._responses.move_to_end(response_id)
            while len(self._responses) > RESPONSES_IN_MEMORY:
                self._responses.popitem(last=False)
        self._store.save_response_owner(response_id, provider)

    def response_owner(self, response_id: str) -> str | None:
        with self._lock:
            owner = self._responses.get(response_id)
        if owner is not None:
            return owner
        with self._unmoved(lambda: self._store.load_response_owner(response_id)) as owner:
            return owner

    # --- turn state ------------------------------------------------------------------------------

    def record_turn_state(self, value: str, provider: str) -> None:
        with self._lock:
            self._turn_states[value] = provider
            self._turn_states.move_to_end(value)
            while len(self._turn_states) > TURN_STATES_IN_MEMORY:
                self._turn_states.popitem(last=False)

    def turn_state_owner(self, value: str) -> str | None:
        with self._lock:
            return self._turn_states.get(value)

    # --- summaries of foreign compactions --------------------------------------------------------------

    def record_summary(self, provider: str, compaction_id: str, text: str) -> None:
        with self._lock:
            self._summaries[(provider, compaction_id)] = text
            self._summaries.move_to_end((provider, compaction_id))
            while len(self._summaries) > SUMMARIES_IN_MEMORY:
                self._summaries.popitem(last=False)

    def summary(self, provider: str, compaction_id: str) -> str | None:
        with self._lock:
            return self._summaries.get((provider, compaction_id))

    # --- sealed items -------------------------------------------------------------------------------

    def record_sealed(self, session_id: str | None, items: Iterable[tuple[str, str]], provider: str) -> None:
        """``items``: (item id, kind) pairs that ``provider`` sealed in this session."""
        pairs = list(items)
        if not pairs:
            return
        session = session_id or ""
        # Loading the session first keeps memory a superset of what is queued to disk, so lookups
        # never need to wait for the writer.
        owners = self._session(session)
        now = time.monotonic()
        with self._lock:
            # Recorded again as it stands (an answer's items are recorded as it leaves and once its attempt
            # ends): nothing to write.
            pairs = [(item, kind) for item, kind in pairs if owners.recent.get(item) != provider]
            if not pairs:
                return
            self._remember_locked(session, owners, {item: provider for item, _ in pairs})
            queued = self._queued
            for item, _ in pairs:
                queued.pop(item, None)  # to the end: the newest
                queued[item] = (provider, now)
            if not self._store.writes_held:
                while next(iter(queued.values()))[1] < now - UNKNOWN_AFTER_SECONDS:  # long written
                    queued.popitem(last=False)
            while len(queued) > QUEUED_AT_MOST:  # a database held for hours must not take all memory
                queued.popitem(last=False)
        self._store.save_sealed_owners(session, pairs, provider)

    def sealed_owners(self, session_id: str | None) -> Mapping[str, str]:
        """item id → provider for one session."""
        return self._session(session_id or "")

    @property
    def sealed_items_in_memory(self) -> int:
        return self._sealed_items

    def _session(self, session: str) -> SessionOwners:
        with self._lock:
            cached = self._sealed.get(session)
            if cached is not None:
                self._sealed.move_to_end(session)
                return cached
        def read() -> SessionOwners:
            recent = self._store.load_sealed_owners(session, SEALED_PER_SESSION_IN_MEMORY)
            return SessionOwners(recent, lambda item: self._recall(session, item),
                                 earlier_keys=self._store.earlier_sealed_keys)

        with self._unmoved(read) as loaded:
            owners = self._sealed.setdefault(session, loaded)
            if owners is loaded:
                self._sealed_items += len(loaded.recent)
                self._trim_sessions()
        return owners

    def _recall(self, session: str, item: str) -> str | None:
        """An item memory does not hold, from the store. Either answer is kept in memory (an item the
        store does not know either as ``UNKNOWN``): a request carries the same items turn after turn,
        and a long history sealed before API Router saw it would otherwise cost one read per item per
        request, on the event loop."""
        def read() -> str | None:
            with self._lock:  # recorded lately, or in any session's memory (a fork carries its parent's items)
                queued = self._queued.get(item)
                owner = queued[0] if queued else next(
                    (o.recent[item] for o in self._sealed.values() if o.recent.get(item)), None)
            return self._store.load_sealed_owner(item) if owner is None else owner

        with self._unmoved(read) as owner:
            owners = self._sealed.get(session)
            if owners is not None and (owner is not None or owners.settled()):
                self._remember_locked(session, owners, {item: UNKNOWN if owner is None else owner})
        return owner

    @contextmanager
    def _unmoved(self, read: Callable[[], _T]) -> Iterator[_T]:
        """What ``read`` (a read of the store, without the lock) gives, with ``_lock`` held and no rename
        or delete since the read began: one that came between is read again (the store answers under
        the ids of every move queued to it, so the answer is right once no move overtook the read)."""
        while True:
            with self._lock:
                moves = self._moves
            value = read()
            self._lock.acquire()
            if self._moves == moves:
                break
            self._lock.release()
        try:
            yield value
        finally:
            self._lock.release()

    def _remember_locked(self, session: str, owners: SessionOwners, found: dict[str, str]) -> None:
        before = len(owners.recent)
        for item, owner in found.items():
            owners.recent.pop(item, None)  # to the end: the newest
            owners.recent[item] = owner
        owners.trim(SEALED_PER_SESSION_IN_MEMORY)
        if self._sealed.get(session) is owners:  # not dropped from memory meanwhile
            self._sealed_items += len(owners.recent) - before
            self._trim_sessions()

    def _trim_sessions(self) -> None:
        """Drop the least recently used sessions from memory (never the latest); ``_lock`` held."""
        while len(self._sealed) > 1 and (len(self._sealed) > SESSIONS_IN_MEMORY
                                         or self._sealed_items > SEALED_ITEMS_IN_MEMORY):
            _, dropped = self._sealed.popitem(last=False)
            self._sealed_items -= len(dropped.recent)

    # --- providers that refuse previous_response_id ----------------------------------------------------

    def rejects_previous_id(self, provider: str) -> bool:
        return provider in self._rejects_previous_id

    def mark_rejects_previous_id(self, provider: str) -> bool:
        """Remember that ``provider`` refuses the parameter; True when this is news."""
        with self._lock:
            if provider in self._rejects_previous_id:
                return False
            self._rejects_previous_id.add(provider)
        self._save_rejecting()
        return True

    def _save_rejecting(self) -> None:
        with self._lock:
            value = json.dumps(sorted(self._rejects_previous_id))
        self._store.set_meta(REJECTS_PREVIOUS_ID_META, value)

    # --- renames and deletes (the store renames its own rows) -------------------------------------------

    def rename(self, old: str, new: str) -> None:
        with self._lock:
            self._moves += 1
            for rid, owner in self._responses.items():
                if owner == old:
                    self._responses[rid] = new
            for owners in self._sealed.values():
                owners.rename(old, new)
            for item, (owner, when) in self._queued.items():
                if owner == old:
                    self._queued[item] = (new, when)
            for value, owner in self._turn_states.items():
                if owner == old:
                    self._turn_states[value] = new
            for provider, cid in [key for key in self._summaries if key[0] == old]:
                self._summaries[(new, cid)] = self._summaries.pop((provider, cid))
            moved = old in self._rejects_previous_id
            self._rejects_previous_id.discard(old)
            if moved:
                self._rejects_previous_id.add(new)
        if moved:
            self._save_rejecting()

    def readdressed(self, provider: str) -> None:
        """A new address may well accept previous_response_id; what it sealed and issued stays its own."""
        with self._lock:
            known = provider in self._rejects_previous_id
            self._rejects_previous_id.discard(provider)
        if known:
            self._save_rejecting()

    def forget(self, provider: str) -> None:
        """A deleted provider: a later provider with the same id starts with a clean slate, and what
        the deleted one produced is never taken for the new one's (the store keeps those rows under
        the same tombstone)."""
        with self._lock:
            known = provider in self._rejects_previous_id
            self._rejects_previous_id.discard(provider)
        self.rename(provider, tombstone(provider))
        if known:
            self._save_rejecting()


# The owner memory records for an item the store did not know when asked: not asked again (recording
# the item replaces it). Never a provider id, which is never empty.
UNKNOWN = ""
UNKNOWN_AFTER_SECONDS = 10.0  # see SessionOwners.settled


# Codex reads "compaction_summary" as a compaction item (and sends it back typed "compaction").
COMPACTION_TYPES = frozenset({"compaction", "compaction_summary"})


class SealedKind(enum.StrEnum):
    """What an item whose encrypted_content only its producer can read is to Codex (stored as its value)."""

    REASONING = "reasoning"
    COMPACTION = "compaction"
    CONTEXT_COMPACTION = "context_compaction"


_SEALED_TYPES = {"reasoning": SealedKind.REASONING, "context_compaction": SealedKind.CONTEXT_COMPACTION,
                 **dict.fromkeys(COMPACTION_TYPES, SealedKind.COMPACTION)}


def sealed_kind(item: Any) -> SealedKind | None:
    """``reasoning``, ``compaction`` or ``context_compaction`` for an item with sealed content; None for
    any other item (one of those types without its sealed content included: nothing in it is sealed)."""
    if type(item) is not dict:
        return None
    kind, content = item.get("type"), item.get("encrypted_content")
    return _SEALED_TYPES.get(kind) if type(kind) is str and type(content) is str and content else None


def sealed_key(item: dict[str, Any]) -> str | None:
    """What a sealed item's producer is recorded under: its sealed content, which the client sends back
    byte for byte. Not its id: a relay may give its sealed items none (Codex then sends them back with
    ids of its own making) or the ids another relay gives too (``rs_0``, ``rs_1``, …)."""
    content = item.get("encrypted_content")
    if type(content) is str and content:
        # A long one by its length, beginning and end. A sealed token ends with its MAC (or tag), which no
        # other has, and begins with its random IV; a relay's own format (two relays of one make may append
        # the same trailer) names its issuer at the beginning as a rule. A digest of each item would cost
        # a long history more than the rest of its rewrite (about 1 ms for the 249 sealed items of a 2 MB
        # Codex request, against 0.05 ms).
        if len(content) <= _WHOLE_UP_TO:
            return content
        return f"{len(content)}:{content[:_HEAD_CHARS]}:{content[-_END_CHARS:]}"
    return None


def earlier_keys(item: dict[str, Any]) -> Iterator[str]:
    """What earlier versions recorded a sealed item under, newest first — its length and end; before that its
    id, else a digest of its sealed content (made only when asked for): owners recorded by them are still
    found, while the store holds any (``Store.earlier_sealed_keys``)."""
    content = item.get("encrypted_content")
    if type(content) is not str or not content:
        return
    yield content if len(content) <= _EARLIER_WHOLE_UP_TO else f"{len(content)}:{content[-_END_CHARS:]}"
    item_id = item.get("id")
    if type(item_id) is str and item_id:
        yield item_id
    else:
        yield "sealed:" + hashlib.blake2b(content.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


_WHOLE_UP_TO = 96  # a longer one's key is shorter than it
_HEAD_CHARS = 32
_END_CHARS = 48  # a Fernet token's HMAC is its last 44 (base64 with padding)
_EARLIER_WHOLE_UP_TO = 64


class SessionOwners(Mapping[str, str]):
    """item id → provider for one session: its most recent items in memory, any other looked up in the
    store. (A session read back may miss items still queued for the writer, and only items 2,000
    recordings old are trimmed: the store is asked rather than memory trusted to be complete.)
    ``recent`` also holds the items found in neither (``UNKNOWN``), which the mapping leaves out."""

    __slots__ = ("_loaded_at", "_lookup", "earlier_keys", "recent")

    def __init__(self, recent: dict[str, str], lookup: Callable[[str], str | None], *,
                 earlier_keys: bool = False) -> None:
        self.recent = recent  # oldest first
        self._lookup = lookup
        self._loaded_at = time.monotonic()
        # Items may be recorded under an earlier version's key too (``earlier_keys``): asked for when the
        # store holds such records, so a history nobody recorded is not looked up twice for nothing.
        self.earlier_keys = earlier_keys

    def settled(self) -> bool:
        """Whether a miss in the store is final. Loading may miss the session's items still queued for
        the writer (recorded while the session was out of memory); those land within a writer window,
        or the database's busy timeout at worst. Everything recorded since loading is in memory."""
        return time.monotonic() - self._loaded_at >= UNKNOWN_AFTER_SECONDS

    def trim(self, keep: int) -> None:
        """Keep the ``keep`` newest; trimmed in batches, a tenth over the limit at a time."""
        excess = len(self.recent) - keep
        if excess > keep // 10:
            for item in list(islice(self.recent, excess)):
                del self.recent[item]

    def rename(self, old: str, new: str) -> None:
        for item, owner in self.recent.items():
            if owner == old:
                self.recent[item] = new

    def get(self, item: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if type(item) is not str:  # an id of another type (a list, a number) was never recorded
            return default
        owner = self.recent.get(item)
        if owner is None:
            owner = self._lookup(item)
        return owner or default

    def __getitem__(self, item: str) -> str:
        owner = self.get(item)
        if owner is None:
            raise KeyError(item)
        return owner

    # Iteration and size cover the items in memory only.
    def __iter__(self) -> Iterator[str]:
        return (item for item, owner in self.recent.items() if owner)

    def __len__(self) -> int:
        return sum(1 for _ in self)
