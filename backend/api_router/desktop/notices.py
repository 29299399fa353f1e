"""Which notifications to show, derived from successive ``get_status()`` documents (pure).

``Notices.update(status, ui)`` compares the status with the previous one and returns what
happened since, after the user's ``[ui] notify_*`` settings and coalescing:

- ``failover``: the summary state becomes ``fallback`` (or the fallback provider changes);
- ``all_down``: the summary state becomes ``down``;
- ``recovery``: back to ``serving`` after ``down`` or ``fallback``; also ``down`` -> ``fallback``
  (a partial recovery: a provider other than the preferred one serves again, which is not a failover);
  keyed by the provider it serves from, so a partial recovery does not coalesce away the full one
  that follows;
- ``quota_low`` / ``quota_exhausted``: a provider's ``quota_left_percent`` drops below
  ``notify_quota_percent``, or its reading says it is out of quota (automatic routing skips it);
- ``provider_back``: a provider goes from unresponsive / cooldown / unhealthy to healthy while the
  gateway serves (a hedge, a background check or a request got an answer from it); not together
  with a recovery notice that is actually sent (turned on and not coalesced away), which says it
  already.

The first status is the baseline: starting the app never notifies. A change the user made (lock,
preferred provider) explains a state change by itself and is not announced. At most one
notification per (provider, kind) per ``COALESCE_SECONDS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from api_router.desktop.trayview import percent_left
from api_router.states import UNWELL, GatewayState, ProviderHealth

COALESCE_SECONDS = 600.0
DEFAULT_QUOTA_PERCENT = 10.0


class NoticeKind(StrEnum):
    FAILOVER = "failover"
    ALL_DOWN = "all_down"
    RECOVERY = "recovery"
    QUOTA_LOW = "quota_low"
    QUOTA_EXHAUSTED = "quota_exhausted"
    PROVIDER_BACK = "provider_back"


# The [ui] setting that turns each kind on or off.
SETTING = {NoticeKind.FAILOVER: "notify_failover", NoticeKind.ALL_DOWN: "notify_all_down",
           NoticeKind.RECOVERY: "notify_recovery", NoticeKind.QUOTA_LOW: "notify_quota",
           NoticeKind.QUOTA_EXHAUSTED: "notify_quota", NoticeKind.PROVIDER_BACK: "notify_provider_back"}

# The views the UI routes by hash (docs/control-api.md, "Views the desktop shell can open").
DASHBOARD, USAGE = "#/", "#/usage"


def requests_view(provider: str | None) -> str:
    return f"#/requests?provider={provider}" if provider else "#/requests"


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    provider: str | None
    title: str
    message: str
    view: str             # where clicking it opens the window


def _setting(ui: dict[str, Any], key: str, default: Any) -> Any:
    value = ui.get(key, default)
    return default if value is None else value


def quota_threshold(ui: dict[str, Any]) -> float:
    value = _setting(ui, "notify_quota_percent", DEFAULT_QUOTA_PERCENT)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return DEFAULT_QUOTA_PERCENT
    return float(value)


class Notices:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 coalesce_seconds: float = COALESCE_SECONDS) -> None:
        self._clock = clock
        self._window = coalesce_seconds
        self._previous: dict[str, Any] | None = None
        self._sent: dict[tuple[str | None, str], float] = {}

    def update(self, status: dict[str, Any], ui: dict[str, Any] | None = None) -> list[Notice]:
        ui = ui or {}
        previous, self._previous = self._previous, status
        if previous is None:
            return []
        found = self._changes(previous, status, quota_threshold(ui))
        now = self._clock()
        out = [n for n in found if n.kind is not NoticeKind.PROVIDER_BACK and self._admit(n, ui, now)]
        # A recovery notice says "back" already, but only one that is sent: with recoveries turned off
        # (or coalesced away) the providers that came back are announced on their own.
        if not any(n.kind is NoticeKind.RECOVERY for n in out):
            out += [n for n in found if n.kind is NoticeKind.PROVIDER_BACK and self._admit(n, ui, now)]
        return out

    def _admit(self, notice: Notice, ui: dict[str, Any], now: float) -> bool:
        """Whether ``notice`` is turned on and not coalesced away; records it as sent when it is."""
        if not _setting(ui, SETTING[notice.kind], True):
            return False
        key = (notice.provider, notice.kind)
        last = self._sent.get(key)
        if last is not None and now - last < self._window:
            return False
        self._sent[key] = now
        return True

    # --- what changed ------------------------------------------------------------------------------

    def _changes(self, old: dict[str, Any], new: dict[str, Any], threshold: float) -> list[Notice]:
        names = {pid: str(p.get("display_name") or pid) for pid, p in (new.get("providers") or {}).items()}

        def name(pid: str | None) -> str:
            return names.get(pid or "", pid or "")

        out: list[Notice] = []
        was, now = old.get("summary") or {}, new.get("summary") or {}
        state, before = now.get("state"), was.get("state")
        user_changed = (old.get("manual_override") != new.get("manual_override")
                        or old.get("preferred_provider") != new.get("preferred_provider"))
        preferred = new.get("preferred_provider")
        serving = now.get("provider")
        if not user_changed:
            if state == GatewayState.FALLBACK and before == GatewayState.DOWN:
                # Everything was down and a fallback provider answers: a recovery, if a partial one.
                why = f" ({now['reason']})" if now.get("reason") else ""
                out.append(Notice(NoticeKind.RECOVERY, serving, f"Serving from {name(serving)} again",
                                  f"API Router recovered partly: {name(preferred)} is still not answering{why}. "
                                  f"Codex keeps working through {name(serving)}.", DASHBOARD))
            elif state == GatewayState.FALLBACK and (before != GatewayState.FALLBACK or was.get("provider") != serving):
                why = now.get("reason") or f"{name(preferred)} is not answering"
                out.append(Notice(NoticeKind.FAILOVER, serving, f"Failover to {name(serving)}",
                                  f"{why}. Codex keeps working through {name(serving)}.",
                                  requests_view(preferred)))
            elif state == GatewayState.DOWN and before != GatewayState.DOWN:
                message = now.get("reason") or "No provider can serve requests."
                if now.get("advice"):
                    message += f"\n{now['advice']}"
                out.append(Notice(NoticeKind.ALL_DOWN, None, "All providers down", message, DASHBOARD))
            elif state == GatewayState.SERVING and before in (GatewayState.DOWN, GatewayState.FALLBACK):
                out.append(Notice(NoticeKind.RECOVERY, serving, f"Serving from {name(serving)} again",
                                  f"API Router recovered: {now.get('line') or 'serving'}.", DASHBOARD))
        out += self._quota(old, new, threshold, name)
        if state in (GatewayState.SERVING, GatewayState.FALLBACK):  # dropped in update() when a recovery notice is sent
            old_providers = old.get("providers") or {}
            for pid, entry in (new.get("providers") or {}).items():
                prev = (old_providers.get(pid) or {}).get("status")
                if entry.get("status") == ProviderHealth.HEALTHY and prev in UNWELL:
                    out.append(Notice(NoticeKind.PROVIDER_BACK, pid, f"{name(pid)} is back",
                                      f"{name(pid)} answers again and is back in rotation.", requests_view(pid)))
        return out

    @staticmethod
    def _quota(old: dict[str, Any], new: dict[str, Any], threshold: float,
               name: Callable[[str | None], str]) -> list[Notice]:
        out = []
        old_providers, old_quota = old.get("providers") or {}, old.get("quota") or {}
        new_quota = new.get("quota") or {}
        for pid, entry in (new.get("providers") or {}).items():
            if entry.get("disabled") or pid not in old_providers:  # added or renamed: nothing to compare with
                continue
            left = _percent(entry.get("quota_left_percent"))
            before = _percent((old_providers.get(pid) or {}).get("quota_left_percent"))
            # Out of quota is the quota reading's verdict (what routing skips), not a share rounded to 0.
            exhausted = bool((new_quota.get(pid) or {}).get("skipped"))
            was_exhausted = bool((old_quota.get(pid) or {}).get("skipped"))
            if exhausted and not was_exhausted:
                reason = ((new_quota.get(pid) or {}).get("snapshot") or {}).get("exhausted_reason")
                out.append(Notice(NoticeKind.QUOTA_EXHAUSTED, pid, f"{name(pid)} is out of quota",
                                  (reason or "Its usage panel says nothing is left") +
                                  ". Automatic routing skips it until a refresh says otherwise.", USAGE))
            elif (not exhausted and left is not None and left < threshold
                  and (before is None or before >= threshold)):
                shown = percent_left(left)
                out.append(Notice(NoticeKind.QUOTA_LOW, pid, f"{name(pid)}: {shown} % quota left",
                                  f"{name(pid)} has {shown} % of its quota left.", USAGE))
        return out


def _percent(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
