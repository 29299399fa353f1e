"""The app icon and the tray's state variants, shipped as package data (drawn by ``build/make_icon.py``).

The tray variants are drawn at build time rather than at run time: one drawing code path (the
same one that makes the executable's icon), files that ``make_icon.py --check`` keeps in step with
it, and nothing to compute while the app starts.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any


class TrayIcon(StrEnum):
    """The tray icon's variants; each value names its image, ``assets/tray-<value>.png``."""

    NORMAL = "normal"
    WARNING = "warning"  # serving, but a provider is out of rotation or a fallback serves
    ERROR = "error"  # not listening, or nothing can serve


_ASSETS = Path(__file__).resolve().parent.parent / "assets"


def asset_path(name: str) -> Path:
    # A real file both from source and in the PyInstaller bundle (assets are added as data next to
    # the package's modules, where __file__ points), which pywebview's GTK window icon needs. Found
    # from __file__ rather than importlib.resources, which would load zipfile for nothing.
    return _ASSETS / name


def icon_path() -> Path:
    return asset_path("icon.png")


def lasting_icon_path(*, platform: str | None = None, frozen: bool | None = None,
                      env: Mapping[str, str] | None = None) -> Path:
    """The app icon at a path that outlives this run, for what the OS keeps after the app exits. Windows
    keeps a notification's icon by path (in its registration of the app and in each toast left in the
    Action Center); the one-file executable's own copy is in a folder removed at exit, so it is copied
    to ``%LOCALAPPDATA%\\API Router`` (rewritten only when it differs). Elsewhere, and run from source:
    the bundled file."""
    bundled = icon_path()
    frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    local = (os.environ if env is None else env).get("LOCALAPPDATA", "")
    if (platform or sys.platform) != "win32" or not frozen or not local:
        return bundled
    from api_router.fsutil import atomic_write

    lasting = Path(local) / "API Router" / "icon.png"
    try:
        data = bundled.read_bytes()
        if not lasting.is_file() or lasting.read_bytes() != data:
            lasting.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(lasting, data, mode=0o644)
    except OSError:
        return bundled
    return lasting


@functools.cache
def tray_image(state: TrayIcon) -> Any:
    """The tray icon for ``state`` as a PIL image."""
    from PIL import Image

    with Image.open(asset_path(f"tray-{TrayIcon(state).value}.png")) as img:
        return img.convert("RGBA")
