"""Giving freed memory back to the system.

A Codex session file is parsed into many small objects (a long session's history is hundreds of MB of
them); once they are let go, the C allocator keeps the freed pages for the process, so an app that lives
in the tray stays as large as its largest session was. ``give_back`` asks the allocator to return them:
glibc's ``malloc_trim``, macOS's ``malloc_zone_pressure_relief`` over every zone, the Universal CRT's
``_heapmin`` on Windows; elsewhere (musl) it does nothing.
"""

from __future__ import annotations

import functools
import sys
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
