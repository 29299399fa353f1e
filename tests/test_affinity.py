"""Session bindings as the store sees them: when they are saved, and under which routing choice."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from api_router.routing import affinity
from api_router.routing.affinity import SessionAffinity


class Store:
    """The part of the store SessionAffinity uses, in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, int]] = {}
        self.meta: dict[str, str] = {}
        self.saves: list[tuple[str, str, int]] = []

    def load_affinities(self, since_ms: int) -> list[tuple[str, str, int]]:
        return [(s, p, t) for s, (p, t) in self.rows.items() if t >= since_ms]

    def save_affinity(self, session: str, provider: str, unix_ms: int) -> None:
        self.rows[session] = (provider, unix_ms)
        self.saves.append((session, provider, unix_ms))

    def forget_affinities(self, sessions: list[str]) -> None:
        for s in sessions:
            self.rows.pop(s, None)

    def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self.meta[key] = value


def clock(monkeypatch: Any, start: int = 1_000_000) -> list[int]:
    now = [start]
    monkeypatch.setattr(affinity, "now_ms", lambda: now[0])
    return now


def test_a_busy_session_is_saved_every_few_seconds_not_only_when_it_pauses(monkeypatch) -> None:
    now = clock(monkeypatch)
    store = Store()
    a = SessionAffinity(store, 600, "|p1")  # type: ignore[arg-type]
    for _ in range(60):  # a request every 2 s for two minutes
        a.bind("s", "p2")
        now[0] += 2_000
    times = [t for _, _, t in store.saves]
    assert len(times) >= 60 * 2_000 // (affinity.SAVE_EVERY_MS + 2_000)  # at most one step late each time
    assert all(later - earlier <= affinity.SAVE_EVERY_MS + 2_000 for earlier, later in pairwise(times))
    a.save_unsaved()  # the app stops: the last request's time is saved
    assert store.rows["s"] == ("p2", now[0] - 2_000)


def test_bindings_survive_a_restart_under_the_same_choice_and_go_under_a_new_one(monkeypatch) -> None:
    clock(monkeypatch)
    store = Store()
    SessionAffinity(store, 600, "|p1").bind("s", "p2")  # type: ignore[arg-type]
    assert SessionAffinity(store, 600, "|p1").bound("s") == "p2"  # type: ignore[arg-type]
    assert SessionAffinity(store, 600, "|p3").bound("s") is None  # type: ignore[arg-type]
    assert store.rows == {}


def test_a_choice_changed_while_running_is_kept_so_the_next_start_releases_nothing(monkeypatch) -> None:
    """A rename (or a delete) changes the ids in the choice: it is noted as the config changes."""
    clock(monkeypatch)
    store = Store()
    a = SessionAffinity(store, 600, "|p1")  # type: ignore[arg-type]
    a.bind("s", "p2")
    a.note_choice("|main")  # p1 renamed to main
    assert SessionAffinity(store, 600, "|main").bound("s") == "p2"  # type: ignore[arg-type]
