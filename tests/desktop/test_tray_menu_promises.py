"""The tray menu's check marks and greyed entries (README "The tray", issue 16 point 1): found by mutation
testing of desktop/tray.py. The real Tray over pystray's stand-in (tests/desktop/fakes.py)."""

from __future__ import annotations

from typing import Any

from api_router.desktop.tray import Tray, TrayActions
from api_router.desktop.trayview import tray_view
from tests.desktop.fakes import FakePystray
from tests.desktop.fakes import tray_status as status


def _tray(doc: dict[str, Any], *, autostart: list[bool] | None = None) -> Tray:
    nothing = lambda *a: None  # noqa: E731
    state = autostart if autostart is not None else [False]
    actions = TrayActions(nothing, nothing, nothing, nothing, nothing, nothing, nothing,
                          set_autostart=lambda on: state.__setitem__(0, on), autostart_on=lambda: state[0])
    return Tray(FakePystray(), lambda icon: f"IMG-{icon}", actions, tray_view(doc))


def test_the_preferred_submenu_checks_the_preferred_provider_not_the_locked_one() -> None:
    """README: "Preferred provider ▸ — the provider traffic returns to": its check mark is on the preferred
    provider, whatever routing is locked to; disabled providers are greyed there too."""
    tray = _tray(status(manual_override="b", preferred_provider="a",
                        summary={"state": "serving", "line": "Relay B · locked", "provider": "b"}))
    submenu = next(i for i in tray.icon.menu.items if i.text == "Preferred provider").submenu
    assert submenu is not None
    assert [(i.text, bool(i.checked)) for i in submenu.items] == [
        ("Relay A", True), ("Relay B", False), ("Relay C", False), ("Relay D", False)]
    assert [i.text for i in submenu.items if not i.enabled] == ["Relay D"]
    # and the Routing entries check the lock
    routing = [i for i in tray.icon.menu.items if i.text.startswith("Relay ") and i.radio]
    assert [i.text.split(" —")[0].split(" ◐")[0] for i in routing if i.checked] == ["Relay B"]


def test_start_with_the_system_toggles_both_ways_from_the_tray() -> None:
    """README: *Start with the system* in the tray installs the login item, and "Turning it off removes the
    item": a click on the checked entry turns it off."""
    state = [False]
    tray = _tray(status(), autostart=state)
    entry = next(i for i in tray.icon.menu.items if i.text == "Start with the system")
    assert entry.checked is False
    entry()
    assert state == [True]
    entry = next(i for i in tray.icon.menu.items if i.text == "Start with the system")
    assert entry.checked is True
    entry()
    assert state == [False]
