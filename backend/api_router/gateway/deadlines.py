"""Timeouts for many short-lived waits, kept cheap.

asyncio keeps a cancelled timer in its heap until cancelled timers are the majority. A 60 s
request timeout per request at thousands of requests per second therefore grows the heap to
hundreds of thousands of dead entries, and every push pays for it (measured: ~14 µs per request,
5 % of the gateway's CPU). Here one ticking callback checks the deadlines of the waits in flight
instead; a wait only joins and leaves a set. Resolution is ``TICK`` seconds, which is plenty for
timeouts counted in seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

TICK = 0.05


class Deadlines:
    """The per-loop clock that fires expired waits (one instance per gateway)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._waits: set[_Wait] = set()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, wait: _Wait) -> None:
        self._waits.add(wait)
        if self._handle is None:
            self._handle = self.loop.call_later(TICK, self._tick)

    def discard(self, wait: _Wait) -> None:
        self._waits.discard(wait)

    def _tick(self) -> None:
        self._handle = None
        now = self.loop.time()
        for wait in [w for w in self._waits if w.due(now)]:
            self._waits.discard(wait)
            wait.fire()
        if self._waits:
            self._handle = self.loop.call_later(TICK, self._tick)

    def timeout(self, seconds: float, message: str = "") -> Timeout:
        return Timeout(self, seconds, message)

    def watchdog(self, on_expire: Callable[[], None], limit: float) -> Watchdog:
        return Watchdog(self, on_expire, limit)


class _Wait:
    def due(self, now: float) -> bool:
        raise NotImplementedError

    def fire(self) -> None:
        raise NotImplementedError


class Timeout(_Wait):
    """``with deadlines.timeout(s):`` — like ``asyncio.timeout``: the task is cancelled when time is
    up and the cancellation comes out of the block as ``TimeoutError``."""

    __slots__ = ("_at", "_cancelling", "_clock", "_message", "_seconds", "_task", "expired")

    def __init__(self, clock: Deadlines, seconds: float, message: str) -> None:
        self._clock = clock
        self._seconds = seconds
        self._message = message
        self.expired = False

    def __enter__(self) -> Timeout:
        # With the loop given, no get_running_loop(): on Python 3.11 that is a getpid() system call.
        task = asyncio.current_task(self._clock.loop)
        assert task is not None, "a timeout needs a task"
        self._task = task
        self._cancelling = task.cancelling()
        self._at = self._clock.loop.time() + self._seconds
        self._clock.add(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._clock.discard(self)
        # Only our own cancellation becomes a timeout; one from outside (client gone, shutdown)
        # keeps propagating.
        if self.expired and exc_type is asyncio.CancelledError and self._task.uncancel() <= self._cancelling:
            raise TimeoutError(self._message) from exc

    def due(self, now: float) -> bool:
        return now >= self._at

    def fire(self) -> None:
        self.expired = True
        self._task.cancel()


class Watchdog(_Wait):
    """Calls ``on_expire`` (e.g. closing an upstream response) when a stream stays silent longer
    than its limit; ``touch()`` on each chunk is just a clock read."""

    __slots__ = ("_clock", "_last", "_on_expire", "_paused_at", "expired", "limit")

    def __init__(self, clock: Deadlines, on_expire: Callable[[], None], limit: float) -> None:
        self._clock = clock
        self._on_expire = on_expire
        self.limit = limit
        self._last = 0.0
        self._paused_at: float | None = None
        self.expired = False

    def start(self, limit: float | None = None) -> None:
        if limit is not None:
            self.limit = limit
        self._last = self._clock.loop.time()
        self._clock.add(self)

    def touch(self) -> None:
        self._last = self._clock.loop.time()

    def relimit(self, limit: float) -> None:
        """Switch to another limit, counted from now (e.g. first event -> idle)."""
        self.limit = limit
        self._last = self._clock.loop.time()

    def stop(self) -> None:
        self._clock.discard(self)

    def pause(self) -> None:
        """Stop counting (the time until ``resume`` is nobody's silence but our own wait)."""
        self._paused_at = self._clock.loop.time()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._last += self._clock.loop.time() - self._paused_at
            self._paused_at = None

    def silent_for(self) -> float:
        """How long since the last touch, not counting a pause."""
        return (self._paused_at if self._paused_at is not None else self._clock.loop.time()) - self._last

    def due(self, now: float) -> bool:
        return self._paused_at is None and now - self._last >= self.limit

    def fire(self) -> None:
        self.expired = True
        self._on_expire()
