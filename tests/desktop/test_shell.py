"""The shell's logic with pywebview and pystray replaced at their seams (see fakes.py): start hidden
or shown, close to tray, tray Show/Quit, port in use, second instance, and the Windows choices.
The real GUI is covered by test_desktop_x11.py."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from api_router.composition import follow_autostart
from api_router.desktop.autostart import system_autostart
from api_router.desktop.instance import InstanceLock, WindowsLock
from api_router.desktop.shell import Backends, DesktopShell, Options
from api_router.desktop.tray import Tray, TrayActions, call_now, choose_backend, gui_caller
from api_router.desktop.trayview import tray_view
from api_router.desktop.window import gui_for, origin_of, window_url
from api_router.paths import Paths
from tests.desktop.fakes import (
    FakeMsvcrt,
    FakePystray,
    FakeWebview,
    FakeWindow,
    RecordingNotifier,
    relay_with_usage,
    tray_status,
)
from tests.desktop.xsession import port_is_free, wait_for
from tests.support import fake_provider as fp
from tests.support.harness import write_config

Scenario = Callable[[FakeWindow], None]


class Rig:
    def __init__(self, tmp_path: Path, *, scenario: Scenario | None = None, platform: str = "linux",
                 tray_host: bool = True, options: Options | None = None, start_hidden: bool = True,
                 os_lock: Any = None, name: str = "ud") -> None:
        self.paths = Paths(tmp_path / name)
        if not self.paths.config.exists():
            write_config(self.paths, {})
            with self.paths.config.open("a") as fh:
                fh.write(f"\n[ui]\nstart_hidden = {'true' if start_hidden else 'false'}\n")
        self.webview = FakeWebview(scenario, winforms=platform == "win32")
        self.pystray = FakePystray()
        self.tray_host = tray_host
        self.notifiers: list[RecordingNotifier] = []
        self.copied: list[str] = []
        self.autostart_home = tmp_path / f"{name}-home"

        def notifier(on_click: Callable[[str], None], icon: Any) -> RecordingNotifier:
            self.notifiers.append(RecordingNotifier(on_click, icon))
            return self.notifiers[-1]

        self.backends = Backends(platform=platform, webview=self.webview, pystray=self.pystray,
                                 tray_images=lambda state: f"IMG-{state}", icon_path="/icons/icon.png",
                                 tray_host_present=lambda: self.tray_host, notifier=notifier,
                                 copy_text=self.copied.append,
                                 autostart=lambda user_data: system_autostart(
                                     "linux", user_data=user_data, env={}, home=self.autostart_home,
                                     command=["api-router-test", "--user-data", str(user_data)]))
        self.shell = DesktopShell(self.paths, options or Options(port=0), lambda: self.backends, os_lock=os_lock,
                                  handoff_wait=3, install_signals=False, configure_logging=lambda rt: None)

    @property
    def window(self) -> FakeWindow:
        return self.webview.windows[0]

    @property
    def icon(self) -> Any:
        return self.pystray.icons[0]

    def run(self) -> int:
        code = self.shell.run()
        if self.webview.scenario_error is not None:
            raise self.webview.scenario_error
        return code


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status


def health(window: FakeWindow) -> int:
    assert window.url is not None
    return get(window.url.split("/?")[0] + "/health")


def test_starts_hidden_closes_to_tray_and_quits_cleanly(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def scenario(window: FakeWindow) -> None:
        seen["hidden_at_start"] = not window.visible
        seen["health"] = health(window)
        rig.icon.click()                       # tray default action: Open API Router
        seen["shown"] = wait_for(lambda: window.visible, 5, "the window to show")
        seen["kept_on_close"] = not window.user_close()
        seen["hidden_after_close"] = not window.visible
        seen["health_after_close"] = health(window)
        rig.icon.choose("Open API Router")
        seen["shown_again"] = wait_for(lambda: window.visible, 5, "the window to show")
        # On the page the user left it on (closing only hid it): no navigation to the dashboard.
        seen["navigated"] = [js for js in window.scripts if "location.hash" in js]
        seen["port"] = int(window.url.split(":")[2].split("/")[0])  # type: ignore[union-attr]
        rig.icon.choose("Quit")

    rig = Rig(tmp_path, scenario=scenario)
    assert rig.run() == 0
    assert seen == {"hidden_at_start": True, "health": 200, "shown": True, "kept_on_close": True,
                    "hidden_after_close": True, "health_after_close": 200, "shown_again": True, "navigated": [],
                    "port": seen["port"]}
    window = rig.window
    assert window.title == "API Router"
    assert window.kwargs["hidden"] is True
    assert window.url == f"http://127.0.0.1:{seen['port']}/?desktop=1"
    assert not window.kwargs["js_api"].__class__.__name__.startswith("_")
    assert rig.webview.start_kwargs == {"gui": "gtk", "private_mode": False, "icon": "/icons/icon.png",
                                        "storage_path": str(rig.paths.data / "webview")}
    labels = rig.icon.labels()
    assert labels[-2:] == ["Open API Router", "Quit"] and rig.icon.item("Open API Router").default
    assert rig.icon.title == "no provider configured · 0 requests today" and rig.icon.stopped  # the state line
    assert port_is_free(seen["port"])
    assert not rig.paths.store.with_name(rig.paths.store.name + "-wal").exists()  # store closed
    assert rig.paths.lock.read_bytes() == b""
    lock = InstanceLock(rig.paths.lock)
    assert lock.acquire()
    lock.release()


@pytest.mark.parametrize("start_hidden, show, expect_hidden", [(True, False, True), (True, True, False),
                                                               (False, False, False)])
def test_start_hidden_setting_and_show_flag(tmp_path: Path, start_hidden: bool, show: bool, expect_hidden: bool) -> None:
    rig = Rig(tmp_path, scenario=lambda w: rig.shell.quit(), start_hidden=start_hidden,
              options=Options(port=0, show=show))
    assert rig.run() == 0
    assert rig.window.kwargs["hidden"] is expect_hidden


def test_without_a_tray_the_window_shows_and_closing_quits(tmp_path: Path) -> None:
    closed: list[bool] = []
    rig = Rig(tmp_path, scenario=lambda w: closed.append(w.user_close()), tray_host=False)
    assert rig.run() == 0
    assert rig.window.kwargs["hidden"] is False
    assert closed == [True]


def test_port_in_use_opens_the_window_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        visible: list[bool] = []

        def scenario(window: FakeWindow) -> None:
            visible.append(window.visible)
            rig.icon.choose("Quit")

        rig = Rig(tmp_path, scenario=scenario, options=Options(port=port))
        assert rig.run() == 0
    window = rig.window
    assert window.kwargs["hidden"] is False and visible == [True]
    assert window.kwargs.get("js_api") is None and window.url is None
    assert f"port {port} on 127.0.0.1 is already in use" in window.kwargs["html"]
    assert f"The port was set by <strong>the --port {port} option of this start</strong>" in window.kwargs["html"]
    assert str(rig.paths.config) in window.kwargs["html"]
    # the tray says so too (error icon), but stays: a foreign program holds the port
    assert rig.icon.image == "IMG-error" and rig.icon.labels()[0].startswith("gateway not listening: port")
    assert "close this window and start API Router again" in window.kwargs["html"]


def test_a_start_error_of_another_kind_is_not_blamed_on_the_port(tmp_path: Path) -> None:
    """A host refused (not loopback, no allow_remote): the window says that, and nothing of a port in use
    or of what set the port (it is free)."""

    def scenario(window: FakeWindow) -> None:
        rig.icon.choose("Quit")

    rig = Rig(tmp_path, scenario=scenario, options=Options(port=0, host="0.0.0.0"))
    assert rig.run() == 0
    page = rig.window.kwargs["html"]
    assert "refusing to listen on 0.0.0.0" in page and str(rig.paths.config) in page
    assert "port" not in page.lower().replace("report", ""), page


def test_closing_the_port_in_use_window_quits_as_it_says(tmp_path: Path) -> None:
    """The window says to close it and start again: closing it quits (hidden to the tray, the next start
    would find this one still running and only show its window again)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        closed: list[bool] = []

        def scenario(window: FakeWindow) -> None:
            closed.append(window.user_close())

        rig = Rig(tmp_path, scenario=scenario, options=Options(port=busy.getsockname()[1]))
        assert rig.run() == 0
    assert closed == [True]


