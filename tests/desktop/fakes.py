"""Stand-ins for pywebview and pystray at the shell's seams, faithful where the shell depends on
their behaviour: closing handlers cancel by returning False, ``start()`` blocks until the last
window is gone, and (pywebview 6.2.1 on GTK) ``show()`` does nothing for a window created hidden
unless ``window.hidden`` was cleared first.
"""

from __future__ import annotations

import inspect
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from api_router.paths import Paths
from tests.support.fake_provider import FakeProvider
from tests.support.harness import write_config, write_keys


class FakeEvent:
    def __init__(self, window: FakeWindow) -> None:
        self.window = window
        self.handlers: list[Callable[..., Any]] = []

    def __iadd__(self, handler: Callable[..., Any]) -> FakeEvent:
        self.handlers.append(handler)
        return self

    def set(self) -> bool:
        """True when a handler cancelled (returned False), like pywebview's locked events; a handler with a
        ``window`` parameter is given the window, as pywebview gives it."""
        return any(self._call(handler) is False for handler in list(self.handlers))

    def _call(self, handler: Callable[..., Any]) -> Any:
        return handler(self.window) if "window" in inspect.signature(handler).parameters else handler()


class FakeEvents:
    def __init__(self, window: FakeWindow) -> None:
        for name in ("closing", "closed", "loaded", "minimized", "restored", "maximized", "shown", "before_show"):
            setattr(self, name, FakeEvent(window))


class FakeForm:
    """pywebview's WinForms form (``window.native`` on Windows) as far as closing goes: pywebview's own
    FormClosing handler, subscribed first, cancels the close when the window's closing event was cancelled;
    handlers added later run after it, with the same arguments. The close reason is kept as WinForms' Form
    keeps it (a modeless form never clears it): the title bar's close sets UserClosing, the end of a
    session WindowsShutDown, and a bare WM_CLOSE (Task Manager's End task) reads TaskManagerClosing only
    while no reason has been set."""

    def __init__(self, window: FakeWindow) -> None:
        self.window = window
        self.FormClosing = FakeDotnetEvent()
        self.reason: str | None = None

        def pywebview_on_closing(_sender: Any, args: SimpleNamespace) -> None:
            if window.events.closing.set():
                args.Cancel = True
        self.FormClosing += pywebview_on_closing

    def close(self, message: str) -> bool:
        """``message``: SC_CLOSE (the title bar's close), WM_CLOSE (sent bare, as Task Manager does) or
        WM_QUERYENDSESSION (Windows ends the session). True when the close went through — the window is then
        gone, as when the session ends."""
        if message == "SC_CLOSE":
            self.reason = "UserClosing"
        elif message == "WM_QUERYENDSESSION":
            self.reason = "WindowsShutDown"
        elif self.reason is None:
            self.reason = "TaskManagerClosing"
        args = SimpleNamespace(CloseReason=self.reason, Cancel=False)
        for handler in list(self.FormClosing.handlers):
            handler(self, args)
        if args.Cancel:
            return False
        self.window.visible = False
        self.window.closed.set()
        return True


class FakeDotnetEvent:
    def __init__(self) -> None:
        self.handlers: list[Callable[[Any, Any], None]] = []

    def __iadd__(self, handler: Callable[[Any, Any], None]) -> FakeDotnetEvent:
        self.handlers.append(handler)
        return self


class FakeWindow:
    def __init__(self, title: str, *, winforms: bool = False, **kwargs: Any) -> None:
        self.title = title
        self.kwargs = kwargs
        self.url: str | None = kwargs.get("url")
        self.hidden: bool = kwargs.get("hidden", False)
        self.visible = not self.hidden
        self.events = FakeEvents(self)
        self.native: FakeForm | None = FakeForm(self) if winforms else None
        self.closed = threading.Event()
        self.calls: list[str] = []
        self.scripts: list[str] = []

    def show(self) -> None:
        self.calls.append("show")
        if not self.hidden:  # the GTK quirk the shell must work around
            self.visible = True

    def hide(self) -> None:
        self.calls.append("hide")
        self.visible = False

    def restore(self) -> None:
        self.calls.append("restore")

    def destroy(self) -> None:
        self.calls.append("destroy")
        self.user_close()

    def user_close(self) -> bool:
        """The title bar's close button; True when the window really closed."""
        if self.events.closing.set():
            return False
        self.visible = False
        self.closed.set()
        return True

    def get_current_url(self) -> str | None:
        return self.url

    def evaluate_js(self, script: str, callback: Callable[[Any], None] | None = None) -> None:
        self.scripts.append(script)
        if callback is not None:
            callback({"from": "fake"})


