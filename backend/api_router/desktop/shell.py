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

import html
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api_router.composition import (
    EarlierVersionRunning,
    StartupError,
    follow_autostart,
    make_control,
    make_registry,
    open_services,
)
from api_router.control import Control, Registry
from api_router.desktop.autostart import Autostart
from api_router.desktop.bridge import QuietRefusals, make_desktop_api
from api_router.desktop.hooks import hook_file, install_bridge_probe, wants_download
from api_router.desktop.icon import TrayIcon
from api_router.desktop.instance import (
    InstanceInfo,
    InstanceLock,
    OsLock,
    ShowServer,
    claim_or_hand_off,
    new_nonce,
    reported_handoff,
)
from api_router.desktop.notify import Notifier
from api_router.desktop.savefile import FileSaver
from api_router.desktop.tray import Tray, gui_caller
from api_router.desktop.traycontrol import TrayController, initial_view
from api_router.desktop.window import AppWindow, gui_for, keep_loopback_off_the_proxy, origin_of, window_url
from api_router.gateway.server import GatewayServer, GatewayThread, PortInUse, StartError, port_source
from api_router.launcher import remove_unpacked_if_orphaned
from api_router.logfile import setup_logging, start_records_held, take_start_records
from api_router.paths import Paths
from api_router.records import Kind, Level
from api_router.running import api_router_version
from api_router.services import Services
from api_router.terminal import ignore_stops, let_go_of_output, say, stop_signals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    host: str | None = None
    port: int | None = None
    show: bool = False
    test_hook_file: Path | None = None
    test_hook_download: bool = False


@dataclass
class Backends:
    """The GUI libraries and OS services as the shell uses them."""

    platform: str
    webview: Any                      # pywebview: create_window(), start()
    pystray: Any                      # pystray: Icon, Menu, MenuItem
    tray_images: Callable[[TrayIcon], Any]
    icon_path: str | None             # window icon file (GTK)
    tray_host_present: Callable[[], bool]
    # (on_click(view), the pystray icon) -> the notification service
    notifier: Callable[[Callable[[str], None], Any], Notifier]
    copy_text: Callable[[str], None]
    autostart: Callable[[Path], Autostart]   # user-data folder -> the login item


def real_backends() -> Backends:
    from api_router.desktop.autostart import system_autostart
    from api_router.desktop.clipboard import clipboard_for
    from api_router.desktop.icon import icon_path, lasting_icon_path, tray_image
    from api_router.desktop.notify import InBackground, make_notifier
    from api_router.desktop.tray import load_pystray, tray_host_present

    platform = sys.platform
    pystray = load_pystray(platform)
    backend = os.environ.get("PYSTRAY_BACKEND")  # as load_pystray left it: the icon shows in that kind of tray
    if platform.startswith("linux"):  # (WebView2 and WebKit on macOS never send loopback to a proxy)
        keep_loopback_off_the_proxy(os.environ)
    import webview

    # Off by default in pywebview; the UI's exports (request log, usage CSV) are downloads.
    webview.settings["ALLOW_DOWNLOADS"] = True
    icon = icon_path()
    return Backends(
        platform=platform, webview=webview, pystray=pystray, tray_images=tray_image, icon_path=str(icon),
        tray_host_present=lambda: tray_host_present(platform, backend),
        notifier=lambda on_click, tray_icon: InBackground(make_notifier(
            platform, on_click, app_icon=lasting_icon_path(platform=platform), pystray_icon=tray_icon)),
        copy_text=clipboard_for(platform),
        autostart=lambda user_data: system_autostart(platform, user_data=user_data))


class DesktopUnavailable(Exception):
    """The GUI stack passed the mode check but failed to load; the caller runs headless instead."""


def run_desktop(paths: Paths, *, host: str | None = None, port: int | None = None, show: bool = False,
                lock: InstanceLock | None = None) -> int:
    options = Options(host=host, port=port, show=show, test_hook_file=hook_file(os.environ),
                      test_hook_download=wants_download(os.environ))
    try:
        backends = real_backends()
    except Exception as exc:  # ImportError, gi's ValueError for a missing namespace, a broken display…
        raise DesktopUnavailable(f"the GUI libraries failed to load: {type(exc).__name__}: {exc}") from exc
    shell = DesktopShell(paths, options, lambda: backends, lock=lock)
    code = shell.run()
    exit_if_threads_hang(code, before_exit=shell.flush_log)
    return code


