"""The tray icon (pystray): "Show" (the default action, a left click where the backend has one)
and "Quit".

Windows uses pystray's win32 backend. On Linux pystray would try AppIndicator first, which has no
click action (every click opens the menu) and, without a StatusNotifier host, falls back to an
XEmbed icon anyway; so AppIndicator is chosen only when a StatusNotifier host is running (KDE,
GNOME with the AppIndicator extension) and the plain GTK icon otherwise (XEmbed trays). A
``PYSTRAY_BACKEND`` set by the user wins.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, MutableMapping
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

SNI_WATCHER = "org.kde.StatusNotifierWatcher"


def choose_backend(platform: str, env: MutableMapping[str, str], *, sni_host: Callable[[], bool],
                   appindicator_installed: Callable[[], bool]) -> str | None:
    """The pystray backend to ask for, or None to leave pystray's own choice."""
    if env.get("PYSTRAY_BACKEND"):
        return None
    if platform == "win32":
        return "win32"
    if platform.startswith("linux"):
        return "appindicator" if appindicator_installed() and sni_host() else "gtk"
    return None


def load_pystray(platform: str, env: MutableMapping[str, str] | None = None) -> ModuleType:
    """Import pystray with the backend picked here (pystray reads the variable at import)."""
    env = os.environ if env is None else env
    backend = choose_backend(platform, env, sni_host=sni_host_present, appindicator_installed=_appindicator_installed)
    if backend is not None:
        env["PYSTRAY_BACKEND"] = backend
    log.info("tray backend: %s", env.get("PYSTRAY_BACKEND", "pystray default"))
    return importlib.import_module("pystray")


def sni_host_present() -> bool:
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              "NameHasOwner", GLib.Variant("(s)", (SNI_WATCHER,)), GLib.VariantType("(b)"),
                              Gio.DBusCallFlags.NONE, 1000, None)
        return bool(reply.unpack()[0])
    except Exception as exc:  # no session bus, no gi: no StatusNotifier host either
        log.debug("StatusNotifier probe: %s", exc)
        return False


def xembed_tray_present() -> bool:
    try:
        from Xlib import X, display

        dpy = display.Display()
        try:
            atom = dpy.intern_atom(f"_NET_SYSTEM_TRAY_S{dpy.get_default_screen()}")
            owner = dpy.get_selection_owner(atom)
            return owner not in (None, X.NONE) and getattr(owner, "id", owner) != X.NONE
        finally:
            dpy.close()
    except Exception as exc:
        log.debug("XEmbed tray probe: %s", exc)
        return False


def tray_host_present(platform: str) -> bool:
    """Whether a tray icon would be visible now; without one a hidden window is unreachable."""
    if not platform.startswith("linux"):
        return True
    return sni_host_present() or xembed_tray_present()


def _appindicator_installed() -> bool:
    try:
        import gi

        for name in ("AyatanaAppIndicator3", "AppIndicator3"):
            try:
                gi.require_version(name, "0.1")
                return True
            except ValueError:
                continue
    except ImportError:
        pass
    return False


class Tray:
    def __init__(self, pystray: Any, image: Any, *, on_show: Callable[[], None], on_quit: Callable[[], None],
                 title: str = "API Router") -> None:
        menu = pystray.Menu(
            pystray.MenuItem("Show", lambda: on_show(), default=True),
            pystray.MenuItem("Quit", lambda: on_quit()),
        )
        self._icon = pystray.Icon("api-router", image, title, menu)
        self._running = False

    def start(self) -> None:
        # Detached: the GUI loop belongs to pywebview on the main thread (GTK), or pystray runs its
        # own message loop in a thread of its own (win32).
        self._icon.run_detached()
        self._running = True

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        try:
            self._icon.visible = False
            self._icon.stop()  # win32: ends the icon's message-loop thread, which would keep us alive
        except Exception as exc:
            log.warning("stopping the tray icon: %s", exc)
