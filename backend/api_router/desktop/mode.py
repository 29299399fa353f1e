"""Whether the desktop shell can run here, and if not, why (said to the user before going headless)."""

from __future__ import annotations

import importlib.util
import os
import sys


def desktop_unavailable_reason() -> str | None:
    linux = sys.platform.startswith("linux")
    if linux and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display: $DISPLAY and $WAYLAND_DISPLAY are not set"
    missing = [name for name in ("webview", "pystray") if importlib.util.find_spec(name) is None]
    if linux and importlib.util.find_spec("gi") is None:
        missing.append("gi (PyGObject)")
    if missing:
        return f"the GUI libraries are not installed ({', '.join(missing)}); python3 tasks.py run installs them"
    if importlib.util.find_spec("api_router.desktop.shell") is None:
        return "this build has no desktop shell"
    return _gtk_problem() if linux else None


def _gtk_problem() -> str | None:
    """PyGObject alone is not enough: the GTK and WebKitGTK typelibs and a display that opens."""
    import gi

    try:
        gi.require_version("Gtk", "3.0")
    except ValueError:
        return "GTK 3 is not installed (Debian: gir1.2-gtk-3.0); python3 tasks.py run installs it"
    for version in ("4.1", "4.0"):
        try:
            gi.require_version("WebKit2", version)
            break
        except ValueError:
            continue
    else:
        return "WebKitGTK is not installed (Debian: gir1.2-webkit2-4.1); python3 tasks.py run installs it"
    from gi.repository import Gtk

    if not Gtk.init_check()[0]:
        shown = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        return f"cannot open the display {shown}"
    return None
