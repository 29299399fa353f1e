"""The pywebview window: created (possibly hidden), shown, hidden, and closed for good on Quit.

Everything here is safe to call from any thread; pywebview marshals to its GUI thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from api_router.running import local_address

log = logging.getLogger(__name__)

TITLE = "API Router"
SIZE = (1180, 800)
MIN_SIZE = (720, 480)

# Why a WinForms form closes when Windows ends the session (shutdown, restart, sign-out) or Task Manager's
# End task closes the app: a window that only hides to the tray must not refuse these (pythonnet 3, which
# pywebview requires, gives a .NET enum's name as its str).
_ENDING_REASONS = frozenset({"WindowsShutDown", "TaskManagerClosing"})


def gui_for(platform: str) -> str | None:
    """pywebview's backend: WebView2 on Windows, WebKitGTK on Linux.

    Forced on Linux because pywebview picks Qt under KDE, and the Qt stack is not installed.
    """
    if platform == "win32":
        return "edgechromium"
    if platform.startswith("linux"):
        return "gtk"
    return None


_PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def keep_loopback_off_the_proxy(environ: MutableMapping[str, str]) -> None:
    """WebKitGTK sends the window's own page, ``http://127.0.0.1:<port>``, through ``http_proxy`` unless
    ``no_proxy`` names the address — and a company's proxy cannot reach this machine's loopback: the window
    showed the proxy's error page. The loopback names join ``no_proxy`` (the one the standard library reads:
    the lower-case one when set), under both spellings."""
    if not any(environ.get(name) for name in _PROXY_VARIABLES):
        return
    current = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    entries = [entry.strip() for entry in current.split(",") if entry.strip()]
    merged = ",".join(entries + [name for name in LOOPBACK if name not in entries])
    environ["no_proxy"] = environ["NO_PROXY"] = merged


def window_url(host: str, port: int) -> str:
    """The gateway's own address for the window, whatever address it listens on."""
    return f"http://{local_address(host)}:{port}/?desktop=1"


def origin_of(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class AppWindow:
    def __init__(self, webview: Any, *, url: str | None = None, html: str | None = None, js_api: Any = None,
                 hidden: bool, on_close: Callable[[], bool]) -> None:
        """``on_close`` runs when the user closes the window: True lets it close, False keeps it (hidden)."""
        self._on_close = on_close
        self._save_dialog = webview.FileDialog.SAVE
        self._closing_for_good = threading.Event()
        self._minimized = False
        self._dialogs_open = 0  # save dialogs shown and not answered yet (bridge threads wait on them)
        self._window = webview.create_window(
            TITLE, url=url, html=html, js_api=js_api, hidden=hidden, width=SIZE[0], height=SIZE[1],
            min_size=MIN_SIZE, background_color="#FFFFFF", text_select=True)
        events = self._window.events
        events.closing += self._closing
        events.before_show += self._let_session_end
        events.minimized += self._set_minimized
        events.restored += self._set_restored
        events.maximized += self._set_restored

    def show(self) -> None:
        # pywebview 6.2.1 (GTK) re-hides a window created with hidden=True on every show() unless
        # this flag is cleared first.
        self._window.hidden = False
        self._window.show()
        if self._minimized:
            self._window.restore()

    def hide(self) -> None:
        self._window.hidden = True
        self._window.hide()

    def destroy(self) -> None:
        """Close for good (Quit): the closing handler lets this one through. A save dialog still open is
        cancelled first: GTK runs it in a loop of its own, which the app's could not end before it."""
        self._closing_for_good.set()
        if self._dialogs_open:
            _cancel_dialogs()
        self._window.destroy()

    def current_origin(self) -> str:
        try:
            return origin_of(self._window.get_current_url())
        except Exception:  # window already gone
            return ""

    def on_loaded(self, callback: Callable[[], None]) -> None:
        self._window.events.loaded += callback

    def evaluate_js(self, script: str, callback: Callable[[Any], None]) -> None:
        self._window.evaluate_js(script, callback)

    def ask_save_path(self, folder: Path, filename: str) -> str | None:
        """The OS save dialog, over this window; None when cancelled. Waits for the user, so never
        call it on the GUI thread (bridge calls run on threads of their own)."""
        self._dialogs_open += 1
        try:
            chosen = self._window.create_file_dialog(self._save_dialog, directory=str(folder),
                                                     save_filename=filename)
        finally:
            self._dialogs_open -= 1
        if not chosen:
            return None
        return str(chosen if isinstance(chosen, str) else chosen[0])

    def run_js(self, script: str) -> Any:
        """Run ``script`` in the page and return its value; waits for the page (pywebview gives up
        after 20 s), so never call it on the GUI thread."""
        return self._window.evaluate_js(script)

    def _closing(self) -> bool:
        if self._closing_for_good.is_set():
            return True
        if self._on_close():
            self._closing_for_good.set()
            return True
        self.hide()
        return False

    def _let_session_end(self, window: Any) -> None:
        """Windows: pywebview cancels the form's closing whenever ``_closing`` keeps the window, and a
        cancelled close at the end of a session holds up the shutdown ("API Router is preventing you from
        shutting down"). A handler added after pywebview's has the last word: the session's end goes
        through (the form closes with it, which ends the GUI loop and with it the app — Windows may end the
        process before that stop is through); a user's close still hides. A shutdown another program refuses
        leaves nothing changed here (the window was only hidden)."""
        form: Any = getattr(window, "native", None)
        if getattr(form, "FormClosing", None) is None:  # not WinForms
            return

        def on_form_closing(_sender: Any, args: Any) -> None:
            if str(args.CloseReason) in _ENDING_REASONS:
                args.Cancel = False

        form.FormClosing += on_form_closing

    def _set_minimized(self) -> None:
        self._minimized = True

    def _set_restored(self) -> None:
        self._minimized = False


def _cancel_dialogs() -> None:
    """Cancel every dialog GTK shows (on its GUI thread); elsewhere nothing to do."""
    try:
        import gi

        gi.require_version("Gtk", "3.0")
        from gi.repository import GLib, Gtk
    except (ImportError, ValueError):
        return

    def cancel() -> bool:
        for window in Gtk.Window.list_toplevels():
            if isinstance(window, Gtk.Dialog) and window.get_visible():
                window.response(Gtk.ResponseType.CANCEL)
        return False  # once

    GLib.idle_add(cancel)
