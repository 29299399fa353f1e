"""Which provider each Codex session is on.

A session's state lives with the provider that served it (prompt cache, sealed reasoning and
compaction items), so while the session is in use its next request goes back there — even when the
preferred provider has recovered in the meantime. A session idle for longer than
``session_idle_return_seconds`` (about a prompt cache's lifetime) follows the usual rules again; an
explicit user choice (a lock, a new preferred provider) moves every session at once.
Bindings are saved in the store and survive a restart.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from api_router.records import now_ms
from api_router.store import Store

MAX_SESSIONS = 50_000


class SessionAffinity:
    def __init__(self, store: Store, keep_seconds: float) -> None:
        self._store = store
        self._lock = threading.Lock()
        # session -> (provider, last request, unix ms), least recently served first: the session to let
        # go when full is the first, found without looking at the other 50,000.
        self._bound: OrderedDict[str, tuple[str, int]] = OrderedDict()
        saved = store.load_affinities(now_ms() - int(keep_seconds * 1000))
        for session, provider, unix_ms in sorted(saved, key=lambda row: row[2]):
            self._bound[session] = (provider, unix_ms)

    def provider_for(self, session_id: str, idle_return_seconds: float) -> str | None:
        """The provider the session is bound to, while it is in use."""
        with self._lock:
            bound = self._bound.get(session_id)
        if bound is None or now_ms() - bound[1] >= idle_return_seconds * 1000:
            return None
        return bound[0]

    def bind(self, session_id: str, provider: str) -> None:
        now = now_ms()
        with self._lock:
            previous = self._bound.get(session_id)
            self._bound[session_id] = (provider, now)
            self._bound.move_to_end(session_id)
            if len(self._bound) > MAX_SESSIONS:
                self._bound.popitem(last=False)
        # An unchanged binding is saved at most every few seconds of a session's traffic.
        if previous is None or previous[0] != provider or now - previous[1] > 5_000:
            self._store.save_affinity(session_id, provider, now)

    def bound(self, session_id: str) -> str | None:
        """The provider the session was last served by, however long ago (for display)."""
        with self._lock:
            bound = self._bound.get(session_id)
        return bound[0] if bound else None

    def release_all(self) -> None:
        """The user chose a provider: every session follows that choice from its next request on."""
        with self._lock:
            sessions = list(self._bound)
            self._bound.clear()
        if sessions:
            self._store.forget_affinities(sessions)

    def rename(self, old: str, new: str) -> None:
        with self._lock:
            for session, (provider, unix_ms) in self._bound.items():
                if provider == old:
                    self._bound[session] = (new, unix_ms)

    def forget(self, provider: str) -> None:
        with self._lock:
            for session in [s for s, (p, _) in self._bound.items() if p == provider]:
                del self._bound[session]
