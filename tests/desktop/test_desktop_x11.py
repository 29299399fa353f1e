"""The real desktop app under X (Xvfb + D-Bus + trayer): what a user sees and clicks."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from api_router.paths import Paths
from tests.desktop.app import ARTIFACTS, SOURCE_COMMAND, App, check_lifecycle, start_app
from tests.desktop.xsession import XSession, free_port, port_is_free, wait_for
from tests.support.harness import write_config

pytestmark = pytest.mark.desktop


def test_desktop_lifecycle(xsession: XSession, tmp_path: Path, apps: list[App]) -> None:
    port = free_port()
    app = start_app(xsession, tmp_path, port)
    apps.append(app)
    check_lifecycle(xsession, app, screenshot="desktop-window.png")
    # As it starts it prints, and logs, where Codex connects and where the gateway token is.
    gateway_url, secrets = f"http://127.0.0.1:{port}/v1", Paths(app.user_data).secrets
    printed = app.output.read_text(errors="replace")
    assert f"Gateway URL:    {gateway_url}" in printed and f"Token stored in {secrets}" in printed, printed
    logged = (app.user_data / "data" / "api-router.log").read_text()
    assert f"gateway URL {gateway_url}; the gateway token is in {secrets}" in logged, logged


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
        log_text = (app.user_data / "data" / "api-router.log").read_text()
        assert f"port {port} on 127.0.0.1 is already in use" in log_text
        assert "gateway at http" not in log_text  # no address it never listened on
        xsession.tray_menu_last()
        assert app.wait_exit() == 0, app.log()


def test_lock_left_by_a_crash_does_not_block(xsession: XSession, tmp_path: Path, apps: list[App]) -> None:
    port = free_port()
    crashed = start_app(xsession, tmp_path, port, name="crashed")
    apps.append(crashed)
    crashed.wait_healthy()
    # The lock says how to reach the window once the window's channel is up, which may follow the
    # gateway's first answer (a second start meanwhile keeps asking for up to 10 s: claim_or_hand_off).
    lock = crashed.user_data / "data" / "instance.lock"
    wait_for(lambda: b'"show_port"' in lock.read_bytes(), 15, "the instance info in the lock file")
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


def test_a_second_stop_during_the_quit_drain_lets_the_request_in_flight_finish(xsession: XSession, tmp_path: Path,
                                                                              apps: list[App]) -> None:
    """SIGTERM quits; a Ctrl-C while the gateway drains (the GUI loop has ended) killed the app: pystray's GTK
    backend had set Ctrl-C back to the default, which the shell put back at the loop's end. The request in
    flight lost its answer and its row, and the store was not closed."""
    import http.server
    import json
    import sqlite3
    import threading
    import urllib.request

    from tests.support import fake_provider as fp
    from tests.support.harness import write_keys

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(2.5)
            body = json.dumps(fp.response_object("late but whole")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    user_data = tmp_path / "user-data"
    write_config(Paths(user_data), {"slow": f"http://127.0.0.1:{upstream.server_address[1]}/v1"})
    token = "ao_" + "5" * 32
    write_keys(Paths(user_data), {"slow": "sk-slow-0123456789"}, token=token)
    app = start_app(xsession, tmp_path, free_port(), user_data=user_data)
    apps.append(app)
    try:
        app.wait_healthy()
        wait_for(xsession.tray_icon, 15, "the tray icon")
        answer: dict[str, object] = {}

        def ask() -> None:
            request = urllib.request.Request(f"http://127.0.0.1:{app.port}/v1/responses", method="POST",
                                             data=json.dumps({"model": "m", "input": "hi"}).encode(),
                                             headers={"Authorization": f"Bearer {token}",
                                                      "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as reply:
                    answer["status"], answer["body"] = reply.status, reply.read()
            except Exception as exc:  # what a cut connection raises
                answer["error"] = repr(exc)

        asking = threading.Thread(target=ask)
        asking.start()
        time.sleep(0.5)
        app.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # the window is gone, the gateway drains
        app.proc.send_signal(signal.SIGINT)
        assert app.wait_exit() == 0, app.log()
        asking.join(30)
    finally:
        upstream.shutdown()
    assert answer.get("status") == 200 and b"late but whole" in answer.get("body", b""), answer  # type: ignore[operator]
    db = user_data / "data" / "api-router.sqlite3"
    assert sqlite3.connect(db).execute("SELECT status FROM request_log").fetchall() == [(200,)]
    assert "Traceback" not in app.log(), app.log()


def test_headless_flag_needs_no_gui(xsession: XSession, tmp_path: Path, apps: list[App]) -> None:
    app = start_app(xsession, tmp_path, free_port(), extra_args=["--headless"])
    apps.append(app)
    app.wait_healthy()
    time.sleep(0.3)
    assert not xsession.app_windows(visible=False)
    app.proc.send_signal(signal.SIGINT)
    assert app.wait_exit() == 0, app.log()
    assert SOURCE_COMMAND  # the same command line as the desktop runs


def test_an_export_from_the_window_is_saved_where_the_user_says(xsession: XSession, tmp_path: Path,
                                                              apps: list[App]) -> None:
    """The Requests page's exports go through save_export: the OS save dialog, then an atomic write."""
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    app = start_app(xsession, tmp_path, free_port(), extra_args=["--show"],
                    extra_env={"API_ROUTER_TEST_HOOK_DOWNLOAD": "1", "HOME": str(home)})
    apps.append(app)

    def save_dialog() -> int | None:
        found = xsession.xdotool("search", "--onlyvisible", "--name", "^Save file$", check=False).split()
        return int(found[0]) if found else None

    wid = wait_for(save_dialog, 30, "the save dialog")
    xsession.screenshot(ARTIFACTS / "desktop-save-dialog.png")
    # The suggested name in the suggested folder: what a user gets by pressing Enter.
    xsession.xdotool("windowfocus", "--sync", str(wid))
    xsession.xdotool("key", "--window", str(wid), "Return")
    result = app.hook_result(timeout=30)
    saved = home / "Downloads" / "api-router-requests.jsonl"
    assert result.get("error") is None and result["download"] == {"saved": str(saved), "rows": 0}, result
    assert saved.read_text() == ""  # a fresh app has logged no request
    xsession.tray_menu_last()
    assert app.wait_exit() == 0, app.log()
    assert "Traceback" not in app.log(), app.log()


