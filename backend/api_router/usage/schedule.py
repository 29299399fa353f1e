"""When to refresh usage, and the small async runner that does it.

Policy (:class:`RefreshPolicy`, pure: every method takes ``now`` — steady time, see
``records.steady_ms``: a wall clock set back must not hold checks up; randomness from an injected
``random.Random``):

* Background refresh happens only while the gateway is in use: a request was served in the last
  ``activity_window_ms`` (10 min). An idle gateway makes no calls to paid upstreams.
* A provider is due immediately when first seen, then 1–5 min (uniform jitter) after a success
  and 3–10 min after a failure — counted from its last check in an earlier run too (``seed``).
  Jitter keeps providers on one relay from polling in lockstep.
* Manual "refresh all" ignores the activity rule and starts one fetch every ~120 ms, so a click
  does not fire a burst at upstreams that rate-limit their panels.

Runner (:class:`UsageRefresher`): asks the policy what is due, groups due providers with those
sharing the same account (:func:`~.fetch.group_shared`) so each account is fetched once and the
answer applied to every member, keeps the last good snapshot when a fetch fails (with the error
beside it), and reports every outcome through ``on_result``. It persists nothing: the app owns
storage and publishing, and can restore state with :meth:`UsageRefresher.seed`.

Stopping: cancel the task running :meth:`UsageRefresher.run` (or set its ``stop`` event).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from api_router.records import steady_ms as steady_clock
from api_router.records import steady_of

from .fetch import ShareKey, fetch_usage, group_shared, share_key, wall_clock_ms
from .model import UsageError, UsageSnapshot, UsageTarget, redact

__all__ = [
    "FetchFn",
    "RefreshPolicy",
    "ResultCallback",
    "UsageEntry",
    "UsageRefresher",
]

log = logging.getLogger(__name__)

MINUTE_MS = 60_000


@dataclass
class RefreshPolicy:
    """Which providers are due, given the time and the gateway's last activity (all steady ms)."""

    rng: random.Random = field(default_factory=random.Random)
    activity_window_ms: int = 10 * MINUTE_MS
    success_delay_ms: tuple[int, int] = (1 * MINUTE_MS, 5 * MINUTE_MS)
    failure_delay_ms: tuple[int, int] = (3 * MINUTE_MS, 10 * MINUTE_MS)
    manual_spacing_ms: int = 120
    _next_due: dict[str, int] = field(default_factory=dict, repr=False)

    def sync(self, provider_ids: Iterable[str]) -> None:
        """Track exactly these providers: new ones are due at once, removed ones forgotten."""
        wanted = list(dict.fromkeys(provider_ids))
        for pid in list(self._next_due):
            if pid not in wanted:
                del self._next_due[pid]
        for pid in wanted:
            self._next_due.setdefault(pid, 0)

    def resume(self, provider_id: str, checked_at: int, *, failed: bool) -> None:
        """A provider last checked at ``checked_at`` (a run before this one): due when that check's delay
        ends, not at once — a restart is no reason to ask a paid panel again."""
        self._schedule(provider_id, checked_at, self.failure_delay_ms if failed else self.success_delay_ms)

    def forget(self, provider_id: str) -> None:
        """Drop one provider (deleted, or its config changed and it should be due at once)."""
        self._next_due.pop(provider_id, None)

    def rename(self, old: str, new: str) -> None:
        """A renamed provider keeps its place in the schedule (a new id is no reason to check at once)."""
        if old in self._next_due:
            self._next_due[new] = self._next_due.pop(old)

    def is_active(self, now: int, last_activity: int | None) -> bool:
        """The gateway served a request less than ``activity_window_ms`` ago."""
        return last_activity is not None and now - last_activity < self.activity_window_ms

    def due(self, now: int, last_activity: int | None) -> list[str]:
        """Providers to refresh now, most overdue first; none while the gateway is idle."""
        if not self.is_active(now, last_activity):
            return []
        ready = [(at, pid) for pid, at in self._next_due.items() if at <= now]
        return [pid for _, pid in sorted(ready)]

    def record_success(self, provider_id: str, now: int) -> int:
        """Schedule the next refresh 1–5 min out; returns that time."""
        return self._schedule(provider_id, now, self.success_delay_ms)

    def record_failure(self, provider_id: str, now: int) -> int:
        """Schedule the next refresh 3–10 min out; returns that time."""
        return self._schedule(provider_id, now, self.failure_delay_ms)

    def next_due_at(self, provider_id: str) -> int | None:
        return self._next_due.get(provider_id)

    def next_wakeup(self, now: int, last_activity: int | None) -> int | None:
        """Earliest time something becomes due, ``None`` while idle or with no providers."""
        if not self.is_active(now, last_activity) or not self._next_due:
            return None
        return max(now, min(self._next_due.values()))

    def _schedule(self, provider_id: str, now: int, window: tuple[int, int]) -> int:
        low, high = window
        at = now + round(self.rng.uniform(low, high))
        self._next_due[provider_id] = at
        return at


