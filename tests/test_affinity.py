"""Session bindings as the store sees them: when they are saved, and under which routing choice."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from api_router.routing import affinity
from api_router.routing.affinity import SessionAffinity
from tests.support.stores import AffinityStore as Store


def clock(monkeypatch: Any, start: int = 1_000_000) -> list[int]:
    """``now[0]``: the steady clock; ``now[1]``: how far the wall clock is set from it."""
    now = [start, 0]
    monkeypatch.setattr(affinity, "steady_ms", lambda: now[0])
    monkeypatch.setattr(affinity, "now_ms", lambda: now[0] + now[1])
    monkeypatch.setattr(affinity, "wall_ms", lambda steady: steady + now[1])
    return now


def test_a_wall_clock_set_back_does_not_keep_an_idle_session_on_its_provider(monkeypatch) -> None:
    """Idle time is the steady clock's: set back an hour (a machine that also boots Windows), the wall
    clock would have the session "in use" for another hour. What is saved is the wall clock's time."""
    now = clock(monkeypatch)
    store = Store()
    a = SessionAffinity(store, 600, "|p1")  # type: ignore[arg-type]
    a.bind("s", "p2")
    now[1] -= 3_600_000
    now[0] += 4_000
    assert a.provider_for("s", 3) is None and a.provider_for("s", 5) == "p2"
    a.bind("s", "p2")
    a.save_unsaved()
    assert store.rows["s"] == ("p2", now[0] + now[1])
    now[0] += 1_000  # a start after that: the saved binding is as old as it is on the wall clock
    assert SessionAffinity(store, 600, "|p1").provider_for("s", 2) == "p2"  # type: ignore[arg-type]
    assert SessionAffinity(store, 600, "|p1").provider_for("s", 1) is None  # type: ignore[arg-type]


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
    assert SessionAffinity(store, 600, "|p1").provider_for("s", 600) == "p2"  # type: ignore[arg-type]
    assert SessionAffinity(store, 600, "|p3").provider_for("s", 600) is None  # type: ignore[arg-type]
    assert store.rows == {}


def test_a_choice_changed_while_running_is_kept_so_the_next_start_releases_nothing(monkeypatch) -> None:
    """A rename (or a delete) changes the ids in the choice: it is noted as the config changes."""
    clock(monkeypatch)
    store = Store()
    a = SessionAffinity(store, 600, "|p1")  # type: ignore[arg-type]
    a.bind("s", "p2")
    a.note_choice("|main")  # p1 renamed to main
    assert SessionAffinity(store, 600, "|main").provider_for("s", 600) == "p2"  # type: ignore[arg-type]


def test_a_choice_saved_by_an_older_version_is_judged_on_its_two_fields() -> None:
    """``lock|in effect`` (older versions) against ``lock|in effect|chosen``: the same when those two agree."""
    from api_router.routing.affinity import same_choice

    assert same_choice("|p1|p3", "|p1|p3") and same_choice("|p1", "|p1") and same_choice("|p1", "|p1|p3")
    assert not same_choice("|p1", "|p2|p3") and not same_choice("|p1|p1", "|p1|p3")
    assert not same_choice("p2|p1", "|p1|p1")


def test_past_fifty_thousand_sessions_the_one_served_longest_ago_is_let_go(monkeypatch) -> None:
    """The README's bound: 50,000 sessions held at once; the one let go for a new one is the least recently
    served (it follows the usual rules on its next request), not the first ever bound."""
    now = clock(monkeypatch)
    a = SessionAffinity(Store(), 600, "|p1")  # type: ignore[arg-type]
    for i in range(50_000):
        a.bind(f"s{i}", "p2")
    now[0] += 1_000
    a.bind("s0", "p2")  # served again: the newest now
    a.bind("new", "p2")
    assert [a.provider_for(s, 600) for s in ("s0", "s1", "s2", "new")] == ["p2", None, "p2", "p2"]


def test_a_start_takes_the_newest_fifty_thousand_saved_bindings(monkeypatch) -> None:
    """Bindings let go for room stay saved until they age out; a start held every one of them (73,718 seen)."""
    now = clock(monkeypatch)
    store = Store()
    for i in range(affinity.MAX_SESSIONS + 5):
        store.rows[f"s{i}"] = ("p2", now[0] - 100_000 + i)
    a = SessionAffinity(store, 600, "|p1")  # type: ignore[arg-type]
    assert [a.provider_for(f"s{i}", 600) for i in (0, 4, 5, affinity.MAX_SESSIONS + 4)] == [None, None, "p2", "p2"]


def test_a_new_choice_releases_every_saved_binding_at_once(tmp_path, monkeypatch) -> None:
    """One statement for all (50,000 deletes one by one kept the writer busy while requests waited), and the
    bindings let go for room go too: under the new choice a restart would have taken them up again."""
    from api_router.store import Store as RealStore

    clock(monkeypatch)
    store = RealStore(tmp_path / "s.sqlite3")
    store.open()
    try:
        monkeypatch.setattr(affinity, "MAX_SESSIONS", 3)
        a = SessionAffinity(store, 600, "|p1")
        for i in range(5):
            a.bind(f"s{i}", "p2")
        store.flush()
        assert store.query("SELECT count(*) FROM session_affinity") == [(5,)]
        a.release_all()
        a.note_choice("|p3")
        store.flush()
        assert store.query("SELECT count(*) FROM session_affinity") == [(0,)]
        assert SessionAffinity(store, 600, "|p3").provider_for("s0", 600) is None
    finally:
        store.close()


def test_a_session_moved_to_another_provider_is_saved_at_once():
    store = Store()
    a = SessionAffinity(store, 600, "|p1")  # type: ignore[arg-type]
    a.bind("s", "p1")
    a.bind("s", "p2")  # within SAVE_EVERY_MS: a crash now must not bring it back on p1 after a restart
    assert store.rows["s"][0] == "p2"


def test_a_failure_on_a_provider_the_session_has_left_keeps_its_binding():
    store = Store()
    a = SessionAffinity(store, 600, "|p1")  # type: ignore[arg-type]
    a.bind("s", "p2")  # a later request of the session moved it to p2
    a.release("s", "p1")  # an earlier one, still on p1, fails
    assert a.provider_for("s", 600) == "p2" and store.rows["s"][0] == "p2"


def test_a_session_its_provider_failed_stays_released_after_a_restart():
    store = Store()
    a = SessionAffinity(store, 600, "|p1")  # type: ignore[arg-type]
    a.bind("s", "p2")
    a.release("s", "p2")
    assert SessionAffinity(store, 600, "|p1").provider_for("s", 600) is None  # type: ignore[arg-type]


def test_sessions_a_user_choice_released_stay_released_after_a_restart():
    store = Store()
    a = SessionAffinity(store, 600, "|p1")  # type: ignore[arg-type]
    a.bind("s", "p2")
    a.release_all()  # the user chose p3 (then note_choice("|p3"))
    a.note_choice("|p3")
    assert SessionAffinity(store, 600, "|p3").provider_for("s", 600) is None  # type: ignore[arg-type]
