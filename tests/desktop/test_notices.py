"""The notification state machine: which status changes become which notifications."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from api_router.desktop.notices import NoticeKind, Notices

FAILOVER, ALL_DOWN, RECOVERY = NoticeKind.FAILOVER, NoticeKind.ALL_DOWN, NoticeKind.RECOVERY
QUOTA_LOW, QUOTA_EXHAUSTED, PROVIDER_BACK = NoticeKind.QUOTA_LOW, NoticeKind.QUOTA_EXHAUSTED, NoticeKind.PROVIDER_BACK


INSTANCES: dict[str, int] = {}  # an id names the same provider in every status, unless a test says otherwise


def status(state: str = "serving", provider: str | None = "a", *, health: dict[str, str] | None = None,
           left: dict[str, float | None] | None = None, skipped: set[str] = frozenset(),  # type: ignore[assignment]
           lock: str | None = None, preferred: str = "a", reason: str = "") -> dict[str, Any]:
    health = {"a": "healthy", "b": "healthy", **(health or {})}
    left = left or {}
    lines = {"serving": f"{provider} · serving", "fallback": f"failover to {provider}", "down": "all providers down"}
    return {
        "summary": {"state": state, "line": lines.get(state, state), "provider": provider, "reason": reason,
                    "advice": "Check the keys." if state == "down" else ""},
        "manual_override": lock, "preferred_provider": preferred,
        "providers": {pid: {"display_name": f"Relay {pid.upper()}", "status": st, "disabled": st == "disabled",
                            "quota_left_percent": left.get(pid), "instance": INSTANCES.setdefault(pid, len(INSTANCES) + 1)}
                      for pid, st in health.items()},
        "quota": {pid: {"skipped": pid in skipped, "snapshot": {"exhausted_reason": "daily budget spent"}}
                  for pid in health},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(*statuses: dict[str, Any], ui: dict[str, Any] | None = None, notices: Notices | None = None) -> list[Any]:
    machine = notices or Notices(clock=Clock())
    out = []
    for s in statuses:
        out += machine.update(s, ui or {})
    return out


def kinds(found: list[Any]) -> list[tuple[str, str | None]]:
    return [(n.kind, n.provider) for n in found]


def test_the_first_status_is_the_baseline() -> None:
    assert run(status("down", None)) == []
    assert run(status("fallback", "b", left={"a": 3.0}, skipped={"b"})) == []


def test_failover_all_down_and_recovery() -> None:
    found = run(status(), status("fallback", "b", health={"a": "cooldown"}, reason="Relay A: HTTP 502"),
                status("down", None, health={"a": "cooldown", "b": "unhealthy"}), status())
    assert kinds(found) == [(FAILOVER, "b"), (ALL_DOWN, None), (RECOVERY, "a")]
    failover, down, recovery = found
    assert failover.title == "Failover to Relay B" and "Relay A: HTTP 502" in failover.message
    assert failover.view == "#/requests?provider=a"      # the provider that failed
    assert down.title == "All providers down" and "Check the keys." in down.message and down.view == "#/"
    assert recovery.title == "Serving from Relay A again" and recovery.view == "#/"


def test_a_failover_is_told_once_the_fallback_has_answered() -> None:
    """The status names the next provider "failover to" as soon as the preferred one fails, while the
    request to it is still under way: Codex keeps working through it only once it answers. One that
    then fails too is an outage, told as such, with no failover before it."""
    asking_b = status("fallback", "b", health={"a": "cooldown", "b": "unknown"}, reason="Relay A: HTTP 500")
    b_answered = status("fallback", "b", health={"a": "cooldown"}, reason="Relay A: HTTP 500")
    assert kinds(run(status(), asking_b, asking_b, b_answered)) == [(FAILOVER, "b")]
    down = status("down", None, health={"a": "cooldown", "b": "unresponsive"})
    assert kinds(run(status(), asking_b, down)) == [(ALL_DOWN, None)]
    # the same from an outage: a partial recovery only once the fallback has answered
    assert kinds(run(down, asking_b, b_answered)) == [(RECOVERY, "b")]
    assert kinds(run(down, asking_b, down)) == []
    # and for a second hop
    asking_c = status("fallback", "c", health={"a": "cooldown", "b": "unhealthy", "c": "unknown"})
    assert kinds(run(status(), b_answered, asking_c, down)) == [(FAILOVER, "b"), (ALL_DOWN, None)]


def times(s: dict[str, Any], **at: tuple[int | None, int | None]) -> dict[str, Any]:
    """``s`` with each named provider's (last answered, last failed) times, in ms."""
    for pid, (ok, failed) in at.items():
        s["providers"][pid].update(last_ok_at_unix_ms=ok, last_fail_at_unix_ms=failed)
    return s


