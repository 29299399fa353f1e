"""The desktop app: single-instance check, gateway thread, window and tray, clean Quit.

Main thread: pywebview's GUI loop (it must own it). Gateway: its own event loop in a daemon thread
(``GatewayThread``). Tray: detached pystray icon. The window loads the SPA from the gateway's own
URL rather than from the files: one serving path for browser and desktop (same SPA fallback,
cache headers and "UI not built" page), no second HTTP server inside pywebview, and the bundled
``web/`` folder is found by the gateway alone.

The GUI libraries sit behind ``Backends`` so the Windows path and the shell's logic can be unit
tested with fakes.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api_router.composition import make_control, open_services
from api_router.gateway.server import GatewayServer, GatewayThread, StartError
from api_router.control import Control, Registry
from api_router.desktop.bridge import QuietRefusals, make_desktop_api
from api_router.desktop.hooks import hook_file, install_bridge_probe
from api_router.desktop.instance import (
    Handoff,
    InstanceInfo,
    InstanceLock,
    OsLock,
    ShowServer,
    claim_or_hand_off,
    new_nonce,
)
from api_router.desktop.tray import Tray
from api_router.desktop.window import AppWindow, gui_for, origin_of, window_url
from api_router.paths import Paths
from api_router.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    host: str | None = None
    port: int | None = None
    show: bool = False
    test_hook_file: Path | None = None


@dataclass
class Backends:
    """The GUI libraries as the shell uses them."""

    platform: str
    webview: Any                      # pywebview: create_window(), start()
    pystray: Any                      # pystray: Icon, Menu, MenuItem
    icon_image: Any                   # PIL image for the tray
    icon_path: str | None             # window icon file (GTK)
    tray_host_present: Callable[[], bool]


def real_backends() -> Backends:
    from api_router.desktop.icon import icon_path, load_icon_image
    from api_router.desktop.tray import load_pystray, tray_host_present

    platform = sys.platform
    pystray = load_pystray(platform)
    import webview

    return Backends(platform=platform, webview=webview, pystray=pystray, icon_image=load_icon_image(),
                    icon_path=str(icon_path()), tray_host_present=lambda: tray_host_present(platform))


class DesktopUnavailable(Exception):
    """The GUI stack passed the mode check but failed to load; the caller runs headless instead."""


def run_desktop(paths: Paths, *, host: str | None = None, port: int | None = None, show: bool = False) -> int:
    options = Options(host=host, port=port, show=show, test_hook_file=hook_file(os.environ))
    try:
        backends = real_backends()
    except Exception as exc:  # ImportError, gi's ValueError for a missing namespace, a broken display…
        raise DesktopUnavailable(f"the GUI libraries failed to load: {type(exc).__name__}: {exc}") from exc
    return DesktopShell(paths, options, lambda: backends).run()


class DesktopShell:
    def __init__(self, paths: Paths, options: Options, backends: Callable[[], Backends], *,
                 os_lock: OsLock | None = None, handoff_wait: float = 10.0,
                 install_signals: bool = True, configure_logging: Callable[[Services], None] | None = None) -> None:
        self._paths = paths
        self._options = options
        self._make_backends = backends
        self._os_lock = os_lock
        self._handoff_wait = handoff_wait
        self._install_signals = install_signals
        self._configure_logging = configure_logging or _log_to_file
        self._state = threading.Lock()
        self._window: AppWindow | None = None
        self._show_pending = False
        self._quitting = threading.Event()
        self._tray_host: Callable[[], bool] = lambda: True

    # --- entry -----------------------------------------------------------------------------------

    def run(self) -> int:
        lock = InstanceLock(self._paths.lock, self._os_lock)
        handoff = claim_or_hand_off(lock, wait=self._handoff_wait)
        if handoff is not None:
            return _report_handoff(handoff)
        nonce = new_nonce()
        show_server = ShowServer(nonce, self.show_window)
        try:
            info = InstanceInfo(pid=os.getpid(), show_port=show_server.start(), nonce=nonce)
            lock.publish(info)
            return self._run_instance(lock, info)
        finally:
            show_server.stop()
            lock.release()

    # --- actions (any thread) --------------------------------------------------------------------

    def show_window(self) -> None:
        with self._state:
            window = self._window
            if window is None:
                self._show_pending = True  # asked before the window exists: create it visible
                return
        window.show()

    def quit(self) -> None:
        if self._quitting.is_set():
            return
        self._quitting.set()
        log.info("quitting")
        with self._state:
            window = self._window
        if window is not None:
            window.destroy()

    # --- internals -------------------------------------------------------------------------------

    def _run_instance(self, lock: InstanceLock, info: InstanceInfo) -> int:
        restore_signals = self._trap_signals()  # from here on, SIGTERM/SIGINT mean a clean Quit
        try:
            return self._run_runtime(lock, info)
        finally:
            restore_signals()

    def _run_runtime(self, lock: InstanceLock, info: InstanceInfo) -> int:
        rt = open_services(self._paths)
        try:
            self._configure_logging(rt)
            backends = self._make_backends()
            # pywebview brings its own stderr handler; route its records through ours (redacted).
            pywebview_log = logging.getLogger("pywebview")
            pywebview_log.handlers.clear()
            pywebview_log.addFilter(QuietRefusals())
            control = make_control(rt)
            gateway = GatewayThread(GatewayServer(rt, control, host=self._options.host, port=self._options.port))
            error: str | None = None
            try:
                gateway.start()
            except StartError as exc:
                error = str(exc)
                log.error("the gateway did not start: %s", error)
                rt.emit("error", "gateway", f"The gateway did not start: {error}")
            else:
                lock.publish(dataclasses.replace(info, gateway_port=rt.require_serving().port))
            try:
                return self._run_gui(rt, control, backends, error)
            finally:
                gateway.stop()
        finally:
            rt.close()
            log.info("stopped")

    def _run_gui(self, rt: Services, control: Control, backends: Backends, error: str | None) -> int:
        self._tray_host = backends.tray_host_present
        tray_host = self._tray_host()
        if not tray_host:
            log.warning("no system tray found: the window starts visible and closing it quits")
        start_hidden = rt.config.current.ui.start_hidden and not self._options.show and tray_host
        with self._state:
            hidden = start_hidden and error is None and not self._show_pending
            if error is None:
                serving = rt.require_serving()
                url = window_url(serving.host, serving.port)
                origin = origin_of(url)
                api = make_desktop_api(Registry(control), redact=rt.redactor,
                                       origin_ok=lambda: self._window is not None and self._window.current_origin() == origin)
                window = AppWindow(backends.webview, url=url, js_api=api, hidden=hidden, on_close=self._close_quits)
            else:
                window = AppWindow(backends.webview, html=error_page(error, rt.paths), hidden=False,
                                   on_close=self._close_quits)
            self._window = window
        if self._options.test_hook_file is not None and error is None:
            install_bridge_probe(window, self._options.test_hook_file)
        if self._quitting.is_set():  # a signal arrived while starting
            return 0
        tray = Tray(backends.pystray, backends.icon_image, on_show=self.show_window, on_quit=self.quit)
        tray.start()
        restore = self._trap_signals()  # again: pystray's GTK backend resets SIGINT to the default
        log.info("desktop shell up (window %s, %s)", "hidden" if hidden else "shown", rt.gateway_url)
        try:
            backends.webview.start(gui=gui_for(backends.platform), private_mode=False,
                                   storage_path=str(rt.paths.data / "webview"), icon=backends.icon_path)
        finally:
            restore()
            tray.stop()
        return 0

    def _close_quits(self) -> bool:
        """The user closed the window: hide it to the tray, or quit when there is no tray to come back from."""
        if self._quitting.is_set():
            return True
        if self._tray_host():
            return False
        self._quitting.set()
        return True

    def _trap_signals(self) -> Callable[[], None]:
        """SIGTERM/SIGINT quit cleanly (POSIX; on Windows pywebview handles Ctrl-C itself)."""
        if not self._install_signals or os.name == "nt":
            return lambda: None
        # Quit from a thread: window calls can wait for the GUI loop, which this thread runs.
        previous = {sig: signal.signal(sig, lambda *_: threading.Thread(target=self.quit, daemon=True).start())
                    for sig in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return restore


def _log_to_file(rt: Services) -> None:
    from api_router.cli import setup_logging

    setup_logging(rt, console=sys.stderr is not None)  # a windowed executable has no stderr at all


def _report_handoff(handoff: Handoff) -> int:
    if handoff.shown:
        print("api-router: already running; showed its window", file=sys.stderr)
        return 0
    pid = f" (pid {handoff.info.pid})" if handoff.info else ""
    print(f"api-router: another API Router{pid} holds this user-data folder but did not answer; "
          "quit it from its tray icon or end that process", file=sys.stderr)
    return 1


def error_page(error: str, paths: Paths) -> str:
    return _ERROR_PAGE.format(error=html.escape(error), config=html.escape(str(paths.config)),
                              log=html.escape(str(paths.data / "api-router.log")))


_ERROR_PAGE = """<!doctype html><meta charset="utf-8"><title>API Router</title>
<body style="font-family:system-ui,sans-serif;margin:2.5rem;max-width:46rem;line-height:1.5">
<h1 style="color:#b42318">The gateway could not start</h1>
<p style="font-size:1.1rem"><strong>{error}</strong></p>
<p>Codex cannot reach API Router until this is fixed. Either stop the program that uses the port,
or choose another port under <code>[listen]</code> in<br><code>{config}</code><br>
(Codex's <code>base_url</code> must then use the same port), then quit API Router from its tray
icon and start it again.</p>
<p style="color:#555">Log: <code>{log}</code></p>
</body>
"""
