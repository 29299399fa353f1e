"""The process's first code (``api-router``, ``python -m api_router``, the executable): a stop asked for
while the app is still loading is a clean stop too.

Loading the app (aiohttp, the config schema, …) takes a few tenths of a second before ``cli`` can put
its own signal handlers in. A Ctrl-C in that time raised KeyboardInterrupt wherever the import was (a
traceback, or a RuntimeError when it hit a class being made) and a SIGTERM killed the process. Here
both are only noted until the import is done; a stop noted then ends the run at once, with exit code 0.
From then on, where ``cli`` and the desktop shell have no handlers of their own in place (parsing the
arguments, loading the GUI libraries), a stop is taken as Ctrl-C and ends the run with exit code 0 as
well — also after the headless event loop has closed; once the desktop app is on its way out, it ignores
further stops (``terminal.ignore_stops``).
"""

from __future__ import annotations

import signal
from types import FrameType

from api_router.terminal import standard_descriptors_taken, stop_signals, stops_as_ctrl_c


def run() -> int:
    standard_descriptors_taken()
    asked: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        asked.append(signum)

    # Ctrl-C and SIGTERM also when started ignoring them (a background job of a script): cli's own handlers
    # take them anyway. SIGHUP only as cli does: not when ignored from the start (nohup).
    stops = stop_signals()
    for sig in stops:
        signal.signal(sig, note)
    from api_router.cli import main

    if asked:
        return 0
    stops_as_ctrl_c()  # until cli's (or the shell's) own handlers
    try:
        return main()
    except KeyboardInterrupt:  # a stop in a step that has no handler of its own to stop it: as clean
        return 0
