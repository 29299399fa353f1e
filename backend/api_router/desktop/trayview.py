"""What the tray shows, derived from one ``get_status()`` document (pure; no GUI here).

``tray_view`` turns a status into a ``TrayView``: the state line, the icon state, the tooltip and
the routing choices. Views compare equal when the tray would look the same, so the tray rebuilds
its menu only when the view changed (a countdown or a request counter ticking does not count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from api_router.desktop.icon import TrayIcon
from api_router.states import OUT_OF_ROTATION, GatewayState, ProviderHealth
from api_router.texts import left_to_right, name_in_line, shortened
from api_router.usage.model import CURRENCY_SIGNS

TOOLTIP_MAX = 127  # Windows keeps 128 UTF-16 units of a tray tooltip, the terminator included
# A menu as wide as the screen hides the quota and health marks of the long name's entry (a display
# name may have 200 characters); the window shows the whole name.
MENU_NAME_MAX = 48

# (mark, word) per provider status; the word is left out for a healthy provider.
HEALTH_MARKS: dict[str, tuple[str, str]] = {  # keyed by ProviderHealth (a str: the document's words look it up)
    ProviderHealth.HEALTHY: ("●", ""),
    ProviderHealth.UNKNOWN: ("○", "not used yet"),
    ProviderHealth.UNHEALTHY: ("✕", "failing"),
    ProviderHealth.COOLDOWN: ("◐", "cooling down"),
    ProviderHealth.UNRESPONSIVE: ("✕", "not answering"),
    ProviderHealth.DISABLED: ("", "disabled"),
}


@dataclass(frozen=True)
class ProviderChoice:
    provider: str
    label: str            # "Relay B — 63 % left ●"
    name: str             # the display name alone (the "Preferred provider" submenu)
    enabled: bool         # can be locked to / preferred
    locked: bool          # routing is locked to it
    preferred: bool


@dataclass(frozen=True)
class TrayView:
    icon: TrayIcon
    line: str             # "Relay A · serving", "failover to Relay B", "all providers down", …
    tooltip: str
    automatic: bool       # no lock
    providers: tuple[ProviderChoice, ...]
    listening: bool


def percent_left(left: float) -> str:
    """A quota's share left as shown: rounded down, so it never reads as more than there is (9.6 % is
    "9", under a 10 % threshold), and "<1" for a sliver that is not nothing."""
    if left <= 0:
        return "0"
    return "<1" if left < 1 else str(math.floor(left))


def provider_label(name: str, entry: dict[str, Any], quota: dict[str, Any] | None) -> str:
    """"Relay B — 63 % left ●": the name, the quota left when known, then the health mark (and a word
    for anything but healthy)."""
    status = str(entry.get("status") or ProviderHealth.UNKNOWN)
    if status == ProviderHealth.DISABLED:
        return f"{name} (disabled)"
    mark, word = HEALTH_MARKS.get(status, ("○", status))
    health = (f" {mark}" if mark else "") + (f" {word}" if word else "")
    left = entry.get("quota_left_percent")
    if quota and quota.get("skipped"):
        return f"{name} — quota exhausted{health}"
    if isinstance(left, (int, float)) and not isinstance(left, bool):
        return f"{name} — {percent_left(left)} % left{health}"
    amount = amount_left(quota.get("snapshot") if quota else None)
    return f"{name} — {amount}{health}" if amount else name + health


def amount_left(snapshot: Any) -> str:
    """"$12.50 left" for a reading that says what is left but not of how much (a balance), when it is
    money; "unlimited" for an unlimited one; "" otherwise (a panel's own units mean nothing here)."""
    if not isinstance(snapshot, dict):
        return ""
    if snapshot.get("unlimited") is True:
        return "unlimited"
    remaining, sign = snapshot.get("remaining"), CURRENCY_SIGNS.get(str(snapshot.get("unit") or ""))
    if sign is None or isinstance(remaining, bool) or not isinstance(remaining, (int, float)):
        return ""
    return f"{sign}{max(0.0, float(remaining)):,.2f} left"


def icon_state(status: dict[str, Any], listening: bool) -> TrayIcon:
    state = (status.get("summary") or {}).get("state")
    if not listening or state in (GatewayState.DOWN, GatewayState.NO_PROVIDERS):
        return TrayIcon.ERROR
    providers = status.get("providers") or {}
    if state == GatewayState.FALLBACK or any(p.get("status") in OUT_OF_ROTATION and not p.get("disabled")
                                  for p in providers.values()):
        return TrayIcon.WARNING
    return TrayIcon.NORMAL


def tray_view(status: dict[str, Any], *, listening: bool = True, not_listening_reason: str = "") -> TrayView:
    summary = status.get("summary") or {}
    if listening:
        line = str(summary.get("line") or "starting")
        # The provider it names is cut as its entry is (a menu as wide as the screen hides its marks), and
        # kept apart from what follows it (a right-to-left name would take " · 2 requests today" along).
        named = ((status.get("providers") or {}).get(summary.get("provider") or "") or {}).get("display_name")
        if isinstance(named, str) and named:
            line = line.replace(named, name_in_line(shortened(named, MENU_NAME_MAX)), 1)
    else:
        line = "gateway not listening" + (f": {not_listening_reason}" if not_listening_reason else "")
    lock = status.get("manual_override") or None
    preferred = status.get("preferred_provider") or None
    quota = status.get("quota") or {}
    choices = []
    for pid in status.get("provider_order") or list(status.get("providers") or {}):
        entry = (status.get("providers") or {}).get(pid)
        if entry is None:
            continue
        name = name_in_line(shortened(str(entry.get("display_name") or pid), MENU_NAME_MAX))
        routable = not entry.get("disabled") and bool(entry.get("base_url", True))
        label = left_to_right(provider_label(name, entry, quota.get(pid)))
        choices.append(ProviderChoice(provider=pid, label=label, name=left_to_right(name), enabled=routable,
                                      locked=pid == lock, preferred=pid == preferred))
    today = status.get("requests_today")
    tooltip = line  # the state line and today's requests, as the menu's first line says it
    if isinstance(today, int):
        tooltip += f" · {today} request{'' if today == 1 else 's'} today"
    return TrayView(icon=icon_state(status, listening), line=left_to_right(line),
                    tooltip=shortened(left_to_right(tooltip), TOOLTIP_MAX),
                    automatic=lock is None, providers=tuple(choices), listening=listening)


def menu_labels(view: TrayView, *, with_autostart: bool = False) -> list[tuple[str, bool]]:
    """The top-level menu as (label, selectable) in order, separators left out: what keyboard
    navigation walks through (the X tests use it to find an entry)."""
    items: list[tuple[str, bool]] = [(view.line, False), ("Routing", False), ("Automatic", True)]
    items += [(p.label, p.enabled) for p in view.providers]
    items += [("Preferred provider", bool(view.providers)), ("Refresh usage", view.listening),
              ("Copy base URL", True), ("Copy gateway token", True)]
    if with_autostart:
        items.append(("Start with the system", True))
    items += [("Open API Router", True), ("Quit", True)]
    return items