def test_a_failover_is_told_though_the_preferred_provider_failed_a_check_since_the_fallback_answered() -> None:
    """Its failure began before the fallback answered; the background checks it fails afterwards (every
    check interval, before the tray's next poll too) do not make that answer older."""
    base = status("fallback", "b", health={"a": "cooldown"}, reason="Relay A: HTTP 500")
    base["providers"]["a"].update(failing_since_unix_ms=1_000, last_fail_at_unix_ms=3_000)  # a check failed at 3 s
    base["providers"]["b"].update(last_ok_at_unix_ms=2_000)  # the fallback answered at 2 s
    found = run(status(), base)
    assert kinds(found) == [(FAILOVER, "b")]


def test_a_fallback_that_answered_before_has_to_answer_again_after_the_failure() -> None:
    """Healthy from earlier traffic is not an answer to this failover: it is told once the fallback has
    answered since the preferred provider failed."""
    asking_b = times(status("fallback", "b", health={"a": "cooldown"}), a=(1_000, 5_000), b=(2_000, None))
    b_answered = times(status("fallback", "b", health={"a": "cooldown"}), a=(1_000, 5_000), b=(6_000, None))
    down = times(status("down", None, health={"a": "cooldown", "b": "unresponsive"}), a=(1_000, 5_000),
                 b=(2_000, 7_000))
    assert kinds(run(status(), asking_b, down)) == [(ALL_DOWN, None)]
    assert kinds(run(status(), asking_b, b_answered)) == [(FAILOVER, "b")]


def test_a_failover_is_told_as_the_fallbacks_stream_begins_its_output() -> None:
    """A Codex turn streams for minutes: the failover is under way once the fallback's output reaches the
    client (``last_output_at_unix_ms``), not when its answer ends (``last_ok_at_unix_ms``). Output from
    before the failure is no answer to it."""
    asking_b = times(status("fallback", "b", health={"a": "cooldown"}), a=(1_000, 5_000), b=(2_000, None))
    streaming = times(status("fallback", "b", health={"a": "cooldown"}), a=(1_000, 5_000), b=(2_000, None))
    streaming["providers"]["b"]["last_output_at_unix_ms"] = 6_000
    assert kinds(run(status(), asking_b, streaming)) == [(FAILOVER, "b")]
    earlier = times(status("fallback", "b", health={"a": "cooldown"}), a=(1_000, 5_000), b=(2_000, None))
    earlier["providers"]["b"]["last_output_at_unix_ms"] = 4_000
    assert kinds(run(status(), asking_b, earlier)) == []


def test_a_failover_the_preferred_provider_is_back_from_before_it_settles_is_not_told() -> None:
    """A long stream on the fallback; a background check finds the preferred provider back meanwhile:
    "is back" is told, not a failover after it, nor a second "back" when traffic returns."""
    clock = Clock()
    machine = Notices(clock=clock)
    asking_b = times(status("fallback", "b", health={"a": "cooldown", "b": "unknown"}), a=(1_000, 5_000))
    a_back = times(status("fallback", "b", health={"b": "unknown"}), a=(8_000, 5_000))
    b_answered = times(status("fallback", "b"), a=(8_000, 5_000), b=(9_000, None))
    found = []
    for s_ in (status(), asking_b, a_back, b_answered, status()):
        clock.now += 5
        found.append(kinds(machine.update(s_, {})))
    assert found == [[], [], [(PROVIDER_BACK, "a")], [], []]


def test_a_late_answer_of_the_fallback_after_the_preferred_one_is_back_is_no_new_incident() -> None:
    """The preferred provider is back (a check) and serves again; the fallback's slow answer to the
    request that failed over lands afterwards and makes it the one that served last for a moment: no
    failover, and the return to the preferred provider is not a second recovery."""
    clock = Clock()
    machine = Notices(clock=clock)
    asking_b = times(status("fallback", "b", health={"a": "cooldown", "b": "unknown"}), a=(1_000, 5_000))
    a_back = times(status("serving", "a", health={"b": "unknown"}), a=(8_000, 5_000))
    b_late = times(status("fallback", "b"), a=(8_000, 5_000), b=(12_000, None))
    back_on_a = times(status(), a=(15_000, 5_000), b=(12_000, None))
    found = []
    for s_ in (status(), asking_b, a_back, b_late, back_on_a):
        clock.now += 3
        found.append(kinds(machine.update(s_, {})))
    assert found == [[], [], [(PROVIDER_BACK, "a")], [], []]


