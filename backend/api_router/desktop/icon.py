"""The app icon shipped as package data (drawn by ``build/make_icon.py``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any


def icon_path() -> Path:
    # A real file both from source and in the PyInstaller bundle (assets are added as data), which
    # pywebview's GTK window icon needs.
    return Path(str(resources.files("api_router") / "assets" / "icon.png"))


def load_icon_image() -> Any:
    """A PIL image for pystray (it converts to each platform's format itself)."""
    from PIL import Image

    with Image.open(icon_path()) as img:
        return img.convert("RGBA")