@pytest.mark.parametrize("breakage", ["config is a folder", "user data is a file"])
def test_an_unusable_user_data_folder_is_explained_in_a_window(tmp_path: Path, breakage: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[bool] = []

    def scenario(window: FakeWindow) -> None:
        seen.append(window.visible)
        assert window.user_close()  # closing it quits: there is nothing to hide to

    rig = Rig(tmp_path, scenario=scenario)
    if breakage == "config is a folder":
        rig.paths.config.unlink()
        rig.paths.config.mkdir()
        culprit = str(rig.paths.config)
    else:
        shutil.rmtree(rig.paths.user_data)
        rig.paths.user_data.write_text("not a folder")
        culprit = str(rig.paths.user_data)
    assert rig.run() == 1
    assert seen == [True] and len(rig.webview.windows) == 1 and not rig.pystray.icons
    page = rig.window.kwargs["html"]
    assert "API Router could not start" in page and culprit in page and "--user-data" in page
    assert rig.window.kwargs.get("js_api") is None
    assert rig.webview.start_kwargs["private_mode"] is True and "storage_path" not in rig.webview.start_kwargs
    err = capsys.readouterr().err
    assert f"api-router: cannot use {culprit}" in err


def test_on_macos_the_start_error_window_does_not_empty_webkits_shared_store(tmp_path: Path) -> None:
    """pywebview's Cocoa backend has no storage of its own to leave out: private mode there deletes every kind
    of web data in WebKit's default store, which an unbundled app shares with other Python apps."""
    rig = Rig(tmp_path, scenario=lambda window: window.user_close() and None, platform="darwin")
    shutil.rmtree(rig.paths.user_data)
    rig.paths.user_data.write_text("not a folder")
    assert rig.run() == 1
    assert rig.webview.start_kwargs["private_mode"] is False and "storage_path" not in rig.webview.start_kwargs


def test_second_start_shows_the_first_window_and_exits(tmp_path: Path) -> None:
    results: dict[str, Any] = {}

    def scenario(window: FakeWindow) -> None:
        window.user_close()
        second = Rig(tmp_path, scenario=lambda w: None)  # same user-data folder
        results["second_code"] = second.run()
        results["second_made_a_window"] = bool(second.webview.windows)
        results["first_shown"] = wait_for(lambda: window.visible, 5, "the first window to show")
        rig.shell.quit()

    rig = Rig(tmp_path, scenario=scenario)
    assert rig.run() == 0
    assert results == {"second_code": 0, "second_made_a_window": False, "first_shown": True}


def test_a_start_during_quit_waits_for_the_first_to_exit_and_runs(tmp_path: Path) -> None:
    """Started again while the first one quits (its gateway drains for up to 5 s): the first must not
    answer "shown", or the second exits too and nothing is left running."""
    results: dict[str, Any] = {}
    done = threading.Event()

    def scenario(window: FakeWindow) -> None:
        try:
            rig.shell.quit()
            second = Rig(tmp_path, scenario=lambda w: second.shell.quit())  # same user-data folder
            results["second_code"] = second.run()
            results["second_is_the_instance"] = bool(second.webview.windows)
            results["first_shown"] = window.visible
        finally:
            done.set()

    rig = Rig(tmp_path, scenario=scenario)
    assert rig.run() == 0
    assert done.wait(30), "the second start never finished"
    assert results == {"second_code": 0, "second_is_the_instance": True, "first_shown": False}


def test_quit_hides_the_tray_icon_before_anything_else(tmp_path: Path) -> None:
    """pystray's GTK backends hide the icon from the GUI loop, which ends with the window: hidden any
    later, the icon stayed (its menu dead) while the gateway drained."""
    seen: dict[str, Any] = {}

    def scenario(window: FakeWindow) -> None:
        destroy = window.destroy

        def destroy_noting_the_icon() -> None:
            seen["icon_at_destroy"] = (rig.icon.visible, rig.icon.stopped)
            destroy()
        window.destroy = destroy_noting_the_icon  # type: ignore[method-assign]
        images = len(rig.icon.images)
        rig.icon.choose("Quit")
        seen["redrawn_after_quit"] = len(rig.icon.images) != images

    rig = Rig(tmp_path, scenario=scenario)
    assert rig.run() == 0
    assert seen == {"icon_at_destroy": (False, True), "redrawn_after_quit": False}


def test_show_asked_before_the_window_exists_creates_it_visible(tmp_path: Path) -> None:
    rig = Rig(tmp_path, scenario=lambda w: rig.shell.quit())
    rig.shell.show_window()
    assert rig.run() == 0
    assert rig.window.kwargs["hidden"] is False


def test_windows_path(tmp_path: Path) -> None:
    """Windows: WebView2 through pywebview's edgechromium, the msvcrt lock, pystray's win32 icon."""
    msvcrt = FakeMsvcrt()
    started = threading.Event()

    def scenario(window: FakeWindow) -> None:
        started.set()
        rig.icon.click()
        rig.icon.choose("Quit")

    rig = Rig(tmp_path, scenario=scenario, platform="win32", os_lock=WindowsLock(msvcrt))
    assert rig.run() == 0
    assert started.is_set() and rig.webview.start_kwargs is not None
    assert rig.webview.start_kwargs["gui"] == "edgechromium"
    assert rig.icon.stopped  # win32: stopping ends pystray's message-loop thread
    assert msvcrt.held == {} and any(call[0] == msvcrt.LK_NBLCK for call in msvcrt.calls)
    env: dict[str, str] = {}
    assert choose_backend("win32", env, sni_host=lambda: False, appindicator_installed=lambda: False) == "win32"


@pytest.mark.parametrize(("before", "message", "closed"), [
    (["SC_CLOSE"], "WM_QUERYENDSESSION", True),  # the session ends after the window was closed to the tray
    ([], "WM_CLOSE", True),  # Task Manager's End task
    # WinForms keeps UserClosing once the title bar closed the window: a bare WM_CLOSE reads as the user's
    # again, and only hides the window (as the README says).
    (["SC_CLOSE"], "WM_CLOSE", False),
])
def test_windows_session_end_is_not_refused(tmp_path: Path, before: list[str], message: str, closed: bool) -> None:
    """Windows ends the session (or Task Manager's End task closes the app): the window that hides to the
    tray on a user's close lets this close through — pywebview cancels it after the closing handler kept the
    window, and a cancelled close holds up the shutdown — and the app stops cleanly. A user's close before
    it still only hid the window."""
    closes: list[bool] = []

    def scenario(window: FakeWindow) -> None:
        assert window.native is not None
        for earlier in before:
            closes.append(window.native.close(earlier))
            closes.append(window.visible)
        closes.append(window.native.close(message))
        if not closes[-1]:
            rig.icon.choose("Quit")

    msvcrt = FakeMsvcrt()
    rig = Rig(tmp_path, scenario=scenario, platform="win32", os_lock=WindowsLock(msvcrt), start_hidden=False)
    assert rig.run() == 0
    assert rig.webview.scenario_error is None
    assert closes == [False, False] * len(before) + [closed]
    assert rig.icon.stopped and msvcrt.held == {}  # stopped as on Quit: tray gone, instance lock released


@pytest.mark.parametrize(("platform", "shown"), [("win32", "R&&D <EU> Relay"), ("linux", "R&D <EU> Relay")])
def test_an_ampersand_in_a_name_shows_as_one_in_the_tray_menu(tmp_path: Path, platform: str, shown: str) -> None:
    """Windows menus take "&" as the mark of a keyboard shortcut: written "&&" there, the name shows as it
    is; the other backends show the text as given."""
    paths = Paths(tmp_path / "ud")
    write_config(paths, {"a": {"base_url": _closed_port_url(), "display_name": "R&D <EU> Relay"}})
    seen: dict[str, Any] = {}

    def scenario(window: FakeWindow) -> None:
        icon = rig.icon
        seen["labels"] = icon.labels()
        submenu = icon.item("Preferred provider").submenu
        seen["preferred"] = [i.text for i in submenu.items] if submenu is not None else []
        icon.choose("Quit")

    rig = Rig(tmp_path, scenario=scenario, platform=platform,
              os_lock=WindowsLock(FakeMsvcrt()) if platform == "win32" else None)
    assert rig.run() == 0
    assert seen["labels"][0] == f"{shown} · serving" and seen["labels"][3] == f"{shown} ○ not used yet"
    assert seen["preferred"] == [shown]
    assert "Routing" in seen["labels"] and "Automatic" in seen["labels"]


@pytest.mark.parametrize("env, sni, appindicator, expected", [
    ({}, False, True, "gtk"),             # XEmbed tray (trayer, XFCE, MATE): GTK icon, left click = Show
    ({}, True, True, "appindicator"),     # StatusNotifier host (KDE, GNOME + extension)
    ({}, True, False, "gtk"),             # no AppIndicator typelib installed
    ({"PYSTRAY_BACKEND": "gtk"}, True, True, None),  # the user's choice stays
    ({"PYSTRAY_BACKEND": "appindicator"}, False, True, None),
    ({"PYSTRAY_BACKEND": "xorg"}, True, True, "appindicator"),  # an icon without the menu: not taken
    ({"PYSTRAY_BACKEND": "xorg"}, False, True, "gtk"),
])
def test_linux_tray_backend_choice(env: dict[str, str], sni: bool, appindicator: bool, expected: str | None) -> None:
    assert choose_backend("linux", env, sni_host=lambda: sni, appindicator_installed=lambda: appindicator) == expected


def test_an_icon_without_the_menu_is_not_left_to_pystray_elsewhere_either() -> None:
    env = {"PYSTRAY_BACKEND": "xorg"}
    assert choose_backend("darwin", env, sni_host=lambda: False, appindicator_installed=lambda: False) is None
    assert "PYSTRAY_BACKEND" not in env  # pystray's own choice, not the one without a menu


def test_window_addresses() -> None:
    assert window_url("127.0.0.1", 4000) == "http://127.0.0.1:4000/?desktop=1"
    assert window_url("0.0.0.0", 4000) == "http://127.0.0.1:4000/?desktop=1"
    assert window_url("localhost", 4000) == "http://127.0.0.1:4000/?desktop=1"
    assert window_url("::1", 4000) == "http://[::1]:4000/?desktop=1"
    # An address of its own (another loopback one, or allow_remote's LAN address) answers only there.
    assert window_url("127.0.0.2", 4000) == "http://127.0.0.2:4000/?desktop=1"
    assert window_url("192.168.1.5", 4000) == "http://192.168.1.5:4000/?desktop=1"
    assert window_url("fd00::5", 4000) == "http://[fd00::5]:4000/?desktop=1"
    assert window_url("fe80::1%eth0", 4000) == "http://[fe80::1%25eth0]:4000/?desktop=1"
    assert origin_of("http://127.0.0.1:4000/?desktop=1#/providers") == "http://127.0.0.1:4000"
    assert origin_of("https://evil.example/") != origin_of(window_url("127.0.0.1", 4000))
    assert origin_of(None) == ""
    assert gui_for("win32") == "edgechromium" and gui_for("linux") == "gtk"


def test_quit_lets_an_in_flight_stream_finish(tmp_path: Path) -> None:
    """Quit while Codex is mid-stream: the stream completes (within the gateway's grace period)."""
    import json

    from tests.support.harness import simple_body, write_keys

    reply: dict[str, Any] = {}
    with fp.on_own_loop("p1") as fake:
        fake.always(fp.stream_ok("finished after quit", delay=0.25, deltas=6))
        paths = Paths(tmp_path / "ud")
        write_config(paths, {"p1": fake})
        write_keys(paths, {"p1": "sk-test-p1-0123456789"}, token="ao_" + "2" * 32)

        def stream(url: str) -> None:
            request = urllib.request.Request(url + "/v1/responses",
                                             data=json.dumps({**simple_body(), "stream": True}).encode(),
                                             headers={"Authorization": "Bearer ao_" + "2" * 32,
                                                      "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=20) as resp:
                reply["status"], reply["body"] = resp.status, resp.read().decode()

        def scenario(window: FakeWindow) -> None:
            client = threading.Thread(target=stream, args=(window.url.split("/?")[0],))  # type: ignore[union-attr]
            client.start()
            wait_for(lambda: fake.calls == 1, 10, "the request to reach the provider")
            reply["streaming_at_quit"] = client.is_alive()
            rig.icon.choose("Quit")
            client.join(20)

        rig = Rig(tmp_path, scenario=scenario)
        assert rig.run() == 0
    assert reply["streaming_at_quit"] and reply["status"] == 200
    assert "response.completed" in reply["body"] and "quit" in reply["body"]


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # nobody listens once closed


def _status(base: str, token: str) -> dict[str, Any]:
    import json

    request = urllib.request.Request(base + "/status", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def test_tray_menu_routes_copies_and_notifies(tmp_path: Path) -> None:
    """The tray alone: lock to a provider and back to automatic, pick the preferred one, copy the
    base URL and the token; every provider failing turns the icon to error and sends one
    notification, whose click opens the window on the dashboard."""
    import json

    from tests.support.harness import simple_body, write_keys

    token = "ao_" + "3" * 32
    paths = Paths(tmp_path / "ud")
    dead = _closed_port_url()
    write_config(paths, {"a": {"base_url": dead, "display_name": "Relay A"},
                         "b": {"base_url": dead, "display_name": "Relay B"},
                         "c": {"base_url": dead, "display_name": "Relay C", "disabled": True}})
    write_keys(paths, {"a": "sk-test-a-0123456789", "b": "sk-test-b-0123456789"}, token=token)
    seen: dict[str, Any] = {}

    def scenario(window: FakeWindow) -> None:
        base = window.url.split("/?")[0]  # type: ignore[union-attr]
        icon = rig.icon
        assert icon.labels()[:5] == ["Relay A · serving", "Routing", "Automatic", "Relay A ○ not used yet",
                                     "Relay B ○ not used yet"]
        assert icon.item("Relay C", prefix=True).enabled is False
        assert icon.item("Relay A · serving").enabled is False and icon.item("Automatic").checked
        icon.choose("Relay B ○", prefix=True)
        seen["locked"] = wait_for(lambda: _status(base, token)["manual_override"], 5, "the lock")
        # (a label check: item() raises when the entry is not there yet, which would end the wait at once)
        wait_for(lambda: "Relay B · locked" in icon.labels(), 5, "the state line to follow")
        assert icon.item("Relay B · locked").enabled is False
        seen["b_checked"] = icon.item("Relay B ○", prefix=True).checked and not icon.item("Automatic").checked
        icon.choose("Automatic")
        seen["unlocked"] = wait_for(lambda: _status(base, token)["manual_override"] is None, 5, "the unlock")
        submenu = icon.item("Preferred provider").submenu
        assert submenu is not None and [i.text for i in submenu.items] == ["Relay A", "Relay B", "Relay C"]
        next(i for i in submenu.items if i.text == "Relay B")()
        seen["preferred"] = wait_for(lambda: _status(base, token)["preferred_provider"] == "b", 5, "preferred b")
        icon.choose("Copy base URL")
        icon.choose("Copy gateway token")
        wait_for(lambda: len(rig.copied) == 2, 5, "two copies")
        seen["copied"] = list(rig.copied)
        images_before = len(icon.images)
        request = urllib.request.Request(base + "/v1/responses", data=json.dumps(simple_body()).encode(),
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=20)
        except urllib.error.HTTPError as exc:
            seen["status_code"] = exc.code
        wait_for(lambda: icon.image == "IMG-error", 5, "the error icon")
        seen["new_images"] = icon.images[images_before:]
        seen["tooltip"] = icon.title
        notifier = rig.notifiers[0]
        wait_for(lambda: notifier.sent, 5, "a notification")
        seen["notices"] = [(n.kind, n.title) for n in notifier.sent]
        notifier.click()
        wait_for(lambda: window.visible, 5, "the click to show the window")
        seen["script"] = window.scripts[-1]
        rig.icon.choose("Quit")

    rig = Rig(tmp_path, scenario=scenario)
    assert rig.run() == 0
    assert seen["locked"] == "b" and seen["b_checked"] and seen["unlocked"] and seen["preferred"]
    url, copied_token = seen["copied"]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1") and url != dead and copied_token == token
    assert seen["status_code"] == 502
    assert seen["new_images"] == ["IMG-error"]  # one swap, straight to error
    assert seen["tooltip"] == "all providers down · 1 request today"
    assert seen["notices"] == [("all_down", "All providers down")]
    assert seen["script"] == 'window.location.hash = "#/"'
    assert rig.notifiers[0].closed


def _following(item: Any, autostart: bool) -> None:
    """``follow_autostart`` at the start of a run with ``[ui] autostart`` as given (then stopped)."""
    config = SimpleNamespace(current=SimpleNamespace(ui=SimpleNamespace(autostart=autostart)), listeners=[])
    stop = follow_autostart(SimpleNamespace(autostart=item, config=config, emit=lambda *a: None))  # type: ignore[arg-type]
    assert len(config.listeners) == 1
    stop()
    assert config.listeners == []


def test_autostart_setting_is_honoured_at_start(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    item = rig.backends.autostart(rig.paths.user_data)
    _following(item, False)
    assert not item.installed()  # off (the key missing in today's config: its default)
    _following(item, True)
    assert item.installed() and str(rig.paths.user_data) in Path(item.location()).read_text()
    _following(item, False)
    assert item.installed()  # false: the OS state is left alone


def test_autostart_edited_in_config_toml_while_running_is_applied(tmp_path: Path) -> None:
    """A hand edit of ``[ui] autostart`` while the app runs installs / removes the login item; at
    start, ``false`` leaves an existing item alone (only a change acts)."""
    seen: dict[str, Any] = {}

    def edit(autostart: str) -> None:
        text = rig.paths.config.read_text()
        text = text.replace("\nautostart = true\n", "\n").replace("\nautostart = false\n", "\n")
        rig.paths.config.write_text(text.replace("start_hidden = true\n", f"start_hidden = true\nautostart = {autostart}\n"))

    def picked_up(edits: int) -> None:
        """Wait until the app has read ``edits`` hand edits (each is an event)."""
        def count() -> int:
            with sqlite3.connect(rig.paths.store) as db:
                (n,) = db.execute("SELECT count(*) FROM events WHERE message LIKE 'config.toml was edited%'").fetchone()
            db.close()
            return int(n)
        wait_for(lambda: count() >= edits, 10, f"hand edit {edits} to be picked up")

    def scenario(window: FakeWindow) -> None:
        seen["kept_at_start"] = item.installed()
        edit("false")  # false -> false is no change: the item stays
        picked_up(1)
        seen["kept_after_same_value"] = item.installed()
        edit("true")  # the item is there and up to date: nothing to do, but the change is seen
        picked_up(2)
        seen["kept_after_true"] = item.up_to_date()
        edit("false")
        seen["removed"] = wait_for(lambda: not item.installed(), 10, "the login item to be removed")
        edit("true")
        seen["installed"] = wait_for(item.up_to_date, 10, "the login item to be installed")
        rig.shell.quit()

    rig = Rig(tmp_path, scenario=scenario)
    item = rig.backends.autostart(rig.paths.user_data)
    item.enable()
    assert rig.run() == 0
    assert seen == {"kept_at_start": True, "kept_after_same_value": True, "kept_after_true": True, "removed": True,
                    "installed": True}
    assert str(rig.paths.user_data) in Path(item.location()).read_text()
    with sqlite3.connect(rig.paths.store) as db:
        events = [m for (m,) in db.execute("SELECT message FROM events WHERE message LIKE 'Start with the system%' ORDER BY id")]
    db.close()
    assert events == [f"Start with the system is off: the login item {item.location()} was removed",
                      f"Start with the system is on: the login item is at {item.location()}"]


def test_a_login_item_the_os_refuses_is_told_to_the_one_who_clicked_the_tray(tmp_path: Path) -> None:
    """A file where the autostart folder should be: the tray's "Start with the system" cannot add the item,
    and the window may be closed — a notification says why (the log alone reaches nobody)."""
    seen: dict[str, Any] = {}

    def scenario(window: FakeWindow) -> None:
        rig.autostart_home.mkdir(parents=True, exist_ok=True)
        (rig.autostart_home / ".config").mkdir(exist_ok=True)
        (rig.autostart_home / ".config" / "autostart").write_text("not a folder")
        rig.icon.choose("Start with the system")
        notifier = rig.notifiers[0]
        seen["told"] = wait_for(lambda: notifier.sent, 10, "a notification")
        seen["notice"] = [(n.kind, n.title, n.message) for n in notifier.sent]
        rig.icon.choose("Quit")

    rig = Rig(tmp_path, scenario=scenario)
    assert rig.run() == 0
    assert seen["told"]
    (kind, title, message), = seen["notice"]
    assert kind == "action_failed" and title == "API Router could not do that"
    assert message.startswith("could not add the login item at ") and "autostart" in message, message


def test_the_tray_check_mark_follows_autostart_set_from_the_window(tmp_path: Path) -> None:
    """pystray (GTK) draws a check mark once per menu build: turning autostart on in Settings must
    rebuild the tray menu, or the tray shows the old state."""
    import json

    from tests.support.harness import write_keys

    token = "ao_" + "4" * 32
    paths = Paths(tmp_path / "ud")
    write_config(paths, {"a": {"base_url": _closed_port_url(), "display_name": "Relay A"}})
    write_keys(paths, {"a": "sk-test-a-0123456789"}, token=token)
    seen: dict[str, Any] = {}

    def scenario(window: FakeWindow) -> None:
        base = window.url.split("/?")[0]  # type: ignore[union-attr]
        icon = rig.icon
        assert icon.item("Start with the system").checked is False
        builds = icon.menu_updates
        request = urllib.request.Request(base + "/api/update_ui", data=json.dumps({"autostart": True}).encode(),
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()
        seen["rebuilt"] = wait_for(lambda: icon.menu_updates > builds, 10, "the menu to be rebuilt")
        seen["checked"] = icon.item("Start with the system").checked
        icon.choose("Quit")

    rig = Rig(tmp_path, scenario=scenario)
    assert rig.run() == 0
    assert seen["rebuilt"] and seen["checked"] is True


def test_the_error_page_names_what_set_the_port(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from api_router.desktop.shell import error_page
    from api_router.gateway.server import port_source

    rig = Rig(tmp_path, options=Options())  # no --port: the config's
    config = SimpleNamespace(current=SimpleNamespace(listen=SimpleNamespace(port=4000)), created=True)
    rt = SimpleNamespace(config=config, paths=rig.paths)
    # A first start in an empty folder writes the defaults, the port among them: still the default's doing.
    rig.paths.config.write_text("[listen]\nport = 4000\n")
    assert port_source(None, rt) == (f"the default port 4000 (this first start wrote it to {rig.paths.config}: "  # type: ignore[arg-type]
                                     "set another [listen] port there, or start with --port)")
    config.created = False
    source = port_source(None, rt)  # type: ignore[arg-type]
    assert source == f"[listen] port = 4000 in {rig.paths.config}"
    default = f"the default port 4000 (config.toml has no [listen] port: set one in {rig.paths.config}, or start with --port)"
    for written in ("[listen]\nhost = \"127.0.0.1\"\n", "[routing]\n", ""):  # the default port: no setting to blame
        rig.paths.config.write_text(written)
        assert port_source(None, rt) == default  # type: ignore[arg-type]
    rig.paths.config.unlink()
    assert port_source(None, rt) == default  # type: ignore[arg-type]
    rig.paths.config.write_text("[listen]\nport = 4000\n")
    assert port_source(4100, rt) == "the --port 4100 option of this start"  # type: ignore[arg-type]
    page = error_page("port 4000 on 127.0.0.1 is already in use", rig.paths, port_source=source, another_instance=True)
    assert "[listen] port = 4000 in" in page and "Another API Router is already listening" in page
    assert "Close this window to quit." in page


def test_refresh_usage_from_the_tray_shows_quota_and_notifies_when_low(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}
    with fp.on_own_loop("a") as fake:
        relay_with_usage(tmp_path, fake, used=920)

        def scenario(window: FakeWindow) -> None:
            icon = rig.icon
            assert icon.labels()[3] == "Relay A ○ not used yet"
            icon.choose("Refresh usage")
            seen["label"] = wait_for(lambda: icon.labels()[3] if "left" in icon.labels()[3] else None, 10,
                                     "the quota in the menu")
            notifier = rig.notifiers[0]
            wait_for(lambda: notifier.sent, 5, "the quota notification")
            seen["notice"] = (notifier.sent[0].kind, notifier.sent[0].title, notifier.sent[0].view)
            notifier.click()
            wait_for(lambda: window.visible, 5, "the window")
            seen["script"] = window.scripts[-1]
            rig.icon.choose("Quit")

        rig = Rig(tmp_path, scenario=scenario)
        assert rig.run() == 0
    assert len(fake.usage_requests) == 1
    assert seen["label"] == "Relay A — 8 % left ○ not used yet"
    assert seen["notice"] == ("quota_low", "Relay A: 8 % quota left", "#/usage")
    assert seen["script"] == 'window.location.hash = "#/usage"'


def test_a_thread_left_waiting_does_not_keep_the_process_alive() -> None:
    """pywebview's bridge threads can wait forever after Quit; the desktop entry exits anyway."""
    from api_router.desktop.shell import exit_if_threads_hang

    exits: list[int] = []
    mine: list[threading.Thread] = []

    def alive() -> list[threading.Thread]:  # the real default looks at every non-daemon thread
        return [t for t in mine if t.is_alive()]

    exit_if_threads_hang(0, grace=0.2, exit=exits.append, threads=alive)
    assert exits == []  # nothing left: a normal return
    release = threading.Event()
    waiting = threading.Thread(target=release.wait, name="pywebview-bridge-call", daemon=False)
    mine.append(waiting)
    waiting.start()
    try:
        exit_if_threads_hang(3, grace=0.2, exit=exits.append, threads=alive)
        assert exits == [3]
        exits.clear()
        threading.Timer(0.3, release.set).start()
        exit_if_threads_hang(0, grace=3.0, exit=exits.append, threads=alive)  # ends within the grace: waited for
        assert exits == [] and not waiting.is_alive()
    finally:
        release.set()
        waiting.join(2)


def test_on_macos_every_change_of_the_tray_icon_is_made_on_the_main_thread() -> None:
    """AppKit objects may be changed on the main thread only (recent macOS stops an app that sets a status
    item's menu or tooltip from another): with a main-thread caller, showing the icon, a new view (image,
    tooltip, menu), a menu refresh and the stop are queued to it — none happens on the caller's thread."""
    assert gui_caller("linux") is call_now and gui_caller("win32") is call_now
    queued: list[Callable[[], None]] = []

    def main_thread() -> None:
        while queued:
            queued.pop(0)()

    pystray = FakePystray()
    noop = lambda *args: None  # noqa: E731
    actions = TrayActions(open=noop, quit=noop, lock=noop, prefer=noop, refresh_usage=noop, copy_base_url=noop,
                          copy_token=noop)
    tray = Tray(pystray, lambda icon: f"image-{icon}", actions, tray_view(tray_status()), gui=queued.append)
    tray.start()
    icon = pystray.icons[0]
    icon.title = ""
    assert icon.running and not icon.visible  # pystray's own setup thread would have shown it
    main_thread()
    assert icon.visible and icon.title == tray.view.tooltip
    first_image = icon.image
    assert tray.show(tray_view(tray_status("down", "All providers down", manual_override="b")))
    assert (icon.image, icon.menu_updates) == (first_image, 0)
    main_thread()
    assert icon.image != first_image and icon.menu_updates == 1
    tray.refresh_menu()
    assert icon.menu_updates == 1
    main_thread()
    assert icon.menu_updates == 2
    tray.stop()
    assert not icon.stopped
    main_thread()
    assert icon.stopped and not icon.visible


def test_the_menu_is_built_early_only_for_the_gtk_backends(caplog: Any) -> None:
    """Building the native menu before the GUI loop runs is a GTK fix (tray.py, _menu_before_first_click);
    pystray's Windows backend builds its own on its own thread, with another signature: called there, it
    only logged a warning at every start."""
    from tests.desktop.fakes import FakeIcon

    class Win32Icon(FakeIcon):
        def _create_menu(self, descriptors: Any, callbacks: Any) -> Any:
            built.append(self.__module__)
            return "handle"

    class GtkIcon(Win32Icon):
        def _create_menu(self, descriptors: Any) -> Any:  # type: ignore[override]
            built.append(self.__module__)
            return "handle"

    Win32Icon.__module__, GtkIcon.__module__ = "pystray._win32", "pystray._gtk"
    noop = lambda *args: None  # noqa: E731
    actions = TrayActions(open=noop, quit=noop, lock=noop, prefer=noop, refresh_usage=noop, copy_base_url=noop,
                          copy_token=noop)
    for icon_class in (Win32Icon, GtkIcon):
        built: list[str] = []
        pystray = FakePystray()
        pystray.Icon = icon_class  # type: ignore[method-assign]
        with caplog.at_level("WARNING", logger="api_router.desktop.tray"):
            tray = Tray(pystray, lambda icon: f"image-{icon}", actions, tray_view(tray_status()))
            tray.start()
            tray.stop()
        assert built == ([] if icon_class is Win32Icon else ["pystray._gtk"])
        assert [r.getMessage() for r in caplog.records] == []


def test_the_macos_caller_runs_a_change_at_once_on_the_main_thread_and_queues_it_from_others(monkeypatch) -> None:
    """A change asked on the main thread (a menu action; the tray's stop once the run loop has ended, when
    nothing queued would ever run) is made at once; one from another thread goes to the main thread's queue."""
    import sys
    import types

    queued: list[Callable[[], None]] = []
    objc_tools = types.ModuleType("PyObjCTools")
    objc_tools.AppHelper = SimpleNamespace(callAfter=queued.append)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "PyObjCTools", objc_tools)
    gui = gui_caller("darwin")
    made: list[str] = []
    gui(lambda: made.append("main"))
    assert made == ["main"] and not queued
    worker = threading.Thread(target=gui, args=(lambda: made.append("worker"),))
    worker.start()
    worker.join(5)
    assert made == ["main"] and len(queued) == 1
    queued.pop()()
    assert made == ["main", "worker"]


def test_the_start_error_window_of_an_earlier_version_running_says_to_quit_it_not_to_change_folders():
    from api_router.composition import EarlierVersionRunning, StartupError
    from api_router.desktop.shell import startup_error_page

    earlier = startup_error_page(EarlierVersionRunning("API Router 0.1.0 answers on port 4000: <quit it>"))
    assert "Quit the other API Router" in earlier and "--user-data" not in earlier
    assert "&lt;quit it&gt;" in earlier  # the message is text, not markup
    folder = startup_error_page(StartupError("cannot write /x"))
    assert "--user-data" in folder and "Quit the other" not in folder


def test_loopback_joins_the_no_proxy_the_standard_library_reads_only_where_a_proxy_is_set() -> None:
    from api_router.desktop.window import keep_loopback_off_the_proxy

    untouched = {"PATH": "/bin", "no_proxy": "corp.example"}
    keep_loopback_off_the_proxy(untouched)
    assert untouched == {"PATH": "/bin", "no_proxy": "corp.example"}  # no proxy: nothing to keep off
    env = {"https_proxy": "http://proxy:3128", "NO_PROXY": "old.example", "no_proxy": " corp.example, localhost"}
    keep_loopback_off_the_proxy(env)  # the lower-case one is the one read: it is kept, and both spell it now
    assert env["no_proxy"] == env["NO_PROXY"] == "corp.example,localhost,127.0.0.1,::1"
    env = {"HTTP_PROXY": "http://proxy:3128"}
    keep_loopback_off_the_proxy(env)
    assert env["no_proxy"] == env["NO_PROXY"] == "127.0.0.1,localhost,::1"
