"""Giving freed memory back to the system.

A Codex session file is parsed into many small objects (a long session's history is hundreds of MB of
them); once they are let go, the C allocator keeps the freed pages for the process, so an app that lives
in the tray stays as large as its largest session was. ``give_back`` asks the allocator to return them:
glibc's ``malloc_trim``, macOS's ``malloc_zone_pressure_relief`` over every zone, the Universal CRT's
``_heapmin`` on Windows; elsewhere (musl) it does nothing.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Callable


def give_back() -> bool:
    """Return the allocator's free pages to the system; False where there is no such call (or it failed)."""
    release = _release_call(sys.platform)
    return release is not None and release()


@functools.cache
def _release_call(platform: str) -> Callable[[], bool] | None:
    import ctypes  # only when memory is given back: an idle gateway need not carry it

    try:
        if platform.startswith("linux"):
            trim = ctypes.CDLL(None).malloc_trim
            trim.argtypes, trim.restype = (ctypes.c_size_t,), ctypes.c_int
            return lambda: bool(trim(0))  # 1: memory was released
        if platform == "darwin":
            relieve = ctypes.CDLL("/usr/lib/libSystem.B.dylib").malloc_zone_pressure_relief
            relieve.argtypes, relieve.restype = (ctypes.c_void_p, ctypes.c_size_t), ctypes.c_size_t
            return lambda: bool(relieve(None, 0))  # every zone, as much as it can; the bytes released
        if platform == "win32":
            heapmin = ctypes.CDLL("ucrtbase")._heapmin  # the CRT Python's own allocations come from
            heapmin.argtypes, heapmin.restype = (), ctypes.c_int
            return lambda: heapmin() == 0
    except (AttributeError, OSError):  # not glibc (musl has no malloc_trim), or no C library to open
        return None
    return None


class GiveBackWhenIdle:
    """Large request bodies leave their freed memory with the allocator too (one of 60 MB: 63 → 126 MB, for
    good). Once enough of them has gone through, the memory is given back when no request is in flight — at
    most every ``EVERY_SECONDS``: a trim holds the allocator's lock for a moment, and Codex sends megabytes
    every turn."""

    LARGE_BYTES = 8 << 20  # of request bodies since the last give-back
    EVERY_SECONDS = 30.0
    # After the request that made it due: what it held is let go by then (its answer sent, its records
    # written) — a trim at once found most of it still in use.
    AFTER_SECONDS = 2.0
    RETRY_SECONDS = 5.0  # busy: looked at again this much later

    def __init__(self, in_flight: Callable[[], int], clock: Callable[[], float] = time.monotonic) -> None:
        self._in_flight = in_flight
        self._clock = clock
        self._bytes = 0
        self._last = -self.EVERY_SECONDS
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def note(self, request_bytes: int) -> None:
        """A request that carried ``request_bytes`` has ended (on the event loop)."""
        self._bytes += request_bytes
        if self._bytes >= self.LARGE_BYTES and self._timer is None and not self._closed:
            wait = max(self.AFTER_SECONDS, self._last + self.EVERY_SECONDS - self._clock())
            self._timer = asyncio.get_running_loop().call_later(wait, self._when_idle)

    def close(self) -> None:
        """The gateway stops: nothing is scheduled from here on (a request still ending after this included)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _when_idle(self) -> None:
        loop = asyncio.get_running_loop()
        if self._in_flight():
            self._timer = loop.call_later(self.RETRY_SECONDS, self._when_idle)
            return
        self._timer, self._bytes, self._last = None, 0, self._clock()
        loop.run_in_executor(None, give_back)
