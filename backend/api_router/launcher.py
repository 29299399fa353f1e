"""The one-file executable's launcher: on Linux, PyInstaller's bootloader unpacks the app into a
``_MEI…`` folder and runs it as a child process. The pid a user starts, and may ``kill -9``, is the
bootloader's; a signal it cannot pass on (SIGKILL) would leave the app serving on its own, holding the
port and the user-data lock, with the unpacked folder left behind. The app follows its launcher out
instead: the kernel sends it SIGTERM (a clean shutdown) when the launcher dies, and the app then
removes the folder the launcher can no longer remove.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# The process has one launcher: the folder to remove once it is gone, noted by follow_launcher (empty: none).
_cleanup: list[tuple[Path, int]] = []


def follow_launcher() -> None:
    """Called first thing in the executable; nothing to do when run from source or off Linux."""
    if not getattr(sys, "frozen", False) or not sys.platform.startswith("linux"):
        return
    launcher = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    unpacked = getattr(sys, "_MEIPASS", None)
    # Only the one-file build's own temporary folder: a one-folder build runs from its installation.
    if unpacked and Path(unpacked).name.startswith("_MEI"):
        _cleanup.append((Path(unpacked), launcher))
        atexit.register(remove_unpacked_if_orphaned)
    if os.getppid() != launcher:  # it died before the kernel was asked to tell
        os.kill(os.getpid(), signal.SIGTERM)


def remove_unpacked_if_orphaned() -> None:
    """At exit (also a hard one, which skips atexit): the launcher removes the folder it unpacked once the
    app has exited — unless the launcher is gone."""
    while _cleanup:
        unpacked, launcher = _cleanup.pop()
        if os.getppid() != launcher:
            shutil.rmtree(unpacked, ignore_errors=True)
