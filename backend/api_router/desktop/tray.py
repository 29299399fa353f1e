"""The tray icon (pystray) and its live menu; which pystray backend to use.

Windows uses pystray's win32 backend. On Linux pystray would try AppIndicator first, which has no
click action (every click opens the menu) and, without a StatusNotifier host, falls back to an
XEmbed icon anyway; so AppIndicator is chosen only when a StatusNotifier host is running (KDE,
GNOME with the AppIndicator extension) and the plain GTK icon otherwise (XEmbed trays). A
``PYSTRAY_BACKEND`` set by the user wins, if it is one whose icon has the menu (pystray's ``xorg`` icon
has none, nor a click action that works in GTK's loop: the app would hide behind an icon that does nothing).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from api_router.desktop.icon import TrayIcon
from api_router.desktop.trayview import TrayView

log = logging.getLogger(__name__)

SNI_WATCHER = "org.kde.StatusNotifierWatcher"
WITH_A_MENU = frozenset({"gtk", "appindicator", "win32", "darwin"})  # pystray backends whose icon has the menu


def choose_backend(platform: str, env: MutableMapping[str, str], *, sni_host: Callable[[], bool],
                   appindicator_installed: Callable[[], bool]) -> str | None:
    """The pystray backend to ask for, or None to leave pystray's own choice."""
    wanted = env.get("PYSTRAY_BACKEND")
    if wanted in WITH_A_MENU:
        return None
    if wanted:
        log.warning("PYSTRAY_BACKEND=%s gives a tray icon without the menu; choosing one that has it", wanted)
        del env["PYSTRAY_BACKEND"]  # where pystray's own choice is left (macOS), it is not this one
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
    """Whether a StatusNotifier host shows items now: a watcher runs and says a host registered with it (a
    watcher alone — KDE's kded started on demand in another desktop — shows nothing)."""
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              "NameHasOwner", GLib.Variant("(s)", (SNI_WATCHER,)), GLib.VariantType("(b)"),
                              Gio.DBusCallFlags.NONE, 1000, None)
        if not reply.unpack()[0]:
            return False
    except Exception as exc:  # no session bus, no gi: no StatusNotifier host either
        log.debug("StatusNotifier probe: %s", exc)
        return False
    try:
        reply = bus.call_sync(SNI_WATCHER, "/StatusNotifierWatcher", "org.freedesktop.DBus.Properties", "Get",
                              GLib.Variant("(ss)", (SNI_WATCHER, "IsStatusNotifierHostRegistered")),
                              GLib.VariantType("(v)"), Gio.DBusCallFlags.NONE, 1000, None)
        return bool(reply.unpack()[0])
    except Exception as exc:  # a watcher that does not say: taken at its word that it has a host
        log.debug("StatusNotifier host probe: %s", exc)
        return True


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


def tray_host_present(platform: str, backend: str | None = None, *, sni: Callable[[], bool] = sni_host_present,
                      xembed: Callable[[], bool] = xembed_tray_present) -> bool:
    """Whether the tray icon would be visible now; without one a hidden window is unreachable. ``backend``:
    pystray's, as chosen at start — AppIndicator shows only in a StatusNotifier host, GTK's status icon
    only in an XEmbed tray (a host of the other kind appearing later shows nothing of it)."""
    if not platform.startswith("linux"):
        return True
    if backend == "appindicator":
        return sni()
    if backend == "gtk":
        return xembed()
    return sni() or xembed()


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


GuiCall = Callable[[Callable[[], None]], None]


def call_now(step: Callable[[], None]) -> None:
    step()


def gui_caller(platform: str) -> GuiCall:
    """How a change reaches the icon. AppKit's objects may be touched on the main thread only (recent macOS
    stops an app that changes a status item's menu or tooltip from another one), so on macOS a change asked
    on another thread is queued to the main thread's run loop, which pywebview runs, and one asked on the main
    thread is made at once; pystray's other backends take changes from any thread."""
    if platform != "darwin":
        return call_now
    from PyObjCTools import AppHelper  # (pyobjc: pywebview's and pystray's macOS backends need it anyway)

    def on_main_thread(step: Callable[[], None]) -> None:
        # On it already (a menu action; the stop once the run loop has ended, when nothing queued would run): now.
        if threading.current_thread() is threading.main_thread():
            step()
        else:
            AppHelper.callAfter(step)

    return on_main_thread


@dataclass
class TrayActions:
    """What the menu entries do; each is called on the tray's GUI thread and must return quickly."""

    open: Callable[[], None]
    quit: Callable[[], None]
    lock: Callable[[str | None], None]          # None: automatic routing
    prefer: Callable[[str], None]
    refresh_usage: Callable[[], None]
    copy_base_url: Callable[[], None]
    copy_token: Callable[[], None]
    set_autostart: Callable[[bool], None] | None = None   # None: no "Start with the system" entry
    autostart_on: Callable[[], bool] = lambda: False


