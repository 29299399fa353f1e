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


class _StubLoop:
    """The two things ``Deadlines`` asks of its loop, on a clock that moves only when told: no stall of
    a busy machine can open a gap the test did not make."""

    def __init__(self):
        self.now = 0.0
        self._timers = []  # [due, order, callback, cancelled]
        self._made = 0

    def time(self):
        return self.now

    def call_later(self, delay, callback):
        self._made += 1
        timer = [self.now + delay, self._made, callback, False]
        self._timers.append(timer)
        return _StubHandle(timer)

    def advance(self, seconds):
        """Move the clock on, running each timer due meanwhile at its own moment."""
        until = self.now + seconds
        while due := sorted(t for t in self._timers if not t[3] and t[0] <= until):
            timer = due[0]
            self._timers.remove(timer)
            self.now = max(self.now, timer[0])
            timer[2]()
        self.now = until


class _StubHandle:
    def __init__(self, timer):
        self._timer = timer

    def cancel(self):
        self._timer[3] = True


def test_watchdog_fires_on_silence_and_touch_keeps_it_quiet():
    loop = _StubLoop()
    clock = Deadlines(loop)
    fired = []
    # Touched every tenth of the limit for twice the limit: a touch that kept nothing quiet would show.
    dog = clock.watchdog(lambda: fired.append(True), 0.5)
    dog.start()
    for _ in range(20):  # 1 s of activity, each gap shorter than the limit
        loop.advance(0.05)
        dog.touch()
    assert not fired and not dog.expired
    loop.advance(0.5 - TICK / 2)  # silent, but not for as long as the limit
    assert not fired and not dog.expired
    loop.advance(3 * TICK)
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
