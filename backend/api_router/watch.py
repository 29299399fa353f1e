"""Noticing hand edits of the user's files while the app runs.

A stat() every half second is cheap, works the same on every OS and needs no dependency; the files
watched are two small ones.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5


class FileWatcher:
    """Calls each ``check`` (e.g. ``ConfigFile.reload``) every ``interval`` seconds on a thread of its own."""

    def __init__(self, checks: list[Callable[[], object]], interval: float = POLL_SECONDS) -> None:
        self._checks = checks
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="file-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for check in self._checks:
                try:
                    check()
                except Exception:  # a watcher must never die of one bad read
                    log.exception("checking a file for changes failed")
