"""What the tray shows for a status, and the icon variants' legibility at tray sizes."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from api_router.desktop.icon import TrayIcon, tray_image
from api_router.desktop.trayview import menu_labels, provider_label, tray_view
from tests.desktop.app import ROOT
from tests.desktop.fakes import tray_status as status


def test_labels_marks_and_quota() -> None:
    view = tray_view(status())
    assert view.line == "Relay A · serving"
    assert [(c.label, c.enabled) for c in view.providers] == [
        ("Relay A — 63 % left ●", True),
        ("Relay B ◐ cooling down", True),
        ("Relay C — quota exhausted ○ not used yet", True),
        ("Relay D (disabled)", False),
    ]
    assert view.automatic and not any(c.locked for c in view.providers)
    assert [c.provider for c in view.providers if c.preferred] == ["a"]
    assert view.tooltip == "Relay A · serving · 42 requests today"


@pytest.mark.parametrize("left, shown", [(63.0, "63"), (99.6, "99"), (9.6, "9"), (0.4, "<1"), (0.0, "0"), (-3.0, "0")])
def test_the_share_left_is_rounded_down(left, shown) -> None:
    """Never more than there is: 9.6 % is under a 10 % threshold, and 0.4 % is not nothing."""
    label = provider_label("Relay A", {"status": "healthy", "quota_left_percent": left}, None)
    assert label == f"Relay A — {shown} % left ●"


@pytest.mark.parametrize("snapshot, shown", [
    ({"remaining": 12.5, "unit": "USD"}, "Relay A — $12.50 left ●"),          # a balance, no total to share it of
    ({"remaining": 88.0, "unit": "CNY"}, "Relay A — ¥88.00 left ●"),
    ({"remaining": 5000.0, "unit": "quota"}, "Relay A ●"),                    # a panel's own units: no amount to show
    ({"remaining": 12.5, "unit": "USD", "unlimited": True}, "Relay A — unlimited ●"),
    (None, "Relay A ●"),
])
def test_a_balance_without_a_share_is_shown_as_the_amount_left(snapshot, shown) -> None:
    """A panel that reports only what is left (no total): the amount, when it is money."""
    quota = {"snapshot": snapshot} if snapshot is not None else None
    assert provider_label("Relay A", {"status": "healthy"}, quota) == shown


def test_lock_is_the_checked_radio_item() -> None:
    view = tray_view(status(manual_override="b", summary={"state": "serving", "line": "Relay B · locked"}))
    assert not view.automatic and [c.provider for c in view.providers if c.locked] == ["b"]


@pytest.mark.parametrize("doc, listening, expected", [
    (status(providers={"a": {"status": "healthy"}}), True, TrayIcon.NORMAL),
    (status(), True, TrayIcon.WARNING),                                   # Relay B is cooling down
    (status("fallback", "failover to Relay B", providers={}), True, TrayIcon.WARNING),
    (status("down", "all providers down"), True, TrayIcon.ERROR),
    (status("no_providers", "no provider configured", providers={}), True, TrayIcon.ERROR),
    (status(providers={"a": {"status": "healthy"}}), False, TrayIcon.ERROR),  # the gateway is not listening
    (status(providers={"a": {"status": "unresponsive"}}), True, TrayIcon.WARNING),
    (status(providers={"a": {"status": "cooldown", "disabled": True}}), True, TrayIcon.NORMAL),
])
def test_icon_state(doc: dict[str, Any], listening: bool, expected: str) -> None:
    assert tray_view(doc, listening=listening).icon == expected


def test_not_listening_line_and_tooltip_length() -> None:
    view = tray_view(status(), listening=False, not_listening_reason="port 4000 on 127.0.0.1 is already in use")
    assert view.line == "gateway not listening: port 4000 on 127.0.0.1 is already in use"
    long = tray_view(status(summary={"state": "fallback", "line": "failover to " + "X" * 200}))
    assert len(long.tooltip) <= 127 and long.tooltip.endswith("…")
    assert tray_view(status(requests_today=1)).tooltip.endswith("· 1 request today")


def test_views_compare_equal_when_nothing_shown_changed() -> None:
    a = tray_view(status(now_unix_ms=1, metrics={"a": {"ok_requests": 1}}))
    b = tray_view(status(now_unix_ms=2, metrics={"a": {"ok_requests": 2}}))
    assert a == b
    assert a != tray_view(status(requests_today=43))


def test_menu_labels_in_keyboard_order() -> None:
    labels = menu_labels(tray_view(status()))
    selectable = [text for text, ok in labels if ok]
    assert selectable == ["Automatic", "Relay A — 63 % left ●", "Relay B ◐ cooling down",
                          "Relay C — quota exhausted ○ not used yet", "Preferred provider", "Refresh usage",
                          "Copy base URL", "Copy gateway token", "Open API Router", "Quit"]


def _on(background: tuple[int, int, int], state: str, size: int) -> Any:
    from PIL import Image

    tile = Image.new("RGBA", (size, size), (*background, 255))
    tile.alpha_composite(tray_image(state).resize((size, size), Image.Resampling.LANCZOS))
    return tile.convert("RGB")


def _distance(a: Any, b: Any) -> float:
    """Mean per-pixel colour distance (0-441) over the lower right quarter, where the badge sits."""
    w, h = a.size
    box = (w // 2, h // 2, w, h)
    ba, bb = a.crop(box).tobytes(), b.crop(box).tobytes()  # RGB triples
    n = len(ba) // 3
    return sum(sum((ba[3 * i + k] - bb[3 * i + k]) ** 2 for k in range(3)) ** 0.5 for i in range(n)) / n


@pytest.mark.parametrize("size", [16, 22, 32])
@pytest.mark.parametrize("background", [(255, 255, 255), (240, 240, 240), (32, 32, 32), (0, 0, 0)])
def test_variants_are_distinguishable_at_tray_sizes(size: int, background: tuple[int, int, int]) -> None:
    images = {state: _on(background, state, size) for state in TrayIcon}
    for i, a in enumerate(TrayIcon):
        for b in list(TrayIcon)[i + 1:]:
            assert _distance(images[a], images[b]) > 60, (a, b, size, background)
    # and the icon itself stands out from the panel
    blank = _on(background, "normal", size).copy()
    blank.paste(background, (0, 0, size, size))
    for state in TrayIcon:
        assert _distance(images[state], blank) > 60, (state, size, background)


def test_icon_files_are_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "build" / "make_icon.py"), "--check"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_right_to_left_names_keep_the_line_left_to_right() -> None:
    """A line takes its direction from its first strong letter: "שרת ראשי — 63 % left ●" was shown as
    "● left % 63 — שרת ראשי", and digits after an Arabic name joined it. A mark before the line and one
    after the name keep the order as written; names in Latin letters are left as they are."""
    doc = status(line="שרת ראשי · serving")
    doc["providers"]["a"]["display_name"] = "שרת ראשי"
    doc["providers"]["b"]["display_name"] = "خادم احتياطي"
    view = tray_view(doc)
    lrm = "\u200e"
    assert view.line == f"{lrm}שרת ראשי{lrm} · serving" and view.tooltip.startswith(f"{lrm}שרת ראשי{lrm} · serving")
    # A name at the end of the line too: the tooltip's count stays after it ("failover to 2 · … requests").
    doc["summary"] = {"state": "fallback", "line": "failover to خادم احتياطي", "provider": "b"}
    assert tray_view(doc).tooltip == f"{lrm}failover to خادم احتياطي{lrm} · 42 requests today"
    a, b, c, _ = view.providers
    assert a.label == f"{lrm}שרת ראשי{lrm} — 63 % left ●" and a.name == f"{lrm}שרת ראשי{lrm}"
    assert b.label == f"{lrm}خادم احتياطي{lrm} ◐ cooling down"
    assert c.label == "Relay C — quota exhausted ○ not used yet"


def test_a_long_name_is_cut_in_the_menu() -> None:
    """The menu grew wider than the screen with a 200-character name, hiding that entry's quota and health."""
    doc = status()
    doc["providers"]["a"]["display_name"] = "R" * 200
    a = tray_view(doc).providers[0]
    assert a.label == "R" * 47 + "… — 63 % left ●" and a.name == "R" * 47 + "…"
    # The state line names it cut the same way (it stretched the menu past the screen all the same).
    doc["summary"] = {"state": "fallback", "line": f"failover to {'R' * 200}", "provider": "a"}
    assert tray_view(doc).line == f"failover to {'R' * 47}…"