def test_a_change_of_fallback_provider_is_another_failover() -> None:
    found = run(status(), status("fallback", "b"), status("fallback", "c", health={"c": "healthy"}))
    assert kinds(found) == [(FAILOVER, "b"), (FAILOVER, "c")]


def test_what_the_user_did_is_not_announced() -> None:
    # Locking to b or preferring b changes the summary, but the user knows.
    assert run(status(), status("serving", "b", lock="b")) == []
    assert run(status("fallback", "b"), status("serving", "b", preferred="b")) == []
    assert run(status(), status("fallback", "b", preferred="b")) == []


def test_quota_low_and_exhausted_on_crossing_only() -> None:
    found = run(status(left={"a": 50.0}), status(left={"a": 9.4}), status(left={"a": 8.0}),
                status(left={"a": 0.0}), status(left={"a": 0.0}, skipped={"a"}))
    assert kinds(found) == [(QUOTA_LOW, "a"), (QUOTA_EXHAUSTED, "a")]
    assert found[0].title == "Relay A: 9 % quota left" and found[0].view == "#/usage"
    assert "Automatic routing skips it" in found[1].message
    # "skipped" alone (a budget spent, no percentage) is exhausted too
    found = run(status(), status(skipped={"b"}))
    assert kinds(found) == [(QUOTA_EXHAUSTED, "b")] and found[0].message.startswith("daily budget spent")


def test_a_sliver_left_is_low_not_out_and_just_under_the_threshold_is_under_it() -> None:
    """Out of quota is what routing skips; a share is shown rounded down."""
    found = run(status(left={"a": 50.0}), status(left={"a": 0.04}))
    assert kinds(found) == [(QUOTA_LOW, "a")] and found[0].title == "Relay A: <1 % quota left"
    found = run(status(left={"a": 50.0}), status(left={"a": 9.96}))
    assert [n.title for n in found] == ["Relay A: 9 % quota left"]
    found = run(status(left={"a": 50.0}), status(left={"a": 0.0}))  # read as 0, but not skipped
    assert kinds(found) == [(QUOTA_LOW, "a")] and found[0].title == "Relay A: 0 % quota left"


def test_a_provider_renamed_is_not_announced_as_newly_out_of_quota() -> None:
    exhausted = status(health={"b": "healthy"}, left={"b": 0.0}, skipped={"b"})
    renamed = status(health={"relay": "healthy"}, left={"relay": 0.0}, skipped={"relay"})
    renamed["providers"]["relay"]["instance"] = renamed["providers"].pop("b")["instance"]
    del renamed["quota"]["b"]
    assert run(exhausted, renamed) == []  # the same provider under its new id: nothing changed
    # from then on it is compared with itself
    assert kinds(run(renamed, renamed, status(health={"relay": "healthy"}, left={"relay": 50.0}),
                     renamed)) == [(QUOTA_EXHAUSTED, "relay")]


def test_a_provider_added_is_told_of_its_first_reading_in_the_poll_that_finds_it_or_later() -> None:
    """The tray polls every 1.5 s: a provider added and read within one poll is told of as one read later."""
    added_low = status(health={"c": "healthy"}, left={"c": 5.0})
    added_out = status(health={"c": "healthy"}, left={"c": 0.0}, skipped={"c"})
    added_unread = status(health={"c": "healthy"})
    assert kinds(run(status(), added_low)) == kinds(run(status(), added_unread, added_low)) == [(QUOTA_LOW, "c")]
    assert kinds(run(status(), added_out)) == kinds(run(status(), added_unread, added_out)) == [(QUOTA_EXHAUSTED, "c")]
    assert run(status(), status(health={"c": "healthy"}, left={"c": 50.0})) == []
    # Deleted and added again within one poll: a new provider, its reading told anew.
    again = status(health={"c": "healthy"}, left={"c": 0.0}, skipped={"c"})
    again["providers"]["c"]["instance"] = "another"
    assert kinds(run(added_out, again)) == [(QUOTA_EXHAUSTED, "c")]
    assert run(added_out, added_out) == []  # the same provider, still out: told once


