"""Copy text to the clipboard from the tray.

Linux: GTK's clipboard, set on the GTK main loop (pywebview's), and offered to a clipboard manager
with ``store()`` so it survives this app. Windows and macOS: ``pyperclip`` (the Win32 clipboard
through ctypes, ``pbcopy`` on macOS).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def gtk_copy(text: str) -> None:
    import gi

    gi.require_version("Gtk", "3.0")
    gi.require_version("Gdk", "3.0")
    from gi.repository import Gdk, GLib, Gtk

    def on_main_loop() -> bool:
        clipboard = Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD)
        clipboard.set_text(text, -1)
        clipboard.store()
        return False

    GLib.idle_add(on_main_loop)


def pyperclip_copy(text: str) -> None:
    import pyperclip  # type: ignore[import-not-found,import-untyped,unused-ignore]  # plain: PyInstaller sees it

    pyperclip.copy(text)


def clipboard_for(platform: str) -> Callable[[str], None]:
    copy = gtk_copy if platform.startswith(("linux", "freebsd")) else pyperclip_copy

    def safe(text: str) -> None:
        try:
            copy(text)
        except Exception as exc:
            log.warning("copying to the clipboard failed: %s: %s", type(exc).__name__, exc)

    return safe