class FakeWebview:
    """``start()`` runs ``scenario`` in a thread and returns when the window is destroyed."""

    class FileDialog:
        SAVE = 30

    def __init__(self, scenario: Callable[[FakeWindow], None] | None = None, *, winforms: bool = False) -> None:
        """``winforms``: windows are WinForms forms (Windows), with ``native`` as pywebview sets it."""
        self.scenario = scenario
        self.winforms = winforms
        self.windows: list[FakeWindow] = []
        self.start_kwargs: dict[str, Any] | None = None
        self.started = threading.Event()
        self.scenario_error: BaseException | None = None

    def create_window(self, title: str, **kwargs: Any) -> FakeWindow:
        window = FakeWindow(title, winforms=self.winforms, **kwargs)
        self.windows.append(window)
        return window

    def start(self, **kwargs: Any) -> None:
        self.start_kwargs = kwargs
        window = self.windows[0]
        window.events.before_show.set()  # as pywebview does once the GUI has made the window
        self.started.set()
        scenario: threading.Thread | None = None
        if self.scenario is not None:
            def run() -> None:
                try:
                    self.scenario(window)  # type: ignore[misc]
                except BaseException as exc:
                    self.scenario_error = exc
                    window.closed.set()  # not destroy(): with a tray the app would only hide the window
            scenario = threading.Thread(target=run, daemon=True)
            scenario.start()
        # Only a guard against a hang: scenarios bound each of their own waits (several of up to 10 s
        # each on a loaded machine), so this one is longer than they can add up to.
        if not window.closed.wait(60):
            raise AssertionError("the window was never destroyed" + where_it_hangs(scenario))


def where_it_hangs(scenario: threading.Thread | None) -> str:
    """Every live thread's stack (the scenario's first), for a guard that fired: which wait hung."""
    frames = sys._current_frames()
    threads = sorted(threading.enumerate(), key=lambda t: t is not scenario)
    stacks = [f"--- {t.name}{' (the scenario)' if t is scenario else ''}\n"
              + "".join(traceback.format_stack(frames[t.ident])) for t in threads if t.ident in frames]
    return "; where each thread was:\n" + "\n".join(stacks)


class FakeMenuItem:
    """pystray.MenuItem as the tray uses it: constant or callable ``checked`` (called with the item),
    ``radio``, ``enabled``, ``default``, and a submenu in place of the action."""

    def __init__(self, text: str, action: Any, checked: Callable[[Any], bool] | None = None, radio: bool = False,
                 default: bool = False, visible: bool = True, enabled: bool = True) -> None:
        self.text = text
        self.action = action
        self._checked = checked
        self.radio = radio
        self.default = default
        self.visible = visible
        self.enabled = enabled

    @property
    def checked(self) -> bool | None:
        return None if self._checked is None else self._checked(self)

    @property
    def submenu(self) -> FakeMenu | None:
        return self.action if isinstance(self.action, FakeMenu) else None

    def __call__(self) -> None:
        if not self.enabled:
            raise AssertionError(f"{self.text!r} is disabled")
        if self.action is not None and not isinstance(self.action, FakeMenu):
            self.action()


class FakeMenu:
    SEPARATOR = FakeMenuItem("- - - -", None)

    def __init__(self, *items: Any) -> None:
        self._items = items

    @property
    def items(self) -> tuple[FakeMenuItem, ...]:
        if len(self._items) == 1 and callable(self._items[0]) and not isinstance(self._items[0], FakeMenuItem):
            return tuple(i for i in self._items[0]() if i is not FakeMenu.SEPARATOR)
        return tuple(i for i in self._items if i is not FakeMenu.SEPARATOR)


