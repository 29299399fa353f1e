"""The tray as a user drives it, for real: Xvfb + trayer + a D-Bus session bus with a notification
service that records what it receives (tests/desktop/notification_service.py).

The menu is walked with the keyboard (GTK skips disabled entries and separators); where an entry
sits is computed from the same TrayView the app draws the menu from, fed with the app's /status.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api_router.desktop.autostart import parse_exec
from api_router.desktop.trayview import menu_labels, tray_view
from api_router.paths import Paths
from tests.desktop.app import ARTIFACTS, App, start_app
from tests.desktop.xsession import NotificationService, XSession, free_port, wait_for
from tests.support import fake_provider as fp
from tests.support.harness import simple_body, write_config, write_keys

pytestmark = pytest.mark.desktop

TOKEN = "ao_" + "7" * 32


@pytest.fixture
def notifications(xsession: XSession, tmp_path: Path) -> Iterator[NotificationService]:
    service = NotificationService.start(xsession.env, tmp_path / "notifications.jsonl")
    try:
        yield service
    finally:
        service.stop()


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there: connection refused


def two_providers(tmp_path: Path, port: int) -> Path:
    user_data = tmp_path / "user-data"
    paths = Paths(user_data)
    dead = dead_url()
    write_config(paths, {"relay_a": {"base_url": dead, "display_name": "Relay A"},
                         "relay_b": {"base_url": dead, "display_name": "Relay B"}},
                 listen={"port": port}, routing={"request_timeout_seconds": 3})
    write_keys(paths, {"relay_a": "sk-test-a-0123456789", "relay_b": "sk-test-b-0123456789"}, token=TOKEN)
    return user_data


def get_status(app: App) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{app.port}/status", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def position(app: App, label_prefix: str, *, with_autostart: bool = True) -> int:
    """Where the entry starting with ``label_prefix`` is for the keyboard (1 = first selectable)."""
    labels = menu_labels(tray_view(get_status(app)), with_autostart=with_autostart)
    selectable = [text for text, ok in labels if ok]
    matches = [i for i, text in enumerate(selectable, 1) if text.startswith(label_prefix)]
    assert matches, f"{label_prefix!r} not in {selectable}"
    return matches[0]


def choose(session: XSession, app: App, label_prefix: str, *, screenshot: str | None = None) -> None:
    pos = position(app, label_prefix)
    session.open_tray_menu()
    session.xdotool("key", "--delay", "80", *(["Down"] * pos))
    if screenshot:
        time.sleep(0.3)
        menus = session.popup_menus()
        session.screenshot(ARTIFACTS / screenshot)
        crop_menu(ARTIFACTS / screenshot, session, menus)
    session.xdotool("key", "Return")


def crop_menu(shot: Path, session: XSession, menus: list[Any]) -> None:
    """Also write <name>-crop.png: the tray icon and the menu below it (the README picture)."""
    from PIL import Image

    boxes = [(g.x, g.y, g.x + g.width, g.y + g.height) for g in [*menus, session.tray_icon()] if g is not None]
    with Image.open(shot) as opened:
        img = opened.convert("RGB")
        box = (max(0, min(b[0] for b in boxes) - 12), 0, min(img.width, max(b[2] for b in boxes)),
               min(img.height, max(b[3] for b in boxes) + 12))
        img.crop(box).save(shot.with_name(shot.stem + "-crop.png"))


def pixel_difference(a: Any, b: Any) -> float:
    """Mean colour distance per pixel (0-441) between two images of the same size."""
    assert a.size == b.size
    ba, bb = a.tobytes(), b.tobytes()
    n = len(ba) // 3
    return sum(sum((ba[3 * i + k] - bb[3 * i + k]) ** 2 for k in range(3)) ** 0.5 for i in range(n)) / n


def test_tray_menu_locks_routing_and_unlocks(xsession: XSession, tmp_path: Path, apps: list[App]) -> None:
    port = free_port()
    app = start_app(xsession, tmp_path, port, user_data=two_providers(tmp_path, port))
    apps.append(app)
    app.wait_healthy()
    wait_for(xsession.tray_icon, 15, "the tray icon")
    assert get_status(app)["manual_override"] is None

    choose(xsession, app, "Relay B", screenshot="tray-menu.png")
    wait_for(lambda: get_status(app)["manual_override"] == "relay_b", 10, "the lock on Relay B in /status")
    assert get_status(app)["summary"]["line"] == "Relay B · locked"

    time.sleep(3.5)  # the tray polls every 1.5 s: the menu shows the lock by now (two polls, and room)
    choose(xsession, app, "Automatic", screenshot="tray-menu-locked.png")
    wait_for(lambda: get_status(app)["manual_override"] is None, 10, "automatic routing in /status")

    choose(xsession, app, "Preferred provider")  # opens the submenu: Relay A, Relay B
    xsession.xdotool("key", "--delay", "80", "Right", "Down", "Return")  # Right enters it on Relay A
    wait_for(lambda: get_status(app)["preferred_provider"] == "relay_b", 10, "Relay B preferred in /status")

    xsession.tray_menu_last()  # Quit
    assert app.wait_exit() == 0, app.log()


def test_every_provider_failing_changes_the_icon_and_notifies(xsession: XSession, tmp_path: Path, apps: list[App],
                                                              notifications: NotificationService) -> None:
    port = free_port()
    app = start_app(xsession, tmp_path, port, user_data=two_providers(tmp_path, port))
    apps.append(app)
    app.wait_healthy()
    wait_for(xsession.tray_icon, 15, "the tray icon")
    time.sleep(3.5)  # a poll or two in the normal state (1.5 s apart, with room for a slow machine)
    before = xsession.tray_icon_image()

    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/responses", data=json.dumps(simple_body()).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(request, timeout=30)
    assert failed.value.code == 502
    assert get_status(app)["summary"]["state"] == "down"

    note = notifications.wait_for(lambda n: n["summary"] == "All providers down", 10, "the all-down notification")
    assert note["app_name"] == "API Router" and "Relay A" in note["body"] and "Relay B" in note["body"]
    assert note["actions"] == ["default", "Open API Router"] and note["hints"]["urgency"] == 2
    assert note["sender"]  # it came over the bus, from the app

    def changed() -> float:
        diff = pixel_difference(before, xsession.tray_icon_image())
        return diff if diff > 20 else 0.0
    diff = wait_for(changed, 10, "the tray icon to change")
    xsession.screenshot(ARTIFACTS / "tray-error-icon.png")
    assert diff > 20
    assert len([n for n in notifications.received() if n["summary"] == "All providers down"]) == 1

    # Clicking the notification opens the window on the dashboard.
    assert not xsession.window_visible()
    notifications.click(note["id"])
    wait_for(xsession.window_visible, 15, "the notification click to show the window")
    wait_for(lambda: "opening the window on #/" in app.log(), 5, "the view in the log")

    xsession.tray_menu_last()
    assert app.wait_exit() == 0, app.log()
    assert "Traceback" not in app.log(), app.log()


def read_clipboard(session: XSession) -> str:
    script = ("import gi; gi.require_version('Gtk', '3.0'); gi.require_version('Gdk', '3.0');"
              "from gi.repository import Gtk, Gdk;"
              "print(Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD).wait_for_text() or '', end='')")
    result = subprocess.run([sys.executable, "-c", script], env=session.env, capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_autostart_and_copy_from_the_tray(xsession: XSession, tmp_path: Path, apps: list[App]) -> None:
    port = free_port()
    config_home = tmp_path / "xdg-config"
    app = start_app(xsession, tmp_path, port, user_data=two_providers(tmp_path, port),
                    extra_env={"XDG_CONFIG_HOME": str(config_home)})
    apps.append(app)
    app.wait_healthy()
    wait_for(xsession.tray_icon, 15, "the tray icon")
    desktop_file = config_home / "autostart" / "api-router.desktop"
    assert not desktop_file.exists()

    choose(xsession, app, "Start with the system")
    wait_for(desktop_file.is_file, 10, "the autostart .desktop file")
    exec_line = next(line for line in desktop_file.read_text().splitlines() if line.startswith("Exec="))
    argv = parse_exec(exec_line[len("Exec="):])
    assert argv[-2:] == ["--user-data", str(app.user_data)] and "--show" not in argv
    # What the session manager will run at login starts this app: here it finds it running.
    login = subprocess.run(argv, env=app.env, capture_output=True, text=True, timeout=30)
    assert login.returncode == 0 and "already running" in login.stderr, login.stderr
    wait_for(xsession.window_visible, 10, "the login item's start to show the window")
    xsession.close_until(xsession.app_windows()[0].wid, lambda: not xsession.window_visible())

    choose(xsession, app, "Start with the system")  # checked now: turns it off
    wait_for(lambda: not desktop_file.exists(), 10, "the .desktop file to be removed")

    choose(xsession, app, "Copy base URL")
    wait_for(lambda: read_clipboard(xsession) == f"http://127.0.0.1:{port}/v1", 10, "the base URL on the clipboard")
    choose(xsession, app, "Copy gateway token")
    wait_for(lambda: read_clipboard(xsession) == TOKEN, 10, "the token on the clipboard")

    xsession.tray_menu_last()
    assert app.wait_exit() == 0, app.log()


def test_second_instance_on_the_same_port_leaves_no_second_tray_icon(xsession: XSession, tmp_path: Path,
                                                                     apps: list[App]) -> None:
    port = free_port()
    first = start_app(xsession, tmp_path, port, name="first")
    apps.append(first)
    first.wait_healthy()
    wait_for(lambda: len(xsession.tray_icons()) == 1, 15, "the first tray icon")
    second = start_app(xsession, tmp_path, port, user_data=tmp_path / "other-user-data", name="second")
    apps.append(second)
    wait_for(xsession.window_visible, 30, "the second one's error window")
    time.sleep(1.5)  # a tray icon would have appeared by now
    assert len(xsession.tray_icons()) == 1, "the failed second start must not add a tray icon"
    assert second.proc.poll() is None
    text = (second.user_data / "data" / "api-router.log").read_text()
    assert f"port {port} on 127.0.0.1 is already in use" in text and "another API Router serves this port" in text
    xsession.screenshot(ARTIFACTS / "desktop-second-instance.png")
    xsession.close_until(xsession.app_windows()[0].wid, lambda: second.proc.poll() is not None)  # no tray: quits
    assert second.wait_exit() == 0, second.log()
    xsession.tray_menu_last()
    assert first.wait_exit() == 0, first.log()


# --- regressions: a rename, a lock and a failure in one poll, markup, a start during Quit -------------

# Failures stay failures for the whole test: no cooldown ends and no background check answers meanwhile.
STEADY_ROUTING = {"request_timeout_seconds": 3, "failure_threshold": 1, "cooldown_seconds": 300,
                  "check_interval_seconds": 300}


@pytest.fixture
def upstream() -> Iterator[fp.FakeProvider]:
    """A provider that answers (the app reaches it over loopback), on an event loop of its own."""
    with fp.on_own_loop("up") as fake:
        yield fake


def user_data_with(tmp_path: Path, port: int, providers: dict[str, dict[str, str]],
                   routing: dict[str, Any] | None = None) -> Path:
    user_data = tmp_path / "user-data"
    paths = Paths(user_data)
    write_config(paths, providers, listen={"port": port}, routing=routing or STEADY_ROUTING)
    write_keys(paths, {pid: f"sk-test-{pid}-0123456789" for pid in providers}, token=TOKEN)
    return user_data


def call(app: App, method: str, **kwargs: Any) -> dict[str, Any]:
    """A control API call, as the window makes it."""
    request = urllib.request.Request(f"http://127.0.0.1:{app.port}/api/{method}", data=json.dumps(kwargs).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def ask(app: App, timeout: float = 30) -> int:
    """One request as Codex makes it; its HTTP status."""
    request = urllib.request.Request(f"http://127.0.0.1:{app.port}/v1/responses", data=json.dumps(simple_body()).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_renaming_the_serving_fallback_sends_no_second_failover(
        xsession: XSession, tmp_path: Path, apps: list[App], notifications: NotificationService,
        upstream: fp.FakeProvider) -> None:
    port = free_port()
    app = start_app(xsession, tmp_path, port, user_data=user_data_with(tmp_path, port, {
        "relay_a": {"base_url": dead_url(), "display_name": "Relay A"},
        "relay_b": {"base_url": upstream.base_url, "display_name": "Relay B"}}))
    apps.append(app)
    app.wait_healthy()
    wait_for(xsession.tray_icon, 15, "the tray icon")
    time.sleep(3.5)  # the tray's first status is its baseline (a poll every 1.5 s, with room)
    assert ask(app) == 200  # Relay A refuses the connection: Relay B serves
    notifications.wait_for(lambda n: n["summary"] == "Failover to Relay B", 10, "the failover notification")

    call(app, "rename_provider", provider="relay_b", new_id="relay_b2")
    assert get_status(app)["summary"]["provider"] == "relay_b2"
    time.sleep(5)  # two polls of the tray at least, with room for a slow machine
    assert [n["summary"] for n in notifications.received()] == ["Failover to Relay B"]

    xsession.tray_menu_last()
    assert app.wait_exit() == 0, app.log()


def test_the_locked_provider_failing_right_after_the_lock_is_announced_escaped(
        xsession: XSession, tmp_path: Path, apps: list[App]) -> None:
    """The lock and the failure within one poll of the tray (1.5 s): "All providers down" is sent all
    the same. The service reads the body as markup (body-markup), as most desktops' do: the provider's
    name "R&D <EU> Relay" reaches it escaped, and the summary as it is."""
    service = NotificationService.start(xsession.env, tmp_path / "notifications.jsonl",
                                        capabilities="actions,body,body-markup")
    try:
        port = free_port()
        app = start_app(xsession, tmp_path, port, user_data=user_data_with(tmp_path, port, {
            "relay_a": {"base_url": dead_url(), "display_name": "Relay A"},
            "relay_b": {"base_url": dead_url(), "display_name": "R&D <EU> Relay"}}))
        apps.append(app)
        app.wait_healthy()
        wait_for(xsession.tray_icon, 15, "the tray icon")
        time.sleep(3.5)  # the tray's first status is its baseline (a poll every 1.5 s, with room)
        call(app, "set_manual_override", provider="relay_b")
        assert ask(app) == 502  # a few milliseconds after the lock
        note = service.wait_for(lambda n: n["summary"] == "All providers down", 10, "the all-down notification")
        assert "R&amp;D &lt;EU&gt; Relay" in note["body"] and "R&D <EU>" not in note["body"], note["body"]
        xsession.tray_menu_last()
        assert app.wait_exit() == 0, app.log()
    finally:
        service.stop()


def test_quit_hides_the_icon_at_once_and_a_start_meanwhile_runs_once_it_is_gone(
        xsession: XSession, tmp_path: Path, apps: list[App], upstream: fp.FakeProvider) -> None:
    """Quit while a request waits for its provider: the gateway drains for up to 5 s. The icon goes
    at once (not after the drain, with a dead menu meanwhile), and starting API Router again during
    those seconds leaves it running (not "already running" from the one that is quitting)."""
    upstream.always(fp.hang(60))
    port = free_port()
    user_data = user_data_with(tmp_path, port, {"relay_a": {"base_url": upstream.base_url, "display_name": "Relay A"}},
                               routing={"request_timeout_seconds": 60, "hedge": False})
    first = start_app(xsession, tmp_path, port, user_data=user_data, name="first")
    apps.append(first)
    first.wait_healthy()
    wait_for(xsession.tray_icon, 15, "the tray icon")
    threading.Thread(target=ask, args=(first, 60), daemon=True).start()
    wait_for(lambda: upstream.calls == 1, 10, "the request to reach the provider")

    xsession.tray_menu_last()  # Quit
    wait_for(lambda: xsession.tray_icon() is None, 2.5, "the tray icon to go at Quit")
    assert first.proc.poll() is None, "the first one should still be draining its gateway"
    second = start_app(xsession, tmp_path, port, user_data=user_data, name="second")
    apps.append(second)
    assert first.wait_exit() == 0, first.log()
    second.wait_healthy()
    wait_for(xsession.tray_icon, 15, "the second one's tray icon")
    assert second.proc.poll() is None, second.log()
    xsession.tray_menu_last()
    assert second.wait_exit() == 0, second.log()


def test_quit_is_not_held_up_by_a_notification_service_that_never_answers(
        xsession: XSession, tmp_path: Path, apps: list[App], upstream: fp.FakeProvider) -> None:
    """A service that takes the notification name and answers nothing: the icon shows, and Quit ends
    the process in moments — pystray's own notifier, which never showed anything, is not asked to hide
    (D-Bus would wait 25 s for that answer)."""
    service = NotificationService.start(xsession.env, tmp_path / "silent.jsonl", capabilities="silent")
    try:
        port = free_port()
        user_data = user_data_with(tmp_path, port, {"relay_a": {"base_url": upstream.base_url,
                                                                "display_name": "Relay A"}})
        app = start_app(xsession, tmp_path, port, user_data=user_data)
        apps.append(app)
        app.wait_healthy()
        wait_for(xsession.tray_icon, 15, "the tray icon")
        quit_at = time.monotonic()
        xsession.tray_menu_last()  # Quit
        assert app.wait_exit(timeout=30) == 0, app.log()
        assert time.monotonic() - quit_at < 10, app.log()
    finally:
        service.stop()
