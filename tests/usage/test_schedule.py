"""Refresh policy (activity rule, jitter windows) and the refresher, on a fake clock: no real sleeps."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import cast

import httpx
import pytest
from usage_fakes import KEY, FakePanel

from api_router.usage import (
    RefreshPolicy,
    UsageEntry,
    UsageError,
    UsageRefresher,
    UsageSnapshot,
    UsageTarget,
)

MIN = 60_000
T0 = 1_764_000_000_000
NO_CLIENT = cast(httpx.AsyncClient, object())  # the scripted fetch never touches it


class LowEdge(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


class HighEdge(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


# ------------------------------------------------------------------ policy


def test_idle_gateway_refreshes_nothing() -> None:
    policy = RefreshPolicy()
    policy.sync(["p1", "p2"])
    assert policy.due(T0, None) == []
    assert policy.due(T0, T0 - 10 * MIN) == []  # exactly 10 min ago: idle
    assert policy.due(T0, T0 - 10 * MIN + 1) == ["p1", "p2"]
    assert policy.due(T0, T0) == ["p1", "p2"]
    assert policy.next_wakeup(T0, None) is None


def test_new_providers_are_due_at_once_and_removed_ones_forgotten() -> None:
    policy = RefreshPolicy(rng=random.Random(1))
    policy.sync(["p1"])
    policy.record_success("p1", T0)
    policy.sync(["p1", "p2"])
    assert policy.due(T0, T0) == ["p2"]
    policy.sync(["p2"])
    assert policy.next_due_at("p1") is None


@pytest.mark.parametrize(
    ("rng", "success_ms", "failure_ms"), [(LowEdge(), 1 * MIN, 3 * MIN), (HighEdge(), 5 * MIN, 10 * MIN)]
)
def test_jitter_window_edges(rng: random.Random, success_ms: int, failure_ms: int) -> None:
    policy = RefreshPolicy(rng=rng)
    assert policy.record_success("p1", T0) == T0 + success_ms
    assert policy.record_failure("p2", T0) == T0 + failure_ms
    assert policy.due(T0 + success_ms - 1, T0) == []
    assert policy.due(T0 + success_ms, T0) == ["p1"]


def test_jitter_spreads_inside_the_windows() -> None:
    policy = RefreshPolicy(rng=random.Random(42))
    successes = [policy.record_success("p", T0) - T0 for _ in range(500)]
    failures = [policy.record_failure("p", T0) - T0 for _ in range(500)]
    assert all(1 * MIN <= d <= 5 * MIN for d in successes)
    assert all(3 * MIN <= d <= 10 * MIN for d in failures)
    assert max(successes) - min(successes) > 3 * MIN  # really jittered, not a constant
    assert max(failures) - min(failures) > 6 * MIN
    # reproducible with the same seed
    again = RefreshPolicy(rng=random.Random(42))
    assert [again.record_success("p", T0) - T0 for _ in range(500)] == successes


def test_most_overdue_first_and_next_wakeup() -> None:
    policy = RefreshPolicy(rng=LowEdge())
    policy.sync(["a", "b", "c"])
    policy.record_success("a", T0)  # due T0+1min
    policy.record_failure("b", T0 - 2 * MIN)  # due T0+1min, tie → id order
    policy.record_success("c", T0 - 3 * MIN)  # due T0-2min
    assert policy.due(T0 + 1 * MIN, T0) == ["c", "a", "b"]
    assert policy.next_wakeup(T0, T0) == T0  # c is overdue
    policy.record_success("c", T0)
    assert policy.next_wakeup(T0, T0) == T0 + 1 * MIN


# ------------------------------------------------------------------ refresher


@dataclass
class World:
    """Fake clock, fake sleep (advances the clock), scripted fetch, recorded callbacks."""

    now: int = T0
    last_activity: int | None = T0
    sleeps: list[float] = field(default_factory=list)
    fetches: list[tuple[str, str | None]] = field(default_factory=list)
    results: list[tuple[str, UsageSnapshot | None, str | None]] = field(default_factory=list)
    fail: bool = False
    remaining: float = 10.0

    def clock(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += round(seconds * 1000)

    async def fetch(self, target: UsageTarget, client: object, hint: str | None) -> UsageSnapshot:
        self.fetches.append((target.provider_id, hint))
        if self.fail:
            raise UsageError(
                "usage endpoint refused the credentials (401): https://r.example.com/api/usage/token",
                "unauthorized",
            )
        return UsageSnapshot(
            adapter="new_api",
            base_url="https://r.example.com",
            remaining=self.remaining,
            fetched_at_unix_ms=self.now,
            detected=True,
        )

    def on_result(self, pid: str, snapshot: UsageSnapshot | None, error: str | None) -> None:
        self.results.append((pid, snapshot, error))

    def refresher(self, targets: list[UsageTarget], **kw: object) -> UsageRefresher:
        options: dict[str, object] = {
            "last_activity": lambda: self.last_activity,
            "policy": RefreshPolicy(rng=LowEdge()),
            "clock_ms": self.clock,
            "steady_ms": self.clock,
            "sleep": self.sleep,
            "fetch": self.fetch,
            **kw,
        }
        return UsageRefresher(NO_CLIENT, lambda: targets, self.on_result, **options)  # type: ignore[arg-type]


def t(pid: str, key: str = "") -> UsageTarget:
    return UsageTarget(pid, f"https://{pid}.example.com/v1", provider_key=key or f"sk-{pid}")


async def test_background_pass_respects_activity() -> None:
    world = World(last_activity=None)
    refresher = world.refresher([t("p1")])
    assert await refresher.refresh_due() == []
    world.last_activity = T0 - 11 * MIN
    assert await refresher.refresh_due() == []
    assert world.fetches == []
    world.last_activity = T0 - 1 * MIN
    assert await refresher.refresh_due() == ["p1"]
    assert await refresher.refresh_due() == []  # next due in 1 min (LowEdge)
    world.now += 1 * MIN
    assert await refresher.refresh_due() == ["p1"]


async def test_a_wall_clock_set_back_holds_no_check_up() -> None:
    """The schedule and the gateway's activity run on the steady clock: the wall clock set back an hour
    after a check (NTP, a machine that also boots Windows) neither holds the next check up for that hour
    nor dates an error in the future. An error is dated by the wall clock, as shown."""
    world = World()
    wall = [0]  # how far the wall clock is set from the steady one
    refresher = world.refresher([t("p1")], clock_ms=lambda: world.now + wall[0])
    assert await refresher.refresh_due() == ["p1"]
    wall[0] = -60 * MIN
    world.now += 1 * MIN
    world.last_activity = world.now
    world.fail = True
    assert await refresher.refresh_due() == ["p1"]  # 1 min after the last check (LowEdge), as ever
    assert refresher.entry("p1").error_at_unix_ms == world.now - 60 * MIN  # type: ignore[union-attr]


async def test_failure_keeps_last_good_snapshot() -> None:
    world = World()
    refresher = world.refresher([t("p1")])
    await refresher.refresh_all()
    good = refresher.entry("p1").snapshot  # type: ignore[union-attr]
    assert good is not None and good.remaining == 10

    world.fail, world.now = True, T0 + 5 * MIN
    await refresher.refresh_all()
    entry = refresher.entry("p1")
    assert entry is not None and entry.snapshot == good
    assert entry.error and entry.error.startswith("usage endpoint refused the credentials (401)")
    assert entry.error_at_unix_ms == T0 + 5 * MIN
    assert entry.to_json() == {
        "snapshot": good.to_json(),
        "error": entry.error,
        "error_at_unix_ms": T0 + 5 * MIN,
    }
    assert world.results[-1] == ("p1", None, entry.error)
    assert refresher.policy.next_due_at("p1") == T0 + 5 * MIN + 3 * MIN  # failure window

    world.fail, world.remaining = False, 4.0
    await refresher.refresh_all()
    entry = refresher.entry("p1")
    assert entry is not None and entry.error is None and entry.error_at_unix_ms is None
    assert entry.snapshot is not None and entry.snapshot.remaining == 4.0
    assert world.results[-1][1] is entry.snapshot and world.results[-1][2] is None


async def test_failure_without_any_snapshot_yet() -> None:
    world = World(fail=True)
    refresher = world.refresher([t("p1")])
    await refresher.refresh_all()
    assert refresher.entry("p1").to_json()["snapshot"] is None  # type: ignore[union-attr]


async def test_manual_refresh_is_spaced_and_shares() -> None:
    world = World()
    targets = [t("a"), t("b"), UsageTarget("a2", "https://a.example.com/openai", provider_key="sk-a"), t("c")]
    refresher = world.refresher(targets)
    world.last_activity = None  # manual refresh ignores the activity rule
    entries = await refresher.refresh_all()
    assert sorted(entries) == ["a", "a2", "b", "c"]
    assert sorted(pid for pid, _ in world.fetches) == ["a", "b", "c"]  # a and a2 share one fetch
    assert world.sleeps == [0.12, 0.12]  # three fetches, started 120 ms apart
    assert {pid for pid, _, _ in world.results} == {"a", "a2", "b", "c"}


async def test_manual_refresh_of_some_providers() -> None:
    world = World()
    refresher = world.refresher([t("a"), t("b")])
    await refresher.refresh_all(["b"])
    assert world.fetches == [("b", None)] and world.sleeps == []


async def test_a_due_member_refreshes_its_whole_group() -> None:
    world = World()
    a, a2 = t("a"), UsageTarget("a2", "https://a.example.com/x", provider_key="sk-a")
    targets = [a]
    refresher = world.refresher(targets)
    await refresher.refresh_due()
    targets.append(a2)  # a2 added later: due at once, a is not
    assert await refresher.refresh_due() == ["a", "a2"]
    assert len(world.fetches) == 2
    assert refresher.policy.next_due_at("a") == refresher.policy.next_due_at("a2")


async def test_detected_adapter_is_passed_as_hint_next_time() -> None:
    world = World()
    refresher = world.refresher([t("p1")])
    await refresher.refresh_all()
    await refresher.refresh_all()
    assert world.fetches == [("p1", None), ("p1", "new_api")]
    assert refresher.hint("p1") == "new_api"


async def test_seed_restores_state_and_hint() -> None:
    world = World(fail=True)
    refresher = world.refresher([t("p1")])
    old = UsageSnapshot(adapter="token_stats", base_url="https://p1.example.com", remaining=3)
    refresher.seed("p1", UsageEntry(UsageSnapshot.from_json(old.to_json())))
    await refresher.refresh_all()
    assert world.fetches == [("p1", "token_stats")]
    assert refresher.entry("p1").snapshot == old  # type: ignore[union-attr]


@pytest.mark.parametrize(("reading_age", "error_age", "due_after"), [
    (30_000, None, 1 * MIN),  # a reading 30 s old: the next check 1-5 min after it, not at once
    (90 * MIN, 60_000, 3 * MIN),  # the last check failed a minute ago: 3-10 min after that failure
    (None, None, 0),  # never checked: at once
    (10 * MIN, None, 0),  # its delay ran out while the app was stopped: at once
    (-10 * MIN, None, 1 * MIN),  # stamped ahead of now (the clock was set back since): counted from now
])
async def test_a_restart_keeps_each_providers_place_in_the_schedule(reading_age, error_age, due_after) -> None:
    world = World()
    refresher = world.refresher([t("p1")])
    snapshot = UsageSnapshot(adapter="new_api", base_url="https://p1.example.com", remaining=3,
                             fetched_at_unix_ms=T0 - reading_age) if reading_age is not None else None
    error_at = T0 - error_age if error_age is not None else None
    if snapshot is not None or error_at is not None:
        refresher.seed("p1", UsageEntry(snapshot, "refused" if error_at else None, error_at))
    assert await refresher.refresh_due() == ([] if due_after else ["p1"])
    last_check = min(max(T0 - (reading_age or T0), T0 - (error_age or T0)), T0)
    if due_after:
        world.now = last_check + due_after - 1
        assert await refresher.refresh_due() == []
        world.now += 1
        assert await refresher.refresh_due() == ["p1"]


async def test_a_provider_out_of_the_targets_keeps_its_reading_until_it_is_forgotten() -> None:
    """Switched off, a provider is not checked, but its reading stays (the app still shows it): switched on
    again, a failed check keeps it — it was dropped, and the failure replaced the reading the app showed."""
    world = World()
    targets = [t("p1"), t("p2")]
    refresher = world.refresher(targets)
    await refresher.refresh_all()
    good = refresher.entry("p2").snapshot  # type: ignore[union-attr]
    off = targets.pop()
    world.fetches.clear()
    world.now += 10 * MIN
    world.last_activity = world.now
    await refresher.refresh_due()
    assert [pid for pid, _ in world.fetches] == ["p1"]
    targets.append(off)
    world.fail = True
    await refresher.refresh_all(["p2"])
    assert world.results[-1] == ("p2", None, refresher.entry("p2").error)  # type: ignore[union-attr]
    assert refresher.entry("p2").snapshot == good  # type: ignore[union-attr]
    refresher.forget("p2")
    assert refresher.entry("p2") is None and set(refresher.entries()) == {"p1"}


async def test_async_and_failing_callbacks() -> None:
    world = World()
    calls: list[str] = []

    async def on_result(pid: str, snapshot: UsageSnapshot | None, error: str | None) -> None:
        calls.append(pid)
        raise RuntimeError("disk full")

    refresher = UsageRefresher(
        NO_CLIENT,
        lambda: [t("p1")],
        on_result,
        last_activity=lambda: T0,
        clock_ms=world.clock,
        steady_ms=world.clock,
        sleep=world.sleep,
        fetch=world.fetch,
    )
    await refresher.refresh_all()
    await refresher.refresh_all()
    assert calls == ["p1", "p1"]
    assert refresher.entry("p1").snapshot is not None  # type: ignore[union-attr]


async def test_concurrent_requests_for_one_account_share_the_fetch() -> None:
    world = World()
    gate = asyncio.Event()
    calls = 0

    async def slow_fetch(target: UsageTarget, client: object, hint: str | None) -> UsageSnapshot:
        nonlocal calls
        calls += 1
        await gate.wait()
        return UsageSnapshot(adapter="new_api", base_url="x", remaining=1)

    refresher = world.refresher([t("p1")], fetch=slow_fetch)
    first = asyncio.ensure_future(refresher.refresh_due())
    second = asyncio.ensure_future(refresher.refresh_all())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gate.set()
    done = await asyncio.gather(first, second)
    assert calls == 1
    assert [pid for pid, _, _ in world.results] == ["p1"]  # applied once, by the fetch's owner
    assert done == [["p1"], {"p1": refresher.entry("p1")}]  # the joiner learns of it all the same


async def test_a_shared_failure_is_reported_once_however_many_wait_for_it() -> None:
    """Each caller that joined the fetch used to apply its outcome: three "Usage check failed" events."""
    world = World(fail=True)
    gate = asyncio.Event()

    async def slow_fetch(target: UsageTarget, client: object, hint: str | None) -> UsageSnapshot:
        await gate.wait()
        return await world.fetch(target, client, hint)

    refresher = world.refresher([t("p1")], fetch=slow_fetch)
    callers = [asyncio.ensure_future(refresher.refresh_all()) for _ in range(3)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*callers)
    assert len(world.fetches) == 1
    assert [(pid, error is not None) for pid, _, error in world.results] == [("p1", True)]


async def test_a_joiner_applies_the_answer_to_members_the_owner_did_not_have() -> None:
    world = World()
    gate = asyncio.Event()
    targets = [t("p1")]

    async def slow_fetch(target: UsageTarget, client: object, hint: str | None) -> UsageSnapshot:
        await gate.wait()
        return UsageSnapshot(adapter="new_api", base_url="x", remaining=1)

    refresher = world.refresher(targets, fetch=slow_fetch)
    first = asyncio.ensure_future(refresher.refresh_all())
    await asyncio.sleep(0)
    targets.append(UsageTarget("p2", "https://p1.example.com/v1", provider_key="sk-p1"))  # p1's account, added meanwhile
    second = asyncio.ensure_future(refresher.refresh_all())
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, second)
    assert sorted(pid for pid, _, _ in world.results) == ["p1", "p2"]
    assert len(world.results) == 2 and refresher.entry("p2") is not None


class Stop(Exception):
    pass


async def test_run_loop_polls_and_stops_fetching_while_idle() -> None:
    world = World()
    refresher = world.refresher([t("p1")], idle_poll_s=30.0)
    real_sleep = world.sleep

    async def sleep(seconds: float) -> None:
        await real_sleep(seconds)
        if len(world.sleeps) == 3:
            world.last_activity = None  # the gateway goes idle after the second fetch
        if len(world.sleeps) == 10:
            raise Stop

    refresher._sleep = sleep  # type: ignore[attr-defined]
    with pytest.raises(Stop):
        await refresher.run()
    # fetch at T0, re-check every ≤ 30 s, fetch again at T0+60 s (due after 1 min), then idle:
    # nothing more although p1 was due again at T0+120 s and the clock reached T0+300 s
    assert world.sleeps == [30.0] * 10
    assert [pid for pid, _ in world.fetches] == ["p1", "p1"]
    assert [r[1].fetched_at_unix_ms for r in world.results] == [T0, T0 + 60_000]  # type: ignore[union-attr]


async def test_run_loop_short_sleep_when_due_soon() -> None:
    world = World()
    refresher = world.refresher([t("p1")], idle_poll_s=120.0)

    async def sleep(seconds: float) -> None:
        world.sleeps.append(seconds)
        raise Stop

    refresher._sleep = sleep  # type: ignore[attr-defined]
    with pytest.raises(Stop):
        await refresher.run()
    assert world.sleeps == [60.0]  # LowEdge: due again exactly 1 min after the success


async def test_stop_event_ends_the_loop() -> None:
    world = World()
    stop = asyncio.Event()
    refresher = world.refresher([t("p1")])

    async def sleep(seconds: float) -> None:
        stop.set()

    refresher._sleep = sleep  # type: ignore[attr-defined]
    await refresher.run(stop)
    assert len(world.fetches) == 1


async def test_a_pass_that_fails_does_not_end_the_loop() -> None:
    """Even a slip outside the pass itself (working out the next wake-up) only costs one idle poll."""

    class Broken(RefreshPolicy):
        slipped = False

        def next_wakeup(self, now: int, last_activity: int | None) -> int | None:
            if not self.slipped:
                self.slipped = True
                raise ValueError("min() arg is an empty sequence")
            return super().next_wakeup(now, last_activity)

    world = World()
    refresher = world.refresher([t("p1")], policy=Broken(rng=LowEdge()), idle_poll_s=30.0)
    real_sleep = world.sleep

    async def sleep(seconds: float) -> None:
        await real_sleep(seconds)
        if len(world.sleeps) == 4:
            raise Stop

    refresher._sleep = sleep  # type: ignore[attr-defined]
    with pytest.raises(Stop):
        await refresher.run()
    assert world.sleeps == [30.0, 30.0, 30.0, 30.0]
    assert [pid for pid, _ in world.fetches] == ["p1", "p1"]  # at T0, and again a minute later


async def test_an_answer_to_a_fetch_begun_before_the_provider_was_forgotten_is_dropped() -> None:
    """Its key changed (or it was deleted) while the fetch ran: the answer is about the old account."""
    world = World()
    started, gate = asyncio.Event(), asyncio.Event()

    async def slow_fetch(target: UsageTarget, client: object, hint: str | None) -> UsageSnapshot:
        started.set()
        await gate.wait()
        return UsageSnapshot(adapter="new_api", base_url="x", remaining=0)

    refresher = world.refresher([t("p1"), t("p2", key="sk-p1")], fetch=slow_fetch)  # one account, two ids
    running = asyncio.ensure_future(refresher.refresh_all())
    await started.wait()
    refresher.forget("p1")
    gate.set()
    assert set(await running) == {"p2"}
    assert [pid for pid, _, _ in world.results] == ["p2"] and refresher.entry("p1") is None


async def test_a_group_started_after_the_spacing_keeps_the_fence_taken_with_its_key() -> None:
    """Manual refresh starts groups 120 ms apart, but their keys were read at the start: a provider
    forgotten during the spacing (a new key) does not take the old key's answer."""
    world = World()
    refresher = world.refresher([t("p1"), t("p2")])
    real_sleep = world.sleep

    async def sleep(seconds: float) -> None:
        await real_sleep(seconds)
        refresher.forget("p2")  # its key changed while p1's fetch was starting

    refresher._sleep = sleep  # type: ignore[attr-defined]
    assert await refresher.refresh_all() == {"p1": refresher.entry("p1")}
    assert [pid for pid, _, _ in world.results] == ["p1"] and refresher.entry("p2") is None


# ------------------------------------------------------------------ with real HTTP


async def test_refresher_against_a_fake_panel(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json(
        "/api/usage/token",
        {"code": True, "data": {"total_available": 0, "total_used": 9, "total_granted": 9}},
        bearer=KEY,
    )
    world = World()
    targets = [
        UsageTarget(pid, panel.url + path, provider_key=KEY)
        for pid, path in (("p1", "/v1"), ("p2", "/openai/v1"))
    ]
    refresher = UsageRefresher(
        client,
        lambda: targets,
        world.on_result,
        last_activity=world.clock,
        clock_ms=world.clock,
        steady_ms=world.clock,
        sleep=world.sleep,
    )
    assert sorted(await refresher.refresh_due()) == ["p1", "p2"]
    assert panel.count("/api/usage/token") == 1  # shared
    for pid in ("p1", "p2"):
        snap = refresher.entry(pid).snapshot  # type: ignore[union-attr]
        assert snap is not None and snap.adapter == "new_api" and snap.detected and snap.exhausted
        assert snap.to_json()["exhausted_reason"] == "quota exhausted: remaining 0"