@dataclass
class UsageEntry:
    """What the app shows for one provider: the last good snapshot and the latest error.

    A success clears the error; a failure keeps the previous snapshot.
    """

    snapshot: UsageSnapshot | None = None
    error: str | None = None
    error_at_unix_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.to_json() if self.snapshot is not None else None,
            "error": self.error,
            "error_at_unix_ms": self.error_at_unix_ms,
        }


class ResultCallback(Protocol):
    """``on_result(provider_id, snapshot, error)``: exactly one of ``snapshot``/``error`` is set.

    On failure ``snapshot`` is ``None`` (the last good one stays in :meth:`UsageRefresher.entry`).
    May be a plain function or a coroutine function; exceptions are logged and swallowed so a
    persistence hiccup cannot stop refreshing.
    """

    def __call__(
        self, provider_id: str, snapshot: UsageSnapshot | None, error: str | None
    ) -> Awaitable[None] | None: ...


FetchFn = Callable[..., Awaitable[UsageSnapshot]]
"""Same call shape as :func:`~.fetch.fetch_usage`: ``(target, client, adapter_hint)``."""


class UsageRefresher:
    """Runs :class:`RefreshPolicy` against the app's live provider list.

    ``targets`` is called on every pass so config edits (new key, new provider) are picked up;
    it should return the providers to keep refreshing (enabled ones): a provider missing from it
    leaves the schedule and keeps its reading until ``forget``. ``last_activity`` returns the steady
    ms (``steady_ms``) of the last served request (``None`` = never). ``clock_ms`` dates what is
    shown (an error's time); the schedule runs on ``steady_ms``.
    ``clock_ms``, ``steady_ms``, ``sleep`` and ``fetch`` are injectable so tests never wait.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        targets: Callable[[], Iterable[UsageTarget]],
        on_result: ResultCallback,
        *,
        last_activity: Callable[[], int | None],
        policy: RefreshPolicy | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        steady_ms: Callable[[], int] = steady_clock,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        fetch: FetchFn = fetch_usage,
        idle_poll_s: float = 15.0,
    ) -> None:
        self._client = client
        self._targets = targets
        self._on_result = on_result
        self._last_activity = last_activity
        self.policy = policy or RefreshPolicy()
        self._clock = clock_ms
        self._steady = steady_ms
        self._sleep = sleep
        self._fetch = fetch
        self._idle_poll_s = idle_poll_s
        self._entries: dict[str, UsageEntry] = {}
        self._hints: dict[str, str] = {}
        # Per account: its fetch under way, which ends with the outcome and the providers it was applied to.
        self._inflight: dict[ShareKey, asyncio.Future[tuple[UsageSnapshot | UsageError, list[str]]]] = {}
        # Bumped when a provider is forgotten: a fetch begun before that (with an old key, for a
        # provider since deleted) is not applied when it ends.
        self._epochs: dict[str, int] = {}

    # ------------------------------------------------------------------ state

    def entry(self, provider_id: str) -> UsageEntry | None:
        """Last good snapshot and latest error of one provider."""
        return self._entries.get(provider_id)

    def entries(self) -> dict[str, UsageEntry]:
        return dict(self._entries)

    def hint(self, provider_id: str) -> str | None:
        """The adapter detection found last time, tried first next time."""
        return self._hints.get(provider_id)

    def seed(self, provider_id: str, entry: UsageEntry, hint: str | None = None) -> None:
        """Restore persisted state at startup (the app stores :meth:`UsageEntry.to_json`), the provider's
        place in the schedule with it: its next check comes when its last one's delay ends."""
        self._entries[provider_id] = entry
        taken = entry.snapshot.fetched_at_unix_ms if entry.snapshot is not None else 0
        failed_at = entry.error_at_unix_ms or 0
        if max(taken, failed_at) > 0:
            checked = steady_of(max(taken, failed_at), self._steady(), self._clock())
            self.policy.resume(provider_id, checked, failed=failed_at > taken)
        adapter = hint or (entry.snapshot.adapter if entry.snapshot else None)
        if adapter:
            self._hints[provider_id] = adapter

    def forget(self, provider_id: str) -> None:
        """Drop a provider's state and schedule (deleted, or credentials changed)."""
        self._entries.pop(provider_id, None)
        self._hints.pop(provider_id, None)
        self.policy.forget(provider_id)
        self._epochs[provider_id] = self._epochs.get(provider_id, 0) + 1

    def rename(self, old: str, new: str) -> None:
        """A provider's reading, hint and place in the schedule under its new id (a check under way when
        it was renamed is not applied: it was asked under the old one)."""
        if old in self._entries:
            self._entries[new] = self._entries.pop(old)
        if old in self._hints:
            self._hints[new] = self._hints.pop(old)
        self.policy.rename(old, new)
        self._epochs[old] = self._epochs.get(old, 0) + 1

    # ------------------------------------------------------------------ passes

    async def refresh_due(self) -> list[str]:
        """One background pass; returns the provider ids that got a result."""
        now = self._steady()
        targets = self._current_targets()
        due = set(self.policy.due(now, self._last_activity()))
        if not due:
            return []
        groups = [g for g in group_shared(targets.values()) if any(t.provider_id in due for t in g)]
        return await self._run_groups(groups, self._epochs_now())

    async def refresh_all(self, provider_ids: Iterable[str] | None = None) -> dict[str, UsageEntry]:
        """Manual refresh, activity rule ignored; fetches start ``manual_spacing_ms`` apart."""
        targets = self._current_targets()
        wanted = set(provider_ids) if provider_ids is not None else set(targets)
        groups = [g for g in group_shared(targets.values()) if any(t.provider_id in wanted for t in g)]
        done = await self._run_groups(groups, self._epochs_now())
        return {pid: self._entries[pid] for pid in done if pid in self._entries}

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Background loop: a pass, then sleep until the next provider is due (≤ ``idle_poll_s``)."""
        while stop is None or not stop.is_set():
            try:
                await self.refresh_due()
                pause = self._next_sleep_s()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep refreshing whatever one pass hit
                log.exception("usage refresh pass failed")
                pause = self._idle_poll_s
            await self._sleep(pause)

    def _next_sleep_s(self) -> float:
        now = self._steady()
        wake = self.policy.next_wakeup(now, self._last_activity())
        if wake is None:
            return self._idle_poll_s
        return min(max((wake - now) / 1000, 1.0), self._idle_poll_s)

    def _current_targets(self) -> dict[str, UsageTarget]:
        targets = {t.provider_id: t for t in self._targets()}
        # Out of the schedule, not forgotten: a provider switched off keeps the reading the app shows,
        # and a failed check once it is back keeps it too (``forget`` drops it: deleted, new key).
        self.policy.sync(targets)
        return targets

    def _epochs_now(self) -> dict[str, int]:
        """Taken with the targets (their keys): an answer is applied only if no provider was forgotten since."""
        return dict(self._epochs)

    async def _run_groups(self, groups: list[tuple[UsageTarget, ...]], epochs: dict[str, int]) -> list[str]:
        """Start one fetch per group, ``manual_spacing_ms`` apart, and wait for all of them."""
        tasks: list[asyncio.Future[list[str]]] = []
        for index, group in enumerate(groups):
            if index:
                await self._sleep(self.policy.manual_spacing_ms / 1000)
            tasks.append(asyncio.ensure_future(self._run_group(group, epochs)))
        done: list[str] = []
        for ids in await asyncio.gather(*tasks):
            done.extend(ids)
        return done

    async def _run_group(self, group: tuple[UsageTarget, ...], epochs: dict[str, int]) -> list[str]:
        """Fetch once for the whole group, or join a fetch already in flight for its account.

        The fetch's owner applies the outcome (so each provider gets one result, one event); a joiner
        only waits, then applies it to members of its group the owner did not have (added meanwhile).
        """
        key = share_key(group[0])
        shared = self._inflight.get(key)
        if shared is None:
            shared = asyncio.ensure_future(self._fetch_and_apply(group, epochs))
            self._inflight[key] = shared
            shared.add_done_callback(functools.partial(self._fetch_done, key))
            _, applied = await asyncio.shield(shared)
            return applied
        outcome, applied = await asyncio.shield(shared)
        ours = [target.provider_id for target in group if target.provider_id in applied]
        late = tuple(target for target in group if target.provider_id not in applied)
        return ours + await self._apply_all(late, outcome, epochs)

    async def _fetch_and_apply(
        self, group: tuple[UsageTarget, ...], epochs: dict[str, int]
    ) -> tuple[UsageSnapshot | UsageError, list[str]]:
        outcome = await self._fetch_once(group)
        return outcome, await self._apply_all(group, outcome, epochs)

    async def _apply_all(
        self, group: tuple[UsageTarget, ...], outcome: UsageSnapshot | UsageError, epochs: dict[str, int]
    ) -> list[str]:
        applied = []
        for target in group:
            pid = target.provider_id
            if self._epochs.get(pid, 0) == epochs.get(pid, 0):  # else forgotten meanwhile: the answer is about the past
                await self._apply(pid, outcome)
                applied.append(pid)
        return applied

    async def cancel_fetches(self) -> None:
        """End the fetches still under way (the gateway stops). A fetch is shared by everyone waiting for
        it (shielded), so cancelling those who wait does not end it — it would go on with a closed client."""
        pending = list(self._inflight.values())
        for future in pending:
            future.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _fetch_done(
        self, key: ShareKey, future: asyncio.Future[tuple[UsageSnapshot | UsageError, list[str]]]
    ) -> None:
        if self._inflight.get(key) is future:
            del self._inflight[key]

    async def _fetch_once(self, group: tuple[UsageTarget, ...]) -> UsageSnapshot | UsageError:
        target = group[0]
        hint = next((self._hints[t.provider_id] for t in group if t.provider_id in self._hints), None)
        try:
            return await self._fetch(target, self._client, hint)
        except UsageError as exc:
            return exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an adapter bug must not kill the refresher
            secrets = [s for t in group for s in t.secrets()]
            detail = redact(f"{type(exc).__name__}: {exc}", secrets)
            log.warning("usage fetch for %s crashed: %s", target.provider_id, detail)
            return UsageError(f"usage fetch failed unexpectedly ({detail})")

    async def _apply(self, provider_id: str, outcome: UsageSnapshot | UsageError) -> None:
        previous = self._entries.get(provider_id) or UsageEntry()
        if isinstance(outcome, UsageSnapshot):
            self._entries[provider_id] = UsageEntry(snapshot=outcome)
            self._hints[provider_id] = outcome.adapter
            self.policy.record_success(provider_id, self._steady())
            await self._notify(provider_id, outcome, None)
        else:
            self._entries[provider_id] = UsageEntry(previous.snapshot, outcome.message, self._clock())
            self.policy.record_failure(provider_id, self._steady())
            log.info("usage refresh for %s failed: %s", provider_id, outcome.message)
            await self._notify(provider_id, None, outcome.message)

    async def _notify(self, provider_id: str, snapshot: UsageSnapshot | None, error: str | None) -> None:
        try:
            result = self._on_result(provider_id, snapshot, error)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("usage on_result for %s failed: %s", provider_id, type(exc).__name__)