def _menu_part(view: TrayView) -> tuple[object, ...]:
    return (view.line, view.automatic, view.providers, view.listening)


class Tray:
    """The tray icon and its menu, both drawn from a ``TrayView`` (see trayview.py):

        Relay A · serving                (state line, disabled)
        Routing                          (heading, disabled)
          ◉ Automatic
          ○ Relay A — 63 % left ●        (one radio item per provider; choosing one locks to it)
          ○ Relay B ◐ cooling down
        Preferred provider ▸             (radio items)
        Refresh usage
        Copy base URL
        Copy gateway token
        Start with the system            (check item, once the control API can change it)
        Open API Router                  (the default action: left click where the backend has one)
        Quit

    ``show(view)`` swaps the icon image and tooltip when they change and rebuilds the menu only
    when what it shows changed.
    """

    def __init__(self, pystray: Any, images: Callable[[TrayIcon], Any], actions: TrayActions, view: TrayView, *,
                 name: str = "api-router", mnemonics: bool = False, gui: GuiCall = call_now) -> None:
        self._pystray = pystray
        self._gui = gui  # every change of the icon goes through it (see gui_caller)
        # Windows menus take "&" as the mark of the next letter's keyboard shortcut (pystray passes the text
        # as it is): a provider called "R&D Relay" would show as "RD Relay", the D underlined.
        self._text: Callable[[str], str] = _literal_ampersands if mnemonics else _as_is
        self._images = images
        self._actions = actions
        self._view = view
        self._lock = threading.Lock()
        # The check mark pystray drew: the login item can also change from the Settings window.
        self._autostart_shown: bool | None = None
        menu = pystray.Menu(self._items)
        self._icon = pystray.Icon(name, images(view.icon), view.tooltip, menu)
        self._running = False
        self._stopped = False

    @property
    def view(self) -> TrayView:
        return self._view

    @property
    def icon(self) -> Any:
        return self._icon

    def start(self) -> None:
        # Detached: the GUI loop belongs to pywebview on the main thread (GTK), or pystray runs its
        # own message loop in a thread of its own (win32).
        _quiet_pystray_notifications()
        # pystray shows the icon from a thread of its own unless told how: on macOS, on the main thread.
        self._icon.run_detached(None if self._gui is call_now else self._show_icon)
        self._menu_before_first_click()
        self._running = True
        tooltip = self._view.tooltip
        self._gui(lambda: self._set_tooltip(tooltip))

    def stop(self) -> None:
        """Hide and stop the icon; from any thread, once (Quit calls it early, the shell's exit again)."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._stopped = True
        self._gui(self._hide_and_stop)

    def _show_icon(self, icon: Any) -> None:
        self._gui(lambda: setattr(icon, "visible", True))

    def _hide_and_stop(self) -> None:
        try:
            self._icon.visible = False
            self._icon.stop()  # win32: ends the icon's message-loop thread, which would keep us alive
        except Exception as exc:
            log.warning("stopping the tray icon: %s", exc)

    def show(self, view: TrayView) -> bool:
        """Show ``view``; True when the menu was rebuilt. Nothing once stopped: the status poll may still
        run while quitting. (A view that came just before the stop may still be drawn into the icon as it
        hides; drawing does not make a hidden icon visible again.)"""
        with self._lock:
            if self._stopped:
                return False
            old, self._view = self._view, view
        image = self._images(view.icon) if view.icon != old.icon else None
        rebuild = _menu_part(view) != _menu_part(old) or self._autostart_changed()

        def apply() -> None:
            if image is not None:
                self._icon.icon = image
            if view.tooltip != old.tooltip:
                self._set_tooltip(view.tooltip)
            if rebuild:
                self._icon.update_menu()

        self._gui(apply)
        return rebuild

    def _autostart_changed(self) -> bool:
        return self._actions.set_autostart is not None and self._actions.autostart_on() != self._autostart_shown

    def refresh_menu(self) -> None:
        self._gui(self._icon.update_menu)

    # --- the menu ---------------------------------------------------------------------------------

    def _items(self) -> Iterator[Any]:
        p, a = self._pystray, self._actions
        item, sep = p.MenuItem, p.Menu.SEPARATOR
        view, text = self._view, self._text
        yield item(text(view.line), None, enabled=False)
        yield sep
        yield item("Routing", None, enabled=False)
        yield item("Automatic", lambda: a.lock(None), checked=lambda _: self._view.automatic, radio=True)
        for choice in view.providers:
            yield item(text(choice.label), _bind(a.lock, choice.provider),
                       checked=_checked(self, choice.provider, "locked"), radio=True, enabled=choice.enabled)
        yield sep
        yield item("Preferred provider", p.Menu(*[
            item(text(c.name), _bind(a.prefer, c.provider), checked=_checked(self, c.provider, "preferred"),
                 radio=True, enabled=c.enabled) for c in view.providers]), enabled=bool(view.providers))
        yield item("Refresh usage", _no_args(a.refresh_usage), enabled=view.listening)
        yield item("Copy base URL", _no_args(a.copy_base_url))
        yield item("Copy gateway token", _no_args(a.copy_token))
        if a.set_autostart is not None:
            set_autostart = a.set_autostart
            self._autostart_shown = a.autostart_on()
            yield item("Start with the system", lambda: set_autostart(not a.autostart_on()),
                       checked=lambda _: a.autostart_on())
        yield sep
        yield item("Open API Router", _no_args(a.open), default=True)
        yield item("Quit", _no_args(a.quit))

    # --- platform details ---------------------------------------------------------------------------

    def _set_tooltip(self, text: str) -> None:
        # pystray's title is the tooltip on Windows and the indicator's title with AppIndicator; its GTK
        # backend only sets GtkStatusIcon's accessible title, so the tooltip is set here.
        self._icon.title = text
        status_icon = getattr(self._icon, "_status_icon", None)
        if status_icon is not None and self._running:
            from gi.repository import GLib

            GLib.idle_add(lambda: status_icon.set_tooltip_text(text) and False)

    def _menu_before_first_click(self) -> None:
        """pystray's GTK backends build the native menu in an idle callback, which a busy main loop
        (WebKit loading the page) runs only later, while the status icon is embedded and clickable
        at once: a right-click then raised AttributeError '_menu_handle'. Called on the GUI thread
        before its loop runs, so building the menu here is safe; the idle callback replaces it. Other
        backends build theirs otherwise (Windows on its own thread, with another signature): left alone."""
        icon = self._icon
        if not type(icon).__module__.endswith(_GTK_BACKENDS):
            return
        if not hasattr(icon, "_menu_handle") and hasattr(icon, "_create_menu"):
            try:
                icon._menu_handle = icon._create_menu(icon.menu)
            except Exception as exc:
                log.warning("building the tray menu: %s", exc)


_GTK_BACKENDS = ("._gtk", "._appindicator")  # pystray's backends that build their menu in an idle callback


def _literal_ampersands(text: str) -> str:
    return text.replace("&", "&&")


def _as_is(text: str) -> str:
    return text


def _no_args(fn: Callable[[], None]) -> Callable[[], None]:
    """A plain function of no parameters around ``fn``: pystray counts an action's parameters
    (through ``__code__``) to decide what to pass, and would hand (icon, item) to a callable
    without one, such as a builtin or a partial."""
    def action() -> None:
        fn()
    return action


def _bind(fn: Callable[[str], None], provider: str) -> Callable[[], None]:
    return lambda: fn(provider)


def _checked(tray: Tray, provider: str, flag: str) -> Callable[[Any], bool]:
    def checked(_item: Any) -> bool:
        return any(getattr(c, flag) for c in tray.view.providers if c.provider == provider)
    return checked


def _quiet_pystray_notifications() -> None:
    """pystray 0.19.5's GTK backends make a notification proxy of their own as the icon starts. With a
    session bus that cannot be reached (a stale ``DBUS_SESSION_BUS_ADDRESS``) making it raises, and the
    icon never shows; with no notification service its ``hide()`` at exit (atexit) prints a traceback.
    Notifications go through notify.py instead, so that proxy only has to stay quiet: its factory
    is wrapped, once, before the icon starts."""
    module: Any = sys.modules.get("pystray._util.notify_dbus")  # loaded with pystray's GTK backends
    if module is None or isinstance(module.Notifier, _QuietNotifierFactory):
        return
    module.Notifier = _QuietNotifierFactory(module.Notifier)


class _QuietNotifierFactory:
    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make

    def __call__(self) -> _QuietNotifier:
        try:
            return _QuietNotifier(self._make())
        except Exception as exc:
            log.info("no session bus for pystray's own notifications (%s); notify.py sends ours", exc)
            return _QuietNotifier(None)


class _QuietNotifier:
    def __init__(self, inner: Any | None) -> None:
        self._inner = inner
        self._shown = False

    def notify(self, *args: Any) -> None:
        try:
            if self._inner is not None:
                self._inner.notify(*args)
                self._shown = True
        except Exception as exc:
            log.debug("pystray notification: %s", exc)

    def hide(self) -> None:
        # pystray hides at exit whether or not it showed anything (it never does: notify.py sends ours),
        # and waits D-Bus's 25 s for a service that takes the name but does not answer: Quit would linger.
        if not self._shown:
            return
        self._shown = False
        try:
            if self._inner is not None:
                self._inner.hide()
        except Exception as exc:
            log.debug("pystray notification hide: %s", exc)