def test_a_long_name_without_spaces_scrolls_no_page_sideways(xsession: XSession, tmp_path: Path,
                                                             apps: list[App]) -> None:
    """A 158-character display name without spaces, preferred and locked: its drop-downs cut it, and the
    window's page (WebKitGTK counted the chosen option's whole text as page width) keeps its width."""
    long_name = "azure_openai_eastus2_production_codex_relay_primary_pool_01_backup_westeurope_region_" * 2
    user_data = tmp_path / "user-data"
    write_config(Paths(user_data), {"a": "http://127.0.0.1:9/v1", "b": {
        "base_url": "http://127.0.0.1:9/v1", "display_name": long_name[:158]}},
        routing={"preferred_provider": "b", "manual_override": "b"})
    app = start_app(xsession, tmp_path, free_port(), user_data=user_data, extra_args=["--show"])
    apps.append(app)
    page = app.hook_result()["page"]
    assert page["scroll"] <= page["inner"], page
    xsession.tray_menu_last()
    assert app.wait_exit() == 0, app.log()


def test_quit_with_the_save_dialog_open_still_quits(xsession: XSession, tmp_path: Path, apps: list[App]) -> None:
    """An export's save dialog is open when the user quits from the tray: the dialog goes (cancelled, so
    nothing is saved), the gateway stops and the app exits — it stayed, serving, until the dialog was
    answered."""
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    port = free_port()
    app = start_app(xsession, tmp_path, port, extra_args=["--show"],
                    extra_env={"API_ROUTER_TEST_HOOK_DOWNLOAD": "1", "HOME": str(home)})
    apps.append(app)
    wait_for(lambda: xsession.xdotool("search", "--onlyvisible", "--name", "^Save file$", check=False).strip(),
             30, "the save dialog")
    xsession.tray_menu_last()
    assert app.wait_exit() == 0, app.log()
    assert port_is_free(port)
    assert not list((home / "Downloads").iterdir())
    assert "Traceback" not in app.log(), app.log()


def test_the_window_loads_its_page_with_a_company_proxy_in_the_environment(xsession: XSession, tmp_path: Path,
                                                                            apps: list[App]) -> None:
    """http_proxy set for the whole session and no no_proxy, as a company's /etc/environment has it: WebKitGTK
    sent the window's own page to the proxy, which cannot reach this machine's loopback — the window showed
    the proxy's error page. The page loads from the gateway; the proxy sees nothing."""
    import threading

    seen: list[bytes] = []
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(8)
    proxy.settimeout(0.2)
    stop = threading.Event()

    def answer_as_a_far_proxy() -> None:
        while not stop.is_set():
            try:
                conn, _ = proxy.accept()
            except OSError:
                continue
            with conn:
                seen.append(conn.recv(4096))
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 27\r\nConnection: close\r\n\r\n"
                             b"proxy: cannot reach that host")

    thread = threading.Thread(target=answer_as_a_far_proxy, daemon=True)
    thread.start()
    try:
        address = f"http://127.0.0.1:{proxy.getsockname()[1]}"
        app = start_app(xsession, tmp_path, free_port(), extra_args=["--show"],
                        extra_env={"http_proxy": address, "HTTP_PROXY": address})
        apps.append(app)
        result = app.hook_result()
        assert result.get("error") is None, result
        assert result["status"]["port"] == app.port, result
        xsession.tray_menu_last()
        assert app.wait_exit() == 0, app.log()
    finally:
        stop.set()
        thread.join(5)
        proxy.close()
    assert seen == [], seen
