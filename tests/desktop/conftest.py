from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.desktop.app import App
from tests.desktop.xsession import XSession, require_gui_stack


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
