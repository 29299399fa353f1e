"""Where API Router keeps its data and where it finds Codex's."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    user_data: Path

    @property
    def config(self) -> Path:
        return self.user_data / "config.toml"

    @property
    def secrets(self) -> Path:
        return self.user_data / "secrets.json"

    @property
    def data(self) -> Path:
        return self.user_data / "data"

    @property
    def store(self) -> Path:
        return self.data / "api-router.sqlite3"

    @property
    def lock(self) -> Path:
        return self.data / "instance.lock"


def app_root() -> Path:
    """The folder next to the executable when frozen, else the repository root."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return Path(__file__).resolve().parents[2]


def resolve_user_data(cli_value: str | None = None) -> Path:
    """``--user-data`` wins, then ``$API_ROUTER_USER_DATA``, then ``user-data/`` beside the app."""
    raw = cli_value or os.environ.get("API_ROUTER_USER_DATA")
    folder = Path(raw).expanduser() if raw else app_root() / "user-data"  # RuntimeError: a "~" with no home
    try:
        return folder.resolve()
    except RuntimeError:  # a ring of symlinks (Python before 3.13): said in one line once the folder is used
        return folder.absolute()


def codex_home() -> Path:
    raw = os.environ.get("CODEX_HOME")
    if not raw:
        return home_folder() / ".codex"
    try:
        return Path(raw).expanduser()
    except RuntimeError:  # "~" or "~user" with no home to read it as (see home_folder)
        return NO_HOME / raw[1:].lstrip("/" + os.sep)


def home_folder() -> Path:
    """The user's home. Where it cannot be told (no HOME, and a user id the system has no entry for:
    ``env -i`` under an arbitrary uid), Debian's home of users without one: a folder that is not there,
    so what would live in it is found missing (and cannot be written there) rather than a traceback."""
    try:
        return Path.home()
    except RuntimeError:
        return NO_HOME


NO_HOME = Path(os.sep, "nonexistent")
