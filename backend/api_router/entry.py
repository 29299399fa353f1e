"""The process's first code (``api-router``, ``python -m api_router``, the executable): a stop asked for
while the app is still loading is a clean stop too.

Loading the app (aiohttp, the config schema, …) takes a few tenths of a second before ``cli`` can put
its own signal handlers in. A Ctrl-C in that time raised KeyboardInterrupt wherever the import was (a
traceback, or a RuntimeError when it hit a class being made) and a SIGTERM killed the process. Here
both are only noted until the import is done; a stop noted then ends the run at once, with exit code 0.
From then until ``cli`` replaces them, SIGTERM is taken as Ctrl-C, which every step of the start
already treats as a clean stop.
"""

from __future__ import annotations

import signal
from types import FrameType

_STOPS = (signal.SIGINT, signal.SIGTERM)


def run() -> int:
    asked: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        asked.append(signum)

    # Also when started ignoring them (a background job of a script): cli's own handlers take both anyway.
    for sig in _STOPS:
        signal.signal(sig, note)
    from api_router.cli import main

    if asked:
        return 0
    for sig in _STOPS:
        signal.signal(sig, signal.default_int_handler)  # SIGTERM as Ctrl-C, until cli's own handlers
    return main()
