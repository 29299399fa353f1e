"""Whether the desktop shell can run here, and if not, why (said to the user before going headless)."""

from __future__ import annotations

import importlib.util
import os
import sys


def desktop_unavailable_reason() -> str | None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display: $DISPLAY and $WAYLAND_DISPLAY are not set"
    missing = [name for name in ("webview", "pystray") if importlib.util.find_spec(name) is None]
    if sys.platform.startswith("linux") and importlib.util.find_spec("gi") is None:
        missing.append("gi (PyGObject)")
    if missing:
        return f"the GUI libraries are not installed ({', '.join(missing)}); python3 tasks.py run installs them"
    if importlib.util.find_spec("api_router.desktop.shell") is None:
        return "this build has no desktop shell"
    return None
