"""OS notifications that open the window on the relevant view when clicked.

- Linux: ``org.freedesktop.Notifications`` on the session bus, through Gio (PyGObject, which the
  GTK window needs anyway). pystray's own ``notify`` there has no click action and raises when no
  notification service runs; this one sends a "default" action, listens for ``ActionInvoked``, and
  treats a missing service as "notifications are off" (one log line, no traceback). The body is
  markup for a service with the ``body-markup`` capability, so there ``&``, ``<`` and ``>`` (a
  display name such as "R&D <EU> Relay", an upstream's error text) are escaped; the summary is plain
  text for every service, and so is the body for one without that capability.
- Windows and macOS: the ``desktop-notifier`` library (WinRT toasts / the macOS Notification
  Center, with click callbacks) on an asyncio loop of its own; pystray's ``notify`` (a balloon
  without click handling) only when that library is missing.
- Anything else, or when nothing works: notifications are dropped (and logged).

No failure here ever reaches the tray or the gateway; the shell sends through ``InBackground``, so
that a service that does not answer holds up nothing.
"""

from __future__ import annotations

import asyncio
import html
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from api_router.desktop.notices import Notice, NoticeKind

log = logging.getLogger(__name__)

APP_NAME = "API Router"
BUS_NAME = "org.freedesktop.Notifications"
BUS_PATH = "/org/freedesktop/Notifications"
DEFAULT_ACTION = "default"
BODY_MARKUP = "body-markup"  # the capability of a service that reads the body as markup
CALL_TIMEOUT_MS = 3000
MAX_TRACKED = 64  # notification ids remembered for their click


class Notifier(Protocol):
    def send(self, notice: Notice) -> bool: ...

    def close(self) -> None: ...


class NullNotifier:
    def __init__(self, why: str = "") -> None:
        self.why = why

    def send(self, notice: Notice) -> bool:
        # Why there are none was said once, when the notifier was chosen; a line per notice would repeat it.
        log.debug("notification not shown (%s): %s", self.why or "no notification service", notice.title)
        return False

    def close(self) -> None:
        pass


class DbusNotifier:
    """The freedesktop notification service, reached through Gio."""

    def __init__(self, on_click: Callable[[str], None], *, app_icon: str = "", bus: Any = None) -> None:
        from gi.repository import Gio, GLib

        self._Gio, self._GLib = Gio, GLib
        self._on_click = on_click
        self._app_icon = app_icon
        self._bus = bus if bus is not None else Gio.bus_get_sync(Gio.BusType.SESSION, None)
        self._views: dict[int, str] = {}
        self._lock = threading.Lock()
        self._available: bool | None = None
        # Subscribed from a thread without a thread-default main context: the handlers then run on
        # the global default context, which the GTK main loop (pywebview's) dispatches.
        self._subscriptions = [
            self._bus.signal_subscribe(None, BUS_NAME, "ActionInvoked", BUS_PATH, None,
                                       Gio.DBusSignalFlags.NONE, self._on_action),
            self._bus.signal_subscribe(None, BUS_NAME, "NotificationClosed", BUS_PATH, None,
                                       Gio.DBusSignalFlags.NONE, self._on_closed),
        ]

    def send(self, notice: Notice) -> bool:
        GLib = self._GLib
        hints = {"desktop-entry": GLib.Variant("s", "api-router"),
                 "urgency": GLib.Variant("y", 2 if notice.kind is NoticeKind.ALL_DOWN else 1)}
        body = body_text(notice.message, markup=self._reads_markup())
        args = GLib.Variant("(susssasa{sv}i)", (APP_NAME, 0, self._app_icon, notice.title, body,
                                                [DEFAULT_ACTION, "Open API Router"], hints, -1))
        try:
            reply = self._bus.call_sync(BUS_NAME, BUS_PATH, BUS_NAME, "Notify", args, GLib.VariantType("(u)"),
                                        self._Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)
        except GLib.Error as exc:
            if self._available is not False:
                log.info("notifications are off: no notification service answered on the session bus (%s)",
                         exc.message)
            self._available = False
            return False
        if self._available is False:
            log.info("a notification service is running again")
        self._available = True
        nid = int(reply.unpack()[0])
        with self._lock:
            self._views[nid] = notice.view
            while len(self._views) > MAX_TRACKED:
                self._views.pop(next(iter(self._views)))
        log.info("notified (%s): %s", notice.kind, notice.title)
        return True

    def _reads_markup(self) -> bool:
        """Whether the service reads the body as markup. Asked at every notification (they are rare):
        the service can be replaced while the app runs. One that does not answer gets escaped text,
        as most services read markup."""
        GLib = self._GLib
        try:
            reply = self._bus.call_sync(BUS_NAME, BUS_PATH, BUS_NAME, "GetCapabilities", None,
                                        GLib.VariantType("(as)"), self._Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)
        except GLib.Error:
            return True
        return BODY_MARKUP in reply.unpack()[0]

    def close(self) -> None:
        for sub in self._subscriptions:
            try:
                self._bus.signal_unsubscribe(sub)
            except Exception:  # the bus may be gone at exit
                pass
        self._subscriptions = []

    def _on_action(self, _conn: Any, _sender: str, _path: str, _iface: str, _signal: str, params: Any,
                   *_: Any) -> None:
        nid, action = params.unpack()
        with self._lock:
            view = self._views.get(int(nid))
        if view is not None and action == DEFAULT_ACTION:
            self._on_click(view)

    def _on_closed(self, _conn: Any, _sender: str, _path: str, _iface: str, _signal: str, params: Any,
                   *_: Any) -> None:
        nid = int(params.unpack()[0])
        # The service sends ActionInvoked before NotificationClosed; the id is not needed after.
        with self._lock:
            self._views.pop(nid, None)