def test_a_share_just_under_the_threshold_does_not_read_as_the_threshold() -> None:
    found = run(status(left={"a": 50.0}), status(left={"a": 9.6}))
    assert [n.title for n in found] == ["Relay A: 9 % quota left"]


def test_quota_threshold_setting() -> None:
    assert kinds(run(status(left={"a": 30.0}), status(left={"a": 20.0}), ui={"notify_quota_percent": 25})) == [
        (QUOTA_LOW, "a")]
    assert run(status(left={"a": 30.0}), status(left={"a": 20.0})) == []  # default 10 %
    # a first reading that is already low counts as crossing
    assert kinds(run(status(), status(left={"b": 4.0}))) == [(QUOTA_LOW, "b")]


def test_provider_back_while_serving() -> None:
    for unwell in ("unresponsive", "cooldown", "unhealthy"):
        found = run(status("fallback", "b", health={"a": unwell}), status("fallback", "b"))
        assert kinds(found) == [(PROVIDER_BACK, "a")], unwell
        assert found[0].title == "Relay A is back" and found[0].view == "#/requests?provider=a"
    # unknown -> healthy is a first success, not a comeback
    assert run(status(health={"b": "unknown"}), status()) == []
    # back while everything else is down: the recovery notice says it already
    found = run(status("down", None, health={"a": "cooldown", "b": "cooldown"}),
                status("serving", "a", health={"b": "cooldown"}))
    assert kinds(found) == [(RECOVERY, "a")]


def test_another_provider_back_in_the_same_poll_as_a_recovery_is_told_on_its_own() -> None:
    """A check sweep brings b and c back together while a still fails: the partial recovery names b,
    and says nothing of c — so c's "is back" is sent as well (only b's is in the recovery)."""
    down = status("down", None, health={"a": "cooldown", "b": "cooldown", "c": "cooldown"})
    partial = status("fallback", "b", health={"a": "cooldown", "c": "healthy"}, reason="Relay A: HTTP 500")
    found = run(down, partial)
    assert kinds(found) == [(RECOVERY, "b"), (PROVIDER_BACK, "c")]
    assert found[1].title == "Relay C is back"


def test_provider_back_when_the_recovery_notice_is_not_sent() -> None:
    """A background check brings the preferred provider back: with recoveries turned off (or one
    coalesced away) the provider_back notice is what the user gets."""
    fallback = status("fallback", "b", health={"a": "unresponsive"})
    found = run(fallback, status(), ui={"notify_recovery": False, "notify_provider_back": True})
    assert kinds(found) == [(PROVIDER_BACK, "a")] and found[0].title == "Relay A is back"
    # both off: nothing
    assert run(fallback, status(), ui={"notify_recovery": False, "notify_provider_back": False}) == []
    # the recovery coalesced away (sent less than ten minutes ago): provider_back instead
    clock = Clock()
    machine = Notices(clock=clock)
    assert kinds(run(fallback, status(), notices=machine)) == [(RECOVERY, "a")]
    clock.now += 60
    assert kinds(run(copy.deepcopy(fallback), notices=machine)) == [(FAILOVER, "b")]
    assert kinds(run(status(), notices=machine)) == [(PROVIDER_BACK, "a")]


def test_down_to_fallback_is_a_partial_recovery() -> None:
    clock = Clock()
    machine = Notices(clock=clock)
    down = status("down", None, health={"a": "cooldown", "b": "cooldown"})
    partial = status("fallback", "b", health={"a": "cooldown"}, reason="Relay A: HTTP 502")
    found = run(down, partial, notices=machine)
    assert kinds(found) == [(RECOVERY, "b")]   # no failover, no separate "Relay B is back"
    (notice,) = found
    assert notice.title == "Serving from Relay B again" and notice.view == "#/"
    assert "Relay A is still not answering (Relay A: HTTP 502)" in notice.message
    assert "Failover" not in notice.title
    # the preferred provider comes back a minute later: its own recovery, not swallowed by the partial one
    clock.now += 60
    found = run(status(), notices=machine)
    assert kinds(found) == [(RECOVERY, "a")] and found[0].title == "Serving from Relay A again"
    # with recoveries off, the partial recovery is announced as the provider coming back
    found = run(down, partial, ui={"notify_recovery": False})
    assert kinds(found) == [(PROVIDER_BACK, "b")]


@pytest.mark.parametrize("setting, quiet", [
    ("notify_failover", FAILOVER), ("notify_all_down", ALL_DOWN), ("notify_recovery", RECOVERY),
    ("notify_quota", QUOTA_LOW), ("notify_provider_back", PROVIDER_BACK)])
