"""Who produced what: the one owner of the continuity maps.

- response id → provider (``previous_response_id`` only goes back to the provider that stored it);
- sealed item id → provider, per session (reasoning and compaction items carry ``encrypted_content``
  only their producer can open);
- the providers that refuse ``previous_response_id`` altogether.

Lookups are answered from memory (a session's sealed items are loaded once, then kept); every change
is queued to the store and survives a restart.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from api_router.store import Store

REJECTS_PREVIOUS_ID_META = "rejects_previous_response_id"
RESPONSES_IN_MEMORY = 10_000
SESSIONS_IN_MEMORY = 256
TURN_STATES_IN_MEMORY = 4096


class ContinuityIndex:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._responses: OrderedDict[str, str] = OrderedDict()
        self._sealed: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._rejects_previous_id = set(json.loads(store.get_meta(REJECTS_PREVIOUS_ID_META) or "[]"))
        # x-codex-turn-state value -> the provider that issued it. It lives for one turn, so memory is
        # enough: after a restart an unknown state is simply not forwarded.
        self._turn_states: OrderedDict[str, str] = OrderedDict()

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
        return owner if owner is not None else self._store.load_response_owner(response_id)

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
        with self._lock:
            owners.update((item, provider) for item, _ in pairs)
        self._store.save_sealed_owners(session, pairs, provider)

    def sealed_owners(self, session_id: str | None) -> Mapping[str, str]:
        """item id → provider for one session."""
        return self._session(session_id or "")

    def _session(self, session: str) -> dict[str, str]:
        with self._lock:
            cached = self._sealed.get(session)
            if cached is not None:
                self._sealed.move_to_end(session)
                return cached
        loaded = self._store.load_sealed_owners(session)
        with self._lock:
            owners = self._sealed.setdefault(session, loaded)
            while len(self._sealed) > SESSIONS_IN_MEMORY:
                self._sealed.popitem(last=False)
        return owners

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
            for rid, owner in self._responses.items():
                if owner == old:
                    self._responses[rid] = new
            for owners in self._sealed.values():
                for item, owner in owners.items():
                    if owner == old:
                        owners[item] = new
            for value, owner in self._turn_states.items():
                if owner == old:
                    self._turn_states[value] = new
            moved = old in self._rejects_previous_id
            self._rejects_previous_id.discard(old)
            if moved:
                self._rejects_previous_id.add(new)
        if moved:
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


def tombstone(provider: str) -> str:
    """The owner recorded for items of a deleted provider; ``~`` never occurs in a provider id."""
    return f"~deleted~{provider}"
