"""The windowed Windows executable attaches to the starting terminal only for CLI-style runs."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from api_router.winconsole import ATTACH_PARENT_PROCESS, attach_parent_console


class Kernel32:
    def __init__(self, has_parent_console: bool) -> None:
        self.has_parent_console = has_parent_console
        self.calls: list[int] = []

    def AttachConsole(self, pid: int) -> int:
        self.calls.append(pid)
        return 1 if self.has_parent_console else 0


def windowed() -> Any:
    return SimpleNamespace(stdout=None, stderr=None)  # what a --noconsole executable starts with


def test_headless_from_a_terminal_prints_there() -> None:
    target, kernel32, opened = windowed(), Kernel32(True), []

    def opener(name: str) -> io.StringIO:
        opened.append(name)
        return io.StringIO()

    assert attach_parent_console(["--headless"], platform="win32", kernel32=kernel32, opener=opener, target=target)
    assert kernel32.calls == [ATTACH_PARENT_PROCESS]
    assert opened == ["CONOUT$", "CONOUT$"] and target.stdout is not None and target.stderr is not None


def test_double_click_and_desktop_runs_stay_windowed() -> None:
    kernel32 = Kernel32(True)
    assert not attach_parent_console([], platform="win32", kernel32=kernel32, target=windowed())
    assert not attach_parent_console(["--show"], platform="win32", kernel32=kernel32, target=windowed())
    assert kernel32.calls == []
    no_console = Kernel32(False)  # --headless from Explorer's Run box: nothing to attach to
    target = windowed()
    assert not attach_parent_console(["--headless"], platform="win32", kernel32=no_console, target=target)
    assert target.stdout is None


def test_other_platforms_and_console_builds_are_untouched() -> None:
    kernel32 = Kernel32(True)
    assert not attach_parent_console(["--headless"], platform="linux", kernel32=kernel32, target=windowed())
    assert not attach_parent_console(["--version"], platform="win32", kernel32=kernel32,
                                     target=SimpleNamespace(stdout=io.StringIO(), stderr=io.StringIO()))
    assert kernel32.calls == []