def test_each_kind_can_be_turned_off(setting: str, quiet: str) -> None:
    sequence = [status(left={"a": 50.0}), status("fallback", "b", health={"a": "cooldown"}, left={"a": 5.0}),
                status("fallback", "b", left={"a": 5.0}), status("down", None, left={"a": 5.0}),
                status(left={"a": 5.0})]
    every = {k for k, _ in kinds(run(*copy.deepcopy(sequence)))}
    assert every == {FAILOVER, QUOTA_LOW, PROVIDER_BACK, ALL_DOWN, RECOVERY}
    remaining = {k for k, _ in kinds(run(*copy.deepcopy(sequence), ui={setting: False}))}
    assert remaining == every - {quiet}


def test_at_most_one_per_provider_and_kind_per_ten_minutes() -> None:
    clock = Clock()
    machine = Notices(clock=clock)
    flap = [status(), status("fallback", "b")]
    assert kinds(run(*flap, notices=machine)) == [(FAILOVER, "b")]
    clock.now += 599
    assert kinds(run(*flap, notices=machine)) == [(RECOVERY, "a")]  # the recovery's own first time
    clock.now += 2
    assert kinds(run(*flap, notices=machine)) == [(FAILOVER, "b")]
    # another provider is another key
    assert kinds(run(status("fallback", "c", health={"c": "healthy"}), notices=machine)) == [(FAILOVER, "c")]


# --- a provider renamed (a new id, the same provider) --------------------------------------------------


def renamed(s: dict[str, Any], old: str, new: str, *, display_name: str | None = None) -> dict[str, Any]:
    """``s`` after ``rename_provider(old, new)``: the same provider under a new id everywhere."""
    s = copy.deepcopy(s)
    for section in ("providers", "quota"):
        s[section] = {new if pid == old else pid: v for pid, v in s[section].items()}
    if display_name is not None:
        s["providers"][new]["display_name"] = display_name
    for key in ("manual_override", "preferred_provider"):
        if s[key] == old:
            s[key] = new
    if s["summary"]["provider"] == old:
        s["summary"]["provider"] = new
    return s


def test_renaming_the_serving_fallback_is_no_new_failover() -> None:
    clock = Clock()
    machine = Notices(clock=clock)
    fallback = status("fallback", "b", health={"a": "cooldown"}, reason="Relay A: HTTP 500: boom")
    assert kinds(run(status(), fallback, notices=machine)) == [(FAILOVER, "b")]
    clock.now += 5
    assert run(renamed(fallback, "b", "b2"), notices=machine) == []
    # renamed again, its display name with it
    clock.now += 5
    assert run(renamed(renamed(fallback, "b", "b2"), "b2", "relay_b3", display_name="relay_b3"),
               notices=machine) == []
    # the repeat limit is the provider's: a flap within ten minutes is still coalesced under the new id
    clock.now += 60
    back, again = status(), status("fallback", "relay_b3", health={"relay_b3": "healthy"})
    del back["providers"]["b"], again["providers"]["b"]
    again["providers"]["relay_b3"]["instance"] = INSTANCES["b"]  # the same provider as b
    back["providers"]["relay_b3"] = again["providers"]["relay_b3"]
    assert kinds(run(back, again, notices=machine)) == [(RECOVERY, "a")]


def test_a_provider_deleted_takes_its_repeat_limit_with_it() -> None:
    """b is deleted, and another provider is added under the id b a minute later: its failover is news,
    not a repeat of the deleted one's (which the repeat limit would hide for ten minutes)."""
    clock = Clock()
    machine = Notices(clock=clock)
    assert kinds(run(status(), status("fallback", "b", health={"a": "cooldown"}), notices=machine)) == [(FAILOVER, "b")]
    clock.now += 5
    gone = status(health={"a": "healthy"})
    del gone["providers"]["b"], gone["quota"]["b"]
    assert kinds(run(gone, notices=machine)) == [(RECOVERY, "a")]
    clock.now += 60
    assert kinds(run(status(), status("fallback", "b", health={"a": "cooldown"}), notices=machine)) == [(FAILOVER, "b")]


