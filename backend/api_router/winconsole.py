"""Console output for the windowed Windows executable.

``API Router.exe`` is built without a console so that a double-click opens no black window; but
then ``--headless``, ``--help`` and ``--version`` typed in a terminal would print nothing. For those
(and only those: a desktop start from a terminal should not spill its log into the prompt) attach
to the terminal that started us, if there is one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

ATTACH_PARENT_PROCESS = -1
CLI_FLAGS = frozenset({"--headless", "--help", "-h", "--version"})


def attach_parent_console(argv: Sequence[str], *, platform: str = sys.platform, kernel32: Any = None,
                          opener: Callable[[str], IO[str]] | None = None, target: Any = sys) -> bool:
    """True when stdout/stderr now go to the parent's console."""
    if platform != "win32" or target.stdout is not None or not CLI_FLAGS.intersection(argv):
        return False
    if kernel32 is None:
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    if not kernel32.AttachConsole(ATTACH_PARENT_PROCESS):
        return False  # started by a double-click: there is no console to attach to
    # The console streams live as long as the process: nothing to close them for.
    open_console = opener or (lambda name: open(name, "w", encoding="utf-8", errors="replace", buffering=1))  # noqa: SIM115
    target.stdout = open_console("CONOUT$")
    target.stderr = open_console("CONOUT$")
    return True
