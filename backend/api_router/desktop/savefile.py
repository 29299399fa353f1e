"""Saving an export where the user chooses, through the OS save dialog.

The browser's way (a Blob link) depends on each engine's download support inside pywebview; on
GTK it opens nothing at all when the XDG Downloads folder is not configured. Asking from Python
behaves the same on every platform, starts in a folder that exists, and writes atomically.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from api_router.fsutil import atomic_write
from api_router.paths import home_folder

log = logging.getLogger(__name__)

AskPath = Callable[[Path, str], str | None]  # (start folder, suggested name) -> chosen path, None: cancelled


class SaveError(ValueError):
    """A file that could not be saved; the message is for the person who asked."""


def start_folder(home: Path | None = None) -> Path:
    home = home_folder() if home is None else home
    downloads = home / "Downloads"
    return downloads if downloads.is_dir() else home


def suggested_name(filename: str) -> str:
    """The page's name as a plain file name: its last part only, no control characters."""
    name = re.sub(r"[\x00-\x1f:]", "_", re.split(r"[/\\]", filename)[-1]).strip().strip(".")
    return name[:200] or "export.txt"


class FileSaver:
    def __init__(self, ask_path: AskPath, *, home: Path | None = None) -> None:
        self._ask_path = ask_path
        self._home = home

    def save_pieces(self, filename: str, pieces: Iterable[bytes]) -> dict[str, str | None]:
        """Ask where to save, then write ``pieces`` there one after another (an export made a page of rows
        at a time is never whole in memory)."""
        chosen = self._ask_path(start_folder(self._home), suggested_name(filename))
        if not chosen:
            return {"saved": None}
        path = Path(chosen)
        try:
            # Readable like any file the user saves (the default umask applies to a plain open()).
            atomic_write(path, pieces, mode=0o644)
        except OSError as exc:
            raise SaveError(f"could not save {path}: {exc.strerror or exc}") from exc
        log.info("saved %s", path)
        return {"saved": str(path)}
