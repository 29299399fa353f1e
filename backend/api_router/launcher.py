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
    if unpacked:
        atexit.register(_remove_if_orphaned, Path(unpacked), launcher)
    if os.getppid() != launcher:  # it died before the kernel was asked to tell
        os.kill(os.getpid(), signal.SIGTERM)


def _remove_if_orphaned(unpacked: Path, launcher: int) -> None:
    """At exit: the launcher removes the folder it unpacked once the app has exited — unless it is gone."""
    if os.getppid() != launcher:
        shutil.rmtree(unpacked, ignore_errors=True)
