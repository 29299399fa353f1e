from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from tests.desktop.app import App
from tests.desktop.xsession import XSession, missing_tools


def require_gui_stack() -> None:
    """Skip when run by hand without the GUI set-up; fail loudly when tasks.py promised it."""
    if os.environ.get("API_ROUTER_TEST_GUI") != "1":
        pytest.skip("API_ROUTER_TEST_GUI is not set: run `python3 tasks.py test` (it installs the GUI stack)")
    missing = missing_tools()
    missing += [m for m in ("webview", "pystray", "gi", "Xlib") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(f"API_ROUTER_TEST_GUI=1 but the GUI test stack is incomplete: missing {', '.join(missing)}")


@pytest.fixture(scope="module")
def xsession() -> Iterator[XSession]:
    require_gui_stack()
    session = XSession.start()
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
def apps() -> Iterator[list[App]]:
    """Apps a test started; whatever is still running afterwards is stopped."""
    started: list[App] = []
    yield started
    for app in started:
        app.stop()