def exit_if_threads_hang(code: int, *, grace: float = 3.0, exit: Callable[[int], object] = os._exit,
                         threads: Callable[[], list[threading.Thread]] | None = None,
                         before_exit: Callable[[], None] = lambda: None) -> None:
    """Everything is closed; make sure the process ends.

    pywebview 6.2.1 (GTK) answers each JS bridge call from a non-daemon thread that waits, without a
    timeout, for the GUI loop to run its reply; a call in flight at Quit (the UI polls the status
    every 1.5 s) waits forever once the loop has ended, and the interpreter waits for it at exit:
    the tray icon is gone but the process never ends. Threads still alive after ``grace`` seconds
    are named in the log, then the process exits with ``code``.
    """
    threads = threads or _foreign_threads
    deadline = time.monotonic() + grace
    for thread in threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = threads()
    if not stuck:
        return
    log.warning("exiting although %d thread(s) still wait: %s", len(stuck), ", ".join(t.name for t in stuck))
    before_exit()  # e.g. the log writes out what is queued
    remove_unpacked_if_orphaned()  # the exit below skips atexit
    let_go_of_output()
    exit(code)


def _foreign_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t is not threading.main_thread() and not t.daemon and t.is_alive()]


class DesktopShell:
    def __init__(self, paths: Paths, options: Options, backends: Callable[[], Backends], *,
                 os_lock: OsLock | None = None, lock: InstanceLock | None = None, handoff_wait: float = 10.0,
                 install_signals: bool = True,
                 configure_logging: Callable[[Services], Callable[[], None] | None] | None = None) -> None:
        self._paths = paths
        self._options = options
        self._make_backends = backends
        self._os_lock = os_lock
        self._lock = lock  # the instance lock, when the caller has claimed it already
        self._handoff_wait = handoff_wait
        self._install_signals = install_signals
        # Sets up the log; what it returns stops it, writing out what is queued.
        self._configure_logging = configure_logging or _log_to_file
        self._stop_log: Callable[[], None] | None = None
        self._state = threading.Lock()
        self._window: AppWindow | None = None
        self._tray: Tray | None = None
        self._show_pending = False
        self._quitting = threading.Event()
        self._tray_host: Callable[[], bool] = lambda: True
        self._navigable = False  # the window shows the UI (not the "could not start" page)

    # --- entry -----------------------------------------------------------------------------------

    def flush_log(self) -> None:
        """Write out what the log still has queued (before the process ends the hard way)."""
        if self._stop_log is not None:
            self._stop_log()

    def run(self) -> int:
        try:
            return self._run_single()
        except StartupError as exc:
            return self._report_startup_error(exc)

    def _run_single(self) -> int:
        lock = self._lock or InstanceLock(self._paths.lock, self._os_lock)
        try:
            handoff = claim_or_hand_off(lock, wait=self._handoff_wait)
        except OSError as exc:  # the user-data folder cannot hold the lock file
            raise StartupError.of(exc, self._paths) from exc
        if handoff is not None:
            return reported_handoff(handoff)
        nonce = new_nonce()
        # Once quitting, a new start must not be told "shown": it would exit, and so would this one.
        show_server = ShowServer(nonce, self.show_window, quitting=self._quitting.is_set)
        try:
            info = InstanceInfo(pid=os.getpid(), show_port=show_server.start(), nonce=nonce)
            try:
                lock.publish(info)
            except OSError as exc:  # a full disk
                raise StartupError.of(exc, self._paths) from exc
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

    def open_view(self, view: str | None) -> None:
        """Show the window on one of the UI's views (``#/``, ``#/usage``, ``#/requests?provider=p1``), or
        (None) on the page the user left it on — closing only hid it. Returns at once: the navigation
        waits for the page, which must not hold up the caller (a tray or notification callback on the
        GUI thread)."""
        threading.Thread(target=self._open_view, args=(view,), name="open-view", daemon=True).start()

    def _open_view(self, view: str | None) -> None:
        with self._state:
            window = self._window
            navigable = self._navigable
        log.info("opening the window on %s", (view or "the page it shows") if navigable else "the start error")
        if window is not None and navigable and view is not None:
            try:
                window.run_js(f"window.location.hash = {json.dumps(view)}")
            except Exception as exc:  # page not ready yet, window closing
                log.info("could not open the view %s: %s", view, exc)
        self.show_window()

    def quit(self) -> None:
        if self._quitting.is_set():
            return
        self._quitting.set()
        log.info("quitting")
        with self._state:
            window, tray = self._window, self._tray
        if tray is not None:
            # Now, while the GUI loop still runs: pystray's GTK backends hide the icon from that loop,
            # which ends with the window, and the gateway then drains for up to 5 s with the icon
            # still there and its menu dead.
            tray.stop()
        if window is not None:
            window.destroy()

    # --- internals -------------------------------------------------------------------------------

    def _run_instance(self, lock: InstanceLock, info: InstanceInfo) -> int:
        self._trap_signals()  # from here on, SIGTERM/SIGINT mean a clean Quit
        try:
            return self._run_runtime(lock, info)
        finally:
            self._leave_signals()

    def _run_runtime(self, lock: InstanceLock, info: InstanceInfo) -> int:
        with start_records_held():
            rt = open_services(self._paths, port=self._options.port, host=self._options.host, watch=[lock.keep])
        try:
            self._stop_log = self._configure_logging(rt)
            take_start_records()  # held for the file, which has them now (or was not set up here)
            backends = self._make_backends()
            # pywebview brings its own stderr handler; route its records through ours (redacted).
            pywebview_log = logging.getLogger("pywebview")
            pywebview_log.handlers.clear()
            pywebview_log.addFilter(QuietRefusals())
            control = make_control(rt)
            rt.autostart = backends.autostart(self._paths.user_data)
            stop_following = follow_autostart(rt)
            registry = make_registry(rt, control)
            gateway = GatewayThread(GatewayServer(rt, registry, host=self._options.host, port=self._options.port))
            error: str | None = None
            port_taken = False
            try:
                gateway.start()
            except StartError as exc:
                error, port_taken = str(exc), isinstance(exc, PortInUse)
                log.error("the gateway did not start: %s", error)
                rt.emit(Level.ERROR, Kind.GATEWAY, f"The gateway did not start: {error}")
            else:
                lock.publish_port(info, rt.require_serving().port)
            try:
                return self._run_gui(rt, control, registry, backends, error, port_taken=port_taken)
            finally:
                gateway.stop()
                stop_following()
        finally:
            rt.close()
            log.info("stopped")

    def _run_gui(self, rt: Services, control: Control, registry: Registry, backends: Backends, error: str | None, *,
                 port_taken: bool = False) -> int:
        """``error``: why the gateway did not start (``port_taken``: its port is another program's)."""
        self._tray_host = backends.tray_host_present
        tray_host = self._tray_host()
        if not tray_host:
            log.warning("no system tray found: the window starts visible and closing it quits")
        other = port_taken and self._other_instance_listening(rt)
        if other:
            # A second API Router (another user-data folder) on the same port: one tray icon, the
            # running one's, is enough; this one only explains itself and quits when closed.
            self._tray_host = lambda: False
            tray_host = False
        start_hidden = rt.config.current.ui.start_hidden and not self._options.show and tray_host
        with self._state:
            hidden = start_hidden and error is None and not self._show_pending
            if error is None:
                serving = rt.require_serving()
                url = window_url(serving.host, serving.port)
                origin = origin_of(url)
                api = make_desktop_api(
                    registry, redact=rt.redactor,
                    origin_ok=lambda: self._window is not None and self._window.current_origin() == origin,
                    saver=FileSaver(self._ask_save_path))
                window = AppWindow(backends.webview, url=url, js_api=api, hidden=hidden, on_close=self._close_quits)
                self._navigable = True
            else:
                source = port_source(self._options.port, rt) if port_taken else ""
                page = error_page(error, rt.paths, port_source=source, another_instance=other, port_taken=port_taken)
                # Nothing to hide to the tray for: the app cannot serve until it starts again.
                window = AppWindow(backends.webview, html=page, hidden=False, on_close=self._quit_on_close)
            self._window = window
        if self._options.test_hook_file is not None and error is None:
            install_bridge_probe(window, self._options.test_hook_file, download=self._options.test_hook_download)
        if self._quitting.is_set():  # a signal arrived while starting
            return 0
        controller: TrayController | None = None
        tray: Tray | None = None
        if not other:
            reason = _short_reason(error) if error else ""
            controller = TrayController(control, open_view=self.open_view, quit=self.quit, copy_text=backends.copy_text,
                                        listening=error is None, not_listening_reason=reason,
                                        autostart=rt.autostart)
            tray = Tray(backends.pystray, backends.tray_images, controller.actions,
                        initial_view(control, listening=error is None, not_listening_reason=reason),
                        mnemonics=backends.platform == "win32", gui=gui_caller(backends.platform))
            tray.start()
            self._trap_signals()  # again, at once: pystray's GTK backend set Ctrl-C back to the default (a kill)
            with self._state:
                self._tray = tray
            notifier = backends.notifier(self.open_view, tray.icon) if error is None else None
            controller.attach(tray, notifier)
            controller.start()
        if error is None:
            log.info("desktop shell up (window %s, tray %s); gateway at %s", "hidden" if hidden else "shown",
                     "icon" if tray is not None and tray_host else "none: no tray host", rt.gateway_url)
            _announce(rt, tray=tray_host)
        else:
            log.info("desktop shell up with the error window (the gateway is not listening)%s",
                     "; another API Router serves this port" if other else "")
        # WebKit writes its storage and caches under user-data with the process umask: private, as the rest.
        umask = os.umask(0o077)
        try:
            backends.webview.start(gui=gui_for(backends.platform), private_mode=False,
                                   storage_path=str(rt.paths.data / "webview"), icon=backends.icon_path)
        finally:
            os.umask(umask)
            self._leave_signals()  # the GUI loop has ended: the app is quitting, and the gateway drains next
            if controller is not None:
                controller.stop()
            if tray is not None:
                tray.stop()
        return 0

    def _ask_save_path(self, folder: Path, filename: str) -> str | None:
        with self._state:
            window = self._window
        if window is None:
            return None
        window.show()  # the dialog belongs over a visible window
        return window.ask_save_path(folder, filename)

    def _report_startup_error(self, problem: StartupError) -> int:
        """The user-data folder is unusable (or still used by an earlier version): say so in a window (the
        app may have been started from a login item, with no terminal to read), on stderr, and exit 1 once
        it is closed."""
        say(f"api-router: {problem}", error=True)
        backends = self._make_backends()
        with self._state:
            self._window = AppWindow(backends.webview, html=startup_error_page(problem), hidden=False,
                                     on_close=lambda: True)
        self._trap_signals()
        try:
            # Nothing may be written to the folder that just failed: no web storage for this window. Not on
            # macOS, where pywebview keeps none there anyway (WebKit's default store) and private mode
            # empties that whole store — every other unbundled Python app's web data with it.
            backends.webview.start(gui=gui_for(backends.platform), private_mode=backends.platform != "darwin",
                                   icon=backends.icon_path)
        finally:
            self._leave_signals()
        return 1

    def _other_instance_listening(self, rt: Services) -> bool:
        """Whether an API Router answers on the port this one could not take."""
        host = self._options.host or rt.config.current.listen.host
        port = rt.config.current.listen.port if self._options.port is None else self._options.port
        return api_router_version(host, port) is not None

    def _quit_on_close(self) -> bool:
        self._quitting.set()
        return True

    def _close_quits(self) -> bool:
        """The user closed the window: hide it to the tray, or quit when there is no tray to come back from."""
        if self._quitting.is_set():
            return True
        if self._tray_host():
            return False
        self._quitting.set()
        return True

    def _trap_signals(self) -> None:
        """SIGTERM/SIGINT (and SIGHUP: the terminal it was started from closed) quit cleanly (POSIX; on
        Windows pywebview handles Ctrl-C itself)."""
        if self._handles_signals:
            # Quit from a thread: window calls can wait for the GUI loop, which this thread runs.
            for sig in stop_signals():
                signal.signal(sig, lambda *_: threading.Thread(target=self.quit, daemon=True).start())

    def _leave_signals(self) -> None:
        """Once the GUI loop has ended the app is on its way out: a further stop is ignored rather than left
        to a default that kills it in the middle of its shutdown (pystray's GTK backend sets Ctrl-C's back)."""
        if self._handles_signals:
            ignore_stops()

    @property
    def _handles_signals(self) -> bool:
        return self._install_signals and os.name != "nt"


