"""The app icon and the tray's state variants, shipped as package data (drawn by ``build/make_icon.py``).

The tray variants are drawn at build time rather than at run time: one drawing code path (the
same one that makes the executable's icon), files that ``make_icon.py --check`` keeps in step with
it, and nothing to compute while the app starts.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

TRAY_STATES = ("normal", "warning", "error")


_ASSETS = Path(__file__).resolve().parent.parent / "assets"


def asset_path(name: str) -> Path:
    # A real file both from source and in the PyInstaller bundle (assets are added as data next to
    # the package's modules, where __file__ points), which pywebview's GTK window icon needs. Found
    # from __file__ rather than importlib.resources, which would load zipfile for nothing.
    return _ASSETS / name


def icon_path() -> Path:
    return asset_path("icon.png")


@functools.cache
def tray_image(state: str) -> Any:
    """The tray icon for ``state`` (normal | warning | error) as a PIL image."""
    from PIL import Image

    if state not in TRAY_STATES:
        raise ValueError(f"unknown tray state {state!r}")
    with Image.open(asset_path(f"tray-{state}.png")) as img:
        return img.convert("RGBA")
