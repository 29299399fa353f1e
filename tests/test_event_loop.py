"""The gateway's event loop: uvloop where it is installed, asyncio's own loop on request."""

import asyncio
import sys

import pytest

from api_router.gateway.server import new_event_loop


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not exist on Windows")
def test_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvloop

    monkeypatch.delenv("API_ROUTER_LOOP", raising=False)
    loop = new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()


def test_asyncio_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_ROUTER_LOOP", "asyncio")
    loop = new_event_loop()
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()
