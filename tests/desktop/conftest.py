from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.desktop.app import App
from tests.desktop.xsession import XSession, require_gui_stack, start_session_bus


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


@pytest.fixture
def bus() -> Iterator[dict[str, str]]:
    """A private session bus; yields the environment that reaches it."""
    require_gui_stack()
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    proc, address = start_session_bus(env)
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    try:
        yield env
    finally:
        proc.terminate()
        proc.wait(5)
        assert proc.stdout is not None
        proc.stdout.close()