class InBackground:
    """A notifier whose sends run on a thread of their own: a notification service that does not answer
    (each call waits up to CALL_TIMEOUT_MS) holds up neither the tray's status updates nor Quit. At most
    ``queued`` notifications wait; more are dropped (logged)."""

    def __init__(self, notifier: Notifier, *, queued: int = 16) -> None:
        self._inner = notifier
        self._queue: queue.Queue[Notice | None] = queue.Queue(maxsize=queued)
        self._thread = threading.Thread(target=self._run, name="notifications-send", daemon=True)
        self._thread.start()

    def send(self, notice: Notice) -> bool:
        """Queued (True), or dropped when the service has not kept up (False)."""
        try:
            self._queue.put_nowait(notice)
        except queue.Full:
            log.info("notification dropped (the notification service is not keeping up): %s", notice.title)
            return False
        return True

    def _run(self) -> None:
        while (notice := self._queue.get()) is not None:
            try:
                self._inner.send(notice)
            except Exception:  # a notifier never raises by contract; if one does, the next still goes
                log.exception("sending a notification failed")

    def close(self) -> None:
        """Stops taking notifications; one still being sent to a service that does not answer is left to
        end with the process (the thread is a daemon)."""
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(0.5)
        self._inner.close()


def body_text(message: str, *, markup: bool) -> str:
    """The body as the service reads it: the notification spec's markup is a small XML subset, in which
    ``&``, ``<`` and ``>`` of plain text would start an entity or a tag (quotes are plain there)."""
    return html.escape(message, quote=False) if markup else message


class DesktopNotifierBackend:
    """``desktop-notifier`` (Windows toasts, macOS Notification Center) on its own asyncio loop; the
    library delivers clicks through that loop, so it keeps running until ``close``."""

    def __init__(self, on_click: Callable[[str], None], *, app_icon: Path | None = None, module: Any = None) -> None:
        if module is None:  # a plain import, so PyInstaller bundles it
            import desktop_notifier  # type: ignore[import-not-found,unused-ignore]

            module = desktop_notifier
        dn = module
        self._on_click = on_click
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="notifications", daemon=True)
        self._thread.start()
        icon = dn.Icon(path=app_icon) if app_icon is not None else None
        self._notifier = dn.DesktopNotifier(app_name=APP_NAME, app_icon=icon)
        # Where it has no notification center (macOS outside an app bundle) the library takes a stand-in that
        # shows nothing and says it did: then it is not the notifier (the tray's own is tried instead).
        if type(getattr(self._notifier, "_backend", None)).__name__ == "DummyNotificationCenter":
            self.close()
            raise RuntimeError("desktop-notifier has no notification center here (an app bundle is needed)")

    def send(self, notice: Notice) -> bool:
        view = notice.view
        coro = self._notifier.send(title=notice.title, message=notice.message,
                                   on_clicked=lambda: self._on_click(view))
        try:
            asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT_MS / 1000)
        except Exception as exc:
            log.info("notification not shown: %s: %s", type(exc).__name__, exc)
            return False
        log.info("notified (%s): %s", notice.kind, notice.title)
        return True

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2.0)


class PystrayNotifier:
    """pystray's own notification (a balloon on Windows): no click action, better than nothing."""

    def __init__(self, icon: Any) -> None:
        self._icon = icon

    def send(self, notice: Notice) -> bool:
        try:
            self._icon.notify(notice.message, notice.title)
        except Exception as exc:
            log.info("notification not shown: %s: %s", type(exc).__name__, exc)
            return False
        return True

    def close(self) -> None:
        pass


def make_notifier(platform: str, on_click: Callable[[str], None], *, app_icon: Path | None = None,
                  pystray_icon: Any = None, dbus: Callable[..., Notifier] = DbusNotifier,
                  desktop_notifier: Callable[..., Notifier] = DesktopNotifierBackend) -> Notifier:
    """The best notifier this platform has; never raises."""
    if platform.startswith(("linux", "freebsd")):
        try:
            return dbus(on_click, app_icon=str(app_icon or ""))
        except Exception as exc:  # no gi, no session bus
            log.info("notifications are off: %s: %s", type(exc).__name__, exc)
            return NullNotifier(f"no session bus: {exc}")
    try:
        return desktop_notifier(on_click, app_icon=app_icon)
    except Exception as exc:  # ImportError: not installed; RuntimeError: no toast notifier
        log.info("desktop-notifier unavailable (%s: %s); using the tray's own notifications", type(exc).__name__, exc)
    if pystray_icon is not None and getattr(pystray_icon, "HAS_NOTIFICATION", False):
        return PystrayNotifier(pystray_icon)
    return NullNotifier("this platform has no notification service API Router can use")
