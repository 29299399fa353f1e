"""The real desktop app under X (Xvfb + D-Bus + trayer): what a user sees and clicks."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.desktop.app import ARTIFACTS, SOURCE_COMMAND, App, run_again, start_app
from tests.desktop.xsession import XSession, free_port, port_is_free, wait_for

pytestmark = pytest.mark.desktop


@pytest.fixture
def apps() -> Iterator[list[App]]:
    started: list[App] = []
    yield started
    for app in started:
        app.stop()


def check_lifecycle(session: XSession, app: App, *, screenshot: str | None = None, bridge: bool = True,
                    second_instance: bool = True) -> None:
    """Start hidden -> bridge -> tray Show -> close to tray -> second start -> tray Quit."""
    app.wait_healthy()
    wait_for(session.tray_icon, 15, "the tray icon")
    if bridge:
        result = app.hook_result()
        assert result.get("error") is None, result
        assert result["href"] == f"http://127.0.0.1:{app.port}/?desktop=1"
        assert result["status"] == {"version": result["status"]["version"], "port": app.port}
        assert result["ui"] == {"start_hidden": True}
        assert result["refused"] == "unknown provider 'no-such-provider'"
        assert {"get_status", "set_manual_override", "get_codex_setup"} <= set(result["methods"])
    assert session.app_windows(visible=False), "the window should exist, unmapped"
    assert not session.window_visible(), "the window must start hidden"

    session.click_tray(1)  # the GTK icon's default action: Show
    wait_for(session.window_visible, 10, "tray Show to map the window")
    if screenshot:
        time.sleep(0.5)  # let WebKit paint
        session.screenshot(ARTIFACTS / screenshot)

    session.close_window(session.app_windows()[0].wid)
    wait_for(lambda: not session.window_visible(), 10, "closing to hide the window")
    time.sleep(0.3)
    assert app.proc.poll() is None and app.health(), "closing the window must not stop the app"

    if second_instance:
        second = run_again(app)
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stderr
        wait_for(session.window_visible, 10, "the second start to show the first window")

    session.tray_menu(2)  # right-click menu: Show, Quit
    assert app.wait_exit() == 0, app.log()
    assert port_is_free(app.port), "the port must be free after Quit"
    assert not (app.user_data / "data" / "api-router.sqlite3-wal").exists(), "the store must be closed"
    wait_for(lambda: session.tray_icon() is None, 5, "the tray icon to go away")


def test_desktop_lifecycle(xsession: XSession, tmp_path: Path, apps: list[App]) -> None:
    app = start_app(xsession, tmp_path, free_port())
    apps.append(app)
    check_lifecycle(xsession, app, screenshot="desktop-window.png")


def test_port_in_use_opens_the_window_and_says_so(xsession: XSession, tmp_path: Path, apps: list[App]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        app = start_app(xsession, tmp_path, port)
        apps.append(app)
        wait_for(lambda: xsession.window_visible() or app.proc.poll() is not None, 30, "the error window")
        assert app.proc.poll() is None, app.log()
        time.sleep(0.5)
        xsession.screenshot(ARTIFACTS / "desktop-port-in-use.png")
        assert "is already in use" in (app.user_data / "data" / "api-router.log").read_text()
        xsession.tray_menu(2)
        assert app.wait_exit() == 0, app.log()


def test_lock_left_by_a_crash_does_not_block(xsession: XSession, tmp_path: Path, apps: list[App]) -> None:
    port = free_port()
    crashed = start_app(xsession, tmp_path, port, name="crashed")
    apps.append(crashed)
    crashed.wait_healthy()
    assert b'"show_port"' in (crashed.user_data / "data" / "instance.lock").read_bytes()
    os.killpg(crashed.proc.pid, signal.SIGKILL)  # the app and its WebKit helpers, like a crash
    crashed.proc.wait(10)
    wait_for(lambda: port_is_free(port), 10, "the port to be released")

    app = start_app(xsession, tmp_path, port, name="restarted")
    apps.append(app)
    app.wait_healthy()
    app.hook_result()  # the window is up
    app.proc.send_signal(signal.SIGTERM)  # also: SIGTERM quits cleanly
    assert app.wait_exit() == 0, app.log()
    assert port_is_free(port)


def test_headless_flag_needs_no_gui(xsession: XSession, tmp_path: Path, apps: list[App]) -> None:
    app = start_app(xsession, tmp_path, free_port(), extra_args=["--headless"])
    apps.append(app)
    app.wait_healthy()
    time.sleep(0.3)
    assert not xsession.app_windows(visible=False)
    app.proc.send_signal(signal.SIGINT)
    assert app.wait_exit() == 0, app.log()
    assert SOURCE_COMMAND  # the same command line as the desktop runs
