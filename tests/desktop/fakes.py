"""Stand-ins for pywebview and pystray at the shell's seams, faithful where the shell depends on
their behaviour: closing handlers cancel by returning False, ``start()`` blocks until the last
window is gone, and (pywebview 6.2.1 on GTK) ``show()`` does nothing for a window created hidden
unless ``window.hidden`` was cleared first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class FakeEvent:
    def __init__(self) -> None:
        self.handlers: list[Callable[[], Any]] = []

    def __iadd__(self, handler: Callable[[], Any]) -> FakeEvent:
        self.handlers.append(handler)
        return self

    def set(self) -> bool:
        """True when a handler cancelled (returned False), like pywebview's locked events."""
        return any(handler() is False for handler in list(self.handlers))


class FakeEvents:
    def __init__(self) -> None:
        for name in ("closing", "closed", "loaded", "minimized", "restored", "maximized", "shown"):
            setattr(self, name, FakeEvent())


class FakeWindow:
    def __init__(self, title: str, **kwargs: Any) -> None:
        self.title = title
        self.kwargs = kwargs
        self.url: str | None = kwargs.get("url")
        self.hidden: bool = kwargs.get("hidden", False)
        self.visible = not self.hidden
        self.events = FakeEvents()
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

    def __init__(self, scenario: Callable[[FakeWindow], None] | None = None) -> None:
        self.scenario = scenario
        self.windows: list[FakeWindow] = []
        self.start_kwargs: dict[str, Any] | None = None
        self.started = threading.Event()
        self.scenario_error: BaseException | None = None

    def create_window(self, title: str, **kwargs: Any) -> FakeWindow:
        window = FakeWindow(title, **kwargs)
        self.windows.append(window)
        return window

    def start(self, **kwargs: Any) -> None:
        self.start_kwargs = kwargs
        window = self.windows[0]
        self.started.set()
        if self.scenario is not None:
            def run() -> None:
                try:
                    self.scenario(window)  # type: ignore[misc]
                except BaseException as exc:
                    self.scenario_error = exc
                    window.destroy()
            threading.Thread(target=run, daemon=True).start()
        if not window.closed.wait(20):
            raise AssertionError("the window was never destroyed")


class FakeMenuItem:
    def __init__(self, text: str, action: Callable[[], None], default: bool = False) -> None:
        self.text = text
        self.action = action
        self.default = default


class FakeMenu:
    def __init__(self, *items: FakeMenuItem) -> None:
        self.items = items


class FakeIcon:
    def __init__(self, name: str, image: Any, title: str, menu: FakeMenu) -> None:
        self.name, self.image, self.title, self.menu = name, image, title, menu
        self.visible = False
        self.running = False
        self.stopped = False

    def run_detached(self) -> None:
        self.running = True
        self.visible = True

    def stop(self) -> None:
        self.running = False
        self.stopped = True

    def click(self) -> None:
        next(item for item in self.menu.items if item.default).action()

    def choose(self, text: str) -> None:
        next(item for item in self.menu.items if item.text == text).action()


class FakePystray:
    Menu = FakeMenu
    MenuItem = FakeMenuItem

    def __init__(self) -> None:
        self.icons: list[FakeIcon] = []

    def Icon(self, *args: Any) -> FakeIcon:  # noqa: N802 - pystray's name
        icon = FakeIcon(*args)
        self.icons.append(icon)
        return icon


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
