"""The app icon and the tray's state variants, shipped as package data (drawn by ``build/make_icon.py``).

The tray variants are drawn at build time rather than at run time: one drawing code path (the
same one that makes the executable's icon), files that ``make_icon.py --check`` keeps in step with
it, and nothing to compute while the app starts.
"""

from __future__ import annotations

import functools
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


@functools.cache
def tray_image(state: TrayIcon) -> Any:
    """The tray icon for ``state`` as a PIL image."""
    from PIL import Image

    with Image.open(asset_path(f"tray-{TrayIcon(state).value}.png")) as img:
        return img.convert("RGBA")
