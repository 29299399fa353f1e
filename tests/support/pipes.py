"""Named pipes put where a file should be: code that opens one without looking waits for ever."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def finishes_despite_pipe(work: Callable[[], Any], pipe: Path, what: str, seconds: float = 10) -> Any:
    """Run ``work`` in a thread and return what it returned; fail when it is still waiting after
    ``seconds`` — on ``pipe``, presumably, whose other end is then opened so the thread can end."""
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        with contextlib.suppress(FileNotFoundError), open(pipe, "r+b"):  # both ends at once: never blocks
            pass  # (gone: moved aside, and the work is stuck elsewhere — it fails all the same)
        thread.join(seconds)
        pytest.fail(f"{what} waited on a pipe at {pipe.name}")
    assert done, f"{what} raised (see the thread's traceback above)"
    return done[0]
