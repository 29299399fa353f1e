"""Fixtures: fake panels started on demand, and the shared client as the app makes it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web
from usage_fakes import FakePanel

from api_router.usage import make_client


@pytest.fixture
async def panel_factory() -> AsyncIterator[Callable[[], Awaitable[FakePanel]]]:
    """Start as many fake panels as a test needs; all stopped at teardown."""
    started: list[tuple[FakePanel, web.AppRunner]] = []

    async def start() -> FakePanel:
        panel = FakePanel()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", panel.dispatch)
        runner = web.AppRunner(app, access_log=None)  # the fake upstream's own log would show keys
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        panel.url = f"http://{host}:{port}"
        started.append((panel, runner))
        return panel

    yield start
    for panel, runner in started:
        panel.release.set()
        await runner.cleanup()


@pytest.fixture
async def panel(panel_factory: Callable[[], Awaitable[FakePanel]]) -> FakePanel:
    return await panel_factory()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The shared client as the app makes it, with a short timeout so timeout tests are fast (but not
    so short that a loaded machine's stall fails a fetch meant to succeed)."""
    async with make_client(timeout_s=1.0) as c:
        yield c
