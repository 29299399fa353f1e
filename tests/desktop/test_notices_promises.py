"""Notification promises the existing tests leave open (README "Notifications", issue 16 point 3):
found by mutation testing of desktop/notices.py."""

from __future__ import annotations

from typing import Any

from api_router.desktop.notices import NoticeKind, Notices

QUOTA_LOW, QUOTA_EXHAUSTED, PROVIDER_BACK = NoticeKind.QUOTA_LOW, NoticeKind.QUOTA_EXHAUSTED, NoticeKind.PROVIDER_BACK


def status(state: str = "serving", provider: str | None = "a", *, health: dict[str, str] | None = None,
           left: dict[str, float | None] | None = None, skipped: frozenset[str] = frozenset(),
           lock: str | None = None) -> dict[str, Any]:
    """A get_status document as the tray reads it (as tests/desktop/test_notices.py builds one)."""
    health = {"a": "healthy", "b": "healthy", **(health or {})}
    left = left or {}
    lines = {"serving": f"{provider} · serving", "fallback": f"failover to {provider}", "down": "all providers down"}
    return {
        "summary": {"state": state, "line": lines.get(state, state), "provider": provider, "reason": "",
                    "advice": ""},
        "manual_override": lock, "preferred_provider": "a",
        "providers": {pid: {"display_name": f"Relay {pid.upper()}", "status": st, "disabled": st == "disabled",
                            "quota_left_percent": left.get(pid), "instance": ord(pid)}
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
