"""Giving freed memory back to the system.

A Codex session file is parsed into many small objects (a long session's history is hundreds of MB of
them); once they are let go, glibc's allocator keeps the freed pages in its arenas, so the process of an
app that lives in the tray stays as large as its largest session was. ``give_back`` asks glibc to return
them (``malloc_trim``); elsewhere (musl, macOS, Windows) it does nothing.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable


def give_back() -> bool:
    """Return the allocator's free pages to the system; False where there is no such call."""
    trim = _malloc_trim()
    return trim is not None and bool(trim(0))


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # only when memory is given back: an idle gateway need not carry it

    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # not glibc (musl has no malloc_trim), or no C library to open
        return None
    trim.argtypes = (ctypes.c_size_t,)  # type: ignore[attr-defined]
    trim.restype = ctypes.c_int  # type: ignore[attr-defined]
    return trim
