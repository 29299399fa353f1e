"""Which provider each Codex session is on.

A session's state lives with the provider that served it (prompt cache, sealed reasoning and
compaction items), so while the session is in use its next request goes back there — even when the
preferred provider has recovered in the meantime. A session idle for longer than
``session_idle_return_seconds`` (about a prompt cache's lifetime) follows the usual rules again; an
explicit user choice (a lock, a new preferred provider) moves every session at once — also one made
in config.toml while the app was not running. Bindings are saved in the store and survive a restart.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from api_router.config import Config
from api_router.records import now_ms, steady_ms, steady_of, wall_ms
from api_router.store import Store

MAX_SESSIONS = 50_000
SAVE_EVERY_MS = 5_000  # an unchanged binding is saved at most this often while its session is busy
CHOICE_KEY = "affinity_choice"  # the user's routing choice the saved bindings were made under


def routing_choice(cfg: Config) -> str:
    """The lock in effect and the preferred choice (``Config.preferred_choice``), as ``lock|in effect|chosen``:
    sessions are bound under one and released by another (a lock on a provider that cannot serve locks
    nothing, and moves nothing either)."""
    chosen, effective = cfg.preferred_choice
    return f"{cfg.effective_lock or ''}|{effective or ''}|{chosen or ''}"


def same_choice(saved: str, now: str) -> bool:
    """Whether the sessions saved under ``saved`` were bound under the choice ``now``. A value saved before
    the chosen provider was kept apart (``lock|in effect``) is judged on those two: an upgrade releases no
    session."""
    return saved == now or (saved.count("|") == 1 and now.rsplit("|", 1)[0] == saved)


class SessionAffinity:
    def __init__(self, store: Store, keep_seconds: float, choice: str) -> None:
        """``choice``: the routing choice of the config the app starts with (``routing_choice``)."""
        self._store = store
        self._lock = threading.Lock()
        # session -> (provider, its last request, when that binding was last saved; steady ms, as idle times
        # are measured: a wall clock set back would keep a session on its provider that much longer), least
        # recently served first: the session to let go when full is the first, found without looking
        # at the other 50,000. Saved, a time is the wall clock's.
        self._bound: OrderedDict[str, tuple[str, int, int]] = OrderedDict()
        self._unsaved: set[str] = set()  # sessions whose last request is newer than their saved binding
        saved = store.load_affinities(now_ms() - int(keep_seconds * 1000))
        made_under = store.get_meta(CHOICE_KEY)
        if made_under is not None and not same_choice(made_under, choice):  # chosen anew while the app was stopped
            store.forget_all_affinities()
            saved = []
        self._choice = made_under
        self.note_choice(choice)
        # The newest MAX_SESSIONS: a binding let go for room stays saved until it ages out.
        for session, provider, unix_ms in sorted(saved, key=lambda row: row[2])[-MAX_SESSIONS:]:
            at = steady_of(unix_ms, steady_ms(), now_ms())
            self._bound[session] = (provider, at, at)

    def provider_for(self, session_id: str, idle_return_seconds: float) -> str | None:
        """The provider the session is bound to, while it is in use."""
        with self._lock:
            bound = self._bound.get(session_id)
        if bound is None or steady_ms() - bound[1] >= idle_return_seconds * 1000:
            return None
        return bound[0]

    def bind(self, session_id: str, provider: str) -> None:
        now = steady_ms()
        with self._lock:
            previous = self._bound.get(session_id)
            save = previous is None or previous[0] != provider or now - previous[2] > SAVE_EVERY_MS
            self._bound[session_id] = (provider, now, now if save or previous is None else previous[2])
            self._bound.move_to_end(session_id)
            if len(self._bound) > MAX_SESSIONS:
                self._unsaved.discard(self._bound.popitem(last=False)[0])
            if save:
                self._unsaved.discard(session_id)
            else:
                self._unsaved.add(session_id)  # saved on the way out (save_unsaved) if not before
        if save:
            self._store.save_affinity(session_id, provider, wall_ms(now))

    def save_unsaved(self) -> None:
        """Save the bindings whose last request is not saved yet (the app stops): after a restart a
        session's idle time counts from its real last request."""
        with self._lock:
            rows = [(s, *self._bound[s][:2]) for s in self._unsaved if s in self._bound]
            self._unsaved.clear()
        for session, provider, at in rows:
            self._store.save_affinity(session, provider, wall_ms(at))

    def release(self, session_id: str, provider: str) -> None:
        """The session's provider failed it: its next request is routed as any other (it goes back only
        if routing picks it)."""
        with self._lock:
            bound = self._bound.get(session_id)
            if bound is None or bound[0] != provider:
                return
            del self._bound[session_id]
            self._unsaved.discard(session_id)
        self._store.forget_affinities([session_id])

    def release_all(self) -> None:
        """The user chose a provider: every session follows that choice from its next request on."""
        with self._lock:
            self._bound.clear()
            self._unsaved.clear()
        self._store.forget_all_affinities()  # those let go for room too: they were made under the old choice

    def note_choice(self, choice: str) -> None:
        """The config's routing choice (``routing_choice``), kept with the bindings: told of every config
        change (a rename or a delete changes the ids in it too), so that only a choice made while the
        app was not running releases the sessions at the next start."""
        if choice != self._choice:
            self._choice = choice
            self._store.set_meta(CHOICE_KEY, choice)

    def rename(self, old: str, new: str) -> None:
        with self._lock:
            for session, (provider, unix_ms, saved_ms) in self._bound.items():
                if provider == old:
                    self._bound[session] = (new, unix_ms, saved_ms)

    def forget(self, provider: str) -> None:
        with self._lock:
            for session in [s for s, (p, _, _) in self._bound.items() if p == provider]:
                del self._bound[session]
                self._unsaved.discard(session)
