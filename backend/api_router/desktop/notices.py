"""Which notifications to show, derived from successive ``get_status()`` documents (pure).

``Notices.update(status, ui)`` compares the status with the previous one and returns what
happened since, after the user's ``[ui] notify_*`` settings and coalescing:

- ``failover``: the summary state becomes ``fallback`` (or the fallback provider changes), told once
  that provider has answered — or its stream's output has begun (the status names it as soon as the
  preferred one fails; if it fails too, the outage is told instead);
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
  already. One sent first (the preferred provider is back before traffic returns to it) stands for the
  recovery to it that follows within ``COALESCE_SECONDS`` in the same incident (not after a new
  failover or outage).

The first status is the baseline: starting the app never notifies. A change the user made (lock,
preferred provider) explains a state change by itself and is not announced, unless a provider
failed in the same interval and that failure is what the new state reports (the locked provider
failing right after the lock: ``all_down``; the preferred one failing: ``failover``). At most one
notification per (provider, kind) per ``COALESCE_SECONDS``.

A provider renamed (a new id for the same provider: the control API's ``rename_provider``; each status
entry's ``instance`` says which provider it is) is followed: the previous status is read under the new
ids, so the rename is no failover and its repeat limit carries over. An id deleted and added again is a
new provider, also within one poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from api_router.desktop.trayview import percent_left
from api_router.states import UNWELL, GatewayState, ProviderHealth
from api_router.texts import left_to_right, name_in_line

COALESCE_SECONDS = 600.0
DEFAULT_QUOTA_PERCENT = 10.0


class NoticeKind(StrEnum):
    FAILOVER = "failover"
    ALL_DOWN = "all_down"
    RECOVERY = "recovery"
    QUOTA_LOW = "quota_low"
    QUOTA_EXHAUSTED = "quota_exhausted"
    PROVIDER_BACK = "provider_back"
    # A tray action the app could not carry out (the OS refused the login item, say): the answer to the
    # user's own click, not a state change (no setting turns it off; never from ``Notices.update``).
    ACTION_FAILED = "action_failed"


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
        # The last status whose state had settled: a failover names the next provider while the request
        # to it is still under way, and its state is told only once that provider has answered.
        self._settled: dict[str, Any] | None = None
        self._sent: dict[tuple[str | None, str], float] = {}
        self._left_serving_at: float | None = None  # when the latest outage or failover began

    def update(self, status: dict[str, Any], ui: dict[str, Any] | None = None) -> list[Notice]:
        ui = ui or {}
        previous, self._previous = self._previous, status
        if previous is None:
            self._settled = status
            return []
        renames, replaced = provider_changes(previous.get("providers") or {}, status.get("providers") or {})
        self._follow_renames(renames, replaced, status.get("providers") or {})
        settled = under_new_ids(self._settled or previous, renames, replaced)
        answered = _has_settled(status)
        self._settled = status if answered else settled
        found = self._changes(under_new_ids(previous, renames, replaced), status, quota_threshold(ui),
                              settled if answered else None)
        now = self._clock()
        state = (status.get("summary") or {}).get("state")
        if (previous.get("summary") or {}).get("state") == GatewayState.SERVING and \
                state in (GatewayState.FALLBACK, GatewayState.DOWN) and not _preferred_back(status):
            # When traffic left, whether or not that has settled yet — not a late answer of the fallback
            # once the preferred provider is back: that is the same incident, ending.
            self._left_serving_at = now
        before = (settled.get("summary") or {}).get("state")
        # The preferred provider is back (a check answered) well before traffic returns to it, once it has
        # been stable: its "is back" said it then, and the recovery that follows is not told again.
        back_from_fallback = before == GatewayState.FALLBACK and state == GatewayState.SERVING
        out = [n for n in found if n.kind is not NoticeKind.PROVIDER_BACK
               and not (back_from_fallback and n.kind is NoticeKind.RECOVERY and self._said_back(n.provider, now))
               and self._admit(n, ui, now)]
        # A recovery notice says "back" already, but only one that is sent: with recoveries turned off (or
        # coalesced away) the providers that came back are announced on their own. A partial recovery
        # ("serving from B again") speaks of B alone: another provider back in the same poll is told too.
        recovered = {n.provider for n in out if n.kind is NoticeKind.RECOVERY}
        if not (recovered and state == GatewayState.SERVING):
            out += [n for n in found if n.kind is NoticeKind.PROVIDER_BACK and n.provider not in recovered
                    and self._admit(n, ui, now)]
        return [replace(n, title=left_to_right(n.title), message=left_to_right(n.message)) for n in out]

    def _said_back(self, provider: str | None, now: float) -> bool:
        """Whether "is back" was said of ``provider`` lately, in this incident (one told in an earlier
        incident does not stand for this one's recovery)."""
        last = self._sent.get((provider, NoticeKind.PROVIDER_BACK))
        began = self._left_serving_at
        return last is not None and now - last < self._window and (began is None or last >= began)

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

    def _follow_renames(self, renames: dict[str, str], replaced: set[str], providers: Mapping[str, Any]) -> None:
        """The repeat limit belongs to the provider, not to its id: it follows a rename, and goes with a
        deleted provider (one added later under its id is another provider, even within one poll)."""
        self._sent = {(renamed, kind): at for (pid, kind), at in self._sent.items() if pid not in replaced
                      and ((renamed := renames.get(pid or "", pid)) is None or renamed in providers)}

    # --- what changed ------------------------------------------------------------------------------

    def _changes(self, old: dict[str, Any], new: dict[str, Any], threshold: float,
                 settled: dict[str, Any] | None) -> list[Notice]:
        """What changed from ``old`` (the previous status); the state, from ``settled`` (the last one
        whose state had settled; None: ``new``'s has not)."""
        names = {pid: str(p.get("display_name") or pid) for pid, p in (new.get("providers") or {}).items()}

        def name(pid: str | None) -> str:
            return name_in_line(names.get(pid or "", pid or ""))

        state_notice = _state_notice(settled, new, name) if settled is not None else None
        if state_notice is not None and settled is not None and _user_changed(settled, new, state_notice) \
                and not _despite_the_user(state_notice, settled, new):
            state_notice = None
        out = [state_notice] if state_notice is not None else []
        out += self._quota(old, new, threshold, name)
        if (new.get("summary") or {}).get("state") in (GatewayState.SERVING, GatewayState.FALLBACK):
            out += _providers_back(old, new, name)  # dropped in update() when a recovery notice is sent
        return out

    @staticmethod
    def _quota(old: dict[str, Any], new: dict[str, Any], threshold: float,
               name: Callable[[str | None], str]) -> list[Notice]:
        out = []
        old_providers, old_quota = old.get("providers") or {}, old.get("quota") or {}
        new_quota = new.get("quota") or {}
        # A provider added since (or deleted and added again) is compared with no reading at all: its first
        # reading is told whether it came in the poll that found the provider or in a later one.
        for pid, entry in (new.get("providers") or {}).items():
            if entry.get("disabled"):
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


def _has_settled(status: dict[str, Any]) -> bool:
    """Whether the state ``status`` reports has come about: not a failover to a provider that has not
    answered since the preferred one began failing (the request to it is under way, and may fail too).
    Since it began: the background checks it fails after that do not make the fallback's answer older."""
    summary = status.get("summary") or {}
    if summary.get("state") != GatewayState.FALLBACK:
        return True
    providers = status.get("providers") or {}
    serving = providers.get(summary.get("provider") or "") or {}
    if serving.get("status") != ProviderHealth.HEALTHY:
        return False
    preferred = providers.get(status.get("preferred_provider") or "") or {}
    failed = _at(preferred, "failing_since_unix_ms") or _at(preferred, "last_fail_at_unix_ms")
    # Its stream's output under way is an answer too: a long one is not waited out.
    answered = max(_at(serving, "last_ok_at_unix_ms") or 0, _at(serving, "last_output_at_unix_ms") or 0)
    return failed is None or answered >= failed


def _preferred_back(status: dict[str, Any]) -> bool:
    """Whether the preferred provider has answered since its last failure (a background check, say)."""
    entry = (status.get("providers") or {}).get(status.get("preferred_provider") or "") or {}
    answered, failed = _at(entry, "last_ok_at_unix_ms"), _at(entry, "last_fail_at_unix_ms")
    return answered is not None and failed is not None and answered > failed


def _at(entry: dict[str, Any], key: str) -> int | None:
    value = entry.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _state_notice(old: dict[str, Any], new: dict[str, Any], name: Callable[[str | None], str]) -> Notice | None:
    """What the change of the summary state says, whoever caused it."""
    was, now = old.get("summary") or {}, new.get("summary") or {}
    state, before = now.get("state"), was.get("state")
    preferred = new.get("preferred_provider")
    serving = now.get("provider")
    if state == GatewayState.FALLBACK and before == GatewayState.DOWN:
        # Everything was down and a fallback provider answers: a recovery, if a partial one.
        why = f" ({now['reason']})" if now.get("reason") else ""
        return Notice(NoticeKind.RECOVERY, serving, f"Serving from {name(serving)} again",
                      f"API Router recovered partly: {name(preferred)} is still not answering{why}. "
                      f"Codex keeps working through {name(serving)}.", DASHBOARD)
    if state == GatewayState.FALLBACK and (before != GatewayState.FALLBACK or was.get("provider") != serving):
        if _preferred_back(new):
            return None  # back before the fallback answered: its "is back" says it, no failover after it
        why = now.get("reason") or f"{name(preferred)} is not answering"
        return Notice(NoticeKind.FAILOVER, serving, f"Failover to {name(serving)}",
                      f"{why}. Codex keeps working through {name(serving)}.", requests_view(preferred))
    if state == GatewayState.DOWN and before != GatewayState.DOWN:
        message = now.get("reason") or "No provider can serve requests."
        if now.get("advice"):
            message += f"\n{now['advice']}"
        return Notice(NoticeKind.ALL_DOWN, None, "All providers down", message, DASHBOARD)
    if state == GatewayState.SERVING and before in (GatewayState.DOWN, GatewayState.FALLBACK):
        # Only a provider that has answered recovers: one that traffic returns to unproven (the fallback
        # switched off, its table renamed by hand: a provider new to routing) is still to be heard from.
        if ((new.get("providers") or {}).get(serving or "") or {}).get("status") != ProviderHealth.HEALTHY:
            return None
        return Notice(NoticeKind.RECOVERY, serving, f"Serving from {name(serving)} again",
                      f"API Router recovered: {now.get('line') or 'serving'}.", DASHBOARD)
    return None


def _user_changed(old: dict[str, Any], new: dict[str, Any], notice: Notice) -> bool:
    """Whether the user changed what routing serves from: the lock or the preferred provider — or, for a
    failover to another provider, switched off or deleted the one serving (the failover away from the
    preferred provider was told when it happened)."""
    return (old.get("manual_override") != new.get("manual_override")
            or old.get("preferred_provider") != new.get("preferred_provider")
            or (notice.kind is NoticeKind.FAILOVER and _serving_switched_off(old, new)))


def _serving_switched_off(old: dict[str, Any], new: dict[str, Any]) -> bool:
    summary = old.get("summary") or {}
    serving = summary.get("provider")
    if not serving:  # serving from nobody, or from a provider deleted since (another has its id: see under_new_ids)
        return summary.get("state") in (GatewayState.SERVING, GatewayState.FALLBACK)
    entry = (new.get("providers") or {}).get(serving)
    return entry is None or bool(entry.get("disabled"))


def _despite_the_user(notice: Notice, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``notice`` reports a failure rather than the user's own change of lock or preferred
    provider, both seen in one poll: the provider now in charge failed meanwhile (e.g. it failed
    right after the lock). A lock to a provider already cooling down, a preferred provider that was
    already failing, and every recovery are the user's doing."""
    failed = failed_since(old, new)
    lock = new.get("manual_override")
    if notice.kind is NoticeKind.ALL_DOWN:
        return lock in failed if lock else bool(failed)
    if notice.kind is NoticeKind.FAILOVER:
        return new.get("preferred_provider") in failed
    return False


# A failure's time comes as wall-clock milliseconds converted from the monotonic clock at each
# reading, so the same failure can read a millisecond apart; a later failure is further apart.
SAME_FAILURE_MS = 50


def failed_since(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """The providers that failed (a request or a background check) between the two statuses."""
    old_providers = old.get("providers") or {}
    out = set()
    for pid, entry in (new.get("providers") or {}).items():
        prev = old_providers.get(pid) or {}
        count, prev_count = entry.get("consecutive_failures"), prev.get("consecutive_failures")
        at, prev_at = entry.get("last_fail_at_unix_ms"), prev.get("last_fail_at_unix_ms")
        more = isinstance(count, int) and count > (prev_count if isinstance(prev_count, int) else 0)
        later = isinstance(at, int) and (not isinstance(prev_at, int) or at - prev_at > SAME_FAILURE_MS)
        if more or later:
            out.add(pid)
    return out


def _providers_back(old: dict[str, Any], new: dict[str, Any], name: Callable[[str | None], str]) -> list[Notice]:
    old_providers = old.get("providers") or {}
    out = []
    for pid, entry in (new.get("providers") or {}).items():
        prev = (old_providers.get(pid) or {}).get("status")
        if entry.get("status") == ProviderHealth.HEALTHY and prev in UNWELL:
            out.append(Notice(NoticeKind.PROVIDER_BACK, pid, f"{name(pid)} is back",
                              f"{name(pid)} answers again and is back in rotation.", requests_view(pid)))
    return out


# --- renamed providers -------------------------------------------------------------------------------


def provider_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    """Between two statuses' providers: the ones renamed (old id -> new id: the same ``instance`` under
    another id), and the old ids that name another provider now (deleted and added again in between:
    a new provider, told of from the start). A table renamed by hand in config.toml is a provider new
    to routing, and so it is here."""
    def instance(entry: Any) -> Any:
        return entry.get("instance") if isinstance(entry, dict) else None

    now_at = {instance(entry): pid for pid, entry in new.items() if instance(entry) is not None}
    renames: dict[str, str] = {}
    replaced: set[str] = set()
    for pid, entry in old.items():
        was = instance(entry)
        if was is None:
            continue
        moved_to = now_at.get(was)
        if moved_to is not None and moved_to != pid:
            renames[pid] = moved_to
        elif moved_to is None and pid in new:
            replaced.add(pid)
    return renames, replaced


def under_new_ids(status: dict[str, Any], renames: dict[str, str], replaced: Collection[str] = ()) -> dict[str, Any]:
    """``status`` as it reads with the renamed providers under their new ids, and nothing of a provider
    whose id another one has now."""
    if not renames and not replaced:
        return status

    def new_id(pid: Any) -> Any:
        if isinstance(pid, str) and pid in replaced:
            return None
        return renames.get(pid, pid) if isinstance(pid, str) else pid

    def rekeyed(mapping: Any) -> dict[str, Any]:
        return {new_id(pid): value for pid, value in (mapping or {}).items() if pid not in replaced}

    summary = status.get("summary") or {}
    return {**status, "providers": rekeyed(status.get("providers")), "quota": rekeyed(status.get("quota")),
            "summary": {**summary, "provider": new_id(summary.get("provider"))},
            "manual_override": new_id(status.get("manual_override")),
            "preferred_provider": new_id(status.get("preferred_provider"))}


def _percent(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
