"""The tray's link to the app: poll ``get_status()``, keep the tray in step, notify, run menu actions.

The tray talks to the app only through the control API, like the UI: ``get_status``, ``get_config``,
``set_manual_override``, ``set_preferred_provider``, ``refresh_usage``, ``get_gateway_token`` and
``update_ui(autostart=…)`` for the "Start with the system" toggle (it saves the setting and sets
the OS login item). A thread polls the status
every ``interval`` seconds (at once after a menu action); menu actions run on a worker thread of
their own, so the tray's GUI thread never waits for a config write or a usage check.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from api_router.control.registry import ControlError
from api_router.desktop.autostart import Autostart
from api_router.desktop.notices import DASHBOARD, Notice, NoticeKind, Notices
from api_router.desktop.notify import Notifier
from api_router.desktop.tray import Tray, TrayActions
from api_router.desktop.trayview import TrayView, tray_view

log = logging.getLogger(__name__)

POLL_SECONDS = 1.5


def initial_view(control: Any, *, listening: bool, not_listening_reason: str = "") -> TrayView:
    try:
        status = control.get_status()
    except Exception:
        log.exception("tray: get_status failed")
        status = {}
    return tray_view(status, listening=listening, not_listening_reason=not_listening_reason)


class TrayController:
    def __init__(self, control: Any, *, open_view: Callable[[str | None], None], quit: Callable[[], None],
                 copy_text: Callable[[str], None], listening: bool, not_listening_reason: str = "",
                 autostart: Autostart | None = None, interval: float = POLL_SECONDS,
                 notices: Notices | None = None) -> None:
        self._control = control
        self._open_view = open_view
        self._copy = copy_text
        self._listening = listening
        self._reason = not_listening_reason
        self._autostart = autostart
        self._interval = interval
        self._notices = notices or Notices()
        self._notifier: Notifier | None = None
        self._tray: Tray | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._last_status: dict[str, Any] = {}
        self._refreshing = threading.Event()
        self.actions = TrayActions(
            open=lambda: self._open_view(None), quit=quit, lock=self._lock_to, prefer=self._prefer,
            refresh_usage=self._refresh_usage, copy_base_url=self._copy_base_url,
            copy_token=lambda: self._run(self._copy_token),
            set_autostart=self._set_autostart if self._can_toggle_autostart() else None,
            autostart_on=self._autostart_on)

    def attach(self, tray: Tray, notifier: Notifier | None) -> None:
        self._tray, self._notifier = tray, notifier

    def start(self) -> None:
        for target, name in ((self._poll_loop, "tray-status"), (self._work_loop, "tray-actions")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._jobs.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(5.0)
        if self._notifier is not None:
            self._notifier.close()

    def poke(self) -> None:
        """Poll now (after a menu action) instead of at the next tick."""
        self._wake.set()

    # --- polling -------------------------------------------------------------------------------------

    def poll_once(self) -> TrayView | None:
        try:
            status = self._control.get_status()
            ui = self._ui_settings()
        except Exception:
            log.exception("tray: reading the status failed")
            return None
        self._last_status = status
        view = tray_view(status, listening=self._listening, not_listening_reason=self._reason)
        if self._tray is not None:
            self._tray.show(view)
        if self._listening:
            for notice in self._notices.update(status, ui):
                if self._notifier is not None:
                    self._notifier.send(notice)
        return view

    def _ui_settings(self) -> dict[str, Any]:
        # [ui] notify_* switch each kind of notification off (missing: on).
        ui = self._control.get_config().get("ui", {})
        return ui if isinstance(ui, dict) else {}

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.poll_once()
            self._wake.wait(self._interval)

    # --- actions ---------------------------------------------------------------------------------------

    def _run(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _work_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._stop.is_set():
                return
            try:
                job()
            except ControlError as exc:
                # Refused, with a reason for a person (the OS refused the login item, say): the window may be
                # closed, so the one who clicked is told where they look — a notification.
                log.warning("tray action failed: %s: %s", type(exc).__name__, exc)
                if self._notifier is not None:
                    self._notifier.send(Notice(NoticeKind.ACTION_FAILED, None, "API Router could not do that",
                                               str(exc), DASHBOARD))
            except Exception as exc:
                log.warning("tray action failed: %s: %s", type(exc).__name__, exc)
            self.poke()

    def _lock_to(self, provider: str | None) -> None:
        log.info("tray: %s", f"lock routing to {provider}" if provider else "automatic routing")
        self._run(lambda: self._control.set_manual_override(provider=provider))

    def _prefer(self, provider: str) -> None:
        log.info("tray: preferred provider %s", provider)
        self._run(lambda: self._control.set_preferred_provider(provider=provider))

    def _refresh_usage(self) -> None:
        """On a thread of its own: a check of every usage panel can take seconds (slow or dead
        panels), and a lock chosen meanwhile must not wait behind it."""
        if self._refreshing.is_set():
            return
        self._refreshing.set()
        log.info("tray: refreshing usage")

        def run() -> None:
            try:
                self._control.refresh_usage()
            except Exception as exc:
                log.warning("tray: refreshing usage failed: %s: %s", type(exc).__name__, exc)
            finally:
                self._refreshing.clear()
                self.poke()
        threading.Thread(target=run, name="tray-refresh-usage", daemon=True).start()

    def _copy_base_url(self) -> None:
        url = self._last_status.get("gateway_url")
        if not url:
            url = self._control.get_status().get("gateway_url", "")
        self._copy(str(url))

    def _copy_token(self) -> None:
        self._copy(str(self._control.get_gateway_token()["token"]))

    # --- start with the system -----------------------------------------------------------------------

    def _can_toggle_autostart(self) -> bool:
        return self._autostart is not None and self._autostart.supported()

    def _autostart_on(self) -> bool:
        try:
            return bool(self._autostart is not None and self._autostart.installed())
        except OSError:
            return False

    def _set_autostart(self, on: bool) -> None:
        log.info("tray: start with the system %s", "on" if on else "off")

        def job() -> None:
            try:
                self._control.update_ui(autostart=on)  # saves [ui] autostart and sets the login item
            finally:
                if self._tray is not None:
                    self._tray.refresh_menu()
        self._run(job)