class FakeIcon:
    HAS_NOTIFICATION = True

    def __init__(self, name: str, image: Any, title: str, menu: FakeMenu) -> None:
        self.name, self.image, self.title, self.menu = name, image, title, menu
        self.visible = False
        self.running = False
        self.stopped = False
        self.menu_updates = 0
        self.images: list[Any] = [image]
        self.notified: list[tuple[str, str | None]] = []

    @property
    def icon(self) -> Any:
        return self.image

    @icon.setter
    def icon(self, value: Any) -> None:
        self.image = value
        self.images.append(value)

    def run_detached(self, setup: Callable[[FakeIcon], None] | None = None) -> None:
        self.running = True
        if setup is None:
            self.visible = True
        else:
            setup(self)

    def stop(self) -> None:
        self.running = False
        self.stopped = True

    def update_menu(self) -> None:
        self.menu_updates += 1

    def notify(self, message: str, title: str | None = None) -> None:
        self.notified.append((message, title))

    def item(self, text: str, *, prefix: bool = False) -> FakeMenuItem:
        items = self.menu.items
        found = [i for i in items if (i.text.startswith(text) if prefix else i.text == text)]
        if not found:
            raise AssertionError(f"no menu item {text!r} in {[i.text for i in items]}")
        return found[0]

    def click(self) -> None:
        next(item for item in self.menu.items if item.default)()

    def choose(self, text: str, *, prefix: bool = False) -> None:
        self.item(text, prefix=prefix)()

    def labels(self) -> list[str]:
        return [i.text for i in self.menu.items]


class FakePystray:
    Menu = FakeMenu
    MenuItem = FakeMenuItem

    def __init__(self) -> None:
        self.icons: list[FakeIcon] = []

    def Icon(self, *args: Any) -> FakeIcon:
        icon = FakeIcon(*args)
        self.icons.append(icon)
        return icon


class RecordingNotifier:
    """A notification service that keeps what it was sent; ``click(i)`` acts like the user did."""

    def __init__(self, on_click: Callable[[str], None], icon: Any = None) -> None:
        self.on_click = on_click
        self.sent: list[Any] = []
        self.closed = False

    def send(self, notice: Any) -> bool:
        self.sent.append(notice)
        return True

    def close(self) -> None:
        self.closed = True

    def click(self, index: int = -1) -> None:
        self.on_click(self.sent[index].view)


class FakeMsvcrt:
    """``msvcrt.locking`` semantics: byte ranges per file, held by one descriptor, refused to others."""

    LK_UNLCK, LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK = 0, 1, 2, 3, 4

    def __init__(self) -> None:
        self.held: dict[tuple[int, int, int], int] = {}  # (dev, inode, offset) -> fd
        self.calls: list[tuple[int, int, int]] = []

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        import os

        st = os.fstat(fd)
        offset = os.lseek(fd, 0, os.SEEK_CUR)
        self.calls.append((mode, offset, nbytes))
        key = (st.st_dev, st.st_ino, offset)
        if mode == self.LK_UNLCK:
            if self.held.get(key) != fd:
                raise PermissionError(13, "Permission denied")
            del self.held[key]
        elif mode == self.LK_NBLCK:
            if key in self.held:
                raise PermissionError(13, "Permission denied")
            self.held[key] = fd
        else:
            raise NotImplementedError(mode)


def tray_status(state: str = "serving", line: str = "Relay A · serving", **over: Any) -> dict[str, Any]:
    """A get_status document of four providers (healthy, cooling down, out of quota, disabled), as the tray reads it."""
    doc: dict[str, Any] = {
        "summary": {"state": state, "line": line, "provider": "a"},
        "requests_today": 42, "manual_override": None, "preferred_provider": "a",
        "provider_order": ["a", "b", "c", "d"], "gateway_url": "http://127.0.0.1:4000/v1",
        "providers": {
            "a": {"display_name": "Relay A", "status": "healthy", "disabled": False, "base_url": "https://a",
                  "quota_left_percent": 63.4},
            "b": {"display_name": "Relay B", "status": "cooldown", "disabled": False, "base_url": "https://b",
                  "quota_left_percent": None},
            "c": {"display_name": "Relay C", "status": "unknown", "disabled": False, "base_url": "https://c",
                  "quota_left_percent": 0.0},
            "d": {"display_name": "Relay D", "status": "disabled", "disabled": True, "base_url": "https://d",
                  "quota_left_percent": 80.0},
        },
        "quota": {"c": {"skipped": True}},
    }
    doc.update(over)
    return doc


def usage_reading(used: int, granted: int = 1000) -> dict[str, Any]:
    """A new-api usage panel's answer (the relay's `/api/usage/token`)."""
    return {"success": True, "data": {"total_granted": granted, "total_used": used, "total_available": granted - used}}


def relay_with_usage(tmp_path: Path, fake: FakeProvider, used: int) -> Paths:
    """User data with one provider, "Relay A", served by `fake` and read through its new-api usage panel."""
    fake.usage = usage_reading(used)
    paths = Paths(tmp_path / "ud")
    write_config(paths, {"a": {"base_url": fake.base_url, "display_name": "Relay A", "usage_adapter": "new_api"}})
    write_keys(paths, {"a": "sk-test-a-0123456789"})
    return paths