def test_a_rename_of_the_preferred_or_locked_provider_hides_no_failure() -> None:
    """The lock and the preferred provider follow a rename; that is not the user changing them, so a
    failover seen in the same poll is still announced."""
    locked = status("serving", "b", lock="b")
    assert kinds(run(locked, renamed(status("down", None, health={"b": "cooldown"}, lock="b"), "b", "b2"))) == [
        (ALL_DOWN, None)]
    assert kinds(run(status(), renamed(status("fallback", "b", health={"a": "cooldown"}), "a", "a2"))) == [
        (FAILOVER, "b")]


def test_a_table_renamed_by_hand_while_failing_is_no_recovery() -> None:
    """Renamed by hand in config.toml, the failing preferred provider is new to routing (no health): the
    state line names it serving until a request tries it, but it has not answered — nothing to announce."""
    on_b = status("fallback", "b", health={"a": "unhealthy"}, reason="Relay A: HTTP 500")
    by_hand = renamed(status("serving", "a", health={"a": "unknown"}), "a", "z")
    assert kinds(run(status(), on_b, by_hand)) == [(FAILOVER, "b")]


def test_renames_are_told_by_instance_and_an_id_added_again_is_a_new_provider() -> None:
    from api_router.desktop.notices import provider_changes

    old = {"a": {"instance": 1}, "b": {"instance": 2}, "c": {"instance": 3}}
    new = {"x": {"instance": 2}, "y": {"instance": 1}, "c": {"instance": 4}, "z": {"instance": 5}}
    assert provider_changes(old, new) == ({"a": "y", "b": "x"}, {"c"})
    # a table renamed by hand in config.toml (the same address, a new instance) is a provider new to routing
    assert provider_changes({"a": {"base_url": "u1", "instance": 1}}, {"b": {"base_url": "u1", "instance": 2}}) == (
        {}, set())


def added_again(s: dict[str, Any], pid: str) -> dict[str, Any]:
    """``s`` with ``pid`` deleted and another provider added under its id (a new instance)."""
    s = copy.deepcopy(s)
    s["providers"][pid]["instance"] = max(INSTANCES.values()) + 100
    return s


def test_a_provider_deleted_and_added_again_within_one_poll_is_a_new_provider() -> None:
    """Its failover is news, not a repeat of the deleted one's, however quickly it was added."""
    clock = Clock()
    machine = Notices(clock=clock)
    on_b = status("fallback", "b", health={"a": "cooldown"})
    assert kinds(run(status(), on_b, notices=machine)) == [(FAILOVER, "b")]
    clock.now += 5
    # deleted and added again (the same address) between two polls; traffic moved on to c meanwhile: the
    # user's own doing
    moved = added_again(status("fallback", "c", health={"a": "cooldown", "b": "unknown", "c": "healthy"}), "b")
    assert run(moved, notices=machine) == []
    clock.now += 5
    assert kinds(run(added_again(status("fallback", "b", health={"a": "cooldown", "c": "unhealthy"}), "b"),
                     notices=machine)) == [(FAILOVER, "b")]


def test_a_provider_deleted_while_another_is_added_with_its_address_is_no_rename() -> None:
    """Two accounts on one relay: b deleted and x added within one poll. The move to c is the user's
    doing, and the failover to x later is news."""
    clock = Clock()
    machine = Notices(clock=clock)
    assert kinds(run(status(), status("fallback", "b", health={"a": "cooldown"}), notices=machine)) == [(FAILOVER, "b")]
    clock.now += 5
    moved = status("fallback", "c", health={"a": "cooldown", "c": "healthy", "x": "unknown"})
    del moved["providers"]["b"], moved["quota"]["b"]
    assert run(moved, notices=machine) == []
    clock.now += 5
    on_x = status("fallback", "x", health={"a": "cooldown", "c": "unhealthy", "x": "healthy"})
    del on_x["providers"]["b"], on_x["quota"]["b"]
    assert kinds(run(on_x, notices=machine)) == [(FAILOVER, "x")]


# --- the user's change and a failure in the same poll ---------------------------------------------------


def failing(s: dict[str, Any], pid: str, at_ms: int, count: int = 1) -> dict[str, Any]:
    s["providers"][pid].update(consecutive_failures=count, last_fail_at_unix_ms=at_ms)
    return s


def test_the_locked_provider_failing_within_the_poll_of_the_lock_is_announced() -> None:
    serving = status()
    locked_then_failed = failing(status("down", None, health={"b": "cooldown"}, lock="b"), "b", 2_000_000)
    found = run(serving, locked_then_failed)
    assert kinds(found) == [(ALL_DOWN, None)] and found[0].title == "All providers down"
    # a second failure of a provider that had failed before (only its time moves on)
    before = failing(status(health={"b": "unhealthy"}), "b", 1_000_000)
    assert kinds(run(before, failing(status("down", None, health={"b": "cooldown"}, lock="b"), "b", 2_000_000))) == [
        (ALL_DOWN, None)]


