"""Tray actions the existing shell tests leave open (README "The tray"): found by mutation testing of
desktop/traycontrol.py. Runs the real DesktopShell with pywebview and pystray replaced at their seams,
as tests/desktop/test_shell.py does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from api_router.desktop.autostart import system_autostart
from api_router.desktop.shell import Backends, DesktopShell, Options
from api_router.paths import Paths
from tests.desktop.fakes import FakePystray, FakeWebview, FakeWindow, RecordingNotifier, relay_with_usage, usage_reading
from tests.desktop.xsession import wait_for
from tests.support import fake_provider as fp
from tests.support.harness import write_config, write_keys


def _shell(tmp_path: Path, paths: Paths, scenario: Callable[[FakeWindow], None],
           notifiers: list[RecordingNotifier] | None = None) -> tuple[DesktopShell, FakeWebview, FakePystray]:
    webview, pystray = FakeWebview(scenario), FakePystray()
    made = notifiers if notifiers is not None else []

    def notifier(on_click: Callable[[str], None], icon: Any) -> RecordingNotifier:
        made.append(RecordingNotifier(on_click, icon))
        return made[-1]

    backends = Backends(platform="linux", webview=webview, pystray=pystray,
                        tray_images=lambda state: f"IMG-{state}", icon_path="/icons/icon.png",
                        tray_host_present=lambda: True,
                        notifier=notifier,
                        copy_text=lambda text: None,
                        autostart=lambda user_data: system_autostart(
                            "linux", user_data=user_data, env={}, home=tmp_path / "home",
                            command=["api-router-test", "--user-data", str(user_data)]))
    shell = DesktopShell(paths, Options(port=0), lambda: backends, handoff_wait=3, install_signals=False,
                         configure_logging=lambda rt: None)
    return shell, webview, pystray


def test_refresh_usage_works_again_after_a_refresh_has_ended(tmp_path: Path) -> None:
    """README: "Refresh usage — checks every provider's usage panel now": every time it is chosen (a click
    while a check is still running may be folded into it, but one after it has ended is a new check)."""
    seen: dict[str, Any] = {}
    with fp.on_own_loop("a") as fake:
        paths = relay_with_usage(tmp_path, fake, used=500)
        with paths.config.open("a") as fh:
            fh.write("\n[ui]\nstart_hidden = true\n")

        def scenario(window: FakeWindow) -> None:
            icon = pystray.icons[0]
            icon.choose("Refresh usage")
            wait_for(lambda: "50 % left" in icon.labels()[3], 10, "the first reading in the menu")
            fake.usage = usage_reading(used=700)

            def again() -> bool:
                icon.choose("Refresh usage")  # folded into a check still under way; a new one once it has ended
                return "30 % left" in icon.labels()[3]
            seen["second"] = wait_for(again, 10, "a second refresh to read the new share", interval=0.5)
            icon.choose("Quit")

        shell, webview, pystray = _shell(tmp_path, paths, scenario)
        assert shell.run() == 0
        if webview.scenario_error is not None:
            raise webview.scenario_error
    assert seen["second"] and len(fake.usage_requests) >= 2


def test_a_notification_kind_switched_off_in_config_is_not_sent_by_the_tray(tmp_path: Path) -> None:
    """README: `[ui] notify_all_down = true` — "tray notifications, each kind can be turned off": the tray
    reads the setting; every provider failing with it off turns the icon to error and sends nothing."""
    import json
    import socket
    import time
    import urllib.error
    import urllib.request

    from tests.support.harness import simple_body

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # closed once the with ends: nothing listens
    token = "ao_" + "5" * 32
    paths = Paths(tmp_path / "ud")
    write_config(paths, {"a": {"base_url": dead, "display_name": "Relay A"}})
    with paths.config.open("a") as fh:
        fh.write("\n[ui]\nstart_hidden = true\nnotify_all_down = false\n")
    write_keys(paths, {"a": "sk-test-a-0123456789"}, token=token)
    seen: dict[str, Any] = {}
    notifiers: list[RecordingNotifier] = []

    def scenario(window: FakeWindow) -> None:
        base = window.url.split("/?")[0]  # type: ignore[union-attr]
        icon = pystray.icons[0]
        request = urllib.request.Request(base + "/v1/responses", data=json.dumps(simple_body()).encode(),
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=20)
        except urllib.error.HTTPError as exc:
            seen["status_code"] = exc.code
        wait_for(lambda: icon.image == "IMG-error", 5, "the error icon")
        time.sleep(3.5)  # two more polls of the tray: time for a notification to be sent, were it on
        seen["sent"] = [(n.kind, n.title) for n in notifiers[0].sent]
        icon.choose("Quit")

    shell, webview, pystray = _shell(tmp_path, paths, scenario, notifiers)
    assert shell.run() == 0
    if webview.scenario_error is not None:
        raise webview.scenario_error
    assert seen["status_code"] == 502
    assert seen["sent"] == []
