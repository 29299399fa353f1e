"""The app as a user runs it: a subprocess with its own user-data folder and port, in an XSession."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.desktop.xsession import XSession, port_is_free, wait_for

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SOURCE_COMMAND = [sys.executable, "-m", "api_router"]


@dataclass
class App:
    proc: subprocess.Popen[bytes]
    command: list[str]
    port: int
    user_data: Path
    hook_file: Path
    output: Path
    env: dict[str, str]

    def args(self) -> list[str]:
        return [*self.command, "--user-data", str(self.user_data), "--port", str(self.port)]

    def health(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as resp:
                return resp.status == 200 and json.loads(resp.read())["ok"] is True
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def wait_healthy(self, timeout: float = 30) -> None:
        wait_for(lambda: self.health() or self.proc.poll() is not None, timeout, "/health")
        assert self.proc.poll() is None, f"the app exited with {self.proc.returncode}:\n{self.log()}"

    def hook_result(self, timeout: float = 20) -> dict[str, Any]:
        text = wait_for(lambda: self.hook_file.is_file() and self.hook_file.read_text(), timeout, "the JS bridge probe")
        return json.loads(text)["result"]  # type: ignore[no-any-return]

    def wait_exit(self, timeout: float = 20) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # PYTHONFAULTHANDLER=1: SIGABRT makes it print every thread's stack into its output.
            self.proc.send_signal(signal.SIGABRT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            raise AssertionError(f"the app did not exit within {timeout}s:\n{self.log()}") from None

    def log(self) -> str:
        parts = [self.output.read_text(errors="replace")[-8000:] if self.output.exists() else ""]
        app_log = self.user_data / "data" / "api-router.log"
        if app_log.exists():
            parts.append("--- api-router.log ---\n" + app_log.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:  # WebKit's helper processes, if the app died without taking them along
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def app_env(session: XSession, tmp: Path, hook_file: Path) -> dict[str, str]:
    env = {k: v for k, v in session.env.items() if k != "API_ROUTER_USER_DATA"}
    env.update({
        "API_ROUTER_TEST_HOOKS": "1",
        "API_ROUTER_TEST_HOOK_FILE": str(hook_file),
        "CODEX_HOME": str(tmp / "codex-home"),
        "NO_AT_BRIDGE": "1",  # no accessibility bus daemon per test
        "PYTHONUNBUFFERED": "1",
        "PYTHONFAULTHANDLER": "1",  # stacks on SIGABRT, for an app that does not exit (wait_exit)
        # WebKitGTK's accelerated compositing on Xvfb (software GL) can hold GTK's frame clock for
        # seconds on a loaded machine, and with it the window's events; the shell is what is
        # tested here, not WebKit's GPU path.
        "WEBKIT_DISABLE_COMPOSITING_MODE": "1",
    })
    return env


def start_app(session: XSession, tmp: Path, port: int, *, command: list[str] | None = None,
              user_data: Path | None = None, extra_args: list[str] | None = None, name: str = "app",
              extra_env: dict[str, str] | None = None) -> App:
    hook_file = tmp / f"{name}-hook.json"
    hook_file.unlink(missing_ok=True)
    output = tmp / f"{name}.out"
    env = {**app_env(session, tmp, hook_file), **(extra_env or {})}
    app = App(proc=None, command=command or SOURCE_COMMAND, port=port,  # type: ignore[arg-type]
              user_data=user_data or tmp / "user-data", hook_file=hook_file, output=output, env=env)
    with output.open("wb") as out:
        app.proc = subprocess.Popen([*app.args(), *(extra_args or [])], env=env, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=tmp, start_new_session=True)
    return app


def run_again(app: App, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """A second start against the same user-data folder, as a double-click would do."""
    return subprocess.run(app.args(), env=app.env, capture_output=True, text=True, timeout=timeout, cwd=app.user_data.parent)


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
        assert result["ui"]["start_hidden"] is True
        assert result["refused"] == "unknown provider 'no-such-provider'"
        assert {"get_status", "set_manual_override", "get_codex_setup"} <= set(result["methods"])
    assert session.app_windows(visible=False), "the window should exist, unmapped"
    assert not session.window_visible(), "the window must start hidden"

    session.click_tray(1)  # the GTK icon's default action: Show
    wait_for(session.window_visible, 10, "tray Show to map the window")
    if screenshot:
        time.sleep(0.5)  # let WebKit paint
        session.screenshot(ARTIFACTS / screenshot)

    session.close_until(session.app_windows()[0].wid, lambda: not session.window_visible())
    time.sleep(0.3)
    assert app.proc.poll() is None and app.health(), "closing the window must not stop the app"

    if second_instance:
        second = run_again(app)
        assert second.returncode == 0, (second.returncode, second.stdout[-500:], second.stderr)
        assert "already running" in second.stderr
        wait_for(session.window_visible, 10, "the second start to show the first window")

    session.tray_menu_last()  # right-click menu, last entry: Quit
    assert app.wait_exit() == 0, app.log()
    assert port_is_free(app.port), "the port must be free after Quit"
    assert not (app.user_data / "data" / "api-router.sqlite3-wal").exists(), "the store must be closed"
    wait_for(lambda: session.tray_icon() is None, 5, "the tray icon to go away")
    assert "Traceback" not in app.log(), app.log()  # e.g. pystray's notifier without a notification service
    # Private, WebKit's storage and caches under it too: folders 0700, files 0600.
    loose = [f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p}" for p in app.user_data.rglob("*") if not p.is_symlink()
             and stat.S_IMODE(p.lstat().st_mode) != (0o700 if p.is_dir() else 0o600)]
    assert not loose, loose
