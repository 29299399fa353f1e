"""The coarse timer wheel behind request timeouts and stream watchdogs."""

import asyncio

import pytest

from api_router.gateway.deadlines import TICK, Deadlines


async def test_timeout_turns_its_own_cancellation_into_timeout_error():
    clock = Deadlines(asyncio.get_running_loop())
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError, match="too slow"), clock.timeout(0.1, "too slow"):
        await asyncio.sleep(5)
    waited = asyncio.get_running_loop().time() - started
    assert 0.1 <= waited < 1.0  # a tick or a loaded machine's stall late, far short of the 5 s sleep
    assert asyncio.current_task().cancelling() == 0  # nothing left pending on the task


async def test_finished_block_leaves_no_wait_behind():
    clock = Deadlines(asyncio.get_running_loop())
    with clock.timeout(0.05):
        await asyncio.sleep(0)
    await asyncio.sleep(0.2)  # past the deadline: must not cancel us now
    assert not clock._waits


async def test_cancellation_from_outside_is_not_a_timeout():
    clock = Deadlines(asyncio.get_running_loop())

    async def waiter():
        with clock.timeout(10):
            await asyncio.sleep(5)

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_watchdog_fires_on_silence_and_touch_keeps_it_quiet():
    clock = Deadlines(asyncio.get_running_loop())
    fired = []
    # Gaps a tenth of the limit, so a stalled loop does not open one past it; the activity outlasts
    # the limit twice over, so a touch that kept nothing quiet would show.
    dog = clock.watchdog(lambda: fired.append(True), 0.5)
    dog.start()
    for _ in range(20):  # 1 s of activity, each gap shorter than the limit
        await asyncio.sleep(0.05)
        dog.touch()
    assert not fired and not dog.expired
    await asyncio.sleep(0.5 + 3 * TICK)
    assert fired == [True] and dog.expired
    dog.stop()


async def test_relimit_applies_the_shorter_limit_at_once():
    clock = Deadlines(asyncio.get_running_loop())
    fired = []
    dog = clock.watchdog(lambda: fired.append(True), 60)
    dog.start()
    dog.relimit(0.1)
    await asyncio.sleep(0.1 + 3 * TICK)
    assert fired
