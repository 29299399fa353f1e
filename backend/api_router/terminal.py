"""Lines for the terminal the app was started from — which may be gone, full or closed.

The gateway serves whether or not anyone reads what it prints: a banner that cannot be written (stdout
on a full disk, a pipe whose reader left, no console at all) is dropped, and so is what is still
buffered at exit, which Python would otherwise report as a failed flush and exit 120 for.
"""

from __future__ import annotations

import os
import sys


def say(text: str, *, error: bool = False) -> None:
    """``text`` as a line on stdout (``error``: stderr), now; dropped when it cannot be written."""
    stream = sys.stderr if error else sys.stdout
    if stream is None:  # a windowed executable has none
        return
    try:
        print(text, file=stream, flush=True)
    except (OSError, ValueError):  # ValueError: the stream was closed
        pass


def let_go_of_output() -> None:
    """At exit: what stdout and stderr could not take is dropped (they are pointed at the null device),
    so that an unwritable stream does not turn a clean exit into an error."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, stream.fileno())
                os.close(null)
            except (OSError, ValueError):
                pass