def test_a_lock_to_a_provider_already_down_is_the_users_doing() -> None:
    cooling = failing(status("fallback", "b", health={"a": "cooldown"}), "a", 1_000_000)
    locked = failing(status("down", None, health={"a": "cooldown"}, lock="a"), "a", 1_000_001)  # read 1 ms apart
    assert run(cooling, locked) == []
    # another provider failing meanwhile does not make the lock's outcome news
    assert run(cooling, failing(copy.deepcopy(locked), "b", 2_000_000)) == []
    # unlocking, and a fallback provider serving again: the user's doing too, no partial recovery
    assert run(locked, status("fallback", "b", health={"a": "cooldown"})) == []


def test_the_new_preferred_provider_failing_in_the_same_poll_is_a_failover() -> None:
    # (the request it failed is answered by a, which has answered since)
    failed_over = failing(status("fallback", "a", health={"b": "cooldown"}, preferred="b"), "b", 2_000_000)
    found = run(status(), times(failed_over, a=(2_000_100, None)))
    assert kinds(found) == [(FAILOVER, "a")]
    # preferring a provider that was failing already is not
    was_failing = failing(status(health={"b": "cooldown"}), "b", 1_000_000)
    assert run(was_failing, failing(status("fallback", "a", health={"b": "cooldown"}, preferred="b"), "b",
                                    1_000_000)) == []


def test_the_preferred_provider_back_before_traffic_returns_is_told_once() -> None:
    """A check finds the preferred provider answering again while the fallback still serves (routing
    waits for it to be stable first): "is back" then, and no "Serving from … again" when traffic returns
    to it half a minute later — one recovery, one notice. A later failover and return is told again
    once the ten minutes are over."""
    clock = Clock()
    machine = Notices(clock=clock)
    assert kinds(run(status(), status("fallback", "b", health={"a": "cooldown"}), notices=machine)) == [
        (FAILOVER, "b")]
    clock.now += 4
    assert kinds(run(status("fallback", "b"), notices=machine)) == [(PROVIDER_BACK, "a")]
    clock.now += 30
    assert run(status(), notices=machine) == []
    clock.now += 700
    found = run(status("fallback", "b", health={"a": "cooldown"}), status("fallback", "b"), notices=machine)
    assert kinds(found) == [(FAILOVER, "b"), (PROVIDER_BACK, "a")]
    clock.now += 700
    assert kinds(run(status(), notices=machine)) == [(RECOVERY, "a")]  # "is back" was long ago


def test_an_earlier_incidents_is_back_does_not_stand_for_a_later_recovery() -> None:
    """"Relay A is back" stands for the recovery that follows it, not for one after a new outage: a
    second incident within the ten minutes ends with its own recovery notice (whether it went through
    everything down or through another fallback)."""
    for second_incident in ([status("down", None, health={"a": "cooldown", "b": "cooldown"}),
                             status("fallback", "b", health={"a": "cooldown"})],
                            [status("fallback", "c", health={"a": "cooldown", "b": "cooldown", "c": "healthy"})]):
        clock = Clock()
        machine = Notices(clock=clock)
        run(status(), status("fallback", "b", health={"a": "cooldown"}), notices=machine)
        clock.now += 4
        assert kinds(run(status("fallback", "b"), notices=machine)) == [(PROVIDER_BACK, "a")]
        clock.now += 30
        assert run(status(), notices=machine) == []  # the first recovery: "is back" said it
        clock.now += 60
        for step in second_incident:
            run(step, notices=machine)
            clock.now += 10
        assert kinds(run(status(), notices=machine)) == [(RECOVERY, "a")]


def test_right_to_left_names_keep_notifications_left_to_right() -> None:
    clock = Clock()
    machine = Notices(clock=clock)
    before = status(left={"a": 50.0})
    before["providers"]["a"]["display_name"] = "خادم"
    after = copy.deepcopy(before)
    after["providers"]["a"]["quota_left_percent"] = 5.0
    (low,) = run(before, after, notices=machine)
    assert low.title == "\u200eخادم\u200e: 5 % quota left"