def _log_to_file(rt: Services) -> Callable[[], None]:
    return setup_logging(rt, console=sys.stderr is not None).stop  # a windowed executable has no stderr


def _short_reason(error: str) -> str:
    """The tray's version of a start error: "port 4000 on 127.0.0.1 is already in use"."""
    return error.split(" (", 1)[0]


def _announce(rt: Services, *, tray: bool) -> None:
    from api_router.cli import desktop_banner

    say(desktop_banner(rt, show_token=_is_terminal(sys.stdout), tray=tray))
    log.info("gateway URL %s; the gateway token is in %s (%s)", rt.gateway_url, rt.paths.secrets,
             "tray: Copy gateway token" if tray else "the window's Gateway card copies it")


def _is_terminal(stream: Any) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def error_page(error: str, paths: Paths, *, port_source: str = "", another_instance: bool = False,
               port_taken: bool = True) -> str:
    """The window of a gateway that did not start: ``error`` says why; the port advice only when its port
    is taken (a refused host, say, has nothing to do with the port)."""
    close = ("Close this window to quit." if another_instance else
             "Then close this window and start API Router again (closing it quits).")
    log_line = f'<p style="color:#555">Log: <code>{html.escape(str(paths.data / "api-router.log"))}</code></p>'
    if not port_taken:
        body = ("<p>Codex cannot reach API Router until this is fixed — where, the message says: most settings "
                f"are in<br><code>{html.escape(str(paths.config))}</code><br>or the options of this start. "
                f"{html.escape(close)}</p>{log_line}")
        return _ERROR_PAGE.format(title="The gateway could not start", error=html.escape(error), body=body)
    if another_instance:
        advice = ("Another API Router is already listening on this port (started with another user-data "
                  "folder). Use that one (its tray icon), or give this one another port.")
    else:
        advice = "Either stop the program that uses the port, or choose another port."
    source = f"<p>The port was set by <strong>{html.escape(port_source)}</strong>.</p>" if port_source else ""
    body = (f"{source}<p>Codex cannot reach API Router until this is fixed. {html.escape(advice)} A port is "
            "chosen with <code>--port N</code> for one start, or under <code>[listen]</code> in<br>"
            f"<code>{html.escape(str(paths.config))}</code><br>(Codex's <code>base_url</code> must then use the "
            f"same port). {html.escape(close)}</p>{log_line}")
    return _ERROR_PAGE.format(title="The gateway could not start", error=html.escape(error), body=body)


def startup_error_page(problem: StartupError) -> str:
    if isinstance(problem, EarlierVersionRunning):
        body = ("<p>Quit the other API Router (its window, its tray icon's Quit, or the terminal it runs in), "
                "then start this one again: your settings, keys and request log carry over.</p>"
                "<p>Close this window to quit.</p>")
    else:
        body = ("<p>API Router keeps its settings, keys and request log in its user-data folder and cannot run "
                "without it. Fix the folder as described above, or start API Router with "
                "<code>--user-data</code> pointing at another folder.</p><p>Close this window to quit.</p>")
    return _ERROR_PAGE.format(title="API Router could not start", error=html.escape(str(problem)), body=body)


_ERROR_PAGE = """<!doctype html><meta charset="utf-8"><title>API Router</title>
<body style="font-family:system-ui,sans-serif;margin:2.5rem;max-width:46rem;line-height:1.5">
<h1 style="color:#b42318">{title}</h1>
<p style="font-size:1.1rem"><strong>{error}</strong></p>
{body}
</body>
"""
