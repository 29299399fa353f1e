"""Modules imported on first use.

An idle gateway in the tray should not carry what only some actions need: tomlkit, for one, takes
about 0.9 MB once imported and is needed only when a TOML file is written (reading uses the standard
library's tomllib).
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for module ``name`` and imports it at the first attribute access. The import itself is
    Python's (thread-safe, once); later accesses find the module in ``sys.modules``.

    Declare it so that type checkers still see the real module::

        if TYPE_CHECKING:
            import tomlkit
        else:
            tomlkit = LazyModule("tomlkit")
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)