def test_switching_off_or_deleting_the_fallback_in_use_is_the_users_change() -> None:
    """The failover away from a was told; b, serving meanwhile, switched off or deleted by the user sends
    traffic to c: no second "Failover to …" (the tray line says where traffic goes)."""
    cooling = {"a": "cooldown", "c": "healthy"}
    on_b = status("fallback", "b", health=cooling, reason="Relay A: HTTP 500")
    off = status("fallback", "c", health={**cooling, "b": "disabled"}, reason="Relay A: HTTP 500")
    gone = status("fallback", "c", health=cooling, reason="Relay A: HTTP 500")
    del gone["providers"]["b"], gone["quota"]["b"]
    assert kinds(run(status(health={"c": "healthy"}), on_b, off)) == [(FAILOVER, "b")]
    assert kinds(run(status(health={"c": "healthy"}), on_b, gone)) == [(FAILOVER, "b")]
    # b failing on its own is still told.
    failing = status("fallback", "c", health={**cooling, "b": "cooldown"}, reason="Relay A: HTTP 500")
    assert kinds(run(on_b, failing)) == [(FAILOVER, "c")]
    # With two providers the next one is the preferred one, still failing: no "Serving from Relay A again".
    two = {"a": "unhealthy"}
    on_b = status("fallback", "b", health=two, reason="Relay A: HTTP 500")
    off = status("serving", "a", health={**two, "b": "disabled"})
    gone = status("serving", "a", health=two)
    del gone["providers"]["b"], gone["quota"]["b"]
    assert kinds(run(status(), on_b, off)) == [(FAILOVER, "b")]
    assert kinds(run(status(), on_b, gone)) == [(FAILOVER, "b")]


# Promises a mutation run found unpinned (README "Notifications", issue 16 point 3).


def test_the_default_quota_threshold_is_ten_percent() -> None:
    """README: `notify_quota_percent` (default 10 %); issue 16: "a threshold (default 10 %)"."""
    assert run(status(left={"a": 50.0}), status(left={"a": 15.0}), status(left={"a": 10.5})) == []
    assert kinds(run(status(left={"a": 50.0}), status(left={"a": 9.9}))) == [(QUOTA_LOW, "a")]


def test_quota_at_the_threshold_is_not_below_it() -> None:
    """"drops below notify_quota_percent": 10 % left with the default 10 is not below it; a drop from
    exactly 10 % to under it is the crossing."""
    assert run(status(left={"a": 50.0}), status(left={"a": 10.0})) == []
    assert kinds(run(status(left={"a": 50.0}), status(left={"a": 10.0}), status(left={"a": 6.0}))) == [
        (QUOTA_LOW, "a")]
    assert run(status(left={"a": 50.0}), status(left={"a": 25.0}), ui={"notify_quota_percent": 25}) == []


def test_quota_staying_low_is_not_told_again_after_ten_minutes() -> None:
    """Told when the share drops below the threshold, not again while it stays below (the 10-minute limit
    is not what keeps it quiet: a share still sinking an hour later is no new crossing)."""
    clock = Clock()
    machine = Notices(clock=clock)
    assert kinds(run(status(left={"a": 50.0}), status(left={"a": 8.0}), notices=machine)) == [(QUOTA_LOW, "a")]
    clock.now += 3600
    assert run(status(left={"a": 7.0}), notices=machine) == []
    clock.now += 3600
    assert run(status(left={"a": 3.0}), notices=machine) == []


def test_notify_quota_off_silences_exhausted_quota_too() -> None:
    """README/config: `notify_quota = true` is the switch for the quota notifications — low and exhausted."""
    sequence = [status(left={"a": 50.0}), status(left={"a": 0.0}, skipped=frozenset({"a"}))]
    assert kinds(run(*sequence)) == [(QUOTA_EXHAUSTED, "a")]
    assert run(*[status(left={"a": 50.0}), status(left={"a": 0.0}, skipped=frozenset({"a"}))],
               ui={"notify_quota": False}) == []


def test_a_provider_back_while_nothing_serves_is_not_announced_as_back() -> None:
    """A provider is "back" when it serves again (README: "when a provider that was failing, cooling down or
    not answering serves again"; notices.py: "while the gateway serves"): with routing locked to a provider
    that is down, another one coming back serves nothing and is not announced."""
    found = run(status("down", None, health={"a": "unhealthy", "b": "cooldown"}, lock="a"),
                status("down", None, health={"a": "unhealthy", "b": "healthy"}, lock="a"))
    assert PROVIDER_BACK not in {k for k, _ in kinds(found)}
