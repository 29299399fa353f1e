"""OS notifications: the D-Bus notifier against a real notification service on a private session
bus (and with none), the desktop-notifier adapter (Windows/macOS) with the library replaced at its
seam, and the fallbacks."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from api_router.desktop.notices import Notice, NoticeKind
from api_router.desktop.notify import (
    DbusNotifier,
    DesktopNotifierBackend,
    InBackground,
    NullNotifier,
    PystrayNotifier,
    make_notifier,
)
from tests.desktop.xsession import NotificationService

DOWN = Notice(NoticeKind.ALL_DOWN, None, "All providers down", "Relay A: HTTP 502\nCheck the keys.", "#/")
LOW = Notice(NoticeKind.QUOTA_LOW, "a", "Relay A: 8 % quota left", "Relay A has 8 % of its quota left.", "#/usage")


def connect(env: dict[str, str]) -> Any:
    from gi.repository import Gio

    flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
    return Gio.DBusConnection.new_for_address_sync(env["DBUS_SESSION_BUS_ADDRESS"], flags, None, None)


def pump_until(predicate: Any, timeout: float) -> bool:
    """Run the default GLib main context (the GTK loop's, in the app) until ``predicate``."""
    from gi.repository import GLib

    context = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while context.iteration(False):
            pass
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_dbus_notification_is_delivered_and_its_click_opens_the_view(bus: dict[str, str], tmp_path: Path) -> None:
    service = NotificationService.start(bus, tmp_path / "received.jsonl")
    clicked: list[str] = []
    try:
        notifier = DbusNotifier(clicked.append, app_icon="/pkg/icon.png", bus=connect(bus))
        assert notifier.send(DOWN) and notifier.send(LOW)
        got = service.received()
        assert [(n["summary"], n["body"]) for n in got] == [(DOWN.title, DOWN.message), (LOW.title, LOW.message)]
        first = got[0]
        assert first["app_name"] == "API Router" and first["app_icon"] == "/pkg/icon.png"
        assert first["actions"] == ["default", "Open API Router"]
        assert first["hints"] == {"desktop-entry": "api-router", "urgency": 2} and got[1]["hints"]["urgency"] == 1
        service.click(got[1]["id"])
        assert pump_until(lambda: clicked, 10), "ActionInvoked never reached the notifier"
        assert clicked == ["#/usage"]
        service.click(got[0]["id"], action="something-else")  # only the default action opens the window
        pump_until(lambda: False, 0.5)
        assert clicked == ["#/usage"]
        notifier.close()
    finally:
        service.stop()


MARKUP = Notice(NoticeKind.FAILOVER, "b", "Failover to R&D <EU> Relay",
                "Relay A: HTTP 500: <html>boom</html>. Codex keeps working through R&D <EU> Relay.",
                "#/requests?provider=a")


@pytest.mark.parametrize("capabilities, body", [
    ("actions,body,body-markup",
     "Relay A: HTTP 500: &lt;html&gt;boom&lt;/html&gt;. Codex keeps working through R&amp;D &lt;EU&gt; Relay."),
    ("actions,body", MARKUP.message),
], ids=["body-markup", "plain-body"])
def test_the_body_is_escaped_for_a_service_that_reads_markup(bus: dict[str, str], tmp_path: Path,
                                                             capabilities: str, body: str) -> None:
    """The spec reads the body as markup where the service has ``body-markup``: a display name such as
    "R&D <EU> Relay" must reach it escaped; the summary is plain text everywhere."""
    service = NotificationService.start(bus, tmp_path / "received.jsonl", capabilities=capabilities)
    try:
        notifier = DbusNotifier(lambda view: None, bus=connect(bus))
        assert notifier.send(MARKUP)
        (got,) = service.received()
        assert got["summary"] == "Failover to R&D <EU> Relay" and got["body"] == body
        notifier.close()
    finally:
        service.stop()


def test_body_text_escapes_only_what_markup_reads() -> None:
    from api_router.desktop.notify import body_text

    assert body_text("R&D <EU> \"Relay\" 'x'", markup=True) == "R&amp;D &lt;EU&gt; \"Relay\" 'x'"
    assert body_text("R&D <EU>", markup=False) == "R&D <EU>"


def test_no_notification_service_is_harmless(bus: dict[str, str], caplog: pytest.LogCaptureFixture,
                                             tmp_path: Path) -> None:
    caplog.set_level(logging.INFO, "api_router.desktop.notify")
    notifier = DbusNotifier(lambda view: None, bus=connect(bus))
    assert notifier.send(DOWN) is False and notifier.send(LOW) is False
    off = [r for r in caplog.records if "notifications are off" in r.getMessage()]
    assert len(off) == 1 and "org.freedesktop.Notifications" in off[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    # a service that starts later is used
    service = NotificationService.start(bus, tmp_path / "later.jsonl")
    try:
        assert notifier.send(DOWN) is True and len(service.received()) == 1
        assert any("running again" in r.getMessage() for r in caplog.records)
    finally:
        service.stop()
    notifier.close()


class FakeDesktopNotifierModule:
    """desktop_notifier's surface as DesktopNotifierBackend uses it (Icon, DesktopNotifier.send)."""

    def __init__(self, backend: Any = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.backend = backend
        module = self

        class DesktopNotifier:
            def __init__(self, app_name: str, app_icon: Any = None) -> None:
                module.app_name, module.app_icon = app_name, app_icon
                self._backend = module.backend

            async def send(self, **kwargs: Any) -> str:
                module.sent.append(kwargs)
                return f"id-{len(module.sent)}"

        self.DesktopNotifier = DesktopNotifier
        self.Icon = lambda path: SimpleNamespace(path=path)


def test_desktop_notifier_backend_sends_and_routes_the_click() -> None:
    module = FakeDesktopNotifierModule()
    clicked: list[str] = []
    notifier = DesktopNotifierBackend(clicked.append, app_icon=Path("/pkg/icon.png"), module=module)
    try:
        assert notifier.send(LOW)
        assert module.app_name == "API Router" and module.app_icon.path == Path("/pkg/icon.png")
        sent = module.sent[0]
        assert (sent["title"], sent["message"]) == (LOW.title, LOW.message)
        sent["on_clicked"]()  # what the library calls when the toast is clicked
        assert clicked == ["#/usage"]
    finally:
        notifier.close()


def test_make_notifier_fallbacks() -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ImportError("No module named 'desktop_notifier'")

    icon = SimpleNamespace(HAS_NOTIFICATION=True, notify=lambda message, title: calls.append((message, title)))
    calls: list[tuple[str, str]] = []
    fallback = make_notifier("win32", lambda v: None, pystray_icon=icon, desktop_notifier=broken)
    assert isinstance(fallback, PystrayNotifier) and fallback.send(LOW) and calls == [(LOW.message, LOW.title)]
    assert isinstance(make_notifier("darwin", lambda v: None, desktop_notifier=broken), NullNotifier)
    assert isinstance(make_notifier("linux", lambda v: None, dbus=broken), NullNotifier)
    chosen: list[str] = []
    make_notifier("win32", lambda v: None, desktop_notifier=lambda *a, **k: chosen.append("dn"))
    make_notifier("linux", lambda v: None, dbus=lambda *a, **k: chosen.append("dbus"))
    assert chosen == ["dn", "dbus"]


@pytest.mark.parametrize("reachable", [True, False], ids=["bus-without-service", "unreachable-bus"])
def test_tray_quit_without_a_notification_service_prints_no_traceback(bus: dict[str, str], reachable: bool) -> None:
    """pystray's GTK backend hides its notification at exit; with no service that used to print a
    GLib traceback on every Quit. With a session bus that cannot be reached at all (a stale address)
    making that proxy raised as the icon started, and the icon never showed. The tray makes it quiet
    (tray.py, _quiet_pystray_notifications). Also: the menu is there before the GTK loop runs (tray.py,
    _menu_before_first_click)."""
    script = """
import os
os.environ["PYSTRAY_BACKEND"] = "gtk"
import pystray
from api_router.desktop.icon import tray_image
from api_router.desktop.tray import Tray, TrayActions
from api_router.desktop.trayview import tray_view
nothing = lambda *a: None
tray = Tray(pystray, tray_image, TrayActions(nothing, nothing, nothing, nothing, nothing, nothing, nothing),
            tray_view({}))
tray.start()
# the native menu exists before the GTK loop first runs: a right-click right after start works
print("menu ready" if getattr(tray.icon, "_menu_handle", None) is not None else "no menu")
tray.stop()
print("done")
"""
    from tests.desktop.xsession import XSession

    session = XSession.start()
    try:
        address = bus["DBUS_SESSION_BUS_ADDRESS"] if reachable else "unix:path=/nonexistent/api-router-test-bus"
        env = {**session.env, "DBUS_SESSION_BUS_ADDRESS": address}
        result = subprocess.run([sys.executable,
                                 "-c", script], env=env, capture_output=True, text=True, timeout=60)
    finally:
        session.stop()
    assert result.returncode == 0 and result.stdout.split() == ["menu", "ready", "done"], result.stderr
    assert "Traceback" not in result.stderr and "org.freedesktop.Notifications" not in result.stderr, result.stderr


def test_without_a_session_bus_notifications_cost_one_log_line_not_one_each(caplog: Any) -> None:
    def no_bus(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("Could not connect: No such file or directory")

    with caplog.at_level("INFO", logger="api_router.desktop.notify"):
        notifier = make_notifier("linux", lambda v: None, dbus=no_bus)
        assert not notifier.send(LOW) and not notifier.send(LOW)
    assert [r.getMessage() for r in caplog.records if r.levelno >= 20] == [
        "notifications are off: ConnectionError: Could not connect: No such file or directory"]


class _Hung:
    """A notifier whose service does not answer: each send waits until released."""

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()
        self.taken = threading.Event()  # a send has begun (the worker took a notice)
        self.sent: list[str] = []
        self.closed = False

    def send(self, notice: Notice) -> bool:
        self.taken.set()
        self.release.wait(10)
        self.sent.append(notice.title)
        return True

    def close(self) -> None:
        self.closed = True


def test_a_notification_service_that_does_not_answer_holds_up_neither_the_tray_nor_quit() -> None:
    """The tray's status thread sends and goes on at once (it waited 3 s per call, twice per notification,
    and Quit waited for it); what the service has not taken yet is queued, in order, up to a bound."""
    hung = _Hung()
    notifier = InBackground(hung, queued=2)
    t0 = time.monotonic()
    assert notifier.send(DOWN)  # being sent: the service hangs
    assert hung.taken.wait(5)  # the worker holds it, so the queue is empty again
    assert notifier.send(LOW) and notifier.send(DOWN)  # two wait
    assert not notifier.send(LOW)  # a third would wait behind a service that is not keeping up: dropped
    assert time.monotonic() - t0 < 3  # a send that waited for the service would take its 10 s
    hung.release.set()
    deadline = time.monotonic() + 5
    while len(hung.sent) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hung.sent == [DOWN.title, LOW.title, DOWN.title]
    hung.release.clear()
    notifier.send(LOW)  # hangs again, then Quit
    t0 = time.monotonic()
    notifier.close()
    assert time.monotonic() - t0 < 3 and hung.closed  # not the 10 s the hung send takes


def test_windows_notifications_name_an_icon_that_outlives_the_run(tmp_path: Path) -> None:
    """Windows keeps a notification's icon by path (the app's registration, toasts left in the Action
    Center); the one-file build's own copy is removed at exit, so the icon shown is a lasting copy."""
    from api_router.desktop.icon import icon_path, lasting_icon_path

    env = {"LOCALAPPDATA": str(tmp_path)}
    assert lasting_icon_path(platform="win32", frozen=False, env=env) == icon_path()  # from source: lasts
    assert lasting_icon_path(platform="linux", frozen=True, env=env) == icon_path()
    lasting = lasting_icon_path(platform="win32", frozen=True, env=env)
    assert lasting == tmp_path / "API Router" / "icon.png" and lasting.read_bytes() == icon_path().read_bytes()
    written = lasting.stat().st_mtime_ns
    assert lasting_icon_path(platform="win32", frozen=True, env=env) == lasting
    assert lasting.stat().st_mtime_ns == written  # the same icon is not written again
    lasting.write_bytes(b"an older icon")
    assert lasting_icon_path(platform="win32", frozen=True, env=env).read_bytes() == icon_path().read_bytes()
    (tmp_path / "file").write_text("x")  # LOCALAPPDATA unusable: the bundled icon, as before
    assert lasting_icon_path(platform="win32", frozen=True, env={"LOCALAPPDATA": str(tmp_path / "file")}) == icon_path()


def test_without_a_notification_center_the_trays_own_notifications_are_used() -> None:
    """desktop-notifier on macOS outside an app bundle takes a stand-in that shows nothing (the log said
    "notified" all the same); pystray's own notification there (osascript) does show."""
    class DummyNotificationCenter:
        pass

    module = FakeDesktopNotifierModule(backend=DummyNotificationCenter())
    calls: list[tuple[str, str]] = []
    icon = SimpleNamespace(HAS_NOTIFICATION=True, notify=lambda message, title: calls.append((message, title)))
    notifier = make_notifier("darwin", lambda v: None, pystray_icon=icon,
                             desktop_notifier=lambda on_click, **kw: DesktopNotifierBackend(on_click, module=module, **kw))
    assert isinstance(notifier, PystrayNotifier) and notifier.send(LOW) and calls == [(LOW.message, LOW.title)]
    assert module.sent == []
